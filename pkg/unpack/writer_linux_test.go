// SPDX-License-Identifier: Apache-2.0

package unpack

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/internal/fsutil"
	"github.com/gpyxis/gpyxis/pkg/flatten"
)

func add(t *testing.T, w *Writer, e flatten.Entry, content string) {
	t.Helper()
	var r *strings.Reader
	if e.Type == flatten.Reg {
		e.Size = int64(len(content))
		r = strings.NewReader(content)
	}
	var err error
	if r != nil {
		err = w.Add(e, r)
	} else {
		err = w.Add(e, nil)
	}
	if err != nil {
		t.Fatalf("Add(%s): %v", e.Path, err)
	}
}

func TestWriter(t *testing.T) {
	root := t.TempDir()
	w, err := NewWriter(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Children before their parents, as the flattener delivers them.
	add(t, w, flatten.Entry{Path: "ro/f", Type: flatten.Reg, Mode: 0o4755, ModTime: 1000, Xattrs: map[string][]byte{"user.k": []byte("v")}}, "hi")
	add(t, w, flatten.Entry{Path: "ro", Type: flatten.Dir, Mode: 0o555, ModTime: 2000}, "")
	add(t, w, flatten.Entry{Path: "ro/g", Type: flatten.Hardlink, Linkname: "ro/f"}, "")
	add(t, w, flatten.Entry{Path: "none/inside", Type: flatten.Reg, Mode: 0o600}, "x")
	add(t, w, flatten.Entry{Path: "none", Type: flatten.Dir, Mode: 0}, "")
	add(t, w, flatten.Entry{Path: "implicit/deep/file", Type: flatten.Reg, Mode: 0o644}, "")
	add(t, w, flatten.Entry{Path: "link", Type: flatten.Symlink, Linkname: "/etc"}, "")
	add(t, w, flatten.Entry{Path: "fifo", Type: flatten.Fifo, Mode: 0o640}, "")
	add(t, w, flatten.Entry{Path: "null", Type: flatten.Char, Mode: 0o666, Rdev: unix.Mkdev(1, 3)}, "")
	sparse := strings.Repeat("\x00", 8<<20) + "end"
	add(t, w, flatten.Entry{Path: "sparse", Type: flatten.Reg, Mode: 0o644}, sparse)
	// A file under a symlinked directory must never land outside the root.
	err = w.Add(flatten.Entry{Path: "link/passwd", Type: flatten.Reg, Mode: 0o644, Size: 1}, strings.NewReader("x"))
	if err == nil {
		t.Fatal("a file under a symlink was written")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsutil.RemoveTree(root) }) // read-only and mode-0 directories

	check := func(p string, mode uint32, typ uint32) *syscall.Stat_t {
		t.Helper()
		var st syscall.Stat_t
		if err := syscall.Lstat(filepath.Join(root, p), &st); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if st.Mode&syscall.S_IFMT != typ || (mode != 0o7777 && st.Mode&0o7777 != mode) {
			t.Fatalf("%s: mode %o, want type %o perm %o", p, st.Mode, typ, mode)
		}
		return &st
	}
	f := check("ro/f", 0o4755, syscall.S_IFREG)
	if g := check("ro/g", 0o4755, syscall.S_IFREG); g.Ino != f.Ino || f.Nlink != 2 {
		t.Fatalf("ro/g is not a hardlink of ro/f (nlink %d)", f.Nlink)
	}
	if d := check("ro", 0o555, syscall.S_IFDIR); d.Mtim.Sec != 2000 || f.Mtim.Sec != 1000 {
		t.Fatalf("mtimes: dir %d file %d", d.Mtim.Sec, f.Mtim.Sec)
	}
	check("none", 0, syscall.S_IFDIR)
	check("implicit/deep", 0o755, syscall.S_IFDIR)
	check("link", 0o7777, syscall.S_IFLNK)
	check("fifo", 0o640, syscall.S_IFIFO)
	if s := check("sparse", 0o644, syscall.S_IFREG); s.Size != int64(len(sparse)) || s.Blocks*512 >= 1<<20 {
		t.Fatalf("sparse: size %d, %d bytes allocated; want %d and a hole", s.Size, s.Blocks*512, len(sparse))
	}
	if _, err := os.Lstat(filepath.Join(root, "null")); !os.IsNotExist(err) || w.Skipped != 1 {
		t.Fatalf("device node: %v, skipped %d; want skipped", err, w.Skipped)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "ro/f")); string(b) != "hi" {
		t.Fatalf("ro/f = %q", b)
	}
	buf := make([]byte, 8)
	if n, err := unix.Lgetxattr(filepath.Join(root, "ro/f"), "user.k", buf); err == nil && string(buf[:n]) != "v" {
		t.Fatalf("xattr = %q", buf[:n])
	}
}

func TestUserXattrs(t *testing.T) {
	for name, want := range map[string]bool{
		"user.rootlesscontainers": true, "user.mime_type": true,
		"user.overlay.opaque": false, "trusted.overlay.opaque": false,
		"security.capability": false, "security.selinux": false, "system.posix_acl_access": false,
	} {
		if got := UserXattrs(name); got != want {
			t.Errorf("UserXattrs(%q) = %v, want %v", name, got, want)
		}
	}
}
