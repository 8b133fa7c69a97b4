// SPDX-License-Identifier: Apache-2.0

// Package flatten merges the tar layers of an OCI image, newest first, into a
// single stream of entries for a filesystem writer, without unpacking anything
// to disk. See README.md for the rules it applies and why.
package flatten
