// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// smallItems is a compact tree with every entry type, for corruption tests.
func smallItems() []item {
	return []item{
		{e: Entry{Path: "", Type: Dir, Mode: 0o755, ModTime: 1}},
		{e: Entry{Path: "d", Type: Dir, Mode: 0o750, UID: 3, Xattrs: map[string][]byte{"user.a": []byte("b")}}},
		{e: Entry{Path: "d/f", Type: Reg, Mode: 0o644}, data: textBytes(1, 10000)},
		{e: Entry{Path: "d/r", Type: Reg, Mode: 0o644}, data: randBytes(1, 5000)},
		{e: Entry{Path: "d/z", Type: Reg, Mode: 0o644}, data: make([]byte, 9000)},
		{e: Entry{Path: "d/h", Type: Hardlink, Linkname: "d/f"}},
		{e: Entry{Path: "l", Type: Symlink, Linkname: "d/f", Mode: 0o777}},
		{e: Entry{Path: "c", Type: Char, Mode: 0o600, Rdev: mkdev(1, 3)}},
		{e: Entry{Path: "p", Type: Fifo, Mode: 0o600}},
		{e: Entry{Path: "s", Type: Socket, Mode: 0o600}},
	}
}

// walkBytes reads an image held in memory with a sink that reads all
// content; it must return an error or nil, never panic or hang.
func walkBytes(data []byte, workers int) error {
	r, err := openReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return err
	}
	return r.Walk(context.Background(), sinkFunc(func(e Entry, c io.Reader) error {
		if c == nil {
			return nil
		}
		if e.Size%2 == 0 { // exercise both paths
			c.(SparseReader).SkipSparse()
		}
		_, err := io.Copy(io.Discard, c)
		return err
	}), ReadOptions{Workers: workers})
}

func TestReadBadHeader(t *testing.T) {
	img := build(t, Options{BlockSize: 4 << 10}, smallItems())
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := walkBytes(data, 2); err != nil {
		t.Fatalf("intact image: %v", err)
	}
	check := func(name string, b []byte, want string) {
		t.Helper()
		err := walkBytes(b, 2)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error containing %q", name, err, want)
		}
	}
	bad := bytes.Clone(data)
	copy(bad, "hsqt")
	check("bad magic", bad, "not a squashfs image")
	check("empty", nil, "not a squashfs image")
	check("text", []byte("hello, world, this is not an image at all; it is long enough for a superblock maybe? no it is not quite.. but now"), "not a squashfs image")
	if !errors.Is(walkBytes(bad, 1), ErrNotSquashfs) {
		t.Error("bad magic is not ErrNotSquashfs")
	}
	bad = bytes.Clone(data)
	binary.LittleEndian.PutUint16(bad[28:], 3)
	check("version", bad, "version 3.0 not supported")
	bad = bytes.Clone(data)
	binary.LittleEndian.PutUint16(bad[20:], 3)
	binary.LittleEndian.PutUint16(bad[20:], 9)
	check("compressor", bad, "compressor 9 not supported (supported: gzip")
	bad = bytes.Clone(data)
	binary.LittleEndian.PutUint32(bad[12:], 3000)
	check("block size", bad, "block size 3000")
	check("truncated superblock", data[:50], "truncated superblock")
	check("truncated", data[:len(data)/2], "truncated?")
	// Truncation anywhere, with the superblock's size fixed up so that the
	// tables are read past the end: errors, no panics.
	for n := superblockSize; n < len(data); n += 97 {
		b := bytes.Clone(data[:n])
		binary.LittleEndian.PutUint64(b[40:], uint64(n))
		if err := walkBytes(b, 2); err == nil && n < len(data)-padTo {
			t.Errorf("truncated at %d of %d: no error", n, len(data))
		}
	}
}

// TestReadFlippedBytes flips every byte of the metadata (everything after
// the data) in turn: each walk must end, with an error or without (a
// changed mtime is not detectable), and never panic.
func TestReadFlippedBytes(t *testing.T) {
	for _, o := range []Options{{BlockSize: 4 << 10}, {Compression: None, BlockSize: 4 << 10}} {
		img := build(t, o, smallItems())
		data, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		inodeTable := binary.LittleEndian.Uint64(data[64:])
		end := binary.LittleEndian.Uint64(data[40:])
		var failed, total int
		for i := int(inodeTable); i < int(end); i++ {
			for _, x := range []byte{0x01, 0x80, 0xff} {
				b := bytes.Clone(data)
				b[i] ^= x
				total++
				if walkBytes(b, 1+i%3) != nil {
					failed++
				}
			}
		}
		// Superblock fields too.
		for i := 4; i < superblockSize; i++ {
			b := bytes.Clone(data)
			b[i] ^= 0x40
			_ = walkBytes(b, 2)
		}
		t.Logf("%s: %d of %d flipped metadata bytes detected", o.Compression, failed, total)
		if failed == 0 {
			t.Error("no corruption detected")
		}
	}
}

func FuzzReader(f *testing.F) {
	for _, o := range []Options{{BlockSize: 4 << 10}, {Compression: None, BlockSize: 4 << 10}} {
		img := build(f, o, smallItems())
		data, err := os.ReadFile(img)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	// mksquashfs images exercise the other decompressors.
	if _, err := exec.LookPath("mksquashfs"); err == nil {
		src := f.TempDir()
		for i, n := range []int{10, 3000, 9000} {
			if err := os.WriteFile(filepath.Join(src, fmt.Sprint(i)), textBytes(i, n), 0o644); err != nil {
				f.Fatal(err)
			}
		}
		for _, comp := range []string{"gzip", "lz4", "lzo", "xz", "zstd"} {
			img := filepath.Join(f.TempDir(), comp)
			if out, err := exec.Command("mksquashfs", src, img, "-quiet", "-no-progress", "-b", "4K", "-comp", comp).CombinedOutput(); err != nil {
				f.Fatalf("mksquashfs: %v\n%s", err, out)
			}
			b, err := os.ReadFile(img)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = walkBytes(data, 2)
	})
}
