// SPDX-License-Identifier: Apache-2.0

package integration

import (
	"bytes"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gpyxis/gpyxis/integration/harness"
)

// secondUser is the second unprivileged account infra-up.sh makes, for
// tests about users who do not trust each other.
const secondUser = "tester2"

// sharedUser is one user of TestSharedRootfsCache, with their own
// configuration, data and cache directories.
type sharedUser struct {
	name, uid, gid string
	dir            string
}

func newSharedUser(t *testing.T, name string) *sharedUser {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Skipf("no user %s (infra-up.sh makes it; run make infra): %v", name, err)
	}
	d, err := os.MkdirTemp("", "gpx-shared-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	conf := "ENROOT_ALLOW_HTTP y\nENROOT_DATA_PATH " + d + "/data-$(hostname)\n"
	if err := os.MkdirAll(filepath.Join(d, "cfg/gpyxis"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "cfg/gpyxis/gpyxis.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chown", "-R", u.Uid+":"+u.Gid, d).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v: %s", err, out)
	}
	return &sharedUser{name: name, uid: u.Uid, gid: u.Gid, dir: d}
}

// cmd runs argv as the user, in their environment.
func (u *sharedUser) cmd(argv ...string) *exec.Cmd {
	args := append([]string{"--reuid=" + u.uid, "--regid=" + u.gid, "--init-groups"}, argv...)
	c := exec.Command("setpriv", args...)
	c.Dir = "/tmp"
	c.Env = append(os.Environ(), "XDG_CONFIG_HOME="+u.dir+"/cfg", "XDG_CACHE_HOME="+u.dir+"/cache", "HOME="+u.dir)
	return c
}

// blobs counts the layer blobs in the user's own download cache.
func (u *sharedUser) blobs() int {
	m, _ := filepath.Glob(filepath.Join(u.dir, "cache/*/blobs/sha256/*"))
	return len(m)
}

// TestSharedRootfsCache: with shared_rootfs_cache=DIR, two users running
// the same image at once cost one download and one unpack, made by root
// from the first user's verified layers; each sees the tree as their own
// (a 0640 file is readable), neither can write it, the entry is locked
// while a step runs, and nothing stays mounted after the steps. Root only:
// it rewrites plugstack.conf and acts as two users.
func TestSharedRootfsCache(t *testing.T) {
	env := harness.Require(t)
	sl, p := env.RequirePlugin(t)
	env.RequireImage(t, "debian", "bookworm")
	if os.Geteuid() != 0 {
		t.Skip("rewriting plugstack.conf needs root: the root run of make test covers this")
	}
	reg := env.RequireRegistry(t, "plain")
	a, b := newSharedUser(t, sl.TestUser), newSharedUser(t, secondUser)
	root := t.TempDir()
	cacheDir := filepath.Join(root, "rootfs")
	pstackEnable(t, p, "shared_rootfs_cache="+cacheDir)
	node := sl.Nodes[0]
	image := "--container-image=" + reg.Host() + "#debian:bookworm"
	// /etc/shadow is 0640 root:shadow in the image: only its owner reads it.
	probe := `id -u; test -r /etc/shadow && head -c0 /etc/shadow && echo shadow-readable; ` +
		`touch /etc/probe 2>/dev/null && echo wrote-etc; ` +
		`grep -q ' / ' /proc/self/mountinfo && echo has-root`

	// Mount points of other steps (earlier runs) are not this test's.
	before := map[string]bool{}
	for _, u := range []*sharedUser{a, b} {
		m, _ := filepath.Glob(filepath.Join(p.RuntimePath, u.uid, "tree.*"))
		for _, x := range m {
			before[x] = true
		}
	}
	var wg sync.WaitGroup
	outs := make([]string, 2)
	errs := make([]error, 2)
	for i, u := range []*sharedUser{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := u.cmd("srun", "-w", node, image, "sh", "-c", probe)
			o, err := c.CombinedOutput()
			outs[i], errs[i] = string(o), err
		}()
	}
	wg.Wait()
	for i, u := range []*sharedUser{a, b} {
		if errs[i] != nil {
			t.Fatalf("step as %s: %v\n%s", u.name, errs[i], outs[i])
		}
		if !strings.Contains(outs[i], "shadow-readable") {
			t.Errorf("step as %s cannot read a 0640 file of its image:\n%s", u.name, outs[i])
		}
	}
	list := runtimeAs(t, p.Runtime, "cache", "list", "--cache-dir", cacheDir)
	if n := strings.Count(list, "debian:bookworm"); n != 1 {
		t.Errorf("shared cache has %d debian entries, want 1 (one unpack for both users):\n%s", n, list)
	}
	for _, u := range []*sharedUser{a, b} {
		if m, _ := filepath.Glob(filepath.Join(u.dir, "cache/*/rootfs/*")); len(m) > 0 {
			t.Errorf("%s has a cache of their own (%v): the shared tree was not used", u.name, m)
		}
	}
	if na, nb := a.blobs(), b.blobs(); (na == 0) == (nb == 0) {
		t.Errorf("layer blobs: %s has %d, %s has %d; want them in exactly one user's cache (one download)", a.name, na, b.name, nb)
	}
	// On disk the tree is root's: the idmapped mount alone shows it as the user's.
	ents, _ := filepath.Glob(filepath.Join(cacheDir, "*", "rootfs", "etc", "shadow"))
	if len(ents) != 1 {
		t.Fatalf("shared cache: %d etc/shadow files, want 1", len(ents))
	}
	if fi, err := os.Stat(ents[0]); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("shared tree file %s: %v, want owned by root", ents[0], err)
	}

	// While a step runs: the entry is in use, and its user can neither
	// write the tree nor make its mount writable in a namespace of their own.
	step := a.cmd("srun", "-w", node, image, "sleep", "8")
	var stepOut bytes.Buffer
	step.Stdout, step.Stderr = &stepOut, &stepOut
	if err := step.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if step.ProcessState == nil {
			step.Process.Kill()
			step.Wait()
		}
	}()
	rt := filepath.Join(p.RuntimePath, a.uid)
	var mnt string
	for deadline := time.Now().Add(30 * time.Second); mnt == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		m, _ := filepath.Glob(filepath.Join(rt, "tree.*"))
		for _, x := range m {
			if !strings.HasSuffix(x, ".json") && !before[x] {
				mnt = x
			}
		}
	}
	if mnt == "" {
		t.Fatalf("no shared tree mount point appeared in %s", rt)
	}
	time.Sleep(time.Second) // the holder starts after the mount
	if list := runtimeAs(t, p.Runtime, "cache", "list", "--cache-dir", cacheDir); !strings.Contains(list, "yes") {
		t.Errorf("shared entry not in use while a step runs:\n%s", list)
	}
	if o, err := a.cmd("touch", filepath.Join(mnt, "etc/owned")).CombinedOutput(); err == nil {
		t.Errorf("%s wrote into the shared tree through %s", a.name, mnt)
	} else if !strings.Contains(string(o), "Read-only") {
		t.Errorf("writing the shared tree: %s, want a read-only file system error", o)
	}
	remount := "mount -o remount,bind,rw " + mnt + " && touch " + mnt + "/etc/owned"
	if o, err := a.cmd("unshare", "-rm", "sh", "-c", remount).CombinedOutput(); err == nil {
		t.Errorf("%s made the shared tree writable in their own namespace:\n%s", a.name, o)
	}
	if o, err := b.cmd("ls", mnt).CombinedOutput(); err == nil {
		t.Errorf("%s can list %s's shared tree mount:\n%s", b.name, a.name, o)
	}
	if err := step.Wait(); err != nil {
		t.Errorf("sleeping step: %v\n%s", err, stepOut.String())
	}
	// slurmstepd unmounts when it ends the step.
	left := func() []string {
		var out []string
		for _, u := range []*sharedUser{a, b} {
			m, _ := filepath.Glob(filepath.Join(p.RuntimePath, u.uid, "tree.*"))
			for _, x := range m {
				if !before[x] {
					out = append(out, x)
				}
			}
		}
		return out
	}
	for deadline := time.Now().Add(20 * time.Second); len(left()) > 0 && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
	}
	if l := left(); len(l) > 0 {
		t.Errorf("shared tree mount points left after the steps: %v", l)
	}
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil && strings.Contains(string(mi), cacheDir) {
		t.Errorf("a shared tree is still mounted after the steps")
	}
	if list := runtimeAs(t, p.Runtime, "cache", "list", "--cache-dir", cacheDir); strings.Contains(list, "yes") {
		t.Errorf("shared entry still in use after the steps:\n%s", list)
	}
}

// runtimeAs runs the runtime as the test process and returns its output.
func runtimeAs(t *testing.T, bin string, args ...string) string {
	t.Helper()
	o, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", bin, args, err, o)
	}
	return string(o)
}
