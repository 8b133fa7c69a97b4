// SPDX-License-Identifier: Apache-2.0

package rootfs

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gpyxis/gpyxis/pkg/namespaces"
)

// TestOverlayHolder prepares an overlay rootfs through an OverlayOnly holder
// (writes from the host via /proc/PID/root), then starts a container on the
// same overlay: it sees the change, and the lower tree is untouched.
func TestOverlayHolder(t *testing.T) {
	lower := newRootfs(t)
	d := t.TempDir()
	o := &Overlay{Lower: lower, Upper: filepath.Join(d, "upper"), Work: filepath.Join(d, "work")}
	mnt := filepath.Join(d, "root")
	for _, p := range []string{o.Upper, o.Work, mnt} {
		must(t, os.Mkdir(p, 0o700))
	}
	prep := startHolder(t, HolderConfig{Rootfs: Config{Rootfs: mnt, Overlay: o, OverlayOnly: true}})
	merged := "/proc/" + strconv.Itoa(prep.Pid) + "/root" + mnt
	if _, err := os.Stat(merged + "/bin/busybox"); err != nil {
		t.Fatalf("merged tree through the holder: %v", err)
	}
	must(t, os.WriteFile(merged+"/etc-note", []byte("from the host\n"), 0o644))
	if err := prep.Stop(5 * time.Second); err != nil {
		t.Fatalf("stop the preparing holder: %v", err)
	}
	if _, err := os.Stat(filepath.Join(lower, "etc-note")); err == nil {
		t.Fatal("the write reached the lower tree")
	}
	if _, err := os.Stat(filepath.Join(o.Upper, "etc-note")); err != nil {
		t.Fatalf("the write is not in the upper directory: %v", err)
	}
	for _, w := range []bool{false, true} {
		h := startHolder(t, HolderConfig{Rootfs: Config{Rootfs: mnt, Overlay: o, Writable: w}, IDMap: namespaces.RemapRoot{}})
		root := "/proc/" + strconv.Itoa(h.Pid) + "/root"
		if b, err := os.ReadFile(root + "/etc-note"); err != nil || string(b) != "from the host\n" {
			t.Errorf("writable=%v: container sees %q, %v", w, b, err)
		}
		if _, err := os.Stat(root + "/bin/busybox"); err != nil {
			t.Errorf("writable=%v: lower tree: %v", w, err)
		}
		h.Stop(5 * time.Second)
	}
}

func TestOverlayValidate(t *testing.T) {
	for _, c := range []Config{
		{Rootfs: "/r", Overlay: &Overlay{Lower: "/a,b", Upper: "/u", Work: "/w"}},
		{Rootfs: "/r", Overlay: &Overlay{Lower: "a", Upper: "/u", Work: "/w"}},
		{Rootfs: "/r", Overlay: &Overlay{Lower: "/a", Upper: "/u:x", Work: "/w"}},
		{Rootfs: "/r", OverlayOnly: true},
	} {
		if err := c.validate(); err == nil {
			t.Errorf("validate(%+v) = nil, want an error", c.Overlay)
		}
	}
}

// TestHostRootHolder: with HostRoot (ALLOW_SUPERUSER) a root caller's
// container has no user namespace of its own, only a mount namespace.
func TestHostRootHolder(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("HostRoot is for root callers")
	}
	h := startHolder(t, HolderConfig{Rootfs: Config{Rootfs: newRootfs(t)}, IDMap: namespaces.HostRoot{}})
	self := os.Getpid()
	if same, err := namespaces.Same(self, h.Pid, namespaces.User); err != nil || !same {
		t.Errorf("HostRoot holder has its own user namespace (%v, %v)", same, err)
	}
	if same, err := namespaces.Same(self, h.Pid, namespaces.Mount); err != nil || same {
		t.Errorf("HostRoot holder shares our mount namespace (%v, %v)", same, err)
	}
}
