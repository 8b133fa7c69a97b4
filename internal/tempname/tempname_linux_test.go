// SPDX-License-Identifier: Apache-2.0

package tempname

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gpyxis/gpyxis/internal/procfs"
	"golang.org/x/sys/unix"
)

// entry makes dir/PREFIX+o's suffix+"-0badf00d" as a directory holding a
// read-only subdirectory (what an unpacked image leaves), and returns its name.
func entry(t *testing.T, dir, prefix string, o Owner) string {
	t.Helper()
	n := prefix + o.Suffix() + "-0badf00d"
	sub := filepath.Join(dir, n, "usr", "bin")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "sh"), []byte("x"), 0o555); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sub, 0o555); err != nil {
		t.Fatal(err)
	}
	return n
}

// deadOwner is the owner of a process that has exited.
func deadOwner(t *testing.T) Owner {
	t.Helper()
	me, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command("sleep", "30")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	start, err := procfs.StartTime(c.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	c.Process.Kill()
	c.Wait()
	return Owner{PID: c.Process.Pid, Start: start, Boot: me.Boot, Host: me.Host}
}

func exists(dir, name string) bool {
	_, err := os.Lstat(filepath.Join(dir, name))
	return err == nil
}

func TestCollect(t *testing.T) {
	me, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	reused := me
	reused.Start++ // this pid, but a process started at another time: the owner is gone
	earlier := me
	earlier.Boot = "00000000" // this host before a reboot
	elsewhere := me
	elsewhere.Host = "ffffffff" // another host sharing the directory: cannot be judged here

	live := entry(t, dir, ".run-", me)
	dead := entry(t, dir, ".run-", deadOwner(t))
	reusedN := entry(t, dir, ".run-", reused)
	earlierN := entry(t, dir, ".run-", earlier)
	elsewhereN := entry(t, dir, ".run-", elsewhere)
	otherPrefix := entry(t, dir, ".create-a-b-", deadOwner(t)) // dashes in the prefix
	deadFile := ".x.sqsh.tmp-" + deadOwner(t).Suffix() + "-12345678"
	os.WriteFile(filepath.Join(dir, deadFile), []byte("partial"), 0o600)
	foreign := ".run-123456" // not one of ours: an old-style name, unknown owner
	os.Mkdir(filepath.Join(dir, foreign), 0o700)

	got, err := Collect(dir, ".run-")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []string{dead, earlierN, reusedN}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Collect removed %q, want %q", got, want)
	}
	for _, n := range want {
		if exists(dir, n) {
			t.Errorf("%s (dead owner) still there", n)
		}
	}
	for _, n := range []string{live, elsewhereN, otherPrefix, deadFile, foreign} {
		if !exists(dir, n) {
			t.Errorf("%s removed: its owner is live, unknown, or it has another prefix", n)
		}
	}
	if got, err := Collect(dir, ".create-"); err != nil || len(got) != 1 || got[0] != otherPrefix {
		t.Errorf("Collect .create- = %q, %v; want the dead %s", got, err, otherPrefix)
	}
	if got, err := Collect(dir, ".x.sqsh.tmp-"); err != nil || len(got) != 1 || exists(dir, deadFile) {
		t.Errorf("Collect of a dead file = %q, %v", got, err)
	}
}

func TestCollectOtherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making another user's entry needs root")
	}
	dir := t.TempDir()
	n := entry(t, dir, ".run-", deadOwner(t))
	if err := os.Lchown(filepath.Join(dir, n), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	got, err := Collect(dir, ".run-")
	if err != nil || len(got) != 0 || !exists(dir, n) {
		t.Errorf("Collect took another user's entry: %q, %v", got, err)
	}
}

func TestNameRoundTrip(t *testing.T) {
	me, _ := Self()
	dir := t.TempDir()
	p, err := Mkdir(dir, ".create-my-box-")
	if err != nil {
		t.Fatal(err)
	}
	o, ok := Parse(filepath.Base(p), ".create-my-box-")
	if !ok || o != me {
		t.Fatalf("Parse(%s) = %+v, %v; want %+v", filepath.Base(p), o, ok, me)
	}
	if Dead(o) {
		t.Error("this process is reported dead")
	}
	f, err := Create(dir, ".out.tmp-")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if !strings.HasPrefix(filepath.Base(f.Name()), ".out.tmp-"+me.Suffix()+"-") {
		t.Errorf("Create named %s", f.Name())
	}
	for _, bad := range []string{".run-", ".run-1-2-3-4", ".run-x-1-00000000-00000000-00000000", ".run-1-2-0000000g-00000000-00000000", ".other-1-2-00000000-00000000-00000000"} {
		if _, ok := Parse(bad, ".run-"); ok {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	if got, err := Collect(filepath.Join(dir, "missing"), ".run-"); err != nil || got != nil {
		t.Errorf("Collect of a missing directory = %q, %v", got, err)
	}
}

func TestUnescape(t *testing.T) {
	if got := unescape(`/a\040b\134c\04`); got != `/a b\c\04` {
		t.Errorf("unescape = %q", got)
	}
}

func TestCollectKeepsMounted(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	dir := t.TempDir()
	n := entry(t, dir, ".run-", deadOwner(t))
	mnt := filepath.Join(dir, n, "mnt")
	os.Mkdir(mnt, 0o700)
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, ""); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	defer unix.Unmount(mnt, unix.MNT_DETACH)
	os.WriteFile(filepath.Join(mnt, "keep"), []byte("x"), 0o600)
	got, err := Collect(dir, ".run-")
	if err == nil || !strings.Contains(err.Error(), "mounted") || len(got) != 0 {
		t.Errorf("Collect of a directory with a mount in it = %q, %v; want it kept with an error", got, err)
	}
	if !exists(mnt, "keep") {
		t.Error("Collect removed files through a mount point")
	}
}
