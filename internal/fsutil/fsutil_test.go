// SPDX-License-Identifier: Apache-2.0

package fsutil

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRemoveTreeReadOnlyDirs(t *testing.T) {
	d := filepath.Join(t.TempDir(), "tree")
	for _, p := range []string{"a/b", "c"} {
		if err := os.MkdirAll(filepath.Join(d, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(d, "a/b/f"), []byte("x"), 0o444)
	os.Chmod(filepath.Join(d, "a/b"), 0o555)
	os.Chmod(filepath.Join(d, "c"), 0o000)
	os.Chmod(filepath.Join(d, "a"), 0o555)
	if err := RemoveTree(d); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(d); !os.IsNotExist(err) {
		t.Fatalf("tree still there: %v", err)
	}
}

// TestRemoveTreeLeavesLinkedDirs: a symlink to a directory outside the tree
// is removed as a link; the directory keeps its mode.
func TestRemoveTreeLeavesLinkedDirs(t *testing.T) {
	base := t.TempDir()
	d, outside := filepath.Join(base, "tree"), filepath.Join(base, "outside")
	os.MkdirAll(filepath.Join(d, "sub"), 0o755)
	os.Mkdir(outside, 0o555)
	os.Chmod(outside, 0o555)
	t.Cleanup(func() { os.Chmod(outside, 0o755) })
	if err := os.Symlink(outside, filepath.Join(d, "sub", "link")); err != nil {
		t.Fatal(err)
	}
	if err := RemoveTree(d); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(outside); err != nil || fi.Mode().Perm() != 0o555 {
		t.Fatalf("outside directory: %v %v, want mode 0555 untouched", fi, err)
	}
	if _, err := os.Lstat(d); !os.IsNotExist(err) {
		t.Fatalf("tree still there: %v", err)
	}
}
