// SPDX-License-Identifier: Apache-2.0

package rootfs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// resolved returns the host path fd refers to.
func resolved(t *testing.T, fd int) string {
	t.Helper()
	p, err := os.Readlink(fdPath(fd))
	must(t, err)
	unix.Close(fd)
	return p
}

func TestEnsure(t *testing.T) {
	dir := t.TempDir()
	must(t, os.MkdirAll(dir+"/real/sub", 0o755))
	must(t, os.Symlink("/real", dir+"/abs"))
	must(t, os.Symlink("../../../../../../real", dir+"/climb"))
	must(t, os.Symlink("/run/lock", dir+"/dangling"))
	must(t, os.Symlink("missing/x", dir+"/real/reldangling"))
	must(t, os.Symlink("loop", dir+"/loop"))
	r, err := openRoot(dir, true)
	must(t, err)
	defer r.close()

	for _, tc := range []struct {
		target string
		c      Create
		isDir  bool
		want   string // relative to dir; "" means an error
		kind   os.FileMode
	}{
		{"/real/sub", CreateNone, true, "real/sub", os.ModeDir},
		{"/abs/sub", CreateNone, true, "real/sub", os.ModeDir},
		{"/climb/sub", CreateNone, true, "real/sub", os.ModeDir},
		{"/../../real/sub", CreateNone, true, "real/sub", os.ModeDir},
		{"/abs/new/dir", CreateDir, true, "real/new/dir", os.ModeDir},
		{"/abs/newfile", CreateFile, false, "real/newfile", 0},
		{"/auto/file", CreateAuto, false, "auto/file", 0},
		{"/auto/dir", CreateAuto, true, "auto/dir", os.ModeDir},
		{"/dangling", CreateDir, true, "run/lock", os.ModeDir},
		{"/real/reldangling/y", CreateFile, false, "real/missing/x/y", 0},
		{"/absent", CreateNone, true, "", 0},
		{"/loop/x", CreateDir, true, "", 0},
	} {
		fd, err := r.ensure(tc.target, tc.c, tc.isDir)
		if tc.want == "" {
			if err == nil {
				t.Errorf("ensure(%s) = %s, want an error", tc.target, resolved(t, fd))
			}
			continue
		}
		if err != nil {
			t.Errorf("ensure(%s): %v", tc.target, err)
			continue
		}
		if got := resolved(t, fd); got != filepath.Join(dir, tc.want) {
			t.Errorf("ensure(%s) = %s, want %s", tc.target, got, tc.want)
		}
		fi, err := os.Lstat(filepath.Join(dir, tc.want))
		if err != nil || fi.Mode().Type() != tc.kind {
			t.Errorf("%s: %v, %v; want type %v", tc.want, fi.Mode(), err, tc.kind)
		}
	}
	if _, err := r.ensure("/loop/x", CreateDir, true); !errors.Is(err, unix.ELOOP) {
		t.Errorf("loop: %v, want ELOOP", err)
	}
	// Nothing escaped to the host.
	if _, err := os.Lstat("/real"); err == nil {
		t.Error("/real created on the host")
	}
}

func TestEnsureReadOnly(t *testing.T) {
	dir := t.TempDir()
	r, err := openRoot(dir, false)
	must(t, err)
	defer r.close()
	if _, err := r.ensure("/a/b", CreateDir, true); !errors.Is(err, errNoCreate) {
		t.Errorf("ensure in a read-only rootfs: %v, want errNoCreate", err)
	}
	if _, err := os.Lstat(dir + "/a"); err == nil {
		t.Error("created in a read-only rootfs")
	}
	// Existing targets resolve regardless.
	if fd, err := r.ensure("/", CreateNone, true); err != nil {
		t.Error(err)
	} else if got := resolved(t, fd); got != dir {
		t.Errorf("/ = %s", got)
	}
}

func TestEnsureProcLinkStaysInside(t *testing.T) {
	dir := t.TempDir()
	must(t, os.Symlink("/proc/self/root/etc", dir+"/host"))
	r, err := openRoot(dir, true)
	must(t, err)
	defer r.close()
	// The link is followed inside the root, where there is no procfs: it
	// must not reach the host's /etc/passwd through /proc/self/root. (Inside
	// a container /proc is mounted in the root; RESOLVE_NO_MAGICLINKS then
	// refuses the magic link with ELOOP.)
	fd, err := r.ensure("/host/passwd", CreateNone, false)
	if err == nil {
		t.Fatalf("reached %s", resolved(t, fd))
	}
	if !errors.Is(err, unix.ENOENT) {
		t.Errorf("err = %v, want ENOENT", err)
	}
}
