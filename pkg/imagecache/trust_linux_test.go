// SPDX-License-Identifier: Apache-2.0

package imagecache

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpyxis/gpyxis/internal/pathtrust"
)

// A cache directory others can write to is refused before anything in it
// is used or produced.
func TestUntrustedCacheDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rootfs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	c := &Cache{Dir: dir}
	filled := false
	_, err := c.Get(context.Background(), Key("x"), func(string) (Meta, error) { filled = true; return Meta{}, nil })
	if !errors.Is(err, pathtrust.ErrUntrusted) || !strings.Contains(err.Error(), "mode 0777") {
		t.Errorf("Get: %v, want a refusal naming mode 0777", err)
	}
	if filled {
		t.Error("Get produced an entry in an untrusted directory")
	}
	if _, err := c.List(); !errors.Is(err, pathtrust.ErrUntrusted) {
		t.Errorf("List: %v, want a refusal", err)
	}
	if _, _, err := c.Recall("img"); !errors.Is(err, pathtrust.ErrUntrusted) {
		t.Errorf("Recall: %v, want a refusal", err)
	}
	// Made by the cache itself: 0700, and used.
	c = &Cache{Dir: filepath.Join(t.TempDir(), "new", "rootfs")}
	if _, err := c.Get(context.Background(), Key("y"), func(string) (Meta, error) { return Meta{}, nil }); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(c.Dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("cache directory: %v %v, want mode 0700", fi.Mode(), err)
	}
}

// An entry that is a link (or another user's directory) is not used.
func TestEntryLink(t *testing.T) {
	c := &Cache{Dir: filepath.Join(t.TempDir(), "rootfs")}
	e, err := c.Get(context.Background(), Key("a"), func(string) (Meta, error) { return Meta{}, nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(e.Dir, filepath.Join(c.Dir, Key("b"))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.lookup(Key("b")); err == nil || !strings.Contains(err.Error(), "not a directory of yours") {
		t.Errorf("lookup through a link: %v", err)
	}
}
