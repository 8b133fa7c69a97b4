// SPDX-License-Identifier: Apache-2.0

// Package fsutil holds filesystem helpers shared by the container store and
// the node image cache.
package fsutil

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// RemoveTree deletes an unpacked image tree, first making every directory
// writable and searchable (images hold 0555 and 0000 directories).
//
// The tree may belong to a container that still runs and swaps a directory
// for a symlink to a host one: every directory is reached from its parent's
// descriptor with O_NOFOLLOW, never by a path, so the chmod cannot land
// outside the tree (os.RemoveAll is itself safe that way).
func RemoveTree(dir string) error {
	if fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err == nil {
		openDirs(fd, 0)
		unix.Close(fd)
	}
	return os.RemoveAll(dir)
}

// maxDepth bounds the nesting openDirs descends (one descriptor per level);
// os.RemoveAll reports what it then cannot remove.
const maxDepth = 512

// openDirs makes the directory fd (an O_PATH descriptor) and every
// directory below it mode 0700, best effort.
func openDirs(fd, depth int) {
	// chmod through /proc/self/fd acts on the object fd holds: fchmod
	// refuses O_PATH descriptors, and a 0000 directory cannot be opened
	// for reading before its mode changes.
	if unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), 0o700) != nil || depth >= maxDepth {
		return
	}
	rfd, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	d := os.NewFile(uintptr(rfd), ".")
	entries, _ := d.ReadDir(-1)
	d.Close()
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		child, err := unix.Openat(fd, e.Name(), unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		openDirs(child, depth+1)
		unix.Close(child)
	}
}
