// SPDX-License-Identifier: Apache-2.0

package integration

// The node image cache of unnamed steps (pkg/imagecache, pkg/spank
// cached_linux.go) under the harness's real Slurm: an unnamed step starts on
// an overlay of a read-only tree under CACHE_PATH/rootfs/KEY/ that the first
// step on the node unpacked. Every test has its own XDG_CACHE_HOME, so that
// the entries and the "importing docker image" messages it counts are its
// own.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gpyxis/gpyxis/integration/harness"
)

// cacheImporting is what srun prints (for a one-task step) when the plugin
// unpacks a registry image.
const cacheImporting = "importing docker image"

// cacheOSProbe prints the image's PRETTY_NAME and the type of the
// container's root filesystem.
const cacheOSProbe = `. /etc/os-release; echo "os=$PRETTY_NAME"; echo "root=$(awk '$2=="/" {t=$3} END {print t}' /proc/mounts)"`

const cacheBookworm = "Debian GNU/Linux 12 (bookworm)"

// spankCache is a SPANK test with a private node image cache.
type spankCache struct {
	*spankEnv
	Root string // the node image cache: XDG_CACHE_HOME/gpyxis/rootfs
	conf string // the test's gpyxis.conf as newSpank wrote it
}

// newSpankCache is newSpank with a private XDG_CACHE_HOME (the blob cache
// starts empty too: the images come again from the loopback registry) and
// conf lines added to the test's gpyxis.conf.
func newSpankCache(t *testing.T, conf ...string) *spankCache {
	t.Helper()
	s := newSpank(t)
	xdg := filepath.Join(s.Dir, "xdg-cache")
	if err := os.Mkdir(xdg, 0o755); err != nil {
		t.Fatal(err)
	}
	env := make([]string, 0, len(s.Env))
	for _, kv := range s.Env {
		if !strings.HasPrefix(kv, "XDG_CACHE_HOME=") {
			env = append(env, kv)
		}
	}
	s.Env = append(env, "XDG_CACHE_HOME="+xdg)
	b, err := os.ReadFile(filepath.Join(s.Dir, "cfg", "gpyxis", "gpyxis.conf"))
	if err != nil {
		t.Fatal(err)
	}
	c := &spankCache{spankEnv: s, Root: filepath.Join(xdg, "gpyxis", "rootfs"), conf: string(b)}
	c.setConf(conf...)
	return c
}

// setConf rewrites the test's gpyxis.conf: newSpank's lines and lines.
func (c *spankCache) setConf(lines ...string) {
	c.t.Helper()
	text := c.conf
	for _, l := range lines {
		text += l + "\n"
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "cfg", "gpyxis", "gpyxis.conf"), []byte(text), 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// cacheEntry is a published entry of the node image cache.
type cacheEntry struct {
	Key    string    `json:"key"`
	Source string    `json:"source"`
	Size   int64     `json:"size"`
	Tree   string    `json:"tree"`
	Dir    string    `json:"-"`
	Used   time.Time `json:"-"`
}

var cacheKeyRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// entries returns the published entries (KEY directories) by key.
func (c *spankCache) entries() map[string]cacheEntry {
	c.t.Helper()
	ents, err := os.ReadDir(c.Root)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]cacheEntry{}
	}
	if err != nil {
		c.t.Fatal(err)
	}
	m := map[string]cacheEntry{}
	for _, d := range ents {
		if !d.IsDir() || !cacheKeyRE.MatchString(d.Name()) {
			continue
		}
		e := cacheEntry{Key: d.Name(), Dir: filepath.Join(c.Root, d.Name())}
		if b, err := os.ReadFile(filepath.Join(e.Dir, "meta.json")); err != nil {
			c.t.Errorf("cache entry %s: %v", d.Name(), err)
		} else if err := json.Unmarshal(b, &e); err != nil || e.Key != d.Name() {
			c.t.Errorf("cache entry %s: meta.json %v, key %q:\n%s", d.Name(), err, e.Key, b)
		}
		e.Key = d.Name()
		if fi, err := os.Stat(e.Dir + ".used"); err == nil {
			e.Used = fi.ModTime()
		}
		m[e.Key] = e
	}
	return m
}

// one returns the only entry, failing the test if there is not exactly one.
func (c *spankCache) one(when string) cacheEntry {
	c.t.Helper()
	m := c.entries()
	if len(m) != 1 {
		c.t.Fatalf("%s: %d cache entries, want 1: %s", when, len(m), c.describe())
	}
	for _, e := range m {
		return e
	}
	panic("unreachable")
}

// bySource returns the entry of source (an image reference or squashfs path).
func (c *spankCache) bySource(m map[string]cacheEntry, source string) (cacheEntry, bool) {
	for _, e := range m {
		if e.Source == source {
			return e, true
		}
	}
	return cacheEntry{}, false
}

// describe lists the cache directory, for failure messages.
func (c *spankCache) describe() string {
	ents, err := os.ReadDir(c.Root)
	if err != nil {
		return err.Error()
	}
	var l []string
	for _, d := range ents {
		s := d.Name()
		if b, err := os.ReadFile(filepath.Join(c.Root, s, "meta.json")); err == nil {
			var e cacheEntry
			json.Unmarshal(b, &e)
			s += fmt.Sprintf(" (%s, %d bytes)", e.Source, e.Size)
		}
		l = append(l, s)
	}
	return "[" + strings.Join(l, ", ") + "]"
}

// leftovers lists what producers left in the cache directory (.tmp-*).
func (c *spankCache) leftovers() []string {
	m, _ := filepath.Glob(filepath.Join(c.Root, ".tmp-*"))
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

// overlays lists the unnamed steps' container directories (.overlay-*) in
// every node's store.
func (c *spankCache) overlays() []string {
	m, _ := filepath.Glob(filepath.Join(c.Dir, "data-*", ".overlay-*"))
	sort.Strings(m)
	return m
}

// noOverlays fails the test if a step's .overlay- directory is still there
// a few seconds after the step, or a producer's temporary directory.
func (c *spankCache) noOverlays(when string) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(c.overlays()) != 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if o := c.overlays(); len(o) != 0 {
		c.t.Errorf("%s: container directories left 10s after the step: %v", when, o)
	}
	if l := c.leftovers(); len(l) != 0 {
		c.t.Errorf("%s: temporary directories left in the cache: %v", when, l)
	}
}

// step runs srun ARGS on the first node and fails the test unless it
// succeeds; it returns stdout and stderr.
func (c *spankCache) step(args ...string) (string, string) {
	c.t.Helper()
	stdout, stderr, err := c.srun(nil, append([]string{"-N1", "-w", c.Node}, args...)...)
	if err != nil {
		c.t.Fatalf("srun %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout, stderr)
	}
	return stdout, stderr
}

// cacheImports counts the "importing docker image" messages in stderr.
func cacheImports(stderr string) int { return strings.Count(stderr, cacheImporting) }

// TestSpankCacheWarm: the first unnamed step on a node unpacks the image
// into one cache entry; the next starts on it without importing; each runs
// on an overlay that is gone after the step.
func TestSpankCacheWarm(t *testing.T) {
	c := newSpankCache(t)
	harness.Require(t).RequireImage(t, "debian", "bookworm")
	image := c.image("debian:bookworm")
	var key string
	for i, want := range []int{1, 0} {
		when := fmt.Sprintf("step %d", i+1)
		stdout, stderr := c.step(image, "sh", "-c", cacheOSProbe)
		got := spankKV(stdout)
		if got["os"] != cacheBookworm || got["root"] != "overlay" {
			t.Errorf("%s: os %q on %q, want %q on an overlay\nstdout:\n%s\nstderr:\n%s", when, got["os"], got["root"], cacheBookworm, stdout, stderr)
		}
		if n := cacheImports(stderr); n != want {
			t.Errorf("%s: %q printed %d times, want %d\nstderr:\n%s", when, cacheImporting, n, want, stderr)
		}
		e := c.one(when)
		if key == "" {
			key = e.Key
		} else if e.Key != key {
			t.Errorf("%s: cache entry %s, want the first step's %s", when, e.Key, key)
		}
		if e.Source != c.Reg+"#debian:bookworm" || e.Size <= 0 || e.Tree == "" {
			t.Errorf("%s: entry meta source %q size %d tree %q", when, e.Source, e.Size, e.Tree)
		}
		if _, err := os.Lstat(filepath.Join(e.Dir, "rootfs", "etc", "os-release")); err != nil {
			t.Errorf("%s: the entry's tree: %v", when, err)
		}
		c.noOverlays(when)
	}
}

// TestSpankCacheConcurrent: four steps on a cold cache at once unpack the
// image once, into one entry.
func TestSpankCacheConcurrent(t *testing.T) {
	c := newSpankCache(t)
	harness.Require(t).RequireImage(t, "debian", "bookworm")
	job := c.alloc()
	const n = 4
	var (
		mu      sync.Mutex
		stderrs []string
	)
	spankParallel(n, 0, func(i int) {
		stdout, stderr, err := c.srun(nil, spankStep(job, c.image("debian:bookworm"), "sh", "-c", cacheOSProbe)...)
		mu.Lock()
		defer mu.Unlock()
		stderrs = append(stderrs, stderr)
		if got := spankKV(stdout); err != nil || got["os"] != cacheBookworm || got["root"] != "overlay" {
			t.Errorf("step %d: %v\nstdout:\n%s\nstderr:\n%s", i, err, stdout, stderr)
		}
	})
	all := strings.Join(stderrs, "")
	if k := cacheImports(all); k != 1 {
		t.Errorf("%q printed %d times by %d concurrent steps, want once:\n%s", cacheImporting, k, n, all)
	}
	c.one("after the concurrent steps")
	c.noOverlays("after the concurrent steps")
}

// TestSpankCacheWritesPrivate: read-only steps share the entry; a writable
// step gets a rootfs of its own, unpacked as before (an unprivileged overlay
// cannot rename directories of its lower layer, which dpkg needs), so what
// it writes, deletes or renames never reaches the entry or the next steps.
func TestSpankCacheWritesPrivate(t *testing.T) {
	c := newSpankCache(t)
	const probe = `cat /etc/marker 2>/dev/null || echo no-marker; test -e /bin/ls && echo has-ls`
	out, stderr := c.step(c.busybox(), "--container-readonly", "sh", "-c", probe)
	if got := spankLines(out); strings.Join(got, " ") != "no-marker has-ls" {
		t.Errorf("first read-only step: %q\nstderr:\n%s", got, stderr)
	}
	e := c.one("after the first read-only step")
	out, stderr = c.step(c.busybox(), "--container-writable", "sh", "-c",
		"echo step1 > /etc/marker && rm /bin/ls && mv /etc /etc2 && mv /etc2 /etc && cat /etc/marker && test ! -e /bin/ls && echo removed")
	if got := spankLines(out); strings.Join(got, " ") != "step1 removed" {
		t.Errorf("writable step (write, delete, rename a directory): %q, want step1 removed\nstderr:\n%s", got, stderr)
	}
	out, stderr = c.step(c.busybox(), "--container-readonly", "sh", "-c", probe)
	if got := spankLines(out); strings.Join(got, " ") != "no-marker has-ls" {
		t.Errorf("read-only step after the writable one: %q, want no-marker has-ls\nstderr:\n%s", got, stderr)
	}
	if n := cacheImports(stderr); n != 0 {
		t.Errorf("read-only step: the image was imported again (entry rebuilt after a writable step?):\n%s", stderr)
	}
	if _, err := os.Lstat(filepath.Join(e.Rootfs(), "etc", "marker")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the entry's tree has etc/marker (%v): a writable step wrote into the cache", err)
	}
	if _, err := os.Lstat(filepath.Join(e.Rootfs(), "bin", "ls")); err != nil {
		t.Errorf("the entry's tree lost bin/ls: %v", err)
	}
	if f := c.one("at the end"); f.Key != e.Key {
		t.Errorf("entry %s replaced by %s", e.Key, f.Key)
	}
	c.noOverlays("at the end")
}

// Rootfs is the entry's tree.
func (e cacheEntry) Rootfs() string { return filepath.Join(e.Dir, "rootfs") }

// TestSpankCacheEvict: with a cap below any image, a new entry does not
// evict an entry that a running container uses (which can still read its
// files); once unused, entries go least recently used first.
func TestSpankCacheEvict(t *testing.T) {
	c := newSpankCache(t, "GPYXIS_ROOTFS_CACHE_MAX_MB 1")
	harness.Require(t).RequireImage(t, "debian", "bookworm")
	sq := c.squashfs("busybox:latest", "busybox.sqsh")
	if m := c.entries(); len(m) != 0 {
		t.Fatalf("entries before any step: %s", c.describe())
	}
	job := c.alloc()
	shared := c.mkdir("shared", nil)
	bb := c.Reg + "#busybox:latest"
	b := c.background(spankStep(job, c.busybox(), "--container-mounts="+shared+":/shared", "sh", "-c",
		`echo ready > /shared/ready; while ! test -e /shared/go; do sleep 0.2; done; cat /bin/busybox >/dev/null && echo ok > /shared/after`)...)
	c.waitFile(b, filepath.Join(shared, "ready"))
	busy, ok := c.bySource(c.entries(), bb)
	if !ok {
		t.Fatalf("no entry of %s while its step runs: %s", bb, c.describe())
	}

	// Debian is a new entry: the total is over the cap, GC runs, and
	// neither entry may go (busybox's step runs, debian's starts).
	stdout, stderr, err := c.srun(nil, spankStep(job, c.image("debian:bookworm"), "sh", "-c", cacheOSProbe)...)
	if got := spankKV(stdout); err != nil || got["os"] != cacheBookworm {
		t.Fatalf("debian step: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	m := c.entries()
	deb, ok := c.bySource(m, c.Reg+"#debian:bookworm")
	if _, still := m[busy.Key]; !still || !ok || len(m) != 2 {
		t.Errorf("after the debian step over a 1 MB cap: %s, want the busybox entry %s (in use) and debian's", c.describe(), busy.Key)
	}
	if _, err := os.Lstat(filepath.Join(busy.Rootfs(), "bin", "busybox")); err != nil {
		t.Errorf("the running step's entry lost its tree: %v", err)
	}
	if err := os.WriteFile(filepath.Join(shared, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := c.waitFile(b, filepath.Join(shared, "after")); got != "ok" {
		t.Errorf("the running busybox step read its image after the GC: %q, want ok", got)
	}
	if !b.wait(60 * time.Second) {
		t.Fatalf("busybox step still running")
	}
	if b.err != nil {
		t.Errorf("busybox step: %v\nstderr:\n%s", b.err, b.stderr.String())
	}
	c.noOverlays("after the busybox step")
	if t.Failed() {
		t.FailNow()
	}

	// Both unused now; busybox's was used first (its step started before
	// debian's). A cap that holds debian and one busybox tree, but not two:
	// the next new entry (the squashfs of busybox) must evict the least
	// recently used, the small busybox entry, and keep the large debian one.
	m = c.entries()
	busy, deb = m[busy.Key], m[deb.Key]
	if !busy.Used.Before(deb.Used) {
		t.Errorf("busybox entry last used %v, debian %v: want busybox first", busy.Used, deb.Used)
	}
	capMB := int(math.Round(float64(deb.Size+busy.Size*3/2) / (1 << 20)))
	c.setConf(fmt.Sprintf("GPYXIS_ROOTFS_CACHE_MAX_MB %d", capMB))
	out, stderr := c.step("--container-image="+sq, "sh", "-c", inBusybox)
	if strings.TrimSpace(out) != "in-busybox" {
		t.Errorf("squashfs step: %q\nstderr:\n%s", out, stderr)
	}
	m = c.entries()
	_, sqOK := c.bySource(m, sq)
	_, busyOK := m[busy.Key]
	_, debOK := m[deb.Key]
	if busyOK || !debOK || !sqOK || len(m) != 2 {
		t.Errorf("after a new entry over a %d MB cap (debian %d, busybox %d bytes): %s, want the LRU busybox entry %s evicted, debian's %s and the squashfs' kept",
			capMB, deb.Size, busy.Size, c.describe(), busy.Key, deb.Key)
	}
	if _, err := os.Stat(busy.Dir + ".used"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("evicted entry's .used file: %v, want it removed", err)
	}
	c.noOverlays("after the squashfs step")
}

// TestSpankCacheLeftovers: what a killed producer left (.tmp-KEY-RAND) is
// removed by the next production's GC, unless its producer still holds the
// key's lock.
func TestSpankCacheLeftovers(t *testing.T) {
	c := newSpankCache(t)
	if err := os.MkdirAll(c.Root, 0o700); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(c.Root, ".tmp-"+spankRand(16)+"-deadbeef")
	gone := filepath.Join(c.Root, ".tmp-gone-"+spankRand(16)+"-deadbeef")
	liveKey := spankRand(16)
	live := filepath.Join(c.Root, ".tmp-"+liveKey+"-cafe01")
	for _, d := range []string{dead, gone, live} {
		if err := os.MkdirAll(filepath.Join(d, "rootfs", "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "rootfs", "etc", "half"), []byte("half unpacked\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		// Images have read-only directories.
		if err := os.Chmod(filepath.Join(d, "rootfs", "etc"), 0o555); err != nil {
			t.Fatal(err)
		}
	}
	// A producer at work holds its key's lock.
	lock, err := os.OpenFile(filepath.Join(c.Root, liveKey+".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	out, stderr := c.step(c.busybox(), "sh", "-c", inBusybox)
	if strings.TrimSpace(out) != "in-busybox" || cacheImports(stderr) != 1 {
		t.Errorf("step on a cache with leftovers: %q, want in-busybox and one import\nstderr:\n%s", out, stderr)
	}
	for _, d := range []string{dead, gone} {
		if _, err := os.Lstat(d); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("leftover %s of a dead producer still there after a production (%v)", filepath.Base(d), err)
		}
	}
	if _, err := os.Lstat(filepath.Join(live, "rootfs", "etc", "half")); err != nil {
		t.Errorf("the locked producer's directory was removed: %v", err)
	}
	c.one("after the step")
	lock.Close()
	spankWritable(live)
	os.RemoveAll(live)
	c.noOverlays("after the step")
}

// TestSpankCacheTampered: an entry whose tree changed after publication is
// rebuilt on its next use.
func TestSpankCacheTampered(t *testing.T) {
	c := newSpankCache(t)
	harness.Require(t).RequireImage(t, "debian", "bookworm")
	image := c.image("debian:bookworm")
	orig, _ := c.step(image, "cat", "/etc/os-release")
	if !strings.Contains(orig, "bookworm") {
		t.Fatalf("os-release: %q", orig)
	}
	e := c.one("after the first step")
	// etc/os-release is a relative link into usr/lib: the file it names
	// in the entry's tree.
	f, err := os.OpenFile(filepath.Join(e.Rootfs(), "etc", "os-release"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("GPYXIS_TAMPERED=1\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got, stderr := c.step(image, "cat", "/etc/os-release")
	if got != orig {
		t.Errorf("os-release after tampering with the cache entry:\n%s\nwant the image's:\n%s", got, orig)
	}
	if n := cacheImports(stderr); n != 1 {
		t.Errorf("%q printed %d times after tampering, want once (the entry rebuilt):\n%s", cacheImporting, n, stderr)
	}
	r := c.one("after the rebuild")
	if b, err := os.ReadFile(filepath.Join(r.Rootfs(), "etc", "os-release")); err != nil || strings.Contains(string(b), "TAMPERED") {
		t.Errorf("rebuilt entry's os-release: %v\n%s", err, b)
	}
	// The rebuilt entry passes its check.
	got, stderr = c.step(image, "cat", "/etc/os-release")
	if got != orig || cacheImports(stderr) != 0 {
		t.Errorf("step after the rebuild: want the image's os-release without an import\nstdout:\n%s\nstderr:\n%s", got, stderr)
	}
	c.noOverlays("at the end")
}

// TestSpankCacheSquashfs: a squashfs file is one entry for as long as it is
// the same file; rewritten in place, it is a new one.
func TestSpankCacheSquashfs(t *testing.T) {
	c := newSpankCache(t)
	sq := c.squashfs("busybox:latest", "busybox.sqsh")
	const probe = inBusybox + `; cat /version 2>/dev/null || echo v1`
	for i := 1; i <= 2; i++ {
		out, stderr := c.step("--container-image="+sq, "sh", "-c", probe)
		if got := spankLines(out); strings.Join(got, " ") != "in-busybox v1" {
			t.Errorf("step %d: %q, want in-busybox v1\nstderr:\n%s", i, got, stderr)
		}
	}
	first := c.one("after two steps")
	if first.Source != sq {
		t.Errorf("entry source %q, want %s", first.Source, sq)
	}

	// A different file rewritten into the same inode.
	v2 := filepath.Join(c.Dir, "v2.sqsh")
	c.step(c.busybox(), "--container-writable", "--container-save="+v2, "sh", "-c", "echo v2 > /version")
	content, err := os.ReadFile(v2)
	if err != nil {
		t.Fatal(err)
	}
	var before syscall.Stat_t
	if err := syscall.Stat(sq, &before); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sq, content, 0o644); err != nil {
		t.Fatal(err)
	}
	var after syscall.Stat_t
	if err := syscall.Stat(sq, &after); err != nil || after.Ino != before.Ino {
		t.Fatalf("rewriting %s in place: %v, inode %d -> %d", sq, err, before.Ino, after.Ino)
	}
	out, stderr := c.step("--container-image="+sq, "sh", "-c", probe)
	if got := spankLines(out); strings.Join(got, " ") != "in-busybox v2" {
		t.Errorf("step after rewriting the file: %q, want in-busybox v2 (the old entry was used?)\nstderr:\n%s", got, stderr)
	}
	m := c.entries()
	if _, ok := m[first.Key]; len(m) != 2 || !ok {
		t.Errorf("after rewriting the file: %s, want the first entry %s and a new one", c.describe(), first.Key)
	}
	c.noOverlays("at the end")
}

// TestSpankCacheDisabled: GPYXIS_ROOTFS_CACHE false in gpyxis.conf or in the
// job's environment: unnamed steps unpack into the store as before, and no
// cache directory appears.
func TestSpankCacheDisabled(t *testing.T) {
	for _, tc := range []struct {
		name string
		conf []string
		env  []string
	}{
		{"conf", []string{"GPYXIS_ROOTFS_CACHE n"}, nil},
		{"env", nil, []string{"GPYXIS_ROOTFS_CACHE=false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newSpankCache(t, tc.conf...)
			for i := 1; i <= 2; i++ {
				stdout, stderr, err := c.srun(tc.env, "-N1", "-w", c.Node, c.busybox(), "sh", "-c",
					inBusybox+`; awk '$2=="/" {t=$3} END {print "root=" t}' /proc/mounts`)
				got := spankLines(stdout)
				if err != nil || len(got) != 2 || got[0] != "in-busybox" || got[1] == "root=overlay" {
					t.Errorf("step %d: %v; want in-busybox on a root that is not an overlay\nstdout:\n%s\nstderr:\n%s", i, err, stdout, stderr)
				}
				if n := cacheImports(stderr); n != 1 {
					t.Errorf("step %d: %q printed %d times, want once (every step imports)\nstderr:\n%s", i, cacheImporting, n, stderr)
				}
			}
			if _, err := os.Lstat(c.Root); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("cache directory %s: %v, want none with the cache off", c.Root, err)
			}
			if o := c.containers(); len(o) != 0 {
				t.Errorf("containers left: %v", o)
			}
		})
	}
}
