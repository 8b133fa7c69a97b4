// SPDX-License-Identifier: Apache-2.0

package imagecache

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync/atomic"
	"testing"

	"github.com/gpyxis/gpyxis/internal/tempname"
)

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// TestPruneLeavesNoStaleFiles: after prune, the cache holds only what its
// entries in use need: no lock or use-time file of an evicted entry, no tag
// naming one, no tag a killed process was writing; the entry in use keeps
// its files, tag and lock.
func TestPruneLeavesNoStaleFiles(t *testing.T) {
	c := &Cache{Dir: t.TempDir()}
	var calls atomic.Int32
	get := func(k string) *Entry {
		e, err := c.Get(context.Background(), Key(k), fillWith(k, &calls))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Remember("ref-"+k, e.Meta.Key); err != nil {
			t.Fatal(err)
		}
		return e
	}
	a, b := get("a"), get("b")
	use, err := c.Use(a)
	if err != nil {
		t.Fatal(err)
	}
	defer use.Close()
	me, _ := tempname.Self()
	me.Start++ // a killed process
	killed := filepath.Join(c.Dir, "tags", tmpPref+me.Suffix()+"-0badf00d")
	os.WriteFile(killed, []byte(b.Meta.Key), 0o600)
	os.WriteFile(filepath.Join(c.Dir, Key("never")+".lock"), nil, 0o600) // a producer killed before its tree

	evicted, err := c.Prune()
	if err != nil || len(evicted) != 1 || evicted[0].Key != b.Meta.Key {
		t.Fatalf("Prune = %v, %v; want b evicted", evicted, err)
	}
	want := []string{a.Meta.Key, a.Meta.Key + ".lock", a.Meta.Key + ".used", "tags"}
	if got := names(t, c.Dir); !slices.Equal(got, want) {
		t.Errorf("cache holds %q, want %q", got, want)
	}
	if got := names(t, filepath.Join(c.Dir, "tags")); len(got) != 1 || got[0] != Key("tag", "ref-a") {
		t.Errorf("tags %q, want only a's", got)
	}
	if e, _, err := c.Recall("ref-a"); err != nil || e.Meta.Key != a.Meta.Key {
		t.Errorf("Recall of the kept entry: %v", err)
	}
	// b comes back as new, under a lock file made again.
	if e := get("b"); e.Meta.Key != b.Meta.Key || calls.Load() != 3 {
		t.Errorf("b after prune: %s, %d fills", e.Meta.Key, calls.Load())
	}
}
