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
