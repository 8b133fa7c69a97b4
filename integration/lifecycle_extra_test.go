// SPDX-License-Identifier: Apache-2.0

package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gpyxis/gpyxis/integration/harness"
)

// extraContainer creates container NAME of busybox:latest in a new data
// directory and returns a function that runs gpyxis-runtime COMMAND with
// --data-dir set, plus the data directory.
func extraContainer(t *testing.T, name string) (func(env []string, args ...string) (string, error), string) {
	t.Helper()
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	env.RequireImage(t, "busybox", "latest")
	data := t.TempDir()
	rt := func(env []string, args ...string) (string, error) {
		t.Helper()
		return gpyxis(t, env, append([]string{args[0], "--data-dir", data}, args[1:]...)...)
	}
	if out, err := rt(nil, "create", "--insecure", "--cache-dir", sharedCache(t), "--name", name, "docker://"+reg.Host()+"#busybox:latest"); err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	return rt, data
}

func writeTestFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestStartRC runs a host rc script instead of the image's /etc/rc: it gets the
// command as its arguments, the image is left alone, and a missing script stops
// the start before anything runs.
func TestStartRC(t *testing.T) {
	rt, data := extraContainer(t, "rcbox")
	rc := writeTestFile(t, filepath.Join(t.TempDir(), "rc"), `echo "rc-override:$#:$*"; cd /etc; exec "$@"`+"\n")
	out, err := rt(nil, "start", "--rc", rc, "rcbox", "sh", "-c", "pwd")
	if err != nil || out != "rc-override:3:sh -c pwd\n/etc\n" {
		t.Fatalf("start --rc: %v %q; want the rc's line, then the command run from /etc", err, out)
	}
	// Without --rc the image's own /etc/rc runs, unchanged.
	out, err = rt(nil, "start", "rcbox", "cat", "/etc/rc")
	if err != nil || strings.Contains(out, "rc-override") || !strings.Contains(out, `"$@"`) || !strings.Contains(out, "unset OLDPWD") {
		t.Fatalf("the image's /etc/rc after start --rc: %v %q", err, out)
	}
	out, err = rt(nil, "start", "--rw", "--rc", filepath.Join(t.TempDir(), "missing"), "rcbox", "touch", "/started")
	if err == nil || !strings.Contains(out, "rc script") || !strings.Contains(out, "no such file") {
		t.Fatalf("start --rc MISSING: %v %q; want a clear error", err, out)
	}
	if _, err := os.Stat(filepath.Join(data, "rcbox", "started")); err == nil {
		t.Fatal("the command ran although the rc script is missing")
	}
}

// TestRunRCPipe gives run an rc script through a pipe, as <(...) does, like
// enroot accepts.
func TestRunRCPipe(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	env.RequireImage(t, "busybox", "latest")
	bin, err := runtimeBin()
	if err != nil {
		t.Fatal(err)
	}
	script := `"$0" run --insecure --data-dir "$1" --cache-dir "$2" --rc <(echo 'echo "piped:$*"') "$3" a b`
	out, err := exec.Command("bash", "-c", script, bin, t.TempDir(), sharedCache(t), "docker://"+reg.Host()+"#busybox:latest").CombinedOutput()
	if err != nil || string(out) != "piped:a b\n" {
		t.Fatalf("run --rc <(...): %v %q", err, out)
	}
}

// TestStartConf checks a configuration script's four functions: environ() adds
// to the environment (--env still wins), hooks() runs with enroot's contract and
// adds a variable, mounts() binds a host directory (--mount on the same target
// comes after it and wins), rc() replaces /etc/rc; #ENROOT_ directives apply.
// Errors name the function.
func TestStartConf(t *testing.T) {
	rt, _ := extraContainer(t, "confbox")
	dir := t.TempDir()
	for _, d := range []string{"a", "b"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
		writeTestFile(t, filepath.Join(dir, d, "which"), d+"\n")
	}
	seen := filepath.Join(dir, "hook-saw")
	conf := writeTestFile(t, filepath.Join(dir, "conf.sh"), `
environ() {
	echo "CONF_VAR=from-environ"
	echo "CONF_ROOTFS=${ENROOT_ROOTFS}"
}
mounts() {
	echo "`+dir+`/a /conf-mnt none x-create=dir,bind,ro"
}
hooks() {
	echo "HOOK_VAR=from-hooks" >> "${ENROOT_ENVIRON}"
	echo "${ENROOT_PID} ${ENROOT_ROOTFS}" > "`+seen+`"
}
rc() {
	echo "conf-rc"
	exec "$@"
}
`)
	out, err := rt(nil, "start", "--conf", conf, "confbox", "sh", "-c", `echo "$CONF_VAR $HOOK_VAR $CONF_ROOTFS"; cat /conf-mnt/which`)
	if err != nil {
		t.Fatalf("start --conf: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || lines[0] != "conf-rc" || !strings.HasPrefix(lines[1], "from-environ from-hooks /") ||
		!strings.HasSuffix(lines[1], "/confbox") || lines[2] != "a" {
		t.Fatalf("start --conf output %q; want rc(), environ() and hooks() variables, the mounts() bind", out)
	}
	hook := strings.Fields(strings.TrimSpace(readTestFile(t, seen)))
	if len(hook) != 2 || hook[0] == "" || hook[1] != strings.TrimPrefix(lines[1], "from-environ from-hooks ") {
		t.Errorf("hooks() saw ENROOT_PID ENROOT_ROOTFS = %q", hook)
	}
	out, err = rt(nil, "start", "--conf", conf, "-e", "CONF_VAR=from-flag", "-m", dir+"/b:/conf-mnt", "confbox",
		"sh", "-c", `echo "$CONF_VAR"; cat /conf-mnt/which`)
	if err != nil || out != "conf-rc\nfrom-flag\nb\n" {
		t.Fatalf("start --conf with --env and --mount: %v %q; want them to win", err, out)
	}
	// enroot's #ENROOT_ directives override the configuration; the command line overrides them.
	directives := writeTestFile(t, filepath.Join(dir, "directives.sh"), "#ENROOT_REMAP_ROOT=y\n#ENROOT_ROOTFS_WRITABLE=y\n")
	out, err = rt(nil, "start", "--conf", directives, "confbox", "sh", "-c", "id -u; touch /written && echo writable")
	if err != nil || out != "0\nwritable\n" {
		t.Fatalf("start --conf with #ENROOT_REMAP_ROOT=y and #ENROOT_ROOTFS_WRITABLE=y: %v %q", err, out)
	}
	out, err = rt(nil, "start", "--conf", directives, "--remap-root=false", "confbox", "id", "-u")
	if err != nil || out != strconv.Itoa(os.Getuid())+"\n" {
		t.Fatalf("--remap-root=false over #ENROOT_REMAP_ROOT=y: %v %q", err, out)
	}
	bad := writeTestFile(t, filepath.Join(dir, "bad.sh"), "environ() { echo 'environ broke' >&2; return 5; }\n")
	out, err = rt(nil, "start", "--conf", bad, "confbox", "true")
	if err == nil || !strings.Contains(out, "environ()") || !strings.Contains(out, "environ broke") {
		t.Fatalf("start with a failing environ(): %v %q", err, out)
	}
	syntax := writeTestFile(t, filepath.Join(dir, "syntax.sh"), "mounts() {\n")
	out, err = rt(nil, "start", "--conf", syntax, "confbox", "true")
	if err == nil || !strings.Contains(out, "bash -n") {
		t.Fatalf("start with a script bash -n refuses: %v %q", err, out)
	}
}

func readTestFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestListFancy checks enroot's list -f columns against /proc for a container
// running two processes: its command and one that joined it with exec (a
// continuation row, without the name). Plain list stays names only.
func TestListFancy(t *testing.T) {
	rt, data := extraContainer(t, "listbox")
	bin, err := runtimeBin()
	if err != nil {
		t.Fatal(err)
	}
	sleeper := exec.Command(bin, "start", "--data-dir", data, "listbox", "sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() }()
	var list, pid string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && pid == ""; time.Sleep(100 * time.Millisecond) {
		list, _ = rt(nil, "list", "-f")
		if m := regexp.MustCompile(`(?m)^listbox\s+(\d+)\s.*sleep 60$`).FindStringSubmatch(list); m != nil {
			pid = m[1]
		}
	}
	if pid == "" {
		t.Fatalf("list -f never showed sleep 60:\n%s", list)
	}
	joiner := exec.Command(bin, "exec", pid, "sleep", "50")
	if err := joiner.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = joiner.Process.Kill(); _ = joiner.Wait() }()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !strings.Contains(list, "sleep 50"); time.Sleep(100 * time.Millisecond) {
		list, _ = rt(nil, "list", "-f")
	}
	lines := strings.Split(strings.TrimRight(list, "\n"), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "NAME PID COMM STATE STARTED TIME MNTNS USERNS COMMAND" {
		t.Fatalf("list -f:\n%s\nwant a header and two processes", list)
	}
	ns := func(pid, kind string) string {
		l, _ := os.Readlink("/proc/" + pid + "/ns/" + kind)
		return strings.TrimSuffix(strings.TrimPrefix(l, kind+":["), "]")
	}
	started := regexp.MustCompile(`^\d\d:\d\d:\d\d$`)
	for i, want := range []struct{ name, pid, command string }{
		{"listbox", pid, "sleep 60"}, {"", strconv.Itoa(joiner.Process.Pid), "sleep 50"},
	} {
		f := strings.Fields(lines[i+1])
		if want.name == "" { // the continuation row starts with blanks
			f = append([]string{""}, f...)
		}
		if len(f) != 10 || f[0] != want.name || f[1] != want.pid || f[2] != "sleep" || !strings.HasPrefix(f[3], "S") ||
			!started.MatchString(f[4]) || f[5] != "00:00:00" || f[6] != ns(want.pid, "mnt") || f[7] != ns(want.pid, "user") ||
			strings.Join(f[8:], " ") != want.command {
			t.Errorf("list -f row %q; want %s pid %s, sleep, S..., HH:MM:SS, 00:00:00, mntns %s, userns %s, %q",
				lines[i+1], want.name, want.pid, ns(want.pid, "mnt"), ns(want.pid, "user"), want.command)
		}
	}
	if out, err := rt(nil, "list"); err != nil || out != "listbox\n" {
		t.Errorf("list: %v %q; want the name alone", err, out)
	}
}

// TestRemoveConfirmation removes without -f: a closed standard input answers no
// at once (no hang, the container stays), "n" keeps it, "y" removes it, as
// enroot's read from a non-terminal does.
func TestRemoveConfirmation(t *testing.T) {
	_, data := extraContainer(t, "rmbox")
	bin, err := runtimeBin()
	if err != nil {
		t.Fatal(err)
	}
	remove := func(stdin string, closed bool) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "remove", "--data-dir", data, "rmbox")
		if !closed {
			cmd.Stdin = strings.NewReader(stdin)
		}
		out, err := cmd.CombinedOutput()
		if ctx.Err() != nil {
			t.Fatalf("remove with input %q hung", stdin)
		}
		return string(out), err
	}
	for _, in := range []struct {
		stdin  string
		closed bool
	}{{"", true}, {"n\n", false}, {"", false}} {
		out, err := remove(in.stdin, in.closed)
		if err == nil || !strings.Contains(out, "not removed") || strings.Contains(out, "[y/N]") {
			t.Errorf("remove with input %q: %v %q; want refused, without a prompt", in.stdin, err, out)
		}
		if _, err := os.Stat(filepath.Join(data, "rmbox")); err != nil {
			t.Fatalf("the container is gone after input %q: %v", in.stdin, err)
		}
	}
	if out, err := remove("y\n", false); err != nil {
		t.Fatalf("remove, answering y: %v %q", err, out)
	}
	if _, err := os.Stat(filepath.Join(data, "rmbox")); !os.IsNotExist(err) {
		t.Fatalf("the container is still there after y: %v", err)
	}
}

// TestStartDetach holds a container from the command line: start --detach
// prints the holder's PID and writes its state file under the runtime path
// (without keeping the caller's output open), exec joins it with the
// environment of --env and --conf, a held container cannot be removed, and stop
// ends the holder and removes the state file.
func TestStartDetach(t *testing.T) {
	rt, _ := extraContainer(t, "heldbox")
	runtimeDir := filepath.Join(t.TempDir(), "runtime")
	env := []string{"ENROOT_RUNTIME_PATH=" + runtimeDir}
	conf := writeTestFile(t, filepath.Join(t.TempDir(), "conf.sh"), "environ() { echo FROM_CONF=yes; }\n")
	done := make(chan struct{})
	var out string
	var err error
	go func() {
		defer close(done)
		out, err = rt(env, "start", "--detach", "-e", "HELD_VAR=held", "--conf", conf, "heldbox")
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("start --detach did not return: the holder keeps its output open?")
	}
	if err != nil {
		t.Fatalf("start --detach: %v\n%s", err, out)
	}
	pid := strings.TrimSpace(out)
	if _, err := strconv.Atoi(pid); err != nil {
		t.Fatalf("start --detach printed %q, want the holder's PID", out)
	}
	defer exec.Command("kill", pid).Run()
	state := filepath.Join(runtimeDir, "holder.heldbox.json")
	if s := readTestFile(t, state); !strings.Contains(s, `"pid": `+pid+",") {
		t.Fatalf("state file %s:\n%s\nwant pid %s", state, s, pid)
	}
	for _, target := range []string{pid, state} {
		got, err := gpyxis(t, nil, "exec", target, "sh", "-c", `echo "$HELD_VAR $FROM_CONF"; readlink /proc/self/ns/mnt`)
		mnt, _ := os.Readlink("/proc/" + pid + "/ns/mnt")
		if err != nil || got != "held yes\n"+mnt+"\n" {
			t.Fatalf("exec %s: %v %q; want the container's environment and mount namespace %s", target, err, got, mnt)
		}
	}
	if list, _ := rt(nil, "list", "-f"); !regexp.MustCompile(`(?m)^heldbox\s+` + pid + `\s`).MatchString(list) {
		t.Errorf("list -f does not show the holder %s:\n%s", pid, list)
	}
	if out, err := rt(nil, "remove", "-f", "heldbox"); err == nil || !strings.Contains(out, "running") {
		t.Fatalf("remove of a held container: %v %q; want refused", err, out)
	}
	if out, err := rt(env, "stop", "heldbox"); err != nil {
		t.Fatalf("stop: %v\n%s", err, out)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("stop left the state file: %v", err)
	}
	if list, _ := rt(nil, "list", "-f"); strings.Contains(list, pid) {
		t.Errorf("list -f after stop still shows %s:\n%s", pid, list)
	}
	if out, err := rt(env, "stop", "heldbox"); err == nil || !strings.Contains(out, "not running") {
		t.Errorf("second stop: %v %q; want not running", err, out)
	}
	if out, err := rt(nil, "remove", "-f", "heldbox"); err != nil {
		t.Fatalf("remove after stop: %v\n%s", err, out)
	}
}
