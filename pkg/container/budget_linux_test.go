// SPDX-License-Identifier: Apache-2.0

package container

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/gpyxis/gpyxis/pkg/flatten"
	"github.com/gpyxis/gpyxis/pkg/registry"
)

// budgetImage writes a one-layer image of n 100-byte files as a blob file,
// as the shared cache receives it from the user's process.
func budgetImage(t *testing.T, n int) (*registry.Image, *os.File) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := range n {
		body := strings.Repeat("x", 100)
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("f%d", i), Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	p := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	d := digest.FromBytes(buf.Bytes())
	img := &registry.Image{Layers: []registry.Layer{{Digest: d, Size: int64(buf.Len()), MediaType: "application/vnd.oci.image.layer.v1.tar", DiffID: d}}}
	return img, f
}

// TestUnpackFilesBudget: an image past its budget of entries or bytes fails
// with flatten.ErrTooLarge; within it, it unpacks.
func TestUnpackFilesBudget(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, c := range []struct {
		b    Budget
		fail string
	}{
		{Budget{}, ""},
		{Budget{Entries: 40, Bytes: 64 << 10}, ""},
		{Budget{Entries: 5}, "more than 5 files"},
		{Budget{Bytes: 550}, "more than 550 bytes"},
	} {
		img, f := budgetImage(t, 10)
		f.Seek(0, 0)
		err := UnpackFiles(context.Background(), img, []*os.File{f}, t.TempDir(), c.b, log)
		switch {
		case c.fail == "" && err != nil:
			t.Errorf("%+v: %v", c.b, err)
		case c.fail != "" && (!errors.Is(err, flatten.ErrTooLarge) || !strings.Contains(err.Error(), c.fail)):
			t.Errorf("%+v: %v, want %q", c.b, err, c.fail)
		}
	}
}
