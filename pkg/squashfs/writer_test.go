// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newTestWriter(t *testing.T, opts Options) *Writer {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "img"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	w, err := NewWriter(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestBadOptions(t *testing.T) {
	for _, o := range []Options{
		{BlockSize: 3000}, {BlockSize: 2 << 20}, {BlockSize: 2 << 10}, {BlockSize: 96 << 10},
		{Level: 23}, {Level: -1}, {Compression: 7}, {ModTime: -1},
	} {
		f, err := os.Create(filepath.Join(t.TempDir(), "img"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := NewWriter(f, o); err == nil {
			t.Errorf("%+v: no error", o)
		}
		f.Close()
	}
}

// TestBadEntries checks that invalid entries are rejected with a clear
// error and leave the writer usable.
func TestBadEntries(t *testing.T) {
	cases := []struct {
		e    Entry
		data string
		want string
	}{
		{Entry{Path: "f", Type: Reg}, "", "duplicate path"},
		{Entry{Path: "f/x", Type: Reg}, "", "parent f is a reg, not a directory"},
		{Entry{Path: "d", Type: Reg}, "", "is a parent of earlier entries"},
		{Entry{Path: "../x", Type: Reg}, "", "clean"},
		{Entry{Path: "a/../b", Type: Reg}, "", "clean"},
		{Entry{Path: "/abs", Type: Reg}, "", "clean"},
		{Entry{Path: "a//b", Type: Reg}, "", "clean"},
		{Entry{Path: "a/", Type: Reg}, "", "clean"},
		{Entry{Path: strings.Repeat("n", 256), Type: Reg}, "", "longer than 255"},
		{Entry{Path: "nul\x00", Type: Reg}, "", "NUL"},
		{Entry{Path: "", Type: Reg}, "", "root must be a directory"},
		{Entry{Path: "t", Type: 0}, "", "unknown type"},
		{Entry{Path: "s", Type: Symlink}, "", "symlink target"},
		{Entry{Path: "s", Type: Symlink, Linkname: strings.Repeat("x", 4096)}, "", "symlink target"},
		{Entry{Path: "h", Type: Hardlink, Linkname: "/f"}, "", "hardlink target"},
		{Entry{Path: "c", Type: Char, Rdev: mkdev(5000, 0)}, "", "12-bit major"},
		{Entry{Path: "x", Type: Reg, Xattrs: map[string][]byte{"system.posix_acl_access": nil}}, "", "namespace"},
		{Entry{Path: "x", Type: Reg, Xattrs: map[string][]byte{"user.": nil}}, "", "namespace"},
		{Entry{Path: "r", Type: Reg, Size: 5}, "nil", "no content"},
		{Entry{Path: "r", Type: Reg, Size: -1}, "", "negative size"},
	}
	w := newTestWriter(t, Options{})
	must(t, w.Add(Entry{Path: "f", Type: Reg, Size: 1}, strings.NewReader("1")))
	must(t, w.Add(Entry{Path: "d/child", Type: Reg}, strings.NewReader("")))
	for _, c := range cases {
		var r io.Reader = strings.NewReader(c.data)
		if c.data == "nil" {
			r = nil
		}
		err := w.Add(c.e, r)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want error containing %q", c.e.Path, err, c.want)
		}
	}
	must(t, w.Add(Entry{Path: "ok", Type: Reg, Size: 2}, strings.NewReader("ok")))
	must(t, w.Close())
	if err := w.Add(Entry{Path: "late", Type: Dir}, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("add after close: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestBadContent checks that content of the wrong length fails the
// writer for good.
func TestBadContent(t *testing.T) {
	for _, c := range []struct {
		size int64
		data string
		want string
	}{
		{10, "short", "shorter than size 10"},
		{200000, "short", "shorter than size 200000"},
		{2, "long", "longer than size 2"},
		{1 << 20, strings.Repeat("x", 1<<20+1), "longer than size"},
	} {
		w := newTestWriter(t, Options{BlockSize: 64 << 10})
		err := w.Add(Entry{Path: "f", Type: Reg, Size: c.size}, strings.NewReader(c.data))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("size %d: got %v, want %q", c.size, err, c.want)
		}
		if err2 := w.Add(Entry{Path: "g", Type: Dir}, nil); err2 == nil {
			t.Errorf("size %d: writer still usable after content error", c.size)
		}
		if err2 := w.Close(); err2 == nil {
			t.Errorf("size %d: close succeeded after content error", c.size)
		}
	}
}

type failReader struct{ n int }

func (f *failReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("disk on fire")
	}
	n := min(len(p), f.n)
	f.n -= n
	return n, nil
}

func TestReadError(t *testing.T) {
	w := newTestWriter(t, Options{BlockSize: 4096})
	err := w.Add(Entry{Path: "f", Type: Reg, Size: 100000}, &failReader{n: 50000})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("got %v", err)
	}
}

func TestHardlinkErrors(t *testing.T) {
	for name, items := range map[string][]item{
		"missing": {{e: Entry{Path: "h", Type: Hardlink, Linkname: "nope"}}},
		"dir": {
			{e: Entry{Path: "d", Type: Dir}},
			{e: Entry{Path: "h", Type: Hardlink, Linkname: "d"}},
		},
		"cycle": {
			{e: Entry{Path: "a", Type: Hardlink, Linkname: "b"}},
			{e: Entry{Path: "b", Type: Hardlink, Linkname: "a"}},
		},
	} {
		w := newTestWriter(t, Options{})
		for _, it := range items {
			must(t, w.Add(it.e, nil))
		}
		if err := w.Close(); err == nil || !strings.Contains(err.Error(), "hardlink") {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

// TestDeterministic builds the same input twice and compares the bytes.
func TestDeterministic(t *testing.T) {
	items := featureItems(4096, false)[:200]
	a, err := os.ReadFile(build(t, Options{BlockSize: 4096, Workers: 4}, items))
	must(t, err)
	b, err := os.ReadFile(build(t, Options{BlockSize: 4096, Workers: 1}, items))
	must(t, err)
	if !bytes.Equal(a, b) {
		t.Fatal("two builds of the same input differ")
	}
	if len(a)%padTo != 0 {
		t.Errorf("image size %d not padded to %d", len(a), padTo)
	}
}
