// SPDX-License-Identifier: Apache-2.0

package container

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gpyxis/gpyxis/internal/tempname"
)

// TestRemoveCollectsTemporaries: remove also deletes what killed creates,
// runs and saves left in the data directory, and nothing a live process or
// the store's containers own.
func TestRemoveCollectsTemporaries(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	me, err := tempname.Self()
	if err != nil {
		t.Fatal(err)
	}
	gone := me
	gone.Start++ // this pid in an earlier life: a killed process
	var dead []string
	for _, p := range []string{createPrefix + "box-", runPrefix, removePrefix + "old-", configPrefix + "box-"} {
		n := p + gone.Suffix() + "-0badf00d"
		dead = append(dead, n)
		if err := os.MkdirAll(filepath.Join(s.Dir, n, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(s.Dir, n, "etc"), 0o555)
	}
	live, err := tempname.Mkdir(s.Dir, runPrefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"box", "keep"} {
		os.MkdirAll(filepath.Join(s.Dir, n), 0o755)
		os.WriteFile(filepath.Join(s.Dir, n, ".lock"), nil, 0o600)
	}
	if err := s.Remove("box"); err != nil {
		t.Fatal(err)
	}
	for _, n := range dead {
		if _, err := os.Lstat(filepath.Join(s.Dir, n)); err == nil {
			t.Errorf("%s, left by a killed process, is still there", n)
		}
	}
	for _, p := range []string{live, filepath.Join(s.Dir, "keep")} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
	if names, _ := s.List(); len(names) != 1 || names[0] != "keep" {
		t.Errorf("List = %q, want [keep]", names)
	}
}
