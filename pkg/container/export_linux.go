// SPDX-License-Identifier: Apache-2.0

package container

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/internal/xattr"
	"github.com/gpyxis/gpyxis/pkg/importer"
	"github.com/gpyxis/gpyxis/pkg/squashfs"
)

// Export writes container NAME as a squashfs file with the import's writer, as
// `enroot export` does: every file owned by root, without /dev/*, /.lock and the
// empty mode-0000 files and directories that mount points leave behind.
func (s Store) Export(name string, o importer.Options) error {
	dir, err := s.Lookup(name)
	if err != nil {
		return err
	}
	return importer.WriteSquashfs(o, func(w *squashfs.Writer) error { return addTree(w, dir) })
}

// addTree adds the tree under root, in lexical order, to w.
func addTree(w *squashfs.Writer, root string) error {
	first := map[[2]uint64]string{} // (dev, ino) of multiply-linked files -> first path
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, root), "/")
		if rel == ".lock" || strings.HasPrefix(rel, "dev/") {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return fmt.Errorf("export %s: %w", rel, err)
		}
		if rel != "" && st.Mode&0o7777 == 0 && isEmpty(p, st) { // a leftover mount point
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		e := squashfs.Entry{Path: rel, Mode: st.Mode & 0o7777, ModTime: st.Mtim.Sec}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			e.Type = squashfs.Dir
			return w.Add(e, nil)
		case unix.S_IFLNK:
			target, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("export %s: %w", rel, err)
			}
			e.Type, e.Linkname = squashfs.Symlink, target
			return w.Add(e, nil)
		case unix.S_IFIFO:
			e.Type = squashfs.Fifo
			return w.Add(e, nil)
		case unix.S_IFREG:
			key := [2]uint64{st.Dev, st.Ino}
			if f, ok := first[key]; ok && st.Nlink > 1 {
				return w.Add(squashfs.Entry{Path: rel, Type: squashfs.Hardlink, Linkname: f}, nil)
			}
			first[key] = rel
			e.Type, e.Size = squashfs.Reg, st.Size
			e.Xattrs, _ = xattr.List(p, "user.") // unreadable attributes are not exported
			// The container may still run: what is read must be the file
			// just stat'ed, not a symlink or FIFO put there since.
			f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
			if err != nil {
				return fmt.Errorf("export %s: %w", rel, err)
			}
			defer f.Close()
			var now unix.Stat_t
			if err := unix.Fstat(int(f.Fd()), &now); err != nil || now.Dev != st.Dev || now.Ino != st.Ino {
				return fmt.Errorf("export %s: the file changed while exporting; stop the container and retry", rel)
			}
			return w.Add(e, squashfs.FileContent(f)) // a sparse file's holes are skipped
		}
		return nil // sockets and devices are not exported
	})
}

func isEmpty(p string, st unix.Stat_t) bool {
	if st.Mode&unix.S_IFMT == unix.S_IFREG {
		return st.Size == 0
	}
	entries, err := os.ReadDir(p)
	return err == nil && len(entries) == 0 || errors.Is(err, fs.ErrPermission)
}
