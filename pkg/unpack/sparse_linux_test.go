// SPDX-License-Identifier: Apache-2.0

package unpack

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/gpyxis/gpyxis/pkg/flatten"
)

// TestSparseUnpack unpacks a layer (GNU tar --sparse) holding a 1 TiB sparse
// file: its holes stay holes, unread and unwritten, so it takes well under a
// second and a few blocks of disk.
func TestSparseUnpack(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("GNU tar not installed")
	}
	src := t.TempDir()
	p := filepath.Join(src, "s")
	if err := os.WriteFile(p, []byte("head"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 1<<40); err != nil {
		t.Skipf("no 1 TiB sparse file here: %v", err)
	}
	layer, err := exec.Command("tar", "--sparse", "--format=pax", "-cf", "-", "-C", src, "s").Output()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	w, err := NewWriter(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layer)), nil }
	start := time.Now()
	if _, err := flatten.Flatten(context.Background(), []flatten.LayerOpener{open}, w, flatten.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("unpacking took %v", d)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(root, "s"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != 1<<40 || st.Blocks*512 > 1<<20 {
		t.Errorf("s: size %d, %d bytes allocated", st.Size, st.Blocks*512)
	}
	f, err := os.Open(filepath.Join(root, "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, 5)
	if _, err := f.ReadAt(head, 0); err != nil || string(head) != "head\x00" {
		t.Errorf("s starts with %q, %v", head, err)
	}
}
