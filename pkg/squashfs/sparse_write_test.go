// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"bytes"
	"io"
	"os"
	"testing"
	"time"
)

// fakeSparse is a content reader that reports its holes, as
// flatten.SparseReader does: data at the given offsets, zeros elsewhere.
type fakeSparse struct {
	data map[int64]string
	offs []int64 // sorted keys of data
	pos  int64
	size int64
	read int64 // bytes handed out through Read
}

func (f *fakeSparse) next() (int64, string) {
	for _, o := range f.offs {
		if o+int64(len(f.data[o])) > f.pos {
			return o, f.data[o]
		}
	}
	return f.size, ""
}

func (f *fakeSparse) SkipSparse() int64 {
	o, _ := f.next()
	n := max(o-f.pos, 0)
	f.pos += n
	return n
}

func (f *fakeSparse) Read(p []byte) (int, error) {
	if f.pos >= f.size {
		return 0, io.EOF
	}
	o, d := f.next()
	var n int
	if f.pos < o {
		n = int(min(int64(len(p)), o-f.pos))
		clear(p[:n])
	} else {
		n = copy(p, d[f.pos-o:])
	}
	f.pos += int64(n)
	f.read += int64(n)
	return n, nil
}

// TestSparseSource writes a 1 TiB file whose source reports its holes: the
// holes become sparse blocks without being read, and the image reads back
// with the data where it was.
func TestSparseSource(t *testing.T) {
	const size = 1 << 40
	src := &fakeSparse{
		data: map[int64]string{0: "head", 1<<30 + 5: "mid", size - 3: "end"},
		offs: []int64{0, 1<<30 + 5, size - 3},
		size: size,
	}
	start := time.Now()
	img := build(t, Options{}, []item{
		{e: Entry{Path: "", Type: Dir, Mode: 0o755}},
		{e: Entry{Path: "big", Type: Reg, Mode: 0o644, Size: size}, r: func() io.Reader { return src }},
	})
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("writing took %v", d)
	}
	if src.read > 3<<17 {
		t.Errorf("the writer read %d bytes of a source with 3 short data runs", src.read)
	}
	if fi, err := os.Stat(img); err != nil || fi.Size() > 64<<20 {
		t.Fatalf("image: %v, %d bytes", err, fi.Size())
	}
	s := readImage(t, img, ReadOptions{}, true)
	rec := s.m["big"]
	if rec == nil || rec.n != size || !bytes.HasPrefix(rec.head, []byte("head\x00")) || !bytes.HasSuffix(rec.tail, []byte("\x00end")) {
		t.Fatalf("read back: %+v", rec)
	}
	if rec.sparse < size-3<<17 {
		t.Errorf("only %d sparse bytes read back", rec.sparse)
	}
}
