// SPDX-License-Identifier: Apache-2.0

package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gpyxis/gpyxis/integration/harness"
	"github.com/gpyxis/gpyxis/pkg/mountspec"
)

// spankTimeout bounds every srun, salloc and sbatch of the SPANK tests: a hang
// fails the test instead of blocking the run.
const spankTimeout = 120 * time.Second

// spankEnv is one SPANK test's world: a private directory (readable by the
// job user's slurmstepd) holding a gpyxis.conf that allows the loopback
// registry over plain HTTP and keeps containers in DIR/data-$(hostname), the
// environment every srun gets, and the harness's cluster and plugin.
type spankEnv struct {
	t        *testing.T
	Dir      string
	Env      []string
	Reg      string // registry host:port of the plain registry
	Node     string // the first node (the controller's)
	Slurm    *harness.Slurm
	Plugin   *harness.Plugin
	Uid      int
	jobName  string // every job this test starts has this name (scancel'ed at the end)
	jobScope bool   // the plugin runs with container_scope=job
}

// newSpank requires the harness Slurm, the plugin, the plain registry and
// busybox, and makes the test's directory.
func newSpank(t *testing.T) *spankEnv {
	t.Helper()
	env := harness.Require(t)
	sl, p := env.RequirePlugin(t)
	reg := env.RequireRegistry(t, "plain")
	env.RequireImage(t, "busybox", "latest")
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "cfg", "gpyxis")
	if err := os.MkdirAll(conf, 0o755); err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf("ENROOT_ALLOW_HTTP y\nENROOT_DATA_PATH %s/data-$(hostname)\n", dir)
	if err := os.WriteFile(filepath.Join(conf, "gpyxis.conf"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &spankEnv{
		t: t, Dir: dir, Reg: reg.Host(), Node: sl.Nodes[0], Slurm: sl, Plugin: p, Uid: os.Getuid(),
		jobName: "gpyxis-spank-" + spankRand(6),
	}
	args := p.Args
	if b, err := os.ReadFile(p.Conf); err == nil {
		args = string(b)
	}
	s.jobScope = strings.Contains(" "+strings.Join(strings.Fields(args), " ")+" ", " container_scope=job ")
	for _, kv := range os.Environ() {
		// The test's own environment must not choose containers or jobs.
		n, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(n, "PYXIS_CONTAINER_") || strings.HasPrefix(n, "SLURM_") || strings.HasPrefix(n, "SBATCH_") ||
			strings.HasPrefix(n, "SALLOC_") || strings.HasPrefix(n, "SRUN_") {
			continue
		}
		s.Env = append(s.Env, kv)
	}
	s.Env = append(s.Env, "XDG_CONFIG_HOME="+filepath.Join(dir, "cfg"), "XDG_CACHE_HOME="+sharedCache(t))
	// Cleanups run last-registered first: cancel the jobs, then make the
	// container trees removable, then t.TempDir removes them.
	t.Cleanup(func() { spankWritable(dir) })
	t.Cleanup(func() {
		exec.Command("scancel", "--name="+s.jobName).Run()
		// Give cancelled steps' last task_exit time to clean up before the
		// directory goes away.
		for i := 0; i < 100; i++ {
			out, err := exec.Command("squeue", "-h", "--name="+s.jobName, "-o", "%i").Output()
			if err != nil || strings.TrimSpace(string(out)) == "" {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	return s
}

// spankRand returns n random bytes in hex.
func spankRand(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// spankWritable gives the owner write and search permission on every
// directory under dir (container trees have read-only directories), so that
// it can be removed.
func spankWritable(dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			if st, err := os.Lstat(p); err == nil {
				os.Chmod(p, st.Mode().Perm()|0o700)
			}
		}
		return nil
	})
}

// image is the --container-image option for REPOSITORY:TAG in the plain registry.
func (s *spankEnv) image(ref string) string { return "--container-image=" + s.Reg + "#" + ref }

// busybox is the --container-image option for busybox:latest, the image of
// every test that is not about the image (it unpacks in well under a second).
func (s *spankEnv) busybox() string { return s.image("busybox:latest") }

// inBusybox is a shell check that prints "in-busybox" only inside the
// busybox image (it has /linuxrc and no apt; the host is Debian).
const inBusybox = `if test -e /linuxrc && ! test -e /usr/bin/apt; then echo in-busybox; else echo on-host; fi`

// name returns a container name unique to this test and run.
func (s *spankEnv) name(tag string) string {
	base := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9_-]+`).ReplaceAllString(s.t.Name(), "-"))
	base = strings.TrimPrefix(base, "testspank")
	if len(base) > 32 {
		base = base[:32]
	}
	return "gt" + base + "-" + tag + "-" + spankRand(4)
}

// stored is the name in the store of container name (a --container-name,
// or JOBID.STEPID for an unnamed step) of job: pyxis_NAME, or
// pyxis_JOBID_NAME with container_scope=job.
func (s *spankEnv) stored(job, name string) string {
	if s.jobScope {
		return "pyxis_" + job + "_" + name
	}
	return "pyxis_" + name
}

// storePath is the directory of container name of job on the first node.
func (s *spankEnv) storePath(job, name string) string {
	return filepath.Join(s.data(s.Node), s.stored(job, name))
}

// data is the container store of node.
func (s *spankEnv) data(node string) string { return filepath.Join(s.Dir, "data-"+node) }

// containers lists the pyxis_* containers in the stores of every node.
func (s *spankEnv) containers() []string {
	var out []string
	m, _ := filepath.Glob(filepath.Join(s.Dir, "data-*", "pyxis_*"))
	// An unnamed step's container lives on an overlay of the node's cached
	// image tree: its own directory is .overlay-NAME.
	o, _ := filepath.Glob(filepath.Join(s.Dir, "data-*", ".overlay-pyxis_*"))
	for _, p := range append(m, o...) {
		out = append(out, filepath.Base(filepath.Dir(p))+"/"+strings.TrimPrefix(filepath.Base(p), ".overlay-"))
	}
	sort.Strings(out)
	return out
}

// mkdir makes a directory under the test's directory with files in it
// (name -> content) and returns its path.
func (s *spankEnv) mkdir(rel string, files map[string]string) string {
	s.t.Helper()
	p := filepath.Join(s.Dir, rel)
	if err := os.MkdirAll(p, 0o755); err != nil {
		s.t.Fatal(err)
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(p, n), []byte(c), 0o644); err != nil {
			s.t.Fatal(err)
		}
	}
	return p
}

// command runs name args with the test's environment plus extra, in the
// test's directory, bounded by spankTimeout; stdout, stderr and the exit
// error come back separately.
func (s *spankEnv) command(extra []string, name string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), spankTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = s.Dir
	// PWD as a shell sets it: the plugin reads the job's PWD (relative
	// --container-save paths), which srun takes from its environment.
	cmd.Env = append(append(append([]string(nil), s.Env...), "PWD="+s.Dir), extra...)
	// srun cancels its step on SIGTERM; SIGKILL would leave it running.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v (%w)", spankTimeout, err)
	}
	return stdout.String(), stderr.String(), err
}

// srun runs srun ARGS (with this test's job name unless it runs in an
// existing allocation). Callers pass -N1 and what else they need.
func (s *spankEnv) srun(extra []string, args ...string) (string, string, error) {
	return s.command(extra, "srun", s.jobArgs(args)...)
}

func (s *spankEnv) jobArgs(args []string) []string {
	for _, a := range args {
		if strings.HasPrefix(a, "--jobid") {
			return args
		}
	}
	return append([]string{"--job-name=" + s.jobName}, args...)
}

// ok runs srun ARGS and fails the test unless it succeeds; it returns stdout.
func (s *spankEnv) ok(extra []string, args ...string) string {
	s.t.Helper()
	stdout, stderr, err := s.srun(extra, args...)
	if err != nil {
		s.t.Fatalf("srun %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout, stderr)
	}
	return stdout
}

// fails runs srun ARGS and fails the test unless it exits non-zero with want
// (a pyxis message, "" for any) on stderr; it returns stderr.
func (s *spankEnv) fails(want string, extra []string, args ...string) string {
	s.t.Helper()
	stdout, stderr, err := s.srun(extra, args...)
	if err == nil {
		s.t.Errorf("srun %s succeeded, want an error %q\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), want, stdout, stderr)
	} else if !strings.Contains(strings.ToLower(stderr), strings.ToLower(want)) {
		s.t.Errorf("srun %s: %v; stderr does not say %q:\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, want, stdout, stderr)
	}
	return stderr
}

// host returns what cmd prints in a plain (containerless) step on the first node.
func (s *spankEnv) host(args ...string) string {
	s.t.Helper()
	return s.ok(nil, append([]string{"-N1", "-w", s.Node}, args...)...)
}

// hostNS returns the namespaces (net, pid, mnt, ipc, uts) of a plain step on the first node.
func (s *spankEnv) hostNS() map[string]string {
	s.t.Helper()
	kinds := []string{"net", "pid", "mnt", "ipc", "uts"}
	var args []string
	for _, k := range kinds {
		args = append(args, "/proc/self/ns/"+k)
	}
	lines := spankLines(s.host(append([]string{"readlink"}, args...)...))
	if len(lines) != len(kinds) {
		s.t.Fatalf("host namespaces: %q", lines)
	}
	m := map[string]string{}
	for i, k := range kinds {
		m[k] = lines[i]
	}
	return m
}

// alloc makes an allocation of the first node (overcommit, so that any
// number of --overlap steps fit) and returns its job ID; it is cancelled at
// the end of the test.
func (s *spankEnv) alloc() string {
	s.t.Helper()
	_, stderr, err := s.command(nil, "salloc", "--no-shell", "-N1", "-w", s.Node, "-O", "-t", "15", "--job-name="+s.jobName)
	m := regexp.MustCompile(`Granted job allocation (\d+)`).FindStringSubmatch(stderr)
	if err != nil || m == nil {
		s.t.Fatalf("salloc: %v\n%s", err, stderr)
	}
	id := m[1]
	s.t.Cleanup(func() { exec.Command("scancel", id).Run() })
	return id
}

// spankStep returns srun arguments for an --overlap step in allocation job.
func spankStep(job string, args ...string) []string {
	return append([]string{"--jobid=" + job, "--overlap", "-N1", "-O"}, args...)
}

// spankBg is an srun running in the background.
type spankBg struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan struct{}
	err            error
}

// background starts srun ARGS; the test's cleanup cancels its job and waits for it.
func (s *spankEnv) background(args ...string) *spankBg {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	b := &spankBg{done: make(chan struct{})}
	b.cmd = exec.CommandContext(ctx, "srun", s.jobArgs(args)...)
	b.cmd.Dir = s.Dir
	b.cmd.Env = append(append([]string(nil), s.Env...), "PWD="+s.Dir)
	b.cmd.Cancel = func() error { return b.cmd.Process.Signal(syscall.SIGTERM) }
	b.cmd.WaitDelay = 30 * time.Second
	b.cmd.Stdout, b.cmd.Stderr = &b.stdout, &b.stderr
	if err := b.cmd.Start(); err != nil {
		cancel()
		s.t.Fatalf("srun: %v", err)
	}
	go func() {
		b.err = b.cmd.Wait()
		cancel()
		close(b.done)
	}()
	s.t.Cleanup(func() {
		select {
		case <-b.done:
			return
		default:
		}
		b.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.done:
		case <-time.After(45 * time.Second):
			b.cmd.Process.Kill()
			<-b.done
		}
	})
	return b
}

// wait waits up to d for the background srun to end and reports whether it did.
func (b *spankBg) wait(d time.Duration) bool {
	select {
	case <-b.done:
		return true
	case <-time.After(d):
		return false
	}
}

// waitFile waits until path exists (a background step says it is ready),
// failing the test if the step ends first or after a timeout.
func (s *spankEnv) waitFile(b *spankBg, path string) string {
	s.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		if c, err := os.ReadFile(path); err == nil && len(c) > 0 && bytes.HasSuffix(c, []byte("\n")) {
			return strings.TrimSpace(string(c))
		}
		select {
		case <-b.done:
			s.t.Fatalf("background step ended before writing %s: %v\nstdout:\n%s\nstderr:\n%s", path, b.err, b.stdout.String(), b.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("background step did not write %s in 90s\nstderr so far:\n%s", path, b.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runtime runs the plugin's gpyxis-runtime with the test's environment.
func (s *spankEnv) runtime(extra []string, args ...string) (string, error) {
	stdout, stderr, err := s.command(extra, s.Plugin.Runtime, args...)
	return stdout + stderr, err
}

// squashfs imports REPOSITORY:TAG with the plugin's runtime into DIR/file.
func (s *spankEnv) squashfs(ref, file string) string {
	s.t.Helper()
	out := filepath.Join(s.Dir, file)
	if msg, err := s.runtime(nil, "import", "-o", out, "docker://"+s.Reg+"#"+ref); err != nil {
		s.t.Fatalf("gpyxis-runtime import %s: %v\n%s", ref, err, msg)
	}
	return out
}

// spankLines splits output into trimmed non-empty lines.
func spankLines(out string) []string {
	var l []string
	for _, s := range strings.Split(out, "\n") {
		if s = strings.TrimSpace(s); s != "" {
			l = append(l, s)
		}
	}
	return l
}

// spankFields normalises whitespace ("  0  1000  1" -> "0 1000 1").
func spankFields(s string) string { return strings.Join(strings.Fields(s), " ") }

// spankKV parses KEY=VALUE lines.
func spankKV(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[strings.TrimSpace(k)] = v
		}
	}
	return m
}

// spankMountPoints returns the mount points of a /proc/self/mountinfo text.
func spankMountPoints(mountinfo string) map[string]bool {
	m := map[string]bool{}
	for _, l := range strings.Split(mountinfo, "\n") {
		if f := strings.Fields(l); len(f) > 4 {
			m[spankUnescape(f[4])] = true
		}
	}
	return m
}

// spankUnescape undoes the octal escapes of /proc mount files.
func spankUnescape(s string) string { return mountspec.UnescapeMountinfo(s) }

// spankNodes lists the nodes of the harness partition.
func spankNodes(t *testing.T, sl *harness.Slurm) []string {
	t.Helper()
	args := []string{"-h", "-N", "-o", "%N"}
	if sl.Partition != "" {
		args = append(args, "-p", sl.Partition)
	}
	out, err := exec.Command("sinfo", args...).Output()
	if err != nil {
		t.Fatalf("sinfo: %v", err)
	}
	seen := map[string]bool{}
	var nodes []string
	for _, n := range spankLines(string(out)) {
		if !seen[n] {
			seen[n] = true
			nodes = append(nodes, n)
		}
	}
	return nodes
}

// spankRequire skips t (fails it under GPYXIS_INFRA_REQUIRED=1) for err.
func spankRequire(t *testing.T, err error) {
	t.Helper()
	if os.Getenv(harness.RequiredEnv) == "1" {
		t.Fatalf("harness: %v (%s=1, so this is a failure, not a skip)", err, harness.RequiredEnv)
	}
	t.Skipf("harness: %v", err)
}

var errNeedTwoNodes = errors.New("the harness Slurm has fewer than two nodes: run integration/infra/slurm-up.sh")

// spankParallel runs f(0..n-1) in goroutines started every stagger and waits for all.
func spankParallel(n int, stagger time.Duration, f func(i int)) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(i)
		}()
		time.Sleep(stagger)
	}
	wg.Wait()
}

// in returns s for subtest t: failures and cleanups go to t.
func (s *spankEnv) in(t *testing.T) *spankEnv {
	c := *s
	c.t = t
	return &c
}
