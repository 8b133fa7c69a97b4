// SPDX-License-Identifier: Apache-2.0

package imagecache

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func fillWith(content string, calls *atomic.Int32) func(string) (Meta, error) {
	return func(root string) (Meta, error) {
		calls.Add(1)
		time.Sleep(50 * time.Millisecond) // let concurrent callers pile up
		if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
			return Meta{}, err
		}
		return Meta{Source: "test"}, os.WriteFile(filepath.Join(root, "etc/data"), []byte(content), 0o644)
	}
}

func TestGetOnceConcurrently(t *testing.T) {
	c := &Cache{Dir: t.TempDir()}
	var calls atomic.Int32
	var wg sync.WaitGroup
	entries := make([]*Entry, 8)
	for i := range entries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := c.Get(context.Background(), Key("img"), fillWith("x", &calls))
			if err != nil {
				t.Error(err)
			}
			entries[i] = e
		}()
	}
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("fill ran %d times, want 1", calls.Load())
	}
	for _, e := range entries {
		if e == nil || e.Rootfs != entries[0].Rootfs {
			t.Fatalf("entries differ: %+v", e)
		}
	}
	if b, err := os.ReadFile(filepath.Join(entries[0].Rootfs, "etc/data")); err != nil || string(b) != "x" {
		t.Fatalf("entry content %q, %v", b, err)
	}
}

func TestTamperedEntryIsRebuilt(t *testing.T) {
	c := &Cache{Dir: t.TempDir()}
	var calls atomic.Int32
	e, err := c.Get(context.Background(), Key("img"), fillWith("good", &calls))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.Rootfs, "etc/data"), []byte("evil!"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.lookup(Key("img")); !errors.Is(err, ErrTampered) {
		t.Fatalf("lookup of a modified entry: %v, want ErrTampered", err)
	}
	e, err = c.Get(context.Background(), Key("img"), fillWith("good", &calls))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(e.Rootfs, "etc/data")); string(b) != "good" || calls.Load() != 2 {
		t.Fatalf("after tampering: content %q, fills %d; want a rebuilt entry", b, calls.Load())
	}
}

func TestFailedFillLeavesNothing(t *testing.T) {
	c := &Cache{Dir: t.TempDir()}
	_, err := c.Get(context.Background(), Key("img"), func(root string) (Meta, error) {
		os.WriteFile(filepath.Join(root, "half"), []byte("x"), 0o644)
		return Meta{}, errors.New("network down")
	})
	if err == nil {
		t.Fatal("Get succeeded with a failing fill")
	}
	ents, _ := os.ReadDir(c.Dir)
	for _, d := range ents {
		if d.IsDir() {
			t.Errorf("left %s", d.Name())
		}
	}
	// A crashed producer leaves its temporary directory: GC removes it.
	if err := os.MkdirAll(filepath.Join(c.Dir, tmpPref+Key("b")+"-abc", "rootfs"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GC(0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(c.Dir, tmpPref+Key("b")+"-abc")); err == nil {
		t.Error("GC kept a crashed producer's directory")
	}
}

func TestGCEvictsLRUButNotInUse(t *testing.T) {
	c := &Cache{Dir: t.TempDir()}
	var calls atomic.Int32
	get := func(k string) *Entry {
		e, err := c.Get(context.Background(), Key(k), fillWith(k, &calls))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	a, b, cc := get("a"), get("b"), get("c")
	old := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(c.Dir, a.Meta.Key+".used"), old, old)
	os.Chtimes(filepath.Join(c.Dir, b.Meta.Key+".used"), old.Add(time.Minute), old.Add(time.Minute))
	use, err := c.Use(a) // a is the oldest, but a container runs on it
	if err != nil {
		t.Fatal(err)
	}
	evicted, err := c.GC(1, 0) // everything over the cap
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, i := range evicted {
		keys = append(keys, i.Key)
	}
	if len(keys) != 2 || keys[0] != b.Meta.Key || keys[1] != cc.Meta.Key {
		t.Fatalf("evicted %v, want b then c (a is in use)", keys)
	}
	if _, err := os.Stat(a.Rootfs); err != nil {
		t.Fatalf("in-use entry removed: %v", err)
	}
	use.Close()
	if evicted, _ := c.GC(1, 0); len(evicted) != 1 || evicted[0].Key != a.Meta.Key {
		t.Fatalf("after release: evicted %v, want a", evicted)
	}
}

func TestSquashfsKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.sqsh")
	os.WriteFile(p, []byte("hsqs one"), 0o644)
	k1, err := SquashfsKey(p)
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := SquashfsKey(p); k != k1 {
		t.Fatal("key not stable")
	}
	os.WriteFile(p, []byte("hsqs two"), 0o644)
	if k, _ := SquashfsKey(p); k == k1 {
		t.Fatal("key did not change with the content")
	}
}

func TestPruneKeepsInUse(t *testing.T) {
	c := &Cache{Dir: t.TempDir()}
	var calls atomic.Int32
	a, err := c.Get(context.Background(), Key("a"), fillWith("a", &calls))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(context.Background(), Key("b"), fillWith("b", &calls)); err != nil {
		t.Fatal(err)
	}
	use, err := c.Use(a)
	if err != nil {
		t.Fatal(err)
	}
	defer use.Close()
	evicted, err := c.Prune()
	if err != nil || len(evicted) != 1 || evicted[0].Key != Key("b") {
		t.Fatalf("Prune = %v, %v; want only b evicted", evicted, err)
	}
	list, _ := c.List()
	if len(list) != 1 || list[0].Key != Key("a") || !list[0].InUse {
		t.Fatalf("after Prune: %+v, want a, in use", list)
	}
}

func TestRememberRecall(t *testing.T) {
	c := &Cache{Dir: t.TempDir()}
	var calls atomic.Int32
	e, err := c.Get(context.Background(), Key("img"), fillWith("x", &calls))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Recall("reg#img:tag"); err == nil {
		t.Fatal("Recall of a tag never remembered succeeded")
	}
	if err := c.Remember("reg#img:tag", e.Meta.Key); err != nil {
		t.Fatal(err)
	}
	got, when, err := c.Recall("reg#img:tag")
	if err != nil || got.Meta.Key != e.Meta.Key || time.Since(when) > time.Minute {
		t.Fatalf("Recall = %v, %v, %v", got, when, err)
	}
	if list, _ := c.List(); len(list) != 1 {
		t.Fatalf("List sees %d entries, want 1 (the tags directory is not one)", len(list))
	}
	if _, err := c.Prune(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Recall("reg#img:tag"); err == nil {
		t.Fatal("Recall of an evicted entry succeeded")
	}
}
