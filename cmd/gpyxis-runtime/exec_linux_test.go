// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"github.com/gpyxis/gpyxis/internal/testutil"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gpyxis/gpyxis/pkg/namespaces"
	"github.com/gpyxis/gpyxis/pkg/rootfs"
)

// TestMain makes the test binary the runtime when re-executed: the
// container init of rootfs.StartHolder, and `exec` (whose join constructor,
// nsjoin_linux.go, is linked into the test binary too).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && (os.Args[1] == rootfs.InitArg || os.Args[1] == "exec") {
		main()
		os.Exit(0)
	}
	if os.Getenv(printNSEnv) != "" {
		mnt, _ := os.Readlink("/proc/self/ns/mnt")
		cwd, _ := os.Getwd()
		fmt.Println(mnt, cwd, joined(), os.Getenv(joinPIDEnv) == "" && os.Getenv(joinFDEnv) == "")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// printNSEnv makes the test binary print its mount namespace, cwd, whether
// the constructor joined, and whether it cleared its variables.
const printNSEnv = "GPYXIS_TEST_PRINT_NS"

// execAsTesterEnv marks the run of this test binary as the unprivileged user.
const execAsTesterEnv = "GPYXIS_TEST_AS_TESTER"

// busyboxRootfs builds a minimal busybox root filesystem, or skips.
func busyboxRootfs(t *testing.T) string {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("no busybox: apt-get install -y busybox-static")
	}
	if f, err := elf.Open(bb); err == nil {
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Skip("busybox is dynamically linked: apt-get install -y busybox-static")
			}
		}
		f.Close()
	}
	dir := t.TempDir()
	for _, d := range []string{"bin", "proc", "sys", "dev", "tmp", "etc", "run", "var"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := testutil.CopyExecutable(filepath.Join(dir, "bin/busybox"), bb); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"sh", "ls", "cat", "readlink", "grep", "id", "pwd", "echo", "true"} {
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"etc/hosts", "etc/hostname", "etc/resolv.conf", "etc/machine-id"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Symlink("/run", filepath.Join(dir, "var/run"))
	os.Symlink("/run/lock", filepath.Join(dir, "var/lock"))
	return dir
}

// startTestHolder starts a holder of a busybox rootfs and returns it with
// its state file.
func startTestHolder(t *testing.T, m namespaces.IDMap, env []string) (*rootfs.Holder, string) {
	t.Helper()
	var stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	state := filepath.Join(t.TempDir(), "state.json")
	h, err := rootfs.StartHolder(ctx, rootfs.HolderConfig{
		Rootfs: rootfs.Config{Rootfs: busyboxRootfs(t)}, IDMap: m, Env: env, StateFile: state, Stderr: &stderr,
	})
	if err != nil {
		t.Fatalf("StartHolder: %v\nstderr: %s", err, stderr.String())
	}
	t.Cleanup(func() { h.Stop(5 * time.Second) })
	return h, state
}

// runtimeExec runs `exec args...` with the test binary exe as gpyxis-runtime,
// through prefix (setpriv) if given.
func runtimeExec(t *testing.T, prefix []string, exe string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	argv := append(append(prefix, exe, "exec"), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "HOST_ONLY=h")
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("exec %q: %v", args, err)
	}
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}

func readlink(t *testing.T, p string) string {
	t.Helper()
	s, err := os.Readlink(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestExec(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []namespaces.IDMap{namespaces.Identity{}, namespaces.RemapRoot{}} {
		t.Run(m.String(), func(t *testing.T) {
			h, state := startTestHolder(t, m, []string{"PATH=/bin", "FOO=container"})
			proc := "/proc/" + strconv.Itoa(h.Pid)
			uidMap, err := os.ReadFile(proc + "/uid_map")
			if err != nil {
				t.Fatal(err)
			}
			want := []string{
				readlink(t, proc+"/ns/mnt"), readlink(t, proc+"/ns/user"), readlink(t, proc+"/ns/cgroup"),
				strings.Join(strings.Fields(string(uidMap)), " "),
				"Seccomp: 2", strconv.Itoa(m.Inside(os.Getuid())), "/", "FOO=container HOST_ONLY=", "bin dev etc",
			}
			script := `for n in mnt user cgroup; do readlink /proc/self/ns/$n; done
				cat /proc/self/uid_map | { read a b c; echo $a $b $c; }
				grep Seccomp: /proc/self/status | { read a b; echo $a $b; }
				id -u; pwd; echo "FOO=$FOO HOST_ONLY=$HOST_ONLY"; echo $(ls / | grep -E '^(bin|dev|etc)$')`
			for _, target := range []string{state, strconv.Itoa(h.Pid)} {
				out, errOut, code := runtimeExec(t, nil, exe, target, "sh", "-c", script)
				if got := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || strings.Join(got, "|") != strings.Join(want, "|") {
					t.Errorf("exec %s: status %d\ngot  %q\nwant %q\nstderr: %s", target, code, got, want, errOut)
				}
			}

			// Options, the exit status, and "--".
			out, errOut, code := runtimeExec(t, nil, exe, "--env", "FOO=x", "-e", "HOST_ONLY", "--workdir", "/bin",
				"--no-seccomp", state, "--", "sh", "-c", `grep Seccomp: /proc/self/status; echo "$FOO $HOST_ONLY $(pwd)"; exit 7`)
			if code != 7 || !strings.Contains(out, "x h /bin") || !strings.Contains(out, "\t0") {
				t.Errorf("exec with options: status %d, stdout %q, stderr %q", code, out, errOut)
			}
			_, errOut, code = runtimeExec(t, nil, exe, state, "no-such-command")
			if code != 1 || !strings.Contains(errOut, `"no-such-command" not found in the container`) {
				t.Errorf("exec of a missing command: status %d, stderr %q", code, errOut)
			}

			if err := h.Stop(5 * time.Second); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			_, errOut, code = runtimeExec(t, nil, exe, state, "true")
			if code != 1 || !strings.Contains(errOut, "not running") {
				t.Errorf("exec after Stop: status %d, stderr %q", code, errOut)
			}
		})
	}
}

func TestExecUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"123"}, {"--bogus", "1", "true"}} {
		var out bytes.Buffer
		if err := run(&out, append([]string{"exec"}, args...)); !errors.Is(err, errUsage) {
			t.Errorf("exec %q: %v, want a usage error", args, err)
		}
	}
	if err := run(io.Discard, []string{"exec", "/nonexistent/state.json", "true"}); err == nil ||
		!strings.Contains(err.Error(), "read holder state") {
		t.Errorf("exec of a missing state file: %v", err)
	}
}

// TestExecOtherUser checks that root cannot join a container of another user,
// and that another user cannot join root's: both get "not your container".
func TestExecOtherUser(t *testing.T) {
	setpriv := testerSetpriv(t)
	dir := testerDir(t)
	exe := filepath.Join(dir, "x.test")
	if err := testutil.CopyExecutable(exe, "/proc/self/exe"); err != nil {
		t.Fatal(err)
	}
	h, _ := startTestHolder(t, namespaces.Identity{}, []string{"PATH=/bin"})
	_, errOut, code := runtimeExec(t, setpriv, exe, strconv.Itoa(h.Pid), "true")
	if code != 1 || !strings.Contains(errOut, "not your container") {
		t.Errorf("tester exec into root's container: status %d, stderr %q", code, errOut)
	}

	// A holder of tester's: a tester process of its own, in new namespaces.
	sleep := exec.Command(setpriv[0], append(setpriv[1:], "unshare", "-Urm", "sleep", "60")...)
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleep.Process.Kill(); sleep.Wait() }()
	pid := sleep.Process.Pid
	for i := 0; i < 100 && readlinkQuiet("/proc/"+strconv.Itoa(pid)+"/exe") != "/usr/bin/sleep"; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	_, errOut, code = runtimeExec(t, nil, exe, strconv.Itoa(pid), "true")
	if code != 1 || !strings.Contains(errOut, "not your container") {
		t.Errorf("root exec into tester's container: status %d, stderr %q", code, errOut)
	}
}

func readlinkQuiet(p string) string { s, _ := os.Readlink(p); return s }

// testerSetpriv returns the command prefix that runs as tester, or skips.
func testerSetpriv(t *testing.T) []string {
	t.Helper()
	if os.Getenv(execAsTesterEnv) != "" || os.Geteuid() != 0 {
		t.Skip("needs root to switch to tester")
	}
	if _, err := user.Lookup("tester"); err != nil {
		t.Skip("no user tester")
	}
	p, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("no setpriv")
	}
	return []string{p, "--reuid=tester", "--regid=tester", "--init-groups"}
}

// testerDir returns a new directory tester can read.
func testerDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "gpyxis-tester-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestExecAsTester runs the exec tests again as the unprivileged user tester.
func TestExecAsTester(t *testing.T) {
	setpriv := testerSetpriv(t)
	dir := testerDir(t)
	exe := filepath.Join(dir, "x.test")
	if err := testutil.CopyExecutable(exe, "/proc/self/exe"); err != nil {
		t.Fatal(err)
	}
	args := append(setpriv, "env", "HOME=/tmp", execAsTesterEnv+"=1", exe, "-test.count=1", "-test.run=^Test(Exec|Join)")
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	t.Logf("as tester:\n%s", out)
	if err != nil {
		t.Fatalf("exec tests as tester: %v", err)
	}
}

// TestJoinConstructor drives the constructor directly: by PID, and with bad
// input, which must stop the process before main runs.
func TestJoinConstructor(t *testing.T) {
	h, _ := startTestHolder(t, namespaces.Identity{}, nil)
	pid := strconv.Itoa(h.Pid)
	helper := func(env string, files ...*os.File) (string, int) {
		cmd := exec.Command("/proc/self/exe", "-test.run=^$")
		cmd.Env = append(os.Environ(), printNSEnv+"=1", env)
		cmd.ExtraFiles = files
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out)), cmd.ProcessState.ExitCode()
	}
	want := readlink(t, "/proc/"+pid+"/ns/mnt") + " / true true"
	if out, code := helper(joinPIDEnv + "=" + pid); code != 0 || out != want {
		t.Errorf("join by pid: status %d, %q; want %q", code, out, want)
	}
	self := readlink(t, "/proc/self/ns/mnt")
	if out, code := helper("UNRELATED=1"); code != 0 || !strings.HasPrefix(out, self+" ") || !strings.Contains(out, " false ") {
		t.Errorf("unarmed: status %d, %q", code, out)
	}

	open := func(k string) *os.File {
		f, err := os.Open("/proc/" + pid + "/ns/" + k)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	for _, tc := range []struct {
		env   string
		files []*os.File
		want  string
	}{
		{joinFDEnv + "=x", nil, "bad _GPYXIS_JOIN_FD=x"},
		{joinFDEnv + "=3,", nil, "bad _GPYXIS_JOIN_FD=3,"},
		{joinFDEnv + "=", nil, "bad _GPYXIS_JOIN_FD="},
		{joinFDEnv + "=3", []*os.File{null}, "fd 3: not a namespace"},
		{joinFDEnv + "=3,4", []*os.File{open("mnt"), open("user")}, "out of order"},
		{joinPIDEnv + "=0", nil, "bad _GPYXIS_JOIN_PID=0"},
		{joinPIDEnv + "=1073741824", nil, "open /proc/1073741824/ns/user: No such file"},
	} {
		out, code := helper(tc.env, tc.files...)
		if code != 1 || !strings.HasPrefix(out, "gpyxis-runtime: join container: ") || !strings.Contains(out, tc.want) {
			t.Errorf("%s: status %d, %q; want 1 and %q", tc.env, code, out, tc.want)
		}
	}
}
