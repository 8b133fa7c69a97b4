// SPDX-License-Identifier: Apache-2.0

package integration

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gpyxis/gpyxis/integration/harness"
)

// TestLifecycle drives create, start, list -f, remove and export on one container:
// a change made with --rw shows in the export, a running container cannot be
// removed, and a removed one is gone.
func TestLifecycle(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	env.RequireImage(t, "debian", "bookworm")
	data := t.TempDir()
	rt := func(args ...string) (string, error) {
		return gpyxis(t, nil, append([]string{args[0], "--data-dir", data}, args[1:]...)...)
	}
	if out, err := rt("create", "--insecure", "--cache-dir", sharedCache(t), "--name", "deb", "docker://"+reg.Host()+"#debian:bookworm"); err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	if out, err := rt("create", "--insecure", "--cache-dir", sharedCache(t), "--name", "deb", "docker://"+reg.Host()+"#debian:bookworm"); err == nil || !strings.Contains(out, "already exists") {
		t.Fatalf("second create: %v %q; want already exists", err, out)
	}
	if out, err := rt("start", "--rw", "--remap-root", "deb", "sh", "-c", "echo changed > /etc/gpyxis-changed"); err != nil {
		t.Fatalf("start --rw: %v\n%s", err, out)
	}
	if out, err := rt("start", "deb", "sh", "-c", "touch /x"); err == nil || !strings.Contains(out, "Read-only file system") {
		t.Fatalf("start read-only: %v %q; want EROFS", err, out)
	}
	bin, err := runtimeBin()
	if err != nil {
		t.Fatal(err)
	}
	sleeper := exec.Command(bin, "start", "--data-dir", data, "deb", "sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	var list string
	for time.Now().Before(deadline) && !strings.Contains(list, "sleep 30") {
		list, _ = rt("list", "-f")
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(list, "deb") || !strings.Contains(list, "sleep 30") {
		t.Fatalf("list -f = %q; want deb running sleep 30", list)
	}
	// exec joins the running container: same mount namespace as its process.
	var pid string
	for _, l := range strings.Split(list, "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[0] == "deb" && strings.Contains(l, "sleep 30") {
			pid = f[1]
		}
	}
	want, _ := os.Readlink("/proc/" + pid + "/ns/mnt")
	out, err := gpyxis(t, nil, "exec", pid, "readlink", "/proc/self/ns/mnt")
	if err != nil || strings.TrimSpace(out) != want || want == "" {
		t.Fatalf("exec %s readlink /proc/self/ns/mnt: %v %q; want %q", pid, err, out, want)
	}
	if out, err := rt("remove", "-f", "deb"); err == nil || !strings.Contains(out, "running") {
		t.Fatalf("remove of a running container: %v %q; want refused", err, out)
	}
	_ = sleeper.Process.Kill()
	_ = sleeper.Wait()
	sqsh := filepath.Join(t.TempDir(), "deb.sqsh")
	if out, err := rt("export", "-o", sqsh, "deb"); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	if out, err := exec.Command("unsquashfs", "-cat", sqsh, "etc/gpyxis-changed").Output(); err != nil || string(out) != "changed\n" {
		t.Fatalf("the export lacks the change: %v %q", err, out)
	}
	// The export creates a new container that keeps the change.
	if out, err := rt("create", "--name", "deb2", sqsh); err != nil {
		t.Fatalf("create from the export: %v\n%s", err, out)
	}
	if out, err := rt("start", "deb2", "cat", "/etc/gpyxis-changed"); err != nil || out != "changed\n" {
		t.Fatalf("start of the re-created container: %v %q; want the change", err, out)
	}
	for _, n := range []string{"deb", "deb2"} {
		if out, err := rt("remove", "-f", n); err != nil {
			t.Fatalf("remove %s: %v\n%s", n, err, out)
		}
	}
	if out, _ := rt("list"); strings.TrimSpace(out) != "" {
		t.Fatalf("list after remove = %q", out)
	}
	if out, err := rt("start", "deb", "true"); err == nil || !strings.Contains(out, "no such container") {
		t.Fatalf("start of a removed container: %v %q", err, out)
	}
}

// TestRunMksquashfsImage runs a squashfs file made the way enroot makes them
// (mksquashfs -all-root of a tree with enroot's /etc/rc), gzip-compressed: the native
// reader, not unsquashfs, extracts it.
func TestRunMksquashfsImage(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	env.RequireImage(t, "busybox", "latest")
	dir := t.TempDir()
	ours := importImage(t, reg, filepath.Join(dir, "cache"), dir, "busybox", "latest")
	tree := filepath.Join(dir, "tree")
	run(t, "unsquashfs", "-no-xattrs", "-d", tree, ours)
	sqsh := filepath.Join(dir, "enroot-style.sqsh")
	run(t, "mksquashfs", tree, sqsh, "-all-root", "-comp", "gzip", "-noappend", "-quiet")
	out, err := runIn(t, nil, sqsh, "sh", "-c", "echo from-mksquashfs; id -u")
	if err != nil || !strings.HasPrefix(out, "from-mksquashfs\n") {
		t.Fatalf("run %s: %v\n%s", sqsh, err, out)
	}
}

// TestOtherUserLockedOut starts a container as root and checks that the unprivileged
// test user can neither list, remove nor exec into it.
func TestOtherUserLockedOut(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	env.RequireImage(t, "busybox", "latest")
	if os.Geteuid() != 0 {
		t.Skip("needs root to act as two users")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) not installed")
	}
	if _, err := user.Lookup("tester"); err != nil {
		t.Fatalf("no user tester: sudo integration/infra/user-up.sh (run by infra-up.sh) creates it: %v", err)
	}
	bin, err := runtimeBin()
	if err != nil {
		t.Fatal(err)
	}
	// The binary must be executable by the other user: copy it to a world-readable dir.
	pub := t.TempDir()
	if err := os.Chmod(pub, 0o755); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(pub, "gpyxis-runtime")
	run(t, "install", "-m", "0755", bin, other)
	// The parent is open to all: only the data directory's own mode may keep tester out.
	base := t.TempDir()
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(base, "data")
	if out, err := gpyxis(t, nil, "create", "--data-dir", data, "--insecure", "--cache-dir", sharedCache(t), "--name", "mine",
		"docker://"+reg.Host()+"#busybox:latest"); err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	sleeper := exec.Command(bin, "start", "--data-dir", data, "mine", "sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() }()
	var pid string
	for deadline := time.Now().Add(10 * time.Second); pid == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		out, _ := gpyxis(t, nil, "list", "-f", "--data-dir", data)
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) >= 3 && f[0] == "mine" && f[1] != "-" {
				pid = f[1]
			}
		}
	}
	if pid == "" {
		t.Fatal("the container never showed in list -f")
	}
	as := func(args ...string) (string, error) {
		cmd := exec.Command("setpriv", append([]string{"--reuid=tester", "--regid=tester", "--init-groups", other}, args...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"list", "--data-dir", data}, "permission denied"},
		{[]string{"remove", "-f", "--data-dir", data, "mine"}, "mine"},
		{[]string{"exec", pid, "true"}, "not your container"},
	} {
		out, err := as(tc.args...)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("as tester, %q: %v %q; want refused mentioning %q", tc.args, err, out, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "mine")); err != nil {
		t.Fatalf("the container is gone: %v", err)
	}
}
