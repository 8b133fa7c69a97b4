// SPDX-License-Identifier: Apache-2.0

package imagecache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/internal/pathtrust"
)

// trusted checks the cache directory for the caller (internal/pathtrust):
// another user who can write to it, or swap a directory on the way, could
// plant a tree whose binaries the caller's containers then run. With
// create, a missing directory is made (0700); without, it passes (it holds
// no entry yet).
func (c *Cache) trusted(create bool) error {
	var err error
	if create {
		err = pathtrust.MkdirAll(c.Dir, 0o700, os.Geteuid())
	} else if err = pathtrust.CheckDir(c.Dir, os.Geteuid()); errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("cache directory: %w", err)
	}
	return nil
}

// ownEntry checks that an entry's directory is a directory of the caller's,
// not a link or another user's tree left in a directory that was once open
// to others.
func ownEntry(dir string) error {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return &fs.PathError{Op: "lstat", Path: dir, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("cache entry %s: not a directory of yours (uid %d, mode %04o): remove it and retry", dir, st.Uid, st.Mode&0o7777)
	}
	return nil
}
