// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestFileContentSparse writes a 1 TiB sparse file from the filesystem
// through FileContent: its holes are skipped, and the data reads back.
func TestFileContentSparse(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const size = 1 << 40
	for off, s := range map[int64]string{0: "head", 1<<30 + 5: "mid", size - 3: "end"} {
		if _, err := f.WriteAt([]byte(s), off); err != nil {
			t.Skipf("no 1 TiB sparse file here: %v", err)
		}
	}
	src, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	start := time.Now()
	img := build(t, Options{}, []item{
		{e: Entry{Path: "", Type: Dir, Mode: 0o755}},
		{e: Entry{Path: "big", Type: Reg, Mode: 0o644, Size: size}, r: func() io.Reader { return FileContent(src) }},
	})
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("writing took %v", d)
	}
	rec := readImage(t, img, ReadOptions{}, true).m["big"]
	if rec == nil || rec.n != size || !bytes.HasPrefix(rec.head, []byte("head\x00")) || !bytes.HasSuffix(rec.tail, []byte("\x00end")) {
		t.Fatalf("read back: %+v", rec)
	}
}

// TestFileContentPlain reads a small file with and without holes whole.
func TestFileContentPlain(t *testing.T) {
	dir := t.TempDir()
	want := make([]byte, 3<<20)
	copy(want[1<<20:], "data")
	for name, content := range map[string][]byte{"dense": bytes.Repeat([]byte("x"), 100000), "holes": want} {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if name == "holes" {
			f.WriteAt([]byte("data"), 1<<20)
			f.Truncate(3 << 20)
		} else {
			f.Write(content)
		}
		f.Close()
		src, _ := os.Open(p)
		got, err := io.ReadAll(FileContent(src))
		src.Close()
		if err != nil || !bytes.Equal(got, content) {
			t.Errorf("%s: %d bytes, %v", name, len(got), err)
		}
	}
}
