// SPDX-License-Identifier: Apache-2.0

package imagecache

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gpyxis/gpyxis/internal/fsutil"
	"github.com/gpyxis/gpyxis/internal/testutil"
)

// TestTreeDigestAsTester runs this package's tests again as the
// unprivileged user "tester", who cannot list a mode-0000 directory.
func TestTreeDigestAsTester(t *testing.T) {
	testutil.RerunAsTester(t, "TestTreeDigestAsTester")
}

// A tree with a directory its owner may not list or search (debian images
// ship one) still gets a digest, which still follows the rest of the tree.
func TestTreeDigestUnreadableDirs(t *testing.T) {
	root := t.TempDir()
	t.Cleanup(func() { fsutil.RemoveTree(root) })
	for _, d := range []string{"none/sub", "listonly/sub", "searchonly/sub"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, d, "f"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "top"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for d, mode := range map[string]os.FileMode{"none": 0, "listonly": 0o444, "searchonly": 0o111} {
		if err := os.Chmod(filepath.Join(root, d), mode); err != nil {
			t.Fatal(err)
		}
	}
	first, files, _, err := TreeDigest(root)
	if err != nil {
		t.Fatalf("TreeDigest: %v", err)
	}
	again, _, _, err := TreeDigest(root)
	if err != nil || again != first {
		t.Fatalf("second digest %s, %v; want %s", again, err, first)
	}
	// root, top, three dirs; tester sees listonly/sub by name only and
	// nothing under none or searchonly.
	if want := int64(6); os.Geteuid() != 0 && files != want {
		t.Errorf("files = %d, want %d", files, want)
	}
	if err := os.WriteFile(filepath.Join(root, "top"), []byte("xy"), 0o644); err != nil {
		t.Fatal(err)
	}
	if changed, _, _, err := TreeDigest(root); err != nil || changed == first {
		t.Fatalf("digest after a change: %s, %v; want a new one", changed, err)
	}
}
