// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/internal/xattr"
)

// Manifest describes the trees at paths (absolute, as seen inside root) one entry per
// line, sorted, in the format of integration/infra/images/multilayer.expected:
//
//	/opt/ml/file type=file mode=0644 size=3 sha256=… [hardlink=/opt/ml/first] [xattr.user.k=v]
//	/opt/ml/dir type=dir mode=0750
//	/opt/ml/sym type=symlink target=…
//	/opt/ml/dev type=char mode=0666 dev=1,3
//	/etc/motd type=absent
//
// Paths and values escape space, backslash, control and non-ASCII bytes as \ooo.
// Owners and times are left out: a squashfs made as enroot does is all-root. Files
// sharing an inode name the first of them (in sorted order) as hardlink=.
func Manifest(root string, paths ...string) (string, error) {
	m := &manifest{root: root, inodes: map[[2]uint64]string{}}
	for _, p := range paths {
		if err := m.walk(p); err != nil {
			return "", err
		}
	}
	sort.Slice(m.lines, func(i, j int) bool { return m.lines[i][0] < m.lines[j][0] })
	var b strings.Builder
	for _, l := range m.lines {
		b.WriteString(l[0] + " " + l[1] + "\n")
	}
	return b.String(), nil
}

type manifest struct {
	root   string
	lines  [][2]string          // escaped path, attributes
	inodes map[[2]uint64]string // (dev, ino) of multiply-linked files -> first path
}

// walk collects p and everything below it; a missing p is recorded as absent.
func (m *manifest) walk(p string) error {
	var all []string
	err := filepath.WalkDir(filepath.Join(m.root, p), func(full string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		all = append(all, full)
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) && len(all) == 0 {
		m.lines = append(m.lines, [2]string{Escape(p), "type=absent"})
		return nil
	}
	if err != nil {
		return fmt.Errorf("walk %s: %w", p, err)
	}
	// Sorted by escaped path, so the first name of a hardlink group is stable.
	sort.Slice(all, func(i, j int) bool { return Escape(all[i]) < Escape(all[j]) })
	for _, full := range all {
		attrs, err := m.entry(full)
		if err != nil {
			return err
		}
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(full, m.root), "/")
		m.lines = append(m.lines, [2]string{Escape(rel), attrs})
	}
	return nil
}

func (m *manifest) entry(full string) (string, error) {
	var st unix.Stat_t
	if err := unix.Lstat(full, &st); err != nil {
		return "", fmt.Errorf("lstat %s: %w", full, err)
	}
	mode := fmt.Sprintf("mode=%04o", st.Mode&07777)
	var a []string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		a = []string{"type=dir", mode}
	case unix.S_IFLNK:
		target, err := os.Readlink(full)
		if err != nil {
			return "", fmt.Errorf("readlink: %w", err)
		}
		a = []string{"type=symlink", "target=" + Escape(target)}
	case unix.S_IFREG:
		sum, err := fileSHA256(full)
		if err != nil {
			return "", err
		}
		a = []string{"type=file", mode, fmt.Sprintf("size=%d", st.Size), "sha256=" + sum}
		if st.Nlink > 1 {
			key := [2]uint64{st.Dev, st.Ino}
			rel := "/" + strings.TrimPrefix(strings.TrimPrefix(full, m.root), "/")
			if first, ok := m.inodes[key]; ok {
				a = append(a, "hardlink="+Escape(first))
			} else {
				m.inodes[key] = rel
			}
		}
	case unix.S_IFIFO:
		a = []string{"type=fifo", mode}
	case unix.S_IFCHR, unix.S_IFBLK:
		kind := "char"
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			kind = "block"
		}
		a = []string{"type=" + kind, mode, fmt.Sprintf("dev=%d,%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))}
	case unix.S_IFSOCK:
		a = []string{"type=socket", mode}
	}
	xa, err := userXattrs(full)
	if err != nil {
		return "", err
	}
	return strings.Join(append(a, xa...), " "), nil
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("hash: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// userXattrs lists the user.* extended attributes of p (not following symlinks) as
// xattr.NAME=VALUE, sorted; other namespaces depend on the host and are left out.
func userXattrs(p string) ([]string, error) {
	m, err := xattr.List(p, "user.")
	if err != nil {
		return nil, err
	}
	var out []string
	for name, val := range m {
		out = append(out, "xattr."+Escape(name)+"="+Escape(string(val)))
	}
	sort.Strings(out)
	return out, nil
}

// Escape writes bytes outside printable ASCII, space and backslash as \ooo (mtree style).
func Escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '\\' {
			fmt.Fprintf(&b, "\\%03o", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
