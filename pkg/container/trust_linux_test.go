// SPDX-License-Identifier: Apache-2.0

package container

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpyxis/gpyxis/internal/pathtrust"
)

// A data directory others can write to is refused by every use, never
// read as "no such container".
func TestUntrustedDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(filepath.Join(dir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "planted"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	s := Store{Dir: dir}
	for what, err := range map[string]error{"Ensure": s.Ensure(), "List": func() error { _, err := s.List(); return err }(),
		"Lookup": func() error { _, err := s.Lookup("planted"); return err }()} {
		if !errors.Is(err, pathtrust.ErrUntrusted) || !strings.Contains(err.Error(), dir+": owned by") {
			t.Errorf("%s: %v, want a refusal naming %s", what, err, dir)
		}
	}
	os.Chmod(dir, 0o700)
	if _, err := s.Lookup("planted"); err != nil {
		t.Errorf("Lookup once private: %v", err)
	}
	if _, err := s.Lookup("missing"); !errors.Is(err, ErrNotExist) {
		t.Errorf("missing container: %v", err)
	}
	// A missing data directory is created 0700.
	s = Store{Dir: filepath.Join(t.TempDir(), "a", "b")}
	if names, err := s.List(); err != nil || len(names) != 0 {
		t.Errorf("List of a missing directory: %v %v", names, err)
	}
	if err := s.Ensure(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(s.Dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data directory: %v %v, want mode 0700", fi, err)
	}
}

// Another user's rootfs under a container's name is reported as theirs.
func TestOtherUsersContainer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving a directory to another user needs root")
	}
	s := Store{Dir: t.TempDir()}
	if err := os.Mkdir(s.Rootfs("foo"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(s.Rootfs("foo"), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err := s.Lookup("foo")
	if err == nil || errors.Is(err, ErrNotExist) || !strings.Contains(err.Error(), "container foo: permission denied") ||
		!strings.Contains(err.Error(), "nobody (uid 65534)") {
		t.Errorf("Lookup: %v, want permission denied naming the owner", err)
	}
}
