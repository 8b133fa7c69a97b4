// SPDX-License-Identifier: Apache-2.0

package hostile

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gpyxis/gpyxis/integration/harness"
	"github.com/gpyxis/gpyxis/pkg/imagecache"
)

// A second user going after another's per-user directories in enroot's
// documented layout: DATA_PATH, CACHE_PATH and RUNTIME_PATH are
// user-$(id -u) below root-owned 1777 parents, so anyone can create
// someone else's before they do.

// dirsLayout is the enroot layout under a fresh root-owned 0755 base:
// data/, cache/ and run/, each 1777.
type dirsLayout struct{ base string }

func newDirsLayout(t *testing.T) dirsLayout {
	t.Helper()
	base, err := os.MkdirTemp("", "gpx-hostile-dirs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"data", "cache", "run"} {
		p := filepath.Join(base, d)
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o777|os.ModeSticky); err != nil {
			t.Fatal(err)
		}
	}
	return dirsLayout{base}
}

func (l dirsLayout) dir(kind string, a *Account) string {
	return filepath.Join(l.base, kind, fmt.Sprintf("user-%d", a.UID))
}

// env is the configuration enroot's documentation gives a site, for a.
func (l dirsLayout) env(a *Account) []string {
	return []string{"ENROOT_DATA_PATH=" + l.dir("data", a), "ENROOT_CACHE_PATH=" + l.dir("cache", a),
		"ENROOT_RUNTIME_PATH=" + l.dir("run", a), "ENROOT_ALLOW_HTTP=1"}
}

// dirsMust runs argv as a and fails the test if it fails.
func dirsMust(t *testing.T, a *Account, argv ...string) {
	t.Helper()
	if out, err := a.Cmd(argv...).CombinedOutput(); err != nil {
		t.Fatalf("as %s, %q: %v\n%s", a.Name, argv, err, out)
	}
}

// dirsRefused asserts that out (a command's failure) is the refusal of dir,
// naming its owner, its mode and the fix.
func dirsRefused(t *testing.T, what string, out string, err error, dir string, owner *Account) {
	t.Helper()
	want := fmt.Sprintf("refusing %s: owned by %s (uid %d), mode 0777; it must be yours and not writable by others: "+
		"remove it (or chmod go-w / chown) and retry", dir, owner.Name, owner.UID)
	if err == nil || !strings.Contains(out, want) {
		t.Errorf("%s: %v\n%s\nwant a failure saying %q", what, err, out, want)
	}
}

// plantTrue replaces the tree's /etc/rc (what start and run execute first)
// and /bin/true (a busybox link) with scripts that, run by anyone, leave
// proof in the container's /canary.
func plantTrue(t *testing.T, rootfs string, owner *Account) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(rootfs, "canary"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := []string{filepath.Join(rootfs, "canary")}
	for name, body := range map[string]string{
		"etc/rc":   "/bin/busybox id -u > /canary/pwned\nexec \"$@\"\n",
		"bin/true": "#!/bin/busybox sh\n/bin/busybox id -u > /canary/pwned\n",
	} {
		p := filepath.Join(rootfs, name)
		os.Remove(p)
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	for _, f := range files {
		if err := os.Lchown(f, owner.UID, owner.GID); err != nil {
			t.Fatal(err)
		}
	}
}

// openUp does what an attacker does to let the victim use their tree:
// everything readable and writable by everyone.
func openUp(t *testing.T, dir string) {
	t.Helper()
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.Mode()&os.ModeSymlink != 0 {
			return err
		}
		mode := os.FileMode(0o666)
		if fi.IsDir() || fi.Mode()&0o111 != 0 {
			mode = 0o777
		}
		return os.Chmod(p, mode)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestHostileDirsPlantedContainer: tester2 makes tester's DATA_PATH before
// tester does, creates a container there under the name tester uses and
// swaps its /bin/true, then opens the directory (0777). tester's create,
// start, list and remove refuse it, naming owner, mode and fix, and the
// planted binary never runs.
func TestHostileDirsPlantedContainer(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	env.RequireImage(t, "busybox", "latest")
	victim, attacker := AccountFor(t, Victim), AccountFor(t, Attacker)
	can := NewCanaries(t)
	pwned := filepath.Join(can.Dir, "pwned")
	can.Absent(pwned)
	lay := newDirsLayout(t)
	data := lay.dir("data", victim)
	image := "docker://" + reg.Host() + "#busybox:latest"

	dirsMust(t, attacker, "mkdir", "-m", "0700", data)
	aenv := append(lay.env(attacker), "ENROOT_DATA_PATH="+data)
	if out, err := attacker.Runtime(t, 60*time.Second, aenv, "create", "--name", "work", image); err != nil {
		t.Fatalf("the attacker's create in a directory of its own: %v\n%s", err, out)
	}
	plantTrue(t, filepath.Join(data, "work"), attacker)
	openUp(t, data)

	venv := lay.env(victim)
	mount := can.Dir + ":/canary"
	for _, c := range []struct {
		what string
		args []string
	}{
		{"start", []string{"start", "-m", mount, "work", "true"}},
		{"list", []string{"list"}},
		{"create", []string{"create", "--name", "other", image}},
		{"remove", []string{"remove", "-f", "work"}},
		{"run (its temporary rootfs goes in DATA_PATH)", []string{"run", "-m", mount, image, "true"}},
	} {
		out, err := victim.Runtime(t, 60*time.Second, venv, c.args...)
		dirsRefused(t, c.what, out, err, data, attacker)
	}
	if _, err := os.Stat(filepath.Join(data, "other")); err == nil {
		t.Error("create made a container in the planted directory")
	}
	if _, err := os.Stat(filepath.Join(data, "work", "bin", "true")); err != nil {
		t.Errorf("the planted container was touched: %v", err)
	}
	can.Check(t)
}

// TestHostileDirsPlantedCache: tester2 makes tester's CACHE_PATH, fills it
// with the tree of the image tester runs, swaps the tree's /bin/true (and
// fixes the recorded tree digest up), and opens it all (0777). tester's run
// refuses the cache directory and the planted binary never runs.
func TestHostileDirsPlantedCache(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	env.RequireImage(t, "busybox", "latest")
	victim, attacker := AccountFor(t, Victim), AccountFor(t, Attacker)
	can := NewCanaries(t)
	pwned := filepath.Join(can.Dir, "pwned")
	can.Absent(pwned)
	lay := newDirsLayout(t)
	cache := lay.dir("cache", victim)
	image := "docker://" + reg.Host() + "#busybox:latest"

	dirsMust(t, attacker, "mkdir", "-m", "0700", cache)
	aenv := append(lay.env(attacker), "ENROOT_CACHE_PATH="+cache)
	if out, err := attacker.Runtime(t, 60*time.Second, aenv, "cache", "add", image); err != nil {
		t.Fatalf("the attacker's cache add with a cache of its own: %v\n%s", err, out)
	}
	entries, _ := filepath.Glob(filepath.Join(cache, "rootfs", "*", "meta.json"))
	if len(entries) == 0 {
		t.Fatalf("the attacker's run left no cache entry in %s", cache)
	}
	for _, meta := range entries {
		plantTrue(t, filepath.Join(filepath.Dir(meta), "rootfs"), attacker)
	}
	openUp(t, cache)
	for _, meta := range entries {
		dirsFixDigest(t, meta)
	}

	out, err := victim.Runtime(t, 60*time.Second, lay.env(victim), "run", "-m", can.Dir+":/canary", image, "true")
	dirsRefused(t, "run", out, err, cache, attacker)
	out, err = victim.Runtime(t, 60*time.Second, lay.env(victim), "import", "-o", filepath.Join(victim.Home, "b.sqsh"), image)
	dirsRefused(t, "import (its blobs go in CACHE_PATH)", out, err, cache, attacker)
	out, err = victim.Runtime(t, 60*time.Second, lay.env(victim), "cache", "list")
	want := fmt.Sprintf("refusing %s/rootfs: its parent %s is owned by %s (uid %d), mode 0777", cache, cache, attacker.Name, attacker.UID)
	if err == nil || !strings.Contains(out, want) {
		t.Errorf("cache list: %v\n%s\nwant a failure saying %q", err, out, want)
	}
	can.Check(t)
}

// dirsFixDigest records the planted tree's digest in its meta.json, as an
// attacker would, so that only the directory check stands in the way.
func dirsFixDigest(t *testing.T, meta string) {
	t.Helper()
	b, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	tree, _, _, err := imagecache.TreeDigest(filepath.Join(filepath.Dir(meta), "rootfs"))
	if err != nil {
		t.Fatal(err)
	}
	m["tree"] = tree
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(meta, b, 0o666); err != nil {
		t.Fatal(err)
	}
}

// TestHostileDirsPlantedRuntime: a RUNTIME_PATH made 0777 by tester2 is
// refused for the holder state that stop and start --detach keep there.
func TestHostileDirsPlantedRuntime(t *testing.T) {
	victim, attacker := AccountFor(t, Victim), AccountFor(t, Attacker)
	lay := newDirsLayout(t)
	run := lay.dir("run", victim)
	dirsMust(t, attacker, "mkdir", "-m", "0777", run)
	dirsMust(t, attacker, "chmod", "0777", run)
	out, err := victim.Runtime(t, 20*time.Second, lay.env(victim), "stop", "work")
	dirsRefused(t, "stop", out, err, run, attacker)
}

// TestHostileDirsOwnLayout: in the same layout, a user who makes their own
// directories (the runtime makes them 0700) keeps working, and another
// user cannot use them.
func TestHostileDirsOwnLayout(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	env.RequireImage(t, "busybox", "latest")
	victim, attacker := AccountFor(t, Victim), AccountFor(t, Attacker)
	lay := newDirsLayout(t)
	image := "docker://" + reg.Host() + "#busybox:latest"
	venv := lay.env(victim)
	for _, args := range [][]string{
		{"create", "--name", "mine", image},
		{"start", "mine", "true"},
		{"cache", "add", image},
	} {
		if out, err := victim.Runtime(t, 60*time.Second, venv, args...); err != nil {
			t.Fatalf("%q in one's own directories: %v\n%s", args, err, out)
		}
	}
	if out, err := victim.Runtime(t, 20*time.Second, venv, "list"); err != nil || !strings.Contains(out, "mine") {
		t.Errorf("list: %v %q, want mine", err, out)
	}
	for _, kind := range []string{"data", "cache"} {
		fi, err := os.Stat(lay.dir(kind, victim))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("%s directory made with mode %v, want 0700", kind, fi.Mode().Perm())
		}
	}
	// The other user pointed at them: the owner is named, not "no such container".
	out, err := attacker.Runtime(t, 20*time.Second, venv, "start", "mine", "true")
	want := fmt.Sprintf("container mine: data directory: permission denied: refusing %s: owned by %s (uid %d)",
		lay.dir("data", victim), victim.Name, victim.UID)
	if err == nil || !strings.Contains(out, want) {
		t.Errorf("another user's start: %v\n%s\nwant %q", err, out, want)
	}
}

// TestHostileDirsExecName: exec takes a holder's PID or state file; a
// container name gets that said, not "open NAME: no such file".
func TestHostileDirsExecName(t *testing.T) {
	self := Self(t)
	out, err := self.Runtime(t, 10*time.Second, nil, "exec", "mine", "true")
	if err == nil || !strings.Contains(out, "exec takes the PID that 'gpyxis-runtime start --detach mine' printed, or its state file") {
		t.Errorf("exec NAME: %v %q", err, out)
	}
}
