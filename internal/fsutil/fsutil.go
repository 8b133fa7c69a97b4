// Package fsutil holds filesystem helpers shared by the container store and
// the node image cache.
package fsutil

import (
	"io/fs"
	"os"
	"path/filepath"
)

// RemoveTree deletes an unpacked image tree, first making every directory
// writable and searchable (images hold 0555 and 0000 directories).
func RemoveTree(dir string) error {
	// WalkDir calls back for a directory before reading it, so the chmod comes in time.
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}
