// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"strings"
	"testing"
	"time"
)

// recorded is what a recordSink saw for one path.
type recorded struct {
	e      Entry
	sum    string // sha256 of the content, zeros of sparse runs included
	n      int64  // content bytes delivered (sparse runs included)
	sparse int64  // bytes reported by SkipSparse
	huge   bool   // a sparse run too long to hash: sum is unset
	head   []byte // first headLen bytes
	tail   []byte // last tailLen bytes
}

const (
	headLen = 256 << 10
	tailLen = 1 << 20
)

// recordSink records every entry and checks the delivery order.
type recordSink struct {
	t        testing.TB
	skip     bool // use SkipSparse
	m        map[string]*recorded
	order    []string
	readSize int
}

func newRecordSink(t testing.TB, skip bool) *recordSink {
	return &recordSink{t: t, skip: skip, m: map[string]*recorded{}, readSize: 32 << 10}
}

func (s *recordSink) Add(e Entry, content io.Reader) error {
	if _, dup := s.m[e.Path]; dup {
		return fmt.Errorf("path %q delivered twice", e.Path)
	}
	if e.Path != "" {
		parent := path.Dir(e.Path)
		if parent == "." {
			parent = ""
		}
		if p := s.m[parent]; p == nil || p.e.Type != Dir {
			return fmt.Errorf("%q delivered before its directory", e.Path)
		}
	} else if len(s.order) > 0 {
		return errors.New("root not first")
	}
	if e.Type == Hardlink {
		if t := s.m[e.Linkname]; t == nil || t.e.Type == Dir || t.e.Type == Hardlink {
			return fmt.Errorf("hardlink %q to %q: not an earlier non-directory entry", e.Path, e.Linkname)
		}
	}
	rec := &recorded{e: e}
	s.m[e.Path] = rec
	s.order = append(s.order, e.Path)
	if e.Type != Reg {
		if content != nil {
			return fmt.Errorf("%q: content for a %s", e.Path, e.Type)
		}
		return nil
	}
	sr, ok := content.(SparseReader)
	if !ok {
		return fmt.Errorf("%q: content is not a SparseReader", e.Path)
	}
	h := sha256.New()
	buf := make([]byte, s.readSize)
	zeros := make([]byte, 64<<10)
	keep := func(b []byte) {
		if len(rec.head) < headLen {
			rec.head = append(rec.head, b[:min(len(b), headLen-len(rec.head))]...)
		}
		rec.tail = append(rec.tail, b...)
		if len(rec.tail) > 2*tailLen {
			rec.tail = append(rec.tail[:0], rec.tail[len(rec.tail)-tailLen:]...)
		}
	}
	for {
		if s.skip {
			if z := sr.SkipSparse(); z > 0 {
				rec.sparse += z
				rec.n += z
				if z > 64<<20 {
					rec.huge = true
				}
				for left := z; left > 0 && !rec.huge; {
					k := min(left, int64(len(zeros)))
					h.Write(zeros[:k])
					keep(zeros[:k])
					left -= k
				}
				if rec.huge {
					rec.tail = rec.tail[:0]
				}
			}
		}
		n, err := sr.Read(buf)
		h.Write(buf[:n])
		keep(buf[:n])
		rec.n += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if len(rec.tail) > tailLen {
		rec.tail = rec.tail[len(rec.tail)-tailLen:]
	}
	if !rec.huge {
		rec.sum = hex.EncodeToString(h.Sum(nil))
	}
	if rec.n != e.Size {
		return fmt.Errorf("%q: %d content bytes, size %d", e.Path, rec.n, e.Size)
	}
	return nil
}

// readImage opens img and walks it into a recordSink.
func readImage(t testing.TB, img string, opts ReadOptions, skip bool) *recordSink {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := OpenReader(f)
	if err != nil {
		t.Fatal(err)
	}
	s := newRecordSink(t, skip)
	if err := r.Walk(context.Background(), s, opts); err != nil {
		t.Fatalf("walk: %v", err)
	}
	return s
}

// compareWant checks the recorded entries against the writer's expected
// tree (features_test.go).
func compareWant(t *testing.T, s *recordSink, exp map[string]*want) {
	t.Helper()
	names := map[*want][]string{} // inode -> paths, first delivered first
	for _, p := range s.order {
		rec := s.m[p]
		w := exp[p]
		if w == nil {
			t.Errorf("unexpected %q", p)
			continue
		}
		e := rec.e
		if e.Type == Hardlink {
			if exp[e.Linkname] != w {
				t.Errorf("%q: hardlink to %q, which is another inode", p, e.Linkname)
			}
			names[w] = append(names[w], p)
			continue
		}
		if w.typ != Dir {
			if len(names[w]) > 0 {
				t.Errorf("%q: %s entry for an inode delivered before as %q", p, e.Type, names[w][0])
			}
			names[w] = append(names[w], p)
		}
		got := fmt.Sprintf("%s %o %d:%d t=%d link=%q rdev=%d xattrs=%s", e.Type, e.Mode, e.UID, e.GID, e.ModTime, e.Linkname, e.Rdev, fmtXattrs(e.Xattrs))
		wnt := fmt.Sprintf("%s %o %d:%d t=%d link=%q rdev=%d xattrs=%s", w.typ, w.mode, w.uid, w.gid, w.mtime, w.link, w.rdev, fmtXattrs(w.xattrs))
		if w.typ == Symlink || w.typ == Dir {
			// Size is only set for regular files.
		} else if e.Size != w.size {
			t.Errorf("%q: size %d, want %d", p, e.Size, w.size)
		}
		if got != wnt {
			t.Errorf("%q:\n got %s\nwant %s", p, got, wnt)
		}
		if e.Type != Reg {
			continue
		}
		switch {
		case w.head != nil:
			if !bytes.Equal(rec.head, w.head[:min(len(w.head), headLen)]) {
				t.Errorf("%q: head differs", p)
			}
			if !bytes.HasSuffix(rec.tail, w.tail) {
				t.Errorf("%q: tail differs", p)
			}
		case rec.sum != w.sum:
			t.Errorf("%q: sha256 %s, want %s", p, rec.sum, w.sum)
		}
	}
	for p, w := range exp {
		if s.m[p] == nil {
			t.Errorf("missing %q", p)
		}
		if w.typ != Dir && uint32(len(names[w])) != w.nlink {
			t.Errorf("%q: %d names for the inode, want nlink %d", p, len(names[w]), w.nlink)
		}
	}
}

// readItems extends the writer's feature tree with duplicate files and
// more owners.
func readItems(bs int, big bool) []item {
	items := featureItems(bs, big)
	several := textBytes(6, 5*bs+17)
	items = append(items,
		item{e: Entry{Path: "dups/several", Type: Reg, Mode: 0o644}, data: several},
		item{e: Entry{Path: "dups/random", Type: Reg, Mode: 0o600, UID: 7}, data: randBytes(8, 3<<20+99)},
		item{e: Entry{Path: "dups/small", Type: Reg, Mode: 0o644}, data: []byte("with xattrs\n")},
		item{e: Entry{Path: "dups/zeros", Type: Reg, Mode: 0o644}, data: make([]byte, 3*bs+5)},
		item{e: Entry{Path: "dups/mid-sparse", Type: Reg, Mode: 0o644}, data: append(append(textBytes(20, bs), make([]byte, 4*bs)...), textBytes(21, bs/2)...)},
	)
	for i := range 300 {
		items = append(items, item{e: Entry{Path: fmt.Sprintf("owners/%03d", i), Type: Reg, Mode: 0o640,
			UID: uint32(1000 + i), GID: uint32(70000 + i*13), ModTime: int64(i) << 22}, data: textBytes(i, i*97)})
	}
	return items
}

func TestReadRoundTrip(t *testing.T) {
	configs := []struct {
		name    string
		opts    Options
		big     bool
		workers int
		skip    bool
	}{
		{"zstd-128k-sparse4g", Options{}, true, 0, true},
		{"none-4k", Options{Compression: None, BlockSize: 4 << 10}, false, 1, false},
		{"zstd-4k-nofrag", Options{BlockSize: 4 << 10, NoFragments: true, Workers: 3}, false, 3, true},
		{"zstd-64k-nodup", Options{BlockSize: 64 << 10, NoDuplicates: true, Level: 1}, false, 8, false},
		{"zstd-1m-nofrag", Options{BlockSize: 1 << 20, NoFragments: true}, false, 2, true},
		{"none-1m", Options{Compression: None, BlockSize: 1 << 20}, false, 2, false},
	}
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			bs := c.opts.BlockSize
			if bs == 0 {
				bs = defaultBlockSize
			}
			items := readItems(bs, c.big)
			img := build(t, c.opts, items)
			exp := expected(items)
			start := time.Now()
			s := readImage(t, img, ReadOptions{Workers: c.workers}, c.skip)
			t.Logf("read %d entries in %v", len(s.order), time.Since(start))
			compareWant(t, s, exp)
			if c.big {
				rec := s.m["sizes/sparse-4g"]
				if !rec.huge || rec.sparse < bigSize-2<<20 {
					t.Errorf("sparse file: %d bytes skipped, want nearly %d", rec.sparse, bigSize)
				}
			}
		})
	}
}

// TestReadSparseFast reads a 4 GiB file that is all sparse except its
// ends through Read (no SkipSparse): zeros are produced, not
// decompressed, so it takes about as long as clearing 4 GiB.
func TestReadSparseFast(t *testing.T) {
	items := []item{bigItem()}
	img := build(t, Options{}, items)
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := OpenReader(f)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	sink := sinkFunc(func(e Entry, content io.Reader) error {
		if content == nil {
			return nil
		}
		n, err := io.CopyBuffer(io.Discard, content, make([]byte, 1<<20))
		if n != e.Size {
			return fmt.Errorf("read %d of %d bytes", n, e.Size)
		}
		return err
	})
	var log bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if err := r.Walk(context.Background(), sink, ReadOptions{Logger: logger}); err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	// Head (256 KiB) and tail (300 KiB) touch 4 blocks of 128 KiB and the
	// fragment block; nothing else is decompressed.
	if !strings.Contains(log.String(), " blocks=5 ") {
		t.Errorf("decompressed blocks: %s", log.String())
	}
	t.Logf("4 GiB sparse file read in %v", d)
	if d > 20*time.Second {
		t.Errorf("reading a sparse 4 GiB file took %v", d)
	}
}

type sinkFunc func(Entry, io.Reader) error

func (f sinkFunc) Add(e Entry, r io.Reader) error { return f(e, r) }

// TestReadPartialAndErrors checks sinks that read part of a file or fail,
// and cancellation.
func TestReadPartialAndErrors(t *testing.T) {
	items := readItems(4<<10, false)
	img := build(t, Options{BlockSize: 4 << 10}, items)
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := OpenReader(f)
	if err != nil {
		t.Fatal(err)
	}
	// Read only the first few bytes of every file, and nothing of some.
	var files int
	err = r.Walk(context.Background(), sinkFunc(func(e Entry, c io.Reader) error {
		if c != nil {
			files++
			if files%2 == 0 {
				_, err := io.ReadFull(c, make([]byte, min(e.Size, 5000)))
				return err
			}
		}
		return nil
	}), ReadOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	// A sink error stops the walk and is returned.
	boom := errors.New("boom")
	var n int
	err = r.Walk(context.Background(), sinkFunc(func(e Entry, c io.Reader) error {
		if n++; n == 500 {
			return boom
		}
		return nil
	}), ReadOptions{})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "big/") {
		t.Errorf("sink error: got %v", err)
	}
	// Cancellation in the middle of a file.
	ctx, cancel := context.WithCancel(context.Background())
	err = r.Walk(ctx, sinkFunc(func(e Entry, c io.Reader) error {
		if e.Path == "sizes/random" {
			cancel()
			_, err := io.Copy(io.Discard, c)
			return err
		}
		return nil
	}), ReadOptions{Workers: 3})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancel: got %v", err)
	}
	// The reader still works after all that.
	s := newRecordSink(t, true)
	if err := r.Walk(context.Background(), s, ReadOptions{}); err != nil {
		t.Fatal(err)
	}
	compareWant(t, s, expected(items))
}

func TestReadEmptyImage(t *testing.T) {
	img := build(t, Options{}, nil)
	s := readImage(t, img, ReadOptions{}, false)
	if len(s.order) != 1 || s.m[""].e.Type != Dir || s.m[""].e.Mode != 0o755 {
		t.Errorf("got %v", s.order)
	}
}
