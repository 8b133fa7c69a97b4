// SPDX-License-Identifier: Apache-2.0

package xattr

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestList(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lsetxattr(p, "user.a", []byte("1"), 0); err != nil {
		t.Skipf("no user xattrs here: %v", err)
	}
	if err := unix.Lsetxattr(p, "user.b", make([]byte, 3000), 0); err != nil {
		t.Fatal(err)
	}
	got, err := List(p, "user.")
	if err != nil || len(got) != 2 || string(got["user.a"]) != "1" || len(got["user.b"]) != 3000 {
		t.Fatalf("List = %v, %v", got, err)
	}
	if got, err := List(p, "trusted."); err != nil || len(got) != 0 {
		t.Fatalf("List(trusted.) = %v, %v", got, err)
	}
	if _, err := List(filepath.Join(t.TempDir(), "missing"), ""); err == nil {
		t.Fatal("List of a missing file succeeded")
	}
}
