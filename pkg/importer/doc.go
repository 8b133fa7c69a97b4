// SPDX-License-Identifier: Apache-2.0

// Package importer turns a registry image into a squashfs file as `enroot import`
// does: layers stream from the blob cache, newest first, through the flattener into
// the squashfs writer, with the files enroot derives from the image config on top.
package importer
