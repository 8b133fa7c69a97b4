// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/gpyxis/gpyxis/internal/xattr"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func needUnsquashfs(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("unsquashfs"); err != nil {
		t.Skip("unsquashfs not found: install the squashfs-tools package")
	}
}

func needRoot(t *testing.T, what string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("%s needs root", what)
	}
}

// TestImages builds the feature tree in several configurations and checks
// the image with unsquashfs -lln, unsquashfs extraction and a kernel mount.
func TestImages(t *testing.T) {
	configs := []struct {
		name string
		opts Options
		big  bool
	}{
		{"none-4k", Options{Compression: None, BlockSize: 4 << 10}, false},
		{"zstd-4k-nofrag", Options{BlockSize: 4 << 10, NoFragments: true, Workers: 3}, false},
		{"zstd-128k", Options{}, true},
		{"zstd-1m-nofrag", Options{BlockSize: 1 << 20, NoFragments: true, Level: 19}, true},
		{"none-1m", Options{Compression: None, BlockSize: 1 << 20, Workers: 1}, false},
	}
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			bs := c.opts.BlockSize
			if bs == 0 {
				bs = defaultBlockSize
			}
			items := featureItems(bs, c.big)
			img := build(t, c.opts, items)
			exp := expected(items)
			if c.big {
				st, _ := os.Stat(img)
				if st.Size() > 32<<20 {
					t.Errorf("image with a sparse 4 GiB file is %d bytes", st.Size())
				}
				t.Logf("image size %d bytes", st.Size())
			}
			t.Run("lls", func(t *testing.T) { checkListing(t, img, exp) })
			t.Run("extract", func(t *testing.T) { checkExtract(t, img, exp) })
			t.Run("mount", func(t *testing.T) { checkMount(t, img, exp) })
		})
	}
}

// TestEmptyImage checks an image with nothing added: an implicit root.
func TestEmptyImage(t *testing.T) {
	img := build(t, Options{}, nil)
	exp := map[string]*want{"": {typ: Dir, mode: 0o755, nlink: 2}}
	t.Run("lls", func(t *testing.T) { checkListing(t, img, exp) })
	t.Run("mount", func(t *testing.T) { checkMount(t, img, exp) })
}

var llsLine = regexp.MustCompile(`^(\S{10}) (\d+)/(\d+)\s+(\d+|\d+,\s*\d+) \d{4}-\d\d-\d\d \d\d:\d\d squashfs-root(.*)$`)

// checkListing compares unsquashfs -lln output with the expected tree.
func checkListing(t *testing.T, img string, exp map[string]*want) {
	needUnsquashfs(t)
	out, err := exec.Command("unsquashfs", "-lln", img).Output()
	if err != nil {
		t.Fatalf("unsquashfs -lln: %v", err)
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		m := llsLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		p, link, _ := strings.Cut(strings.TrimPrefix(m[5], "/"), " -> ")
		seen[p] = true
		w := exp[p]
		if w == nil {
			t.Errorf("unexpected %q", p)
			continue
		}
		typ, mode := parsePerm(m[1])
		uid, _ := strconv.Atoi(m[2])
		gid, _ := strconv.Atoi(m[3])
		got := fmt.Sprintf("%s %o %d:%d %s", typ, mode, uid, gid, link)
		exp := fmt.Sprintf("%s %o %d:%d %s", w.typ, w.mode, w.uid, w.gid, w.link)
		if got != exp {
			t.Errorf("%q: got %s, want %s", p, got, exp)
		}
		if sz := m[4]; w.typ == Reg || w.typ == Symlink {
			if sz != strconv.FormatInt(w.size, 10) {
				t.Errorf("%q: size %s, want %d", p, sz, w.size)
			}
		} else if w.typ == Char || w.typ == Block {
			// unsquashfs 4.5 lists the 32-bit on-disk value as major<<8|minor,
			// which is only right for small numbers.
			enc, _ := encodeDev(w.rdev)
			if want := fmt.Sprintf("%d,%d", enc>>8, enc&0xff); strings.ReplaceAll(sz, " ", "") != want {
				t.Errorf("%q: device %s, want %s", p, sz, want)
			}
		}
	}
	for p := range exp {
		if !seen[p] {
			t.Errorf("missing %q in listing", p)
		}
	}
}

// parsePerm converts an ls-style permission string.
func parsePerm(s string) (Type, uint32) {
	types := map[byte]Type{'d': Dir, '-': Reg, 'l': Symlink, 'c': Char, 'b': Block, 'p': Fifo, 's': Socket}
	var mode uint32
	for i, c := range s[1:] {
		if c != '-' && c != 'S' && c != 'T' {
			mode |= 1 << (8 - i)
		}
	}
	special := map[int]uint32{3: 0o4000, 6: 0o2000, 9: 0o1000}
	for i, bit := range special {
		if c := s[i]; c == 's' || c == 'S' || c == 't' || c == 'T' {
			mode |= bit
		}
	}
	return types[s[0]], mode
}

func checkExtract(t *testing.T, img string, exp map[string]*want) {
	needUnsquashfs(t)
	needRoot(t, "extracting owners and devices")
	dir := filepath.Join(t.TempDir(), "x")
	if out, err := exec.Command("unsquashfs", "-n", "-d", dir, img).CombinedOutput(); err != nil {
		t.Fatalf("unsquashfs: %v\n%s", err, out)
	}
	compareTree(t, dir, exp, true)
}

func checkMount(t *testing.T, img string, exp map[string]*want) {
	needRoot(t, "loop mounting")
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skip("no loop devices")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "squashfs", "-o", "loop,ro", img, dir).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v\n%s", err, out)
	}
	defer func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount: %v\n%s", err, out)
		}
	}()
	compareTree(t, dir, exp, false)
}

// compareTree walks root and compares every entry with exp.
func compareTree(t *testing.T, root string, exp map[string]*want, extracted bool) {
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			rel = ""
		}
		seen[rel] = true
		if w := exp[rel]; w == nil {
			t.Errorf("unexpected %q", rel)
		} else {
			compareEntry(t, p, rel, w, extracted)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p := range exp {
		if !seen[p] {
			t.Errorf("missing %q", p)
		}
	}
}

func compareEntry(t *testing.T, p, rel string, w *want, extracted bool) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Error(err)
		return
	}
	got := fmt.Sprintf("%s %o %d:%d nlink=%d", modeType(st.Mode), st.Mode&0o7777, st.Uid, st.Gid, st.Nlink)
	want := fmt.Sprintf("%s %o %d:%d nlink=%d", w.typ, w.mode, w.uid, w.gid, w.nlink)
	if got != want {
		t.Errorf("%q: got %s, want %s", rel, got, want)
	}
	// unsquashfs cannot set the time of the extraction root or of symlinks.
	if !(extracted && (rel == "" || w.typ == Symlink)) && st.Mtim.Sec != w.mtime {
		t.Errorf("%q: mtime %d, want %d", rel, st.Mtim.Sec, w.mtime)
	}
	switch w.typ {
	case Reg:
		if st.Size != w.size {
			t.Errorf("%q: size %d, want %d", rel, st.Size, w.size)
		} else if err := checkContent(p, w); err != nil {
			t.Errorf("%q: %v", rel, err)
		}
	case Symlink:
		if l, err := os.Readlink(p); err != nil || l != w.link {
			t.Errorf("%q: readlink %q, %v; want %q", rel, l, err, w.link)
		}
	case Char, Block:
		if st.Rdev != w.rdev {
			t.Errorf("%q: rdev %d:%d, want %d:%d", rel, unix.Major(st.Rdev), unix.Minor(st.Rdev), unix.Major(w.rdev), unix.Minor(w.rdev))
		}
	}
	if got, want := xattrs(t, p), fmtXattrs(w.xattrs); got != want {
		t.Errorf("%q: xattrs %s, want %s", rel, got, want)
	}
}

func modeType(m uint32) Type {
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		return Dir
	case unix.S_IFREG:
		return Reg
	case unix.S_IFLNK:
		return Symlink
	case unix.S_IFCHR:
		return Char
	case unix.S_IFBLK:
		return Block
	case unix.S_IFIFO:
		return Fifo
	case unix.S_IFSOCK:
		return Socket
	}
	return 0
}

func checkContent(p string, w *want) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if w.head == nil {
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != w.sum {
			return fmt.Errorf("sha256 %s, want %s", got, w.sum)
		}
		return nil
	}
	return checkSparse(f, w)
}

// checkSparse checks both ends of the big file and zero windows between.
func checkSparse(f *os.File, w *want) error {
	read := func(off int64, n int) []byte {
		b := make([]byte, n)
		if _, err := f.ReadAt(b, off); err != nil {
			return nil
		}
		return b
	}
	if !bytes.Equal(read(0, len(w.head)), w.head) {
		return fmt.Errorf("head differs")
	}
	if !bytes.Equal(read(w.size-int64(len(w.tail)), len(w.tail)), w.tail) {
		return fmt.Errorf("tail differs")
	}
	zero := make([]byte, 1<<20)
	for _, off := range []int64{int64(len(w.head)), 1 << 30, 4<<30 - 500000, w.size - int64(len(w.tail)) - 1<<20} {
		if !bytes.Equal(read(off, len(zero)), zero) {
			return fmt.Errorf("not zero at %d", off)
		}
	}
	return nil
}

func xattrs(t *testing.T, p string) string {
	// None at all for an image without an xattr table, as mksquashfs -no-xattrs makes.
	m, err := xattr.List(p, "")
	if err != nil {
		t.Errorf("%v", err)
		return ""
	}
	return fmtXattrs(m)
}

func fmtXattrs(m map[string][]byte) string {
	var s []string
	for k, v := range m {
		sum := sha256.Sum256(v)
		s = append(s, fmt.Sprintf("%s=%d:%x", k, len(v), sum[:4]))
	}
	slices.Sort(s)
	return strings.Join(s, ",")
}
