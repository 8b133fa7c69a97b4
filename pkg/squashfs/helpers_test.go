// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// item is an entry plus its content, for building test images.
type item struct {
	e    Entry
	data []byte
	r    func() io.Reader // large or generated content; overrides data
}

func (it item) reader() io.Reader {
	switch {
	case it.r != nil:
		return it.r()
	case it.e.Type == Reg:
		return bytes.NewReader(it.data)
	}
	return nil
}

// build writes items into a new image under t.TempDir and returns its path.
func build(t testing.TB, opts Options, items []item) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "img.sqfs")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := NewWriter(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.e.Type == Reg && it.r == nil {
			it.e.Size = int64(len(it.data))
		}
		if err := w.Add(it.e, it.reader()); err != nil {
			t.Fatalf("add %s: %v", it.e.Path, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return img
}

func sumReader(t testing.TB, r io.Reader) string {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
