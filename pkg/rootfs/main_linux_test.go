// SPDX-License-Identifier: Apache-2.0

package rootfs

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == InitArg {
		InitMain()
	}
	os.Exit(m.Run())
}

// busybox returns the path of a statically linked busybox, or skips.
func busybox(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("no busybox: apt-get install -y busybox-static")
	}
	f, err := elf.Open(p)
	if err != nil {
		t.Fatalf("busybox: %v", err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			t.Skipf("%s is dynamically linked: apt-get install -y busybox-static", p)
		}
	}
	return p
}

// newRootfs builds a busybox root filesystem in a new temporary directory:
// bin/busybox with a relative link per applet (`busybox --install -s`
// would make absolute links to the host path), the usual mount points,
// empty /etc/{hosts,hostname,resolv.conf} so that they can be bound over
// in a read-only rootfs, and /var/run -> /run, /var/lock -> /run/lock as
// in Debian images.
func newRootfs(t testing.TB) string {
	t.Helper()
	bb := busybox(t)
	dir := t.TempDir()
	for _, d := range []string{"bin", "proc", "sys", "dev", "tmp", "etc", "run", "var", "data"} {
		must(t, os.Mkdir(filepath.Join(dir, d), 0o755))
	}
	data, err := os.ReadFile(bb)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "bin/busybox"), data, 0o755))
	list, err := exec.Command(bb, "--list").Output()
	must(t, err)
	for _, applet := range strings.Fields(string(list)) {
		if applet != "busybox" {
			must(t, os.Symlink("busybox", filepath.Join(dir, "bin", applet)))
		}
	}
	for _, f := range []string{"etc/hosts", "etc/hostname", "etc/resolv.conf"} {
		must(t, os.WriteFile(filepath.Join(dir, f), nil, 0o644))
	}
	must(t, os.Symlink("/run", filepath.Join(dir, "var/run")))
	must(t, os.Symlink("/run/lock", filepath.Join(dir, "var/lock")))
	return dir
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// result is the outcome of one container run.
type result struct {
	stdout, stderr string
	code           int
}

// run starts c with a default environment and waits for it. A failure to
// start is returned; a non-zero exit is in result.code.
func run(t *testing.T, c StartConfig) (result, error) {
	t.Helper()
	if c.Env == nil {
		c.Env = []string{"PATH=/bin", "HOME=/"}
	}
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := Start(ctx, c)
	if err != nil {
		return result{}, err
	}
	p.Wait()
	return result{stdout.String(), stderr.String(), p.ExitCode()}, nil
}

// sh runs script with busybox sh in a container built from c and fails the
// test unless it exits 0. It returns the standard output.
func sh(t *testing.T, c StartConfig, script string) string {
	t.Helper()
	c.Args = []string{"sh", "-c", script}
	r, err := run(t, c)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if r.code != 0 {
		t.Fatalf("script failed with %d\nscript: %s\nstdout: %s\nstderr: %s", r.code, script, r.stdout, r.stderr)
	}
	return r.stdout
}
