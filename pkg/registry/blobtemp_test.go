// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/gpyxis/gpyxis/internal/tempname"
)

// TestBlobTempCollected: a new download removes the partial blobs killed
// pulls left in tmp/, not a live pull's, and CollectTemporaries does too.
func TestBlobTempCollected(t *testing.T) {
	root := t.TempDir()
	tmp := filepath.Join(root, "tmp")
	os.Mkdir(tmp, 0o700)
	me, err := tempname.Self()
	if err != nil {
		t.Fatal(err)
	}
	killed := me
	killed.Start++
	d := digest.FromString("layer")
	dead := filepath.Join(tmp, blobTempPrefix+d.Encoded()+"-"+killed.Suffix()+"-0badf00d")
	os.WriteFile(dead, []byte("part"), 0o600)
	f, err := createBlobTemp(tmp, d)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := os.Lstat(dead); err == nil {
		t.Error("a killed pull's partial blob is still there")
	}
	os.WriteFile(dead, []byte("part"), 0o600)
	got, err := CollectTemporaries(root)
	if err != nil || len(got) != 1 || got[0] != filepath.Base(dead) {
		t.Errorf("CollectTemporaries = %q, %v", got, err)
	}
	if _, err := os.Lstat(f.Name()); err != nil {
		t.Errorf("the live download was removed: %v", err)
	}
}
