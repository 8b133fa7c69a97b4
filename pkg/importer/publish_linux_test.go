// SPDX-License-Identifier: Apache-2.0

package importer

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gpyxis/gpyxis/internal/tempname"
)

// TestCreateOutputCollects: the next import of a file removes the partial
// output a killed import of it left, and nothing else.
func TestCreateOutputCollects(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "img.sqsh")
	me, err := tempname.Self()
	if err != nil {
		t.Fatal(err)
	}
	killed := me
	killed.Start++ // this pid in an earlier life
	dead := filepath.Join(dir, tempPrefix(out)+killed.Suffix()+"-0badf00d")
	live := filepath.Join(dir, tempPrefix(out)+me.Suffix()+"-0badf00d")
	other := filepath.Join(dir, tempPrefix(filepath.Join(dir, "other.sqsh"))+killed.Suffix()+"-0badf00d")
	for _, p := range []string{dead, live, other} {
		os.WriteFile(p, []byte("partial"), 0o600)
	}
	o, err := createOutput(out)
	if err != nil {
		t.Fatal(err)
	}
	o.discard()
	if _, err := os.Lstat(dead); err == nil {
		t.Error("a killed import's partial output is still there")
	}
	for _, p := range []string{live, other} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
}
