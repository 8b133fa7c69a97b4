// SPDX-License-Identifier: Apache-2.0

package container

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/pkg/environ"
	"github.com/gpyxis/gpyxis/pkg/hooks"
)

func writeConf(t *testing.T, script string) string {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed")
	}
	p := filepath.Join(t.TempDir(), "conf.sh")
	if err := os.WriteFile(p, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadRC(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadRC(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
	if _, err := ReadRC(dir); err == nil || !strings.Contains(err.Error(), "not a regular file or a pipe") {
		t.Errorf("directory: %v", err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadRC(empty); err != nil || b == nil {
		t.Errorf("empty file: %q %v, want a non-nil empty script", b, err)
	}
	// A pipe, as a shell's <(...) gives.
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			f.WriteString("exec \"$@\"\n")
			f.Close()
		}
	}()
	if b, err := ReadRC(fifo); err != nil || string(b) != "exec \"$@\"\n" {
		t.Errorf("pipe: %q %v", b, err)
	}
}

func TestCheckConf(t *testing.T) {
	good := writeConf(t, "environ() { echo A=1; }\n")
	if p, err := CheckConf(good); err != nil || p != good {
		t.Errorf("CheckConf(good) = %q, %v", p, err)
	}
	bad := writeConf(t, "environ() { echo A=1;\n")
	if _, err := CheckConf(bad); err == nil || !strings.Contains(err.Error(), "bash -n") || !strings.Contains(err.Error(), "syntax error") {
		t.Errorf("CheckConf(bad) = %v, want bash -n's syntax error", err)
	}
	if _, err := CheckConf(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("CheckConf(missing) = %v", err)
	}
}

func TestConfFunctions(t *testing.T) {
	path := writeConf(t, `echo sourced  # goes to stderr, not into environ()
top_args="$*" # the container's command, as in enroot
environ() {
	echo "A=conf"
	echo "B='x y'"
	echo "ENROOT_SECRET=1"
	echo 'LIT=${HOME}'
	echo "ROOT=$ENROOT_ROOTFS"
	echo "ARGS=$top_args"
}
mounts() {
	echo "/src /dst none x-create=dir,bind,ro"
	echo "/sys2 /sys2 none bind 0 -1"
}
rc() {
	cd /data
	exec "$@"
}
`)
	var stderr bytes.Buffer
	c := newConf(path, "/the/rootfs", []string{"a", "b"}, &stderr)
	env := environ.New()
	env.Set("A", "image")
	if err := c.environ(env); err != nil {
		t.Fatal(err)
	}
	want := []string{"A=conf", "ARGS=a b", "B=x y", "LIT=${HOME}", "ROOT=/the/rootfs"}
	if got := env.List(); !slices.Equal(slices.Sorted(slices.Values(got)), want) {
		t.Errorf("environ() gave %q, want %q", got, want)
	}
	if stderr.String() != "sourced\n" {
		t.Errorf("stderr %q, want the script's own output", stderr.String())
	}
	m, err := c.mounts()
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || m[0].Source != "/src" || m[0].Target != "/dst" {
		t.Errorf("mounts() gave %+v, want /src on /dst only (pass -1 left out)", m)
	}
	rc, err := c.rc()
	if err != nil {
		t.Fatal(err)
	}
	if string(rc) != "    cd /data;\n    exec \"$@\"\n" {
		t.Errorf("rc() body %q", rc)
	}
}

func TestConfUndefined(t *testing.T) {
	c := newConf(writeConf(t, "# nothing\n"), "/r", nil, nil)
	env := environ.New()
	if err := c.environ(env); err != nil || len(env.List()) != 0 {
		t.Errorf("environ: %q %v", env.List(), err)
	}
	if m, err := c.mounts(); err != nil || len(m) != 0 {
		t.Errorf("mounts: %+v %v", m, err)
	}
	if rc, err := c.rc(); err != nil || rc != nil {
		t.Errorf("rc: %q %v, want nil", rc, err)
	}
	var none *confScript // no --conf
	if none.hook() != nil || none.environ(env) != nil {
		t.Error("a nil script did something")
	}
}

func TestConfErrors(t *testing.T) {
	c := newConf(writeConf(t, "environ() { echo 'oops from environ' >&2; return 3; }\nmounts() { echo 'not a valid line' x y z w v u; }\nhooks() { false; echo never; }\n"), "/r", nil, nil)
	err := c.environ(environ.New())
	if err == nil || !strings.Contains(err.Error(), "environ()") || !strings.Contains(err.Error(), "exit status 3") ||
		!strings.Contains(err.Error(), "oops from environ") {
		t.Errorf("environ() error = %v, want the function, its status and its stderr", err)
	}
	if _, err := c.mounts(); err == nil || !strings.Contains(err.Error(), "mounts()") {
		t.Errorf("mounts() error = %v", err)
	}
	// hooks() runs with errexit, as in enroot: false stops it.
	hctx := &hooks.Context{Rootfs: t.TempDir(), Env: environ.New()}
	err = hooks.RunAll(hctx, []hooks.Hook{c.hook()})
	if err == nil || !strings.Contains(err.Error(), "hooks() exited with return code 1") {
		t.Errorf("hooks() error = %v", err)
	}
}

func TestConfEnvironmentOrder(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/environment"), []byte("A=image\nB=image\nC=image\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := newConf(writeConf(t, "environ() { echo B=conf; echo C=conf; }\n"), dir, nil, nil)
	env, err := environment(dir, []string{"C=flag"}, false, c)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"A=image", "B=conf", "C=flag"} {
		if !slices.Contains(env.List(), want) {
			t.Errorf("environment %q lacks %s", env.List(), want)
		}
	}
}

func TestConfDirectives(t *testing.T) {
	path := writeConf(t, `#!/usr/bin/env bash
#ENROOT_REMAP_ROOT=y
# ENROOT_ROOTFS_WRITABLE "no"
#ENROOT_MOUNT_HOME=
#  not a directive: ENROOT_X=1
ENROOT_RESTRICT_DEV=y
#ENROOT_lower=1
`)
	d, err := ConfDirectives(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"REMAP_ROOT": "y", "ROOTFS_WRITABLE": "no", "MOUNT_HOME": ""}
	if len(d) != len(want) {
		t.Errorf("directives %q, want %q", d, want)
	}
	for k, v := range want {
		if got, ok := d[k]; !ok || got != v {
			t.Errorf("directive %s = %q (%v), want %q", k, got, ok, v)
		}
	}
	for v, want := range map[string]bool{"y": true, "yes": true, "1": true, "0": true, "": false, "n": false, "No": false, "false": false, "FALSE": false, "F": false} {
		if DirectiveBool(v) != want {
			t.Errorf("DirectiveBool(%q) = %v", v, !want)
		}
	}
}
