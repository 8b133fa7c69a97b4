// SPDX-License-Identifier: Apache-2.0

package container

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCommand(t *testing.T) {
	withRC := t.TempDir()
	for _, p := range []string{"etc/rc", "bin/sh"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(withRC, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(withRC, p), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bare := t.TempDir() // no shell: an image with only a static binary
	ep, cmd := []string{"/ep"}, []string{"/cmd", "x"}
	for _, tc := range []struct {
		name   string
		dir    string
		o      RunOptions
		args   []string
		wd     string
		imgDir string
	}{
		{"rc with command", withRC, RunOptions{Args: []string{"ls"}}, []string{"/bin/sh", "/etc/rc", "ls"}, "/w", "/w"},
		{"rc without command", withRC, RunOptions{}, []string{"/bin/sh", "/etc/rc"}, "/", ""},
		{"no entrypoint", withRC, RunOptions{Args: []string{"ls"}, NoEntrypoint: true}, []string{"ls"}, "/", ""},
		{"no shell", bare, RunOptions{Args: []string{"ls"}}, []string{"/ep", "ls"}, "/", ""},
		{"no shell, no command", bare, RunOptions{}, []string{"/ep", "/cmd", "x"}, "/", ""},
		{"workdir given", withRC, RunOptions{Args: []string{"ls"}, Workdir: "/data"}, []string{"/ep", "ls"}, "/data", "/w"},
		{"--rc", withRC, RunOptions{Args: []string{"ls"}, RC: "/host/rc"}, []string{"/bin/sh", "/proc/self/fd/4", "ls"}, "/w", "/w"},
		{"--rc, no image rc", bare, RunOptions{RC: "/host/rc"}, []string{"/bin/sh", "/proc/self/fd/4"}, "/", ""},
		{"--conf rc()", bare, RunOptions{Args: []string{"ls"}, rc: []byte{}}, []string{"/bin/sh", "/proc/self/fd/4", "ls"}, "/", ""},
		{"--rc and --workdir", withRC, RunOptions{Args: []string{"ls"}, RC: "/host/rc", Workdir: "/data"}, []string{"/bin/sh", "/proc/self/fd/4", "ls"}, "/data", "/w"},
	} {
		args, wd := Command(tc.dir, ep, cmd, tc.imgDir, tc.o)
		if !slices.Equal(args, tc.args) || wd != tc.wd {
			t.Errorf("%s: Command = %q in %s, want %q in %s", tc.name, args, wd, tc.args, tc.wd)
		}
	}
}

func TestEnvironment(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/environment"), []byte("PATH=/img\nA=image\nENROOT_X=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TERM", "xterm-test")
	env, err := Environment(dir, []string{"A=flag"}, true)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(env, " ")
	for _, want := range []string{"PATH=/img", "A=flag", "TERM=xterm-test", "HOME=/root", "USER=root"} {
		if !slices.Contains(env, want) {
			t.Errorf("environment %q lacks %s", got, want)
		}
	}
	if strings.Contains(got, "ENROOT_X") {
		t.Errorf("environment %q keeps an ENROOT_ name", got)
	}
	if _, err := Environment(dir, []string{"1BAD=x"}, false); err == nil {
		t.Error("an invalid --env name was accepted")
	}
}

func TestRemoveRootfs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rootfs")
	if err := os.MkdirAll(filepath.Join(dir, "locked", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "locked", "deeper", "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(filepath.Join(dir, "locked", "deeper"), 0)
	_ = os.Chmod(filepath.Join(dir, "locked"), 0o555)
	if err := RemoveRootfs(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("rootfs still there: %v", err)
	}
}
