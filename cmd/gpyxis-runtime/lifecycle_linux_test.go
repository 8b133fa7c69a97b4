// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gpyxis/gpyxis/pkg/container"
	"github.com/gpyxis/gpyxis/pkg/rootfs"
)

func TestConfirm(t *testing.T) {
	for _, tc := range []struct {
		input string
		tty   bool
		want  []bool
	}{
		{"y\nY\nyes\nn\n\nno", false, []bool{true, true, true, false, false, false, false}},
		{"", false, []bool{false, false}}, // </dev/null: no, at once
		{"y", true, []bool{true, false}},  // no newline before the end
	} {
		var prompt bytes.Buffer
		c := confirmer{in: bufio.NewReader(strings.NewReader(tc.input)), prompt: &prompt, tty: tc.tty}
		var got []bool
		for range tc.want {
			got = append(got, c.confirm("delete? "))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("answers %q: %v, want %v", tc.input, got, tc.want)
		}
		if shown := strings.Contains(prompt.String(), "delete? "); shown != tc.tty {
			t.Errorf("answers %q, terminal %v: prompt %q", tc.input, tc.tty, prompt.String())
		}
	}
}

func TestScriptFlagsUsage(t *testing.T) {
	for _, args := range [][]string{
		{"start", "--rc", "/x", "--no-entrypoint", "c", "true"},
		{"run", "--rc", "/x", "--no-entrypoint", "busybox", "true"},
		{"start", "--detach", "c", "true"},
		{"start", "--detach", "--rc", "/x", "c"},
		{"start", "--state", "/x", "c", "true"},
		{"stop"},
		{"stop", "a", "b"},
	} {
		if err := run(&bytes.Buffer{}, args); !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}

func TestStopRefusesOtherProcesses(t *testing.T) {
	err := run(&bytes.Buffer{}, []string{"stop", strconv.Itoa(os.Getpid())})
	if err == nil || !strings.Contains(err.Error(), "not a container holder") {
		t.Errorf("stop of the test process: %v", err)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(os.Getpid())); err != nil {
		t.Fatal(err)
	}
}

// TestStartDetachStop holds a busybox container from the command line, sees
// it in list -f, joins nothing, and stops it.
func TestStartDetachStop(t *testing.T) {
	data := t.TempDir()
	if err := os.Rename(busyboxRootfs(t), filepath.Join(data, "c")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "c", ".lock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "holder.json")
	var out bytes.Buffer
	if err := run(&out, []string{"start", "--data-dir", data, "--detach", "--state", state, "c"}); err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("start --detach printed %q, want a PID", out.String())
	}
	s, err := rootfs.ReadState(state)
	if err != nil || s.Pid != pid || s.Check() != nil {
		t.Fatalf("state %+v %v, want pid %d running", s, err, pid)
	}
	t.Cleanup(func() { rootfs.StopHolder(s) })
	if pids := (container.Store{Dir: data}).Pids("c"); !slices.Contains(pids, pid) {
		t.Errorf("the holder %d is not among c's processes %v", pid, pids)
	}
	out.Reset()
	if err := run(&out, []string{"list", "-f", "--data-dir", data}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "NAME PID COMM STATE STARTED TIME MNTNS USERNS COMMAND" {
		t.Fatalf("list -f:\n%s", out.String())
	}
	mntns, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/mnt")
	f := strings.Fields(lines[1])
	if len(f) < 10 || f[0] != "c" || f[1] != strconv.Itoa(pid) || "mnt:["+f[6]+"]" != mntns || f[len(f)-1] != rootfs.InitArg {
		t.Errorf("list -f row %q, want c, pid %d, %s, ... %s", lines[1], pid, mntns, rootfs.InitArg)
	}
	// A second holder may not take the same state file.
	if err := run(&bytes.Buffer{}, []string{"start", "--data-dir", data, "--detach", "--state", state, "c"}); !errors.Is(err, container.ErrRunning) {
		t.Errorf("second start --detach: %v, want ErrRunning", err)
	}
	if err := run(&bytes.Buffer{}, []string{"stop", state}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the state file is left: %v", err)
	}
	// The holder is this process's child: gone once the starter's goroutine
	// has reaped it.
	for deadline := time.Now().Add(5 * time.Second); s.Check() == nil && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Check(); !errors.Is(err, rootfs.ErrHolderGone) {
		t.Errorf("the holder still runs: %v", err)
	}
	out.Reset()
	if err := run(&out, []string{"list", "-f", "--data-dir", data}); err != nil || !strings.HasSuffix(out.String(), "\nc\n") {
		t.Errorf("list -f of a stopped container: %v %q", err, out.String())
	}
	if err := run(&bytes.Buffer{}, []string{"stop", "--data-dir", data, "c"}); !errors.Is(err, rootfs.ErrHolderGone) {
		t.Errorf("stop of a stopped container: %v, want ErrHolderGone", err)
	}
}
