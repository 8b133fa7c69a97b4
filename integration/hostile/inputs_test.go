// SPDX-License-Identifier: Apache-2.0

package hostile

import (
	"archive/tar"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/integration/harness"
)

// Unbounded inputs: a file a user names (a configuration, credentials, a
// script, a state file) may be a device that never ends, a FIFO nobody
// writes or a huge file, and a few KiB of layer may declare a terabyte
// sparse file. Each must fail fast with a message naming the file, or cost
// what it stores, never memory or CPU until the node gives out.

// inputsMaxRSS bounds the memory of one refused command.
const inputsMaxRSS = 256 << 20

// inputsRun runs gpyxis-runtime as a with a deadline and returns its output,
// how long it took and its peak RSS.
func inputsRun(t *testing.T, a *Account, timeout time.Duration, env []string, args ...string) (string, time.Duration, int64, error) {
	t.Helper()
	bin, err := publicRuntime()
	if err != nil {
		t.Fatalf("gpyxis-runtime: %v", err)
	}
	c := a.Cmd(append([]string{"timeout", "-s", "KILL", fmt.Sprint(int(timeout.Seconds())), bin}, args...)...)
	c.Env = append(c.Env, env...)
	var out strings.Builder
	c.Stdout, c.Stderr = &out, &out
	start := time.Now()
	err = c.Run()
	took := time.Since(start)
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 137 {
		t.Errorf("gpyxis-runtime %s: still running after %s (hang)", strings.Join(args, " "), timeout)
	}
	var rss int64
	if c.ProcessState != nil {
		if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
			rss = ru.Maxrss << 10 // KiB on Linux
		}
	}
	return out.String(), took, rss, err
}

// inputsEnv keeps a's containers and caches in its home and lets the
// harness's plain-HTTP registry in.
func inputsEnv(a *Account) []string {
	return []string{"ENROOT_DATA_PATH=" + a.Home + "/data", "ENROOT_CACHE_PATH=" + a.Home + "/cache", "ENROOT_ALLOW_HTTP=1"}
}

// inputsBusybox is a minimal runnable layer: the host's static busybox.
func inputsBusybox(t *testing.T) []byte {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skipf("a static /bin/busybox on the host builds the image: %v", err)
	}
	return Layer(t,
		Entry{Name: "bin/", Type: tar.TypeDir},
		Entry{Name: "bin/busybox", Body: string(bb), Mode: 0o755},
		Entry{Name: "bin/sh", Type: tar.TypeSymlink, Linkname: "busybox"},
		Entry{Name: "etc/", Type: tar.TypeDir},
		Entry{Name: "tmp/", Type: tar.TypeDir, Mode: 0o1777},
	)
}

// TestHostileInputsNamedFiles names devices, FIFOs and oversized files where
// gpyxis-runtime expects a small file: each command fails within seconds and
// a few MiB, saying which file is wrong and why.
func TestHostileInputsNamedFiles(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	env.RequireImage(t, "busybox", "latest")
	image := "docker://" + reg.Host() + "#busybox:latest"
	a := Self(t)
	can := NewCanaries(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.conf")
	if err := os.WriteFile(big, []byte(strings.Repeat("# padding\n", 200<<10)), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chown(dir, a.UID, a.GID)
	os.Chown(fifo, a.UID, a.GID)
	out := filepath.Join(dir, "out.sqsh")
	data := inputsEnv(a)
	if o, err := a.Runtime(t, 120*time.Second, data, "create", "--name", "inputs", image); err != nil {
		t.Fatalf("create: %v\n%s", err, o)
	}
	for _, c := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"authfile-zero", nil, []string{"import", "--authfile", "/dev/zero", "-o", out, image}, "auth file: /dev/zero: a character device, not a regular file"},
		{"authfile-fifo", nil, []string{"import", "--authfile", fifo, "-o", out, image}, "auth file: " + fifo + ": a FIFO, not a regular file"},
		{"registries-conf-fifo", nil, []string{"import", "--registries-conf", fifo, "-o", out, image}, "registries.conf: " + fifo + ": a FIFO, not a regular file"},
		{"registries-conf-big", nil, []string{"import", "--registries-conf", big, "-o", out, image}, big + ": larger than 1 MiB"},
		{"credentials-zero", nil, []string{"import", "--credentials", "/dev/zero", "-o", out, image}, "/dev/zero: a character device, not a regular file"},
		{"conf-zero", nil, []string{"run", "--conf", "/dev/zero", image, "true"}, "configuration script: /dev/zero: a character device, not a regular file"},
		{"conf-fifo", nil, []string{"run", "--conf", fifo, image, "true"}, "configuration script: " + fifo + ": a FIFO, not a regular file"},
		{"rc-zero", nil, []string{"run", "--rc", "/dev/zero", image, "true"}, "rc script: /dev/zero: a character device, not a regular file or a pipe"},
		{"exec-state-zero", nil, []string{"exec", "/dev/zero", "true"}, "/dev/zero: a character device, not a regular file"},
		{"start-state-full", nil, []string{"start", "--detach", "--state", "/dev/full", "inputs"}, "holder state /dev/full: a character device, not a regular file"},
		{"config-fifo", []string{"XDG_CONFIG_HOME=" + dir + "/xdg"}, []string{"list"}, "not a regular file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "config-fifo" {
				p := filepath.Join(dir, "xdg", "gpyxis", "gpyxis.conf")
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := unix.Mkfifo(p, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			o, took, rss, err := inputsRun(t, a, 30*time.Second, append(inputsEnv(a), c.env...), c.args...)
			if err == nil {
				t.Fatalf("gpyxis-runtime %s succeeded:\n%s", strings.Join(c.args, " "), o)
			}
			if !strings.Contains(o, c.want) {
				t.Errorf("gpyxis-runtime %s: want %q in:\n%s", strings.Join(c.args, " "), c.want, o)
			}
			if took > 15*time.Second {
				t.Errorf("took %v to refuse", took)
			}
			if rss > inputsMaxRSS {
				t.Errorf("peak RSS %d MiB", rss>>20)
			}
		})
	}
	if fi, err := os.Stat("/dev/full"); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Errorf("/dev/full is no longer a character device: %v", err)
	}
	can.Check(t)
}

// inputsSparseLayer archives, with GNU tar's --sparse, a file of apparent
// size size holding "head" at 0 and "tail" at its end: a layer of a few KiB.
func inputsSparseLayer(t *testing.T, size int64) []byte {
	t.Helper()
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("GNU tar builds the sparse layer")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "big")
	if err := os.WriteFile(p, []byte("head"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("tail"), size-4); err != nil {
		t.Skipf("no sparse file of %d bytes here: %v", size, err)
	}
	f.Close()
	b, err := exec.Command("tar", "--sparse", "--format=pax", "-cf", "-", "-C", dir, "big").Output()
	if err != nil {
		t.Fatalf("tar --sparse: %v", err)
	}
	if len(b) > 64<<10 {
		t.Fatalf("the sparse layer is %d bytes", len(b))
	}
	return b
}

// TestHostileInputsSparse pushes an image whose 4 KiB layer holds a 1 TiB
// sparse file: import, run, run --rw, create and export cost its data, not
// its apparent size, and the file reads back with its data in place. A 5 TiB one passes
// the default budget and is refused with a message naming the knob.
func TestHostileInputsSparse(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	a := Self(t)
	can := NewCanaries(t)
	img := PushImage(t, reg, nil, inputsBusybox(t), inputsSparseLayer(t, 1<<40))
	dir := t.TempDir()
	os.Chown(dir, a.UID, a.GID)
	data := inputsEnv(a)
	out := filepath.Join(dir, "sparse.sqsh")
	steps := []struct {
		name string
		args []string
		want string
	}{
		{"import", []string{"import", "-o", out, img.Ref(reg)}, ""},
		{"run", []string{"run", img.Ref(reg), "/bin/busybox", "sh", "-c", "/bin/busybox stat -c %s /big; /bin/busybox head -c 4 /big; /bin/busybox tail -c 4 /big"}, "1099511627776\nheadtail"},
		{"run-rw", []string{"run", "--rw", img.Ref(reg), "/bin/busybox", "sh", "-c", "/bin/busybox stat -c %s /big; /bin/busybox head -c 4 /big; /bin/busybox tail -c 4 /big"}, "1099511627776\nheadtail"},
		{"run-sqsh", []string{"run", out, "/bin/busybox", "sh", "-c", "/bin/busybox stat -c %s /big; /bin/busybox tail -c 4 /big"}, "1099511627776\ntail"},
		{"create", []string{"create", "--name", "sparse", img.Ref(reg)}, ""},
		{"export", []string{"export", "-o", filepath.Join(dir, "export.sqsh"), "sparse"}, ""},
		{"run-export", []string{"run", filepath.Join(dir, "export.sqsh"), "/bin/busybox", "sh", "-c", "/bin/busybox stat -c %s /big; /bin/busybox tail -c 4 /big"}, "1099511627776\ntail"},
	}
	for _, s := range steps {
		o, took, _, err := inputsRun(t, a, 90*time.Second, data, s.args...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", s.name, err, o)
		}
		if !strings.Contains(o, s.want) {
			t.Errorf("%s: want %q in:\n%s", s.name, s.want, o)
		}
		t.Logf("%s: %v", s.name, took)
		if took > 60*time.Second {
			t.Errorf("%s took %v", s.name, took)
		}
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() > 64<<20 {
		t.Errorf("image: %v (%d bytes for 4 KiB of data and busybox)", err, fi.Size())
	}

	huge := PushImage(t, reg, nil, inputsBusybox(t), inputsSparseLayer(t, 5<<40))
	o, took, rss, err := inputsRun(t, a, 90*time.Second, data, "import", "-o", filepath.Join(dir, "huge.sqsh"), huge.Ref(reg))
	if err == nil || !strings.Contains(o, "more than 4 TiB") || !strings.Contains(o, "GPYXIS_MAX_IMAGE_SIZE") {
		t.Errorf("import of a 5 TiB sparse file: %v\n%s", err, o)
	}
	if took > 60*time.Second || rss > 1<<30 {
		t.Errorf("refusing the 5 TiB file took %v and %d MiB", took, rss>>20)
	}
	can.Check(t)
}
