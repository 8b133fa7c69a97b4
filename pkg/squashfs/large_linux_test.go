// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"encoding/binary"
	"io"
	"os"
	"testing"
)

// patternReader yields n non-zero bytes that differ per 8-byte word, so
// blocks are neither sparse nor duplicates.
type patternReader struct {
	seed, off, n int64
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n-r.off)&^7]
	if len(p) == 0 {
		return 0, io.ErrShortBuffer
	}
	for i := 0; i < len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], uint64(r.seed<<40|(r.off+int64(i)))|1<<63)
	}
	r.off += int64(len(p))
	return len(p), nil
}

// TestLargeImage writes more than 4 GiB of data so that file starts and
// fragment blocks lie beyond the 32-bit range. It needs about 5 GB of
// disk and runs only with GPYXIS_SQUASHFS_LARGE=1.
func TestLargeImage(t *testing.T) {
	if os.Getenv("GPYXIS_SQUASHFS_LARGE") == "" {
		t.Skip("set GPYXIS_SQUASHFS_LARGE=1 to write a 4.5 GiB image")
	}
	const gib = 1 << 30
	var items []item
	for i, name := range []string{"a", "b", "c", "d", "e"} {
		size := int64(gib - 8*1000*int64(i))
		items = append(items, item{e: Entry{Path: "big/" + name, Type: Reg, Mode: 0o644, Size: size},
			r: func() io.Reader { return &patternReader{seed: int64(i), n: size} }})
	}
	items = append(items,
		item{e: Entry{Path: "z/after-4g", Type: Reg, Mode: 0o644}, data: textBytes(1, 300000)},
		item{e: Entry{Path: "z/tiny", Type: Reg, Mode: 0o644}, data: []byte("tiny")},
	)
	img := build(t, Options{Compression: None}, items)
	exp := expected(items)
	for i, name := range []string{"a", "b", "c", "d", "e"} {
		w := exp["big/"+name]
		w.sum = sumReader(t, &patternReader{seed: int64(i), n: w.size})
	}
	t.Run("lls", func(t *testing.T) { checkListing(t, img, exp) })
	t.Run("mount", func(t *testing.T) { checkMount(t, img, exp) })
}
