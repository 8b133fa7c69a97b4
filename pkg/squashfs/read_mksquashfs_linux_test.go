// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/gpyxis/gpyxis/internal/xattr"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func needMksquashfs(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("mksquashfs"); err != nil {
		t.Skip("mksquashfs not found: install the squashfs-tools package")
	}
}

// srcInfo is an entry of a source tree, as lstat sees it.
type srcInfo struct {
	typ      Type
	mode     uint32
	uid, gid uint32
	mtime    int64
	size     int64
	sum      string
	link     string
	rdev     uint64
	xattrs   map[string][]byte
	ino      uint64
	nlink    uint64
}

// genReadTree writes a tree with every kind of entry mksquashfs stores.
// Devices and other owners need root and are left out without it.
func genReadTree(t testing.TB, dir string) {
	t.Helper()
	root := os.Geteuid() == 0
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	write := func(p string, data []byte, mode os.FileMode) {
		full := filepath.Join(dir, p)
		must(os.MkdirAll(filepath.Dir(full), 0o755))
		must(os.WriteFile(full, data, mode))
		must(os.Chmod(full, mode))
	}
	for i, n := range []int{0, 1, 100, 4095, 4096, 4097, 128<<10 - 1, 128 << 10, 128<<10 + 1, 1<<20 + 3} {
		write(fmt.Sprintf("sizes/text-%d", n), textBytes(i, n), 0o644)
		write(fmt.Sprintf("sizes/rand-%d", n), randBytes(uint64(i), n), 0o600)
	}
	write("sizes/big-rand", randBytes(99, 3<<20+7), 0o644)
	write("sizes/big-text", textBytes(98, 2<<20+11), 0o644)
	write("sizes/zeros", make([]byte, 300<<10), 0o644)
	write("dup/one", textBytes(97, 200<<10), 0o644)
	write("dup/two", textBytes(97, 200<<10), 0o644)
	write("dup/small-one", []byte("same small content\n"), 0o644)
	write("dup/small-two", []byte("same small content\n"), 0o644)
	for i := range 300 {
		write(fmt.Sprintf("many/d%02d/f%03d", i%13, i), textBytes(1000+i, i*37), 0o644)
	}
	// A sparse file: data at both ends, holes between.
	sp, err := os.Create(filepath.Join(dir, "sizes/sparse"))
	must(err)
	_, err = sp.WriteAt(randBytes(5, 100<<10), 0)
	must(err)
	_, err = sp.WriteAt(textBytes(6, 50<<10), 9<<20)
	must(err)
	must(sp.Close())
	write("modes/setuid", []byte("#!/bin/sh\n"), 0o755)
	must(os.Chmod(filepath.Join(dir, "modes/setuid"), 0o4755|os.ModeSetuid))
	must(unix.Chmod(filepath.Join(dir, "modes/setuid"), 0o4755))
	must(os.MkdirAll(filepath.Join(dir, "modes/sticky"), 0o755))
	must(unix.Chmod(filepath.Join(dir, "modes/sticky"), 0o1777))
	must(os.MkdirAll(filepath.Join(dir, "modes/private"), 0o700))
	must(os.MkdirAll(filepath.Join(dir, "empty"), 0o755))
	write("names/with space", []byte("space"), 0o644)
	write("names/ünïcødé ✓", []byte("utf8"), 0o644)
	write("names/"+strings.Repeat("n", 255), []byte("long"), 0o644)
	must(os.MkdirAll(filepath.Join(dir, "links"), 0o755))
	must(os.Symlink("../sizes/text-1", filepath.Join(dir, "links/rel")))
	must(os.Symlink("/etc/passwd", filepath.Join(dir, "links/abs")))
	must(os.Symlink("no/such/target", filepath.Join(dir, "links/dangling")))
	write("hl/a", textBytes(7, 5000), 0o640)
	must(os.MkdirAll(filepath.Join(dir, "hl/sub"), 0o755))
	must(os.Link(filepath.Join(dir, "hl/a"), filepath.Join(dir, "hl/b")))
	must(os.Link(filepath.Join(dir, "hl/a"), filepath.Join(dir, "hl/sub/c")))
	write("hl/big", randBytes(8, 300<<10), 0o644)
	must(os.Link(filepath.Join(dir, "hl/big"), filepath.Join(dir, "hl/big-link")))
	must(os.MkdirAll(filepath.Join(dir, "dev"), 0o755))
	must(unix.Mkfifo(filepath.Join(dir, "dev/fifo"), 0o644))
	if root {
		must(unix.Mknod(filepath.Join(dir, "dev/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
		must(unix.Mknod(filepath.Join(dir, "dev/sda"), unix.S_IFBLK|0o660, int(unix.Mkdev(8, 0))))
		must(unix.Mknod(filepath.Join(dir, "dev/big"), unix.S_IFCHR|0o600, int(unix.Mkdev(300, 70000))))
		must(os.Lchown(filepath.Join(dir, "modes/private"), 1234, 5678))
		must(os.Lchown(filepath.Join(dir, "hl/a"), 65534, 65534))
		must(os.Lchown(filepath.Join(dir, "links/rel"), 42, 43))
		must(os.Lchown(filepath.Join(dir, "dev/sda"), 0, 6))
	}
	xp := filepath.Join(dir, "sizes/text-100")
	if err := unix.Lsetxattr(xp, "user.foo", []byte("bar"), 0); err == nil {
		must(unix.Lsetxattr(xp, "user.empty", nil, 0))
		must(unix.Lsetxattr(filepath.Join(dir, "modes/sticky"), "user.dir", randBytes(9, 3000), 0))
		if root {
			must(unix.Lsetxattr(filepath.Join(dir, "hl/a"), "trusted.overlay.opaque", []byte("y"), 0))
		}
	} else {
		t.Logf("no user xattrs on %s: %v", dir, err)
	}
	// Distinct mtimes, set last (adding entries changes a directory's).
	i := 0
	must(filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		i++
		ts := []unix.Timespec{{Sec: int64(1500000000 + i*1000)}, {Sec: int64(1500000000 + i*1000)}}
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
	}))
}

// scanTree records the tree under dir.
func scanTree(t testing.TB, dir string) map[string]*srcInfo {
	t.Helper()
	m := map[string]*srcInfo{}
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			rel = ""
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		s := &srcInfo{typ: modeType(st.Mode), mode: st.Mode & 0o7777, uid: st.Uid, gid: st.Gid,
			mtime: st.Mtim.Sec, ino: st.Ino, nlink: uint64(st.Nlink)}
		switch s.typ {
		case Reg:
			s.size = st.Size
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
			s.sum = hex.EncodeToString(h.Sum(nil))
		case Symlink:
			if s.link, err = os.Readlink(p); err != nil {
				return err
			}
		case Char, Block:
			s.rdev = st.Rdev
		}
		s.xattrs = lxattrs(t, p)
		m[rel] = s
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func lxattrs(t testing.TB, p string) map[string][]byte {
	m, err := xattr.List(p, "")
	if err != nil {
		t.Fatalf("%v", err)
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// compareSource checks what a sink recorded against the source tree.
func compareSource(t *testing.T, s *recordSink, src map[string]*srcInfo, allRoot, noXattrs bool) {
	t.Helper()
	first := map[uint64]string{} // source inode -> first path delivered
	names := map[uint64]int{}
	for _, p := range s.order {
		rec, w := s.m[p], src[p]
		if w == nil {
			t.Errorf("unexpected %q", p)
			continue
		}
		e := rec.e
		if w.typ != Dir {
			names[w.ino]++
		}
		if e.Type == Hardlink {
			if first[w.ino] != e.Linkname {
				t.Errorf("%q: hardlink to %q, want %q", p, e.Linkname, first[w.ino])
			}
			continue
		}
		if w.typ != Dir {
			if f, ok := first[w.ino]; ok {
				t.Errorf("%q: %s entry, want a hardlink to %q", p, e.Type, f)
			}
			first[w.ino] = p
		}
		uid, gid := w.uid, w.gid
		if allRoot {
			uid, gid = 0, 0
		}
		xa := w.xattrs
		if noXattrs {
			xa = nil
		}
		got := fmt.Sprintf("%s %o %d:%d t=%d size=%d link=%q rdev=%d xattrs=%s", e.Type, e.Mode, e.UID, e.GID, e.ModTime, e.Size, e.Linkname, e.Rdev, fmtXattrs(e.Xattrs))
		wnt := fmt.Sprintf("%s %o %d:%d t=%d size=%d link=%q rdev=%d xattrs=%s", w.typ, w.mode, uid, gid, w.mtime, w.size, w.link, w.rdev, fmtXattrs(xa))
		if got != wnt {
			t.Errorf("%q:\n got %s\nwant %s", p, got, wnt)
		}
		if w.typ == Reg && rec.sum != w.sum {
			t.Errorf("%q: sha256 %s, want %s", p, rec.sum, w.sum)
		}
	}
	for p, w := range src {
		if s.m[p] == nil {
			t.Errorf("missing %q", p)
		} else if w.typ != Dir && uint64(names[w.ino]) != w.nlink {
			t.Errorf("%q: %d names, want %d", p, names[w.ino], w.nlink)
		}
	}
}

// TestReadMksquashfs reads images that mksquashfs made of a generated tree,
// with every compressor and the options that change the layout.
func TestReadMksquashfs(t *testing.T) {
	needMksquashfs(t)
	src := filepath.Join(t.TempDir(), "src")
	genReadTree(t, src)
	want := scanTree(t, src)
	configs := []struct {
		name string
		args []string
	}{
		{"zstd", []string{"-comp", "zstd"}},
		{"gzip", []string{"-comp", "gzip"}},
		{"xz", []string{"-comp", "xz"}},
		{"lz4", []string{"-comp", "lz4"}},
		{"lz4-hc", []string{"-comp", "lz4", "-Xhc", "-b", "64K"}},
		{"lzo", []string{"-comp", "lzo"}},
		{"lzo1x_1", []string{"-comp", "lzo", "-Xalgorithm", "lzo1x_1", "-b", "1M"}},
		{"lzma", []string{"-comp", "lzma"}},
		{"zstd-all-root-nofrag", []string{"-comp", "zstd", "-all-root", "-no-fragments"}},
		{"zstd-always-frag-4k", []string{"-comp", "zstd", "-always-use-fragments", "-b", "4K"}},
		{"zstd-19-1m", []string{"-comp", "zstd", "-Xcompression-level", "19", "-b", "1M"}},
		{"gzip-1m-nodup", []string{"-comp", "gzip", "-b", "1M", "-no-duplicates"}},
		{"uncompressed", []string{"-noI", "-noD", "-noF", "-noX"}},
		{"zstd-no-xattrs-exportable", []string{"-comp", "zstd", "-no-xattrs", "-exports"}},
	}
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			img := filepath.Join(t.TempDir(), "img.sqfs")
			args := append([]string{src, img, "-noappend", "-no-progress", "-quiet", "-processors", "1"}, c.args...)
			if out, err := exec.Command("mksquashfs", args...).CombinedOutput(); err != nil {
				t.Fatalf("mksquashfs %v: %v\n%s", c.args, err, out)
			}
			start := time.Now()
			s := readImage(t, img, ReadOptions{Workers: 2}, c.name == "zstd" || c.name == "gzip")
			t.Logf("read %d entries in %v", len(s.order), time.Since(start))
			compareSource(t, s, want, strings.Contains(c.name, "all-root"), strings.Contains(c.name, "no-xattrs"))
			if rec := s.m["sizes/sparse"]; rec != nil && s.skip && rec.sparse < 8<<20 {
				t.Errorf("sparse file: %d bytes reported sparse", rec.sparse)
			}
		})
	}
}

// TestReadMksquashfsBCJ reads an xz image made with branch/call/jump
// filters (mksquashfs -Xbcj x86) of executables, where the filter wins:
// the Go xz package decodes LZMA2 only, so such blocks must fail with a
// clear error. OpenReader rejects such images from their compressor options.
func TestReadMksquashfsBCJ(t *testing.T) {
	needMksquashfs(t)
	src := t.TempDir()
	for _, b := range []string{"/bin/bash", "/usr/bin/mksquashfs"} {
		data, err := os.ReadFile(b)
		if err != nil {
			t.Skip(err)
		}
		if err := os.WriteFile(filepath.Join(src, filepath.Base(b)), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(t.TempDir(), "img.sqfs")
	if out, err := exec.Command("mksquashfs", src, img, "-noappend", "-no-progress", "-quiet", "-comp", "xz", "-Xbcj", "x86").CombinedOutput(); err != nil {
		t.Fatalf("mksquashfs: %v\n%s", err, out)
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = OpenReader(f)
	if err == nil || !strings.Contains(err.Error(), "-Xbcj") {
		t.Errorf("OpenReader: got %v, want an error about -Xbcj", err)
	}
	t.Log(err)
}
