// SPDX-License-Identifier: Apache-2.0

package integration

// Pre-creation of an image's tree on every node of an allocation, so that
// the ranks of a large step start together (docs/slurm.md, "Pre-creating
// containers on every node"): one task per node runs `gpyxis-runtime cache
// add IMAGE`, or an unnamed read-only step `--container-image=IMAGE true`,
// and the next step finds the tree in each node's image cache. Each test
// gives every node its own cache (CACHE_PATH DIR/cache-$(hostname)), empty
// at the start: the harness's nodes share one filesystem.

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gpyxis/gpyxis/integration/harness"
)

// precreateImporting is what a one-task step prints when the plugin
// unpacks a registry image (pyxis' message).
const precreateImporting = "importing docker image"

// precreateEntry is a published entry of a node's image cache.
type precreateEntry struct {
	Key     string    `json:"key"`
	Source  string    `json:"source"`
	Created time.Time `json:"created"`
	Tree    string    `json:"tree"`
}

var precreateKeyRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// precreate is a two-node SPANK test whose nodes each have a private,
// empty image cache.
type precreate struct {
	*spankEnv
	nodes []string
}

func newPrecreate(t *testing.T) *precreate {
	t.Helper()
	s := newSpank(t)
	// With a shared node cache (the plugin's shared_rootfs_cache=), steps
	// start from root's trees, not from the per-user cache this test
	// watches.
	args := s.Plugin.Args
	if b, err := os.ReadFile(s.Plugin.Conf); err == nil {
		args = string(b)
	}
	if strings.Contains(args, "shared_rootfs_cache=") {
		t.Skipf("the plugin runs with a shared node cache (%s): steps do not use the per-user cache", strings.TrimSpace(args))
	}
	nodes := spankNodes(t, s.Slurm)
	if len(nodes) < 2 {
		spankRequire(t, errNeedTwoNodes)
	}
	// CACHE_PATH from the configuration file, per node; the environment
	// would win over it.
	env := s.Env[:0:0]
	for _, kv := range s.Env {
		n, _, _ := strings.Cut(kv, "=")
		if n != "ENROOT_CACHE_PATH" && n != "GPYXIS_CACHE_PATH" && n != "GPYXIS_ROOTFS_CACHE" {
			env = append(env, kv)
		}
	}
	s.Env = env
	conf := filepath.Join(s.Dir, "cfg", "gpyxis", "gpyxis.conf")
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, "ENROOT_CACHE_PATH "+s.Dir+"/cache-$(hostname)\n"...)
	if err := os.WriteFile(conf, b, 0o644); err != nil {
		t.Fatal(err)
	}
	p := &precreate{spankEnv: s, nodes: nodes[:2]}
	for _, n := range p.nodes {
		if m := p.entries(n); len(m) != 0 {
			t.Fatalf("node %s: cache not empty at the start: %v", n, m)
		}
	}
	return p
}

// root is node's image cache.
func (p *precreate) root(node string) string {
	return filepath.Join(p.Dir, "cache-"+node, "rootfs")
}

// entries returns node's published cache entries by key.
func (p *precreate) entries(node string) map[string]precreateEntry {
	p.t.Helper()
	ents, err := os.ReadDir(p.root(node))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]precreateEntry{}
	}
	if err != nil {
		p.t.Fatal(err)
	}
	m := map[string]precreateEntry{}
	for _, d := range ents {
		if !d.IsDir() || !precreateKeyRE.MatchString(d.Name()) {
			continue
		}
		var e precreateEntry
		b, err := os.ReadFile(filepath.Join(p.root(node), d.Name(), "meta.json"))
		if err == nil {
			err = json.Unmarshal(b, &e)
		}
		if err != nil || e.Key != d.Name() {
			p.t.Errorf("node %s: cache entry %s: %v, key %q", node, d.Name(), err, e.Key)
		}
		e.Key = d.Name()
		m[e.Key] = e
	}
	return m
}

// precreateSources lists the sources of entries, sorted.
func precreateSources(m map[string]precreateEntry) []string {
	var l []string
	for _, e := range m {
		l = append(l, e.Source)
	}
	sort.Strings(l)
	return l
}

// all returns the argument of srun's -w for the two nodes.
func (p *precreate) all() string { return p.nodes[0] + "," + p.nodes[1] }

// warm checks that the step after the pre-creation starts from the trees
// every node has (want: each node's entries after it): a two-node step of
// each image runs in it on an overlay, and leaves the caches as they were
// (no entry made or rebuilt); a one-task step on each node does not print
// pyxis' import message (a multi-task step never does).
func (p *precreate) warm(images []string, want map[string]map[string]precreateEntry) {
	p.t.Helper()
	const probe = inBusybox + `; echo "root=$(awk '$2=="/" {t=$3} END {print t}' /proc/mounts) host=$(cat /proc/sys/kernel/hostname)"`
	for _, image := range images {
		stdout, stderr, err := p.srun(nil, "-N2", "--ntasks-per-node=1", "-w", p.all(), "--container-image="+image, "sh", "-c", probe)
		if err != nil || strings.Count(stdout, "in-busybox") != 2 || strings.Count(stdout, "root=overlay") != 2 {
			p.t.Errorf("two-node step of %s after the pre-creation: %v; want in-busybox on an overlay on both nodes\nstdout:\n%s\nstderr:\n%s", image, err, stdout, stderr)
		}
		if strings.Contains(stderr, precreateImporting) {
			p.t.Errorf("two-node step of %s imported the image:\n%s", image, stderr)
		}
		for _, n := range p.nodes {
			if !strings.Contains(stdout, "host="+n) {
				p.t.Errorf("two-node step of %s: no task on %s:\n%s", image, n, stdout)
			}
			stdout, stderr, err := p.srun(nil, "-N1", "-w", n, "--container-image="+image, "true")
			if err != nil || strings.Contains(stderr, precreateImporting) {
				p.t.Errorf("one-task step of %s on %s: %v; want it warm (no %q)\nstdout:\n%s\nstderr:\n%s", image, n, err, precreateImporting, stdout, stderr)
			}
		}
	}
	for _, n := range p.nodes {
		got := p.entries(n)
		if len(got) != len(want[n]) {
			p.t.Errorf("node %s: %d entries after the steps (%v), want the pre-created %d (%v)", n, len(got), precreateSources(got), len(want[n]), precreateSources(want[n]))
		}
		for k, w := range want[n] {
			if g, ok := got[k]; !ok || !g.Created.Equal(w.Created) || g.Tree != w.Tree {
				p.t.Errorf("node %s: entry %s (%s) made at %v, after the steps %+v (present %v): want it untouched", n, k, w.Source, w.Created, g, ok)
			}
		}
	}
}

// TestSpankPrecreateCacheAdd: `srun -N2 --ntasks-per-node=1 gpyxis-runtime
// cache add IMAGE SQSH` makes both trees on both nodes (same keys: the same
// digest, the same shared file), and says so; run again, it finds them;
// the steps that follow start warm on both nodes.
func TestSpankPrecreateCacheAdd(t *testing.T) {
	p := newPrecreate(t)
	bin, err := runtimeBin()
	if err != nil {
		t.Fatalf("gpyxis-runtime: %v", err)
	}
	image := p.Reg + "#busybox:latest"
	sq := p.squashfs("busybox:latest", "busybox.sqsh")
	for _, n := range p.nodes {
		// The import above ran on this machine, with this node's CACHE_PATH
		// (blobs only): the trees are still to be made.
		if m := p.entries(n); len(m) != 0 {
			t.Fatalf("node %s: cache entries before the pre-creation: %v", n, precreateSources(m))
		}
	}
	add := []string{"-N2", "--ntasks-per-node=1", "-w", p.all(), bin, "cache", "add", image, sq}
	out := p.ok(nil, add...)
	line := regexp.MustCompile(`^(\S+): cached ([0-9a-f]{32}) \(produced in [0-9]+\.[0-9]s\)$`)
	keys := map[string]map[string]bool{} // image -> keys printed
	count := map[string]int{}
	for _, l := range spankLines(out) {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("cache add printed %q, want IMAGE: cached KEY (produced in X.Ys)\nall:\n%s", l, out)
			continue
		}
		if keys[m[1]] == nil {
			keys[m[1]] = map[string]bool{}
		}
		keys[m[1]][m[2]] = true
		count[m[1]]++
	}
	for _, img := range []string{image, sq} {
		if count[img] != 2 || len(keys[img]) != 1 {
			t.Errorf("cache add on two nodes: %s produced %d times with keys %v, want twice with one key\n%s", img, count[img], keys[img], out)
		}
	}
	sources := []string{image, sq}
	sort.Strings(sources)
	want := map[string]map[string]precreateEntry{}
	for _, n := range p.nodes {
		m := p.entries(n)
		want[n] = m
		if got := precreateSources(m); strings.Join(got, " ") != strings.Join(sources, " ") {
			t.Errorf("node %s: entries of %v after cache add, want %s and %s", n, got, image, sq)
		}
		for k, e := range m {
			if !keys[e.Source][k] {
				t.Errorf("node %s: entry %s of %s is not the key cache add printed (%v)", n, k, e.Source, keys[e.Source])
			}
			if _, err := os.Lstat(filepath.Join(p.root(n), k, "rootfs", "bin", "busybox")); err != nil {
				t.Errorf("node %s: the tree of %s: %v", n, e.Source, err)
			}
		}
		// What cache list shows on the node.
		list, err := gpyxis(t, nil, "cache", "list", "--cache-dir", p.root(n))
		if err != nil || strings.Count(list, image) != 1 || strings.Count(list, sq) != 1 {
			t.Errorf("node %s: cache list: %v\n%s", n, err, list)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Again: nothing to do on either node.
	out = p.ok(nil, add...)
	again := regexp.MustCompile(`^(\S+): already cached ([0-9a-f]{32})$`)
	count = map[string]int{}
	for _, l := range spankLines(out) {
		if m := again.FindStringSubmatch(l); m == nil || !keys[m[1]][m[2]] {
			t.Errorf("second cache add printed %q, want IMAGE: already cached KEY (the first run's)\nall:\n%s", l, out)
		} else {
			count[m[1]]++
		}
	}
	if count[image] != 2 || count[sq] != 2 {
		t.Errorf("second cache add: %v, want each image already cached on both nodes\n%s", count, out)
	}

	p.warm([]string{image, sq}, want)

	// A bad image names itself and fails the task; the good one is still added.
	stdout, stderr, err := p.srun(nil, "-N1", "-w", p.nodes[0], bin, "cache", "add", filepath.Join(p.Dir, "missing.sqsh"), image)
	if err == nil || !strings.Contains(stderr, "cache add "+filepath.Join(p.Dir, "missing.sqsh")+":") ||
		!strings.Contains(stdout, image+": already cached") {
		t.Errorf("cache add of a missing file and a cached image: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
}

// TestSpankPrecreateStep: the srun form, `srun -N2 --ntasks-per-node=1
// --container-image=IMAGE true`: every unnamed read-only step leaves the
// tree in the node's cache, so the next step starts warm on both nodes.
func TestSpankPrecreateStep(t *testing.T) {
	p := newPrecreate(t)
	harness.Require(t).RequireImage(t, "busybox", "latest")
	image := p.Reg + "#busybox:latest"
	p.ok(nil, "-N2", "--ntasks-per-node=1", "-w", p.all(), "--container-image="+image, "true")
	want := map[string]map[string]precreateEntry{}
	key := ""
	for _, n := range p.nodes {
		m := p.entries(n)
		want[n] = m
		if got := precreateSources(m); len(got) != 1 || got[0] != image {
			t.Fatalf("node %s: entries of %v after the pre-creating step, want one of %s", n, got, image)
		}
		for k := range m {
			if key != "" && k != key {
				t.Errorf("node %s: entry %s, the other node's is %s: want the same key", n, k, key)
			}
			key = k
		}
	}
	p.warm([]string{image}, want)
}
