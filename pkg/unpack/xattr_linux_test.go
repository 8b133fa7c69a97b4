// SPDX-License-Identifier: Apache-2.0

package unpack

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/internal/fsutil"
	"github.com/gpyxis/gpyxis/internal/testutil"
	"github.com/gpyxis/gpyxis/internal/xattr"
	"github.com/gpyxis/gpyxis/pkg/flatten"
)

// TestAsTester runs this package's tests again as the unprivileged user
// "tester": user.* attributes must survive a read-only file's mode there.
func TestAsTester(t *testing.T) {
	testutil.RerunAsTester(t, "TestAsTester")
}

// capNetRaw is a version 2 security.capability value: cap_net_raw+ep.
func capNetRaw() []byte {
	b := make([]byte, 20)
	binary.LittleEndian.PutUint32(b[0:], 0x02000001) // VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE
	binary.LittleEndian.PutUint32(b[4:], 1<<unix.CAP_NET_RAW)
	return b
}

func TestWriterXattrs(t *testing.T) {
	root := t.TempDir()
	probe := filepath.Join(root, "probe")
	if err := os.WriteFile(probe, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(probe, "user.probe", []byte("1"), 0); err != nil {
		t.Skipf("no user xattrs on %s: %v", root, err)
	}
	os.Remove(probe)
	t.Cleanup(func() { fsutil.RemoveTree(root) }) // read-only directories
	asRoot := os.Geteuid() == 0
	all := map[string][]byte{"user.a": []byte("1"), "user.overlay.opaque": []byte("y"),
		"trusted.overlay.redirect": []byte("/x"), "trusted.t": []byte("2")}
	w, err := NewWriter(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	add(t, w, flatten.Entry{Path: "bin/ping", Type: flatten.Reg, Mode: 0o555, Xattrs: map[string][]byte{
		"user.a": []byte("1"), "security.capability": capNetRaw(), "security.ima": []byte("x")}}, "ELF")
	add(t, w, flatten.Entry{Path: "ro", Type: flatten.Reg, Mode: 0o444, Xattrs: all}, "x")
	add(t, w, flatten.Entry{Path: "dir/inside", Type: flatten.Reg, Mode: 0o644}, "")
	add(t, w, flatten.Entry{Path: "dir", Type: flatten.Dir, Mode: 0o555, Xattrs: all}, "")
	add(t, w, flatten.Entry{Path: "link", Type: flatten.Symlink, Linkname: "ro", Xattrs: all}, "")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	get := func(p, prefix string) map[string][]byte {
		t.Helper()
		m, err := xattr.List(filepath.Join(root, p), prefix)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	// user.* on a file and a directory, whatever their final mode.
	for _, p := range []string{"bin/ping", "ro", "dir"} {
		if m := get(p, "user."); len(m) != 1 || string(m["user.a"]) != "1" {
			t.Errorf("%s: user xattrs %q, want only user.a=1", p, m)
		}
	}
	// Overlay's own names are never written, nor anything through the symlink.
	for _, p := range []string{"ro", "dir", "link"} {
		if m := get(p, "trusted.overlay."); len(m) != 0 {
			t.Errorf("%s: overlay xattrs written: %q", p, m)
		}
	}
	caps := get("bin/ping", "security.capability")
	trusted := []map[string][]byte{get("ro", "trusted.t"), get("dir", "trusted.t"), get("link", "trusted.t")}
	if !asRoot {
		if len(caps) != 0 || len(trusted[0]) != 0 {
			t.Fatalf("unprivileged writer set %q and %q", caps, trusted[0])
		}
		return
	}
	if string(caps["security.capability"]) != string(capNetRaw()) {
		t.Errorf("security.capability = %x, want %x", caps["security.capability"], capNetRaw())
	}
	if m := get("bin/ping", "security.ima"); len(m) != 0 {
		t.Errorf("the image's security.ima label was written: %q", m)
	}
	for i, p := range []string{"ro", "dir", "link"} {
		if string(trusted[i]["trusted.t"]) != "2" {
			t.Errorf("%s: trusted.t = %q, want 2", p, trusted[i]["trusted.t"])
		}
	}
	// The target of the symlink got nothing from the symlink's entry.
	if m := get("ro", "trusted."); len(m) != 1 {
		t.Errorf("ro: trusted xattrs %q, want only its own", m)
	}
}

// TestWriterUserXattrsFilter is the shared cache's writer: root, keeping only
// what the user's own unpack could have written.
func TestWriterUserXattrsFilter(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to be able to write security.capability at all")
	}
	root := t.TempDir()
	w, err := NewWriter(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Xattr = UserXattrs
	add(t, w, flatten.Entry{Path: "f", Type: flatten.Reg, Mode: 0o755, Xattrs: map[string][]byte{
		"user.a": []byte("1"), "security.capability": capNetRaw(), "trusted.t": []byte("2")}}, "x")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	m, err := xattr.List(filepath.Join(root, "f"), "")
	if err != nil {
		t.Fatal(err)
	}
	delete(m, "security.selinux") // a labelling host adds its own
	if len(m) != 1 || string(m["user.a"]) != "1" {
		t.Fatalf("xattrs %q, want only user.a=1", m)
	}
}
