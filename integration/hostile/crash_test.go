// SPDX-License-Identifier: Apache-2.0

package hostile

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gpyxis/gpyxis/integration/harness"
)

// crashTrials is how many kill -9 trials TestHostileKill runs: 12 by
// default (make test), GPYXIS_HOSTILE_TRIALS=N for more (make test-hostile).
func crashTrials(t *testing.T) int {
	s := os.Getenv("GPYXIS_HOSTILE_TRIALS")
	if s == "" {
		return 12
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("GPYXIS_HOSTILE_TRIALS=%q: want a positive number of trials", s)
	}
	return n
}

// crashSite is one account's directories for the trials.
type crashSite struct {
	a                    *Account
	data, cache, out     string
	env                  []string
	created, imported    bool // a create or import of the trials has completed
	trials, killedEarly  int
	killedMid, completed int
}

func newCrashSite(t *testing.T, a *Account) *crashSite {
	t.Helper()
	s := &crashSite{a: a, data: filepath.Join(a.Home, "data"), cache: filepath.Join(a.Home, "cache"),
		out: filepath.Join(a.Home, "out")}
	if err := os.MkdirAll(s.out, 0o700); err != nil {
		t.Fatal(err)
	}
	if a.Name != "" {
		if err := os.Chown(s.out, a.UID, a.GID); err != nil {
			t.Fatal(err)
		}
	}
	s.env = []string{"ENROOT_DATA_PATH=" + s.data, "ENROOT_CACHE_PATH=" + s.cache}
	return s
}

// crashOps are the commands killed at random points: the trees, overlays,
// partial blobs, cache entries and squashfs outputs they leave differ.
var crashOps = []struct {
	name string
	args func(s *crashSite, ref string) []string
}{
	{"import", func(s *crashSite, ref string) []string {
		return []string{"import", "--insecure", "--force", "-o", filepath.Join(s.out, "deb.sqsh"), ref}
	}},
	{"create", func(s *crashSite, ref string) []string {
		return []string{"create", "--insecure", "--force", "--name", "box", ref}
	}},
	{"run-rw", func(s *crashSite, ref string) []string {
		return []string{"run", "--insecure", "--rw", ref, "true"}
	}},
	{"run", func(s *crashSite, ref string) []string { return []string{"run", "--insecure", ref, "true"} }},
}

// TestHostileKill kills gpyxis-runtime import, create, run --rw and run
// with SIGKILL at a random point (0 to 1.5 s in), as root and as tester,
// then runs the same command again: it must succeed, and after it and a
// cache gc the data, cache and output directories hold nothing but what
// the commands' successes make, nothing is mounted there, and no process
// of the killed command is left.
func TestHostileKill(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	env.RequireImage(t, "debian", "bookworm")
	ref := "docker://" + reg.Host() + "#debian:bookworm"
	canaries := NewCanaries(t)
	bin, err := publicRuntime()
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("GPYXIS_HOSTILE_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("GPYXIS_HOSTILE_SEED=%d reproduces this sequence", seed)
	rnd := rand.New(rand.NewPCG(seed, 0))

	sites := []*crashSite{newCrashSite(t, Self(t))}
	if os.Geteuid() == 0 {
		sites = append(sites, newCrashSite(t, AccountFor(t, Victim)))
	}
	n := crashTrials(t)
	start := time.Now()
	done := 0
	for i := 0; i < n && !t.Failed(); i++ {
		s := sites[i%len(sites)]
		op := crashOps[(i/len(sites))%len(crashOps)]
		if rnd.IntN(3) == 0 {
			// A cold cache: the kill lands in a download or in making the node's tree.
			if err := os.RemoveAll(s.cache); err != nil {
				t.Fatal(err)
			}
		}
		delay := time.Duration(rnd.IntN(1500)) * time.Millisecond
		who := s.a.Name
		if who == "" {
			who = "self"
		}
		label := fmt.Sprintf("trial %d (%s, %s, kill after %s)", i, op.name, who, delay)
		s.kill(t, label, bin, op.args(s, ref), delay)
		out, err := s.a.Runtime(t, 120*time.Second, s.env, op.args(s, ref)...)
		if err != nil {
			t.Fatalf("%s: the rerun failed: %v\n%s", label, err, out)
		}
		switch op.name {
		case "import":
			s.imported = true
		case "create":
			s.created = true
		}
		if out, err := s.a.Runtime(t, 60*time.Second, s.env, "cache", "gc"); err != nil {
			t.Fatalf("%s: cache gc: %v\n%s", label, err, out)
		}
		s.checkClean(t, label, bin)
		done++
	}
	for _, s := range sites {
		t.Logf("%s: %d trials: killed before it ended %d, ran to the end %d", s.a.Home, s.trials, s.killedMid, s.completed)
	}
	t.Logf("%d of %d trials in %s", done, n, time.Since(start).Round(time.Second))
	canaries.Check(t)
}

// kill starts args as the account and SIGKILLs it after delay (if it has
// not ended by then).
func (s *crashSite) kill(t *testing.T, label, bin string, args []string, delay time.Duration) {
	t.Helper()
	c := s.a.Cmd(append([]string{bin}, args...)...) // setpriv execs: the pid is the runtime's
	c.Env = append(c.Env, s.env...)
	if err := c.Start(); err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	s.trials++
	select {
	case <-done:
		s.completed++
		return
	case <-time.After(delay):
	}
	c.Process.Signal(syscall.SIGKILL)
	select {
	case <-done:
		s.killedMid++
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: still there 30 s after SIGKILL", label)
	}
}

var (
	hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)
	hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// checkClean fails the test for anything in the account's directories that
// the commands' successes do not make, for mounts there and for processes
// still in them.
func (s *crashSite) checkClean(t *testing.T, label, bin string) {
	t.Helper()
	var bad []string
	want := map[string]bool{}
	if s.created {
		want["box"], want[".box.json"] = true, true
	}
	bad = append(bad, unexpected(s.data, func(n string) bool { return want[n] })...)
	bad = append(bad, unexpected(s.out, func(n string) bool { return n == "deb.sqsh" && s.imported })...)
	bad = append(bad, unexpected(s.cache, func(n string) bool {
		return n == "blobs" || n == "locks" || n == "tmp" || n == "rootfs"
	})...)
	bad = append(bad, unexpected(filepath.Join(s.cache, "tmp"), func(string) bool { return false })...)
	bad = append(bad, unexpected(filepath.Join(s.cache, "blobs", "sha256"), hex64.MatchString)...)
	bad = append(bad, unexpected(filepath.Join(s.cache, "locks", "sha256"), func(n string) bool {
		return hex64.MatchString(strings.TrimSuffix(n, ".lock"))
	})...)
	root := filepath.Join(s.cache, "rootfs")
	bad = append(bad, unexpected(root, func(n string) bool {
		if n == "tags" || hex32.MatchString(n) {
			return true
		}
		key := strings.TrimSuffix(strings.TrimSuffix(n, ".lock"), ".used")
		_, err := os.Stat(filepath.Join(root, key))
		return hex32.MatchString(key) && err == nil // a live entry's lock and use time
	})...)
	bad = append(bad, unexpected(filepath.Join(root, "tags"), hex32.MatchString)...)
	if len(bad) > 0 {
		t.Errorf("%s: leftovers after the rerun and cache gc:\n  %s", label, strings.Join(bad, "\n  "))
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil && strings.Contains(string(b), s.a.Home) {
		t.Errorf("%s: mounts left under %s:\n%s", label, s.a.Home, grepLines(string(b), s.a.Home))
	}
	// A killed run's container gets SIGKILL from its parent's death
	// (Pdeathsig): give the kernel a moment.
	var stray []string
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if stray = strays(s.a.Home, bin); len(stray) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(stray) > 0 {
		t.Errorf("%s: processes left:\n  %s", label, strings.Join(stray, "\n  "))
	}
}

// unexpected lists dir's entries that ok refuses.
func unexpected(dir string, ok func(string) bool) []string {
	ents, _ := os.ReadDir(dir)
	var bad []string
	for _, e := range ents {
		if !ok(e.Name()) {
			bad = append(bad, filepath.Join(dir, e.Name()))
		}
	}
	return bad
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// strays lists the processes whose root or working directory is under home,
// or that run the runtime under test.
func strays(home, bin string) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		p := "/proc/" + e.Name()
		cmd, _ := os.ReadFile(p + "/cmdline")
		line := strings.ReplaceAll(string(cmd), "\x00", " ")
		hit := strings.Contains(line, bin)
		for _, l := range []string{"/root", "/cwd"} {
			if d, err := os.Readlink(p + l); err == nil && (d == home || strings.HasPrefix(d, home+"/")) {
				hit = true
			}
		}
		if hit {
			out = append(out, fmt.Sprintf("pid %d: %s", pid, line))
		}
	}
	return out
}
