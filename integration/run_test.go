// SPDX-License-Identifier: Apache-2.0

package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gpyxis/gpyxis/integration/harness"
)

// runIn runs `gpyxis-runtime run` with a private data dir and returns its output.
func runIn(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	data := t.TempDir()
	out, err := gpyxis(t, env, append([]string{"run", "--insecure", "--data-dir", data, "--cache-dir", sharedCache(t)}, args...)...)
	if entries, _ := os.ReadDir(data); len(entries) != 0 {
		t.Errorf("run left %d entries in its data directory", len(entries))
	}
	return out, err
}

// sharedCache is one blob cache for the run tests of this process (they pull the same
// images), in a directory the test user owns.
func sharedCache(t *testing.T) string {
	t.Helper()
	cacheOnce.Do(func() { cacheDir, cacheErr = os.MkdirTemp("", "gpyxis-run-cache") })
	if cacheErr != nil {
		t.Fatal(cacheErr)
	}
	return cacheDir
}

var (
	cacheOnce sync.Once
	cacheDir  string
	cacheErr  error
)

// TestRun runs commands in debian:bookworm as the caller and as remapped root: the
// ID maps, the seccomp filter, the read-only rootfs, the host's network.
func TestRun(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	env.RequireImage(t, "debian", "bookworm")
	img := "docker://" + reg.Host() + "#debian:bookworm"
	uid := os.Geteuid()
	for _, tc := range []struct {
		name  string
		flags []string
		inner int
	}{{"identity", nil, uid}, {"remap-root", []string{"--remap-root"}, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			script := `. /etc/os-release; echo $PRETTY_NAME; id -u; cat /proc/self/uid_map; grep Seccomp: /proc/self/status;
				touch /tmp/t && chown 1234 /tmp/t && echo chown-ok; touch /ro 2>&1; wc -l < /proc/net/dev`
			out, err := runIn(t, nil, append(tc.flags, img, "sh", "-c", script)...)
			if err != nil {
				t.Fatalf("run: %v\n%s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			hostDev, _ := os.ReadFile("/proc/net/dev")
			want := []string{"Debian GNU/Linux 12 (bookworm)", strconv.Itoa(tc.inner),
				strconv.Itoa(tc.inner) + " " + strconv.Itoa(uid) + " 1", "Seccomp: 2", "chown-ok",
				"touch: cannot touch '/ro': Read-only file system", strconv.Itoa(strings.Count(string(hostDev), "\n"))}
			if len(lines) != len(want) {
				t.Fatalf("output:\n%s\nwant %d lines", out, len(want))
			}
			for i := range want {
				if got := strings.Join(strings.Fields(lines[i]), " "); got != strings.Join(strings.Fields(want[i]), " ") {
					t.Errorf("line %d = %q, want %q", i, lines[i], want[i])
				}
			}
		})
	}
}

// TestRunWritableDpkg installs a .deb with dpkg as remapped root in a writable rootfs,
// the package manager case the seccomp filter exists for.
func TestRunWritableDpkg(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	env.RequireImage(t, "debian", "bookworm")
	deb, err := filepath.Glob(filepath.Join(env.Dir, "debs", "hello_*.deb"))
	if err != nil || len(deb) == 0 {
		t.Fatalf("no hello .deb in %s/debs: run sudo integration/infra/images-build.sh", env.Dir)
	}
	f, err := os.Open(deb[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bin, err := runtimeBin()
	if err != nil {
		t.Fatal(err)
	}
	cmd := execCommand(bin, "run", "--insecure", "--data-dir", t.TempDir(), "--cache-dir", sharedCache(t), "--remap-root", "--rw",
		"docker://"+reg.Host()+"#debian:bookworm", "sh", "-c", "cat > /tmp/hello.deb && dpkg -i /tmp/hello.deb >/dev/null && hello")
	cmd.Stdin = f
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Hello, world!") {
		t.Fatalf("dpkg -i and run hello: %v\n%s", err, out)
	}
}

// TestRunEntrypointAndEnv checks enroot's /etc/rc semantics and environment order on
// the NGC-like image: the entrypoint banner, WORKDIR, image Env, --env, and
// --no-entrypoint.
func TestRunEntrypointAndEnv(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	env.RequireImage(t, "pytorch-like", "latest")
	img := "docker://" + reg.Host() + "#pytorch-like:latest"
	out, err := runIn(t, []string{"GPYXIS_TEST_HOST=from-host"}, "--env", "CUDA_VERSION=override", "--env", "GPYXIS_TEST_HOST",
		img, "sh", "-c", `pwd; echo $PYTORCH_VERSION $CUDA_VERSION $GPYXIS_TEST_HOST`)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	if !strings.Contains(out, "== PyTorch (gpyxis test image) ==") || !strings.Contains(out, "/workspace\n2.5.0 override from-host\n") {
		t.Fatalf("with the entrypoint: %q; want the banner, /workspace, image env and --env values", out)
	}
	out, err = runIn(t, nil, "--no-entrypoint", img, "sh", "-c", "echo no-banner")
	if err != nil || strings.Contains(out, "PyTorch") || !strings.Contains(out, "no-banner") {
		t.Fatalf("--no-entrypoint: %v %q; want the command alone", err, out)
	}
	out, err = runIn(t, nil, img, "sh", "-c", "exit 7")
	if err == nil || !strings.Contains(err.Error(), "exit status 7") {
		t.Fatalf("exit status: %v %q; want 7 passed on", err, out)
	}
}

// TestRunMountsAndErrors checks --mount (rw, ro) and the errors a user meets.
func TestRunMountsAndErrors(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	env.RequireImage(t, "busybox", "latest")
	img := "docker://" + reg.Host() + "#busybox:latest"
	host := t.TempDir()
	if err := os.Chmod(host, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(host, "in"), []byte("from host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runIn(t, nil, "--mount", host+":/data", "--mount", host+":/ro:none:x-create=dir,bind,ro", img,
		"sh", "-c", "cat /data/in && echo written > /data/out && (touch /ro/x 2>&1 || true)")
	if err != nil || !strings.Contains(out, "from host") || !strings.Contains(out, "Read-only file system") {
		t.Fatalf("mounts: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(host, "out")); string(b) != "written\n" {
		t.Fatalf("the rw mount did not write through to the host: %q", b)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--mount", "/nonexistent-gpyxis:/x", img, "true"}, "/nonexistent-gpyxis"},
		{[]string{"--no-entrypoint", img, "no-such-command"}, `"no-such-command" not found`},
		{[]string{img, "no-such-command"}, "no-such-command: not found"}, // the shell running /etc/rc says it, status 127
		{[]string{"--env", "1BAD=x", img, "true"}, "invalid environment variable"},
		{[]string{"docker://" + reg.Host() + "#busybox:nope", "true"}, "not found"},
	} {
		if out, err := runIn(t, nil, tc.args...); err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("run %q: %v %q; want a failure mentioning %q", tc.args, err, out, tc.want)
		}
	}
}

// TestMain removes what the tests of this package share once they are done.
func TestMain(m *testing.M) {
	code := m.Run()
	if cacheDir != "" {
		_ = os.RemoveAll(cacheDir)
	}
	os.Exit(code)
}

// TestRunHooks checks the builtin hooks on a real start: shadow gives the user a passwd
// entry, cgroups binds the user's cgroup tree read-only, MOUNT_HOME binds $HOME.
func TestRunHooks(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	env.RequireImage(t, "debian", "bookworm")
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "marker"), []byte("home\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runIn(t, []string{"HOME=" + home, "GPYXIS_MOUNT_HOME=1"}, "docker://"+reg.Host()+"#debian:bookworm", "sh", "-c",
		`grep -c "^$(id -un):x:$(id -u):" /etc/passwd; cat "$HOME/marker"; grep -c ' /sys/fs/cgroup[^ ]* [^ ]* ro' /proc/self/mounts`)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	f := strings.Fields(out)
	if len(f) != 3 || f[0] != "1" || f[1] != "home" || f[2] == "0" {
		t.Fatalf("hooks: %q; want one passwd entry for the user, $HOME bound, read-only cgroup mounts", out)
	}
}

// TestRunSiteConfig checks the user configuration directory: environ.d files (with
// ${VAR} from the host), mounts.d fstab files and a hooks.d executable with enroot's
// contract (ENROOT_ROOTFS, ENROOT_ENVIRON).
func TestRunSiteConfig(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	env.RequireImage(t, "busybox", "latest")
	conf := t.TempDir()
	shared := t.TempDir()
	if err := os.WriteFile(filepath.Join(shared, "f"), []byte("site mount\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"gpyxis/environ.d/10-site.env":  "FROM_ENVIRON_D=yes\nSITE_HOME=${GPYXIS_TEST_VAR}\n",
		"gpyxis/mounts.d/10-site.fstab": shared + " /site none x-create=dir,bind,ro\n",
		"gpyxis/hooks.d/10-site.sh":     "#!/bin/sh\ntest -d \"$ENROOT_ROOTFS/etc\" && echo FROM_HOOK=$GPYXIS_ROOTFS >> \"$ENROOT_ENVIRON\"\n",
	}
	for name, body := range files {
		p := filepath.Join(conf, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out, err := runIn(t, []string{"XDG_CONFIG_HOME=" + conf, "GPYXIS_TEST_VAR=substituted"}, "docker://"+reg.Host()+"#busybox:latest",
		"sh", "-c", `echo $FROM_ENVIRON_D $SITE_HOME; test -n "$FROM_HOOK" && echo hook-ran; cat /site/f`)
	if err != nil || !strings.Contains(out, "yes substituted\nhook-ran\nsite mount\n") {
		t.Fatalf("site configuration: %v\n%s", err, out)
	}
}

// TestRunRestrictDev checks RESTRICT_DEV: a minimal /dev with its links, and the host's
// other devices out of sight.
func TestRunRestrictDev(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	env.RequireImage(t, "busybox", "latest")
	out, err := runIn(t, []string{"GPYXIS_RESTRICT_DEV=1"}, "docker://"+reg.Host()+"#busybox:latest", "sh", "-c",
		`ls /dev | tr '\n' ' '; readlink /dev/fd; echo x > /dev/null && echo null-ok`)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	for _, want := range []string{"null ", "zero ", "urandom ", "pts ", "stdin ", "/proc/self/fd\n", "null-ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("restricted /dev: %q lacks %q", out, want)
		}
	}
	if strings.Contains(out, "loop0") || strings.Contains(out, "vda") {
		t.Errorf("restricted /dev shows host devices: %q", out)
	}
}

// TestRunNvidiaHook runs the nvidia hook against a stand-in nvidia-container-cli (no
// GPU here): it must run inside the container's mount namespace, before pivot_root,
// with enroot's arguments and the rootfs path last, and what it adds must show inside.
func TestRunNvidiaHook(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	env.RequireImage(t, "busybox", "latest")
	bin := t.TempDir()
	report := filepath.Join(t.TempDir(), "report")
	script := "#!/bin/sh\nfor a; do root=$a; done\n" +
		"{ echo \"$*\"; readlink /proc/self/ns/mnt; } > " + report + "\n" +
		"echo gpu > \"$root/etc/nvidia-was-here\"\n"
	if err := os.WriteFile(filepath.Join(bin, "nvidia-container-cli"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	hostNS, _ := os.Readlink("/proc/self/ns/mnt")
	out, err := runIn(t, []string{"PATH=" + bin + ":" + os.Getenv("PATH"), "NVIDIA_VISIBLE_DEVICES=all",
		"NVIDIA_DRIVER_CAPABILITIES=compute,utility"}, "docker://"+reg.Host()+"#busybox:latest", "cat", "/etc/nvidia-was-here")
	if err != nil || out != "gpu\n" {
		t.Fatalf("run with the nvidia hook: %v %q", err, out)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "--user configure --no-cgroups") || !strings.Contains(lines[0], "--device=all") ||
		!strings.Contains(lines[0], "--compute") || lines[1] == hostNS {
		t.Fatalf("nvidia-container-cli ran as %q in %q (host %q); want enroot's arguments, inside the container", lines[0], lines[len(lines)-1], hostNS)
	}
}
