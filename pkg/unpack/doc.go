// SPDX-License-Identifier: Apache-2.0

// Package unpack writes a merged image tree (the entries pkg/flatten produces, or those
// of a squashfs image) into a directory, rootless: every file belongs to the caller,
// device nodes are skipped, and no write ever leaves the directory, whatever symlinks
// the image holds (each parent is resolved with openat2 without following symlinks).
package unpack
