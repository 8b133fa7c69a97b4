// SPDX-License-Identifier: Apache-2.0

package rootfs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gpyxis/gpyxis/pkg/namespaces"
)

func startHolder(t *testing.T, c HolderConfig) *Holder {
	t.Helper()
	var stderr bytes.Buffer
	c.Stderr = &stderr
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := StartHolder(ctx, c)
	if err != nil {
		t.Fatalf("StartHolder: %v\nstderr: %s", err, stderr.String())
	}
	t.Cleanup(func() { h.Stop(5 * time.Second) })
	return h
}

func TestHolder(t *testing.T) {
	rootfs := newRootfs(t)
	for _, m := range []namespaces.IDMap{namespaces.Identity{}, namespaces.RemapRoot{}} {
		t.Run(m.String(), func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state.json")
			env := []string{"PATH=/bin", "FOO=bar"}
			h := startHolder(t, HolderConfig{Rootfs: Config{Rootfs: rootfs}, IDMap: m, Env: env, StateFile: state})
			self := os.Getpid()
			for _, k := range []namespaces.Kind{namespaces.User, namespaces.Mount, namespaces.Cgroup} {
				if same, err := namespaces.Same(self, h.Pid, k); err != nil || same {
					t.Errorf("holder in our %s namespace (%v, %v)", k, same, err)
				}
			}
			if same, err := namespaces.Same(self, h.Pid, namespaces.Net); err != nil || !same {
				t.Errorf("holder not in our net namespace (%v, %v)", same, err)
			}
			// The holder's root is the busybox rootfs, and it sits in it.
			proc := "/proc/" + strconv.Itoa(h.Pid)
			if _, err := os.Stat(proc + "/root/bin/busybox"); err != nil {
				t.Errorf("holder root: %v", err)
			}
			if cwd, err := os.Readlink(proc + "/cwd"); err != nil || cwd != "/" {
				t.Errorf("holder cwd %q, %v; want /", cwd, err)
			}
			uidMap, err := os.ReadFile(proc + "/uid_map")
			must(t, err)
			want := strconv.Itoa(m.Inside(os.Geteuid())) + " " + strconv.Itoa(os.Geteuid()) + " 1"
			if got := string(bytes.Join(bytes.Fields(uidMap), []byte(" "))); got != want {
				t.Errorf("uid_map %q, want %q", got, want)
			}
			if got, err := ProcEnv(h.Pid); err != nil || !slices.Equal(got, env) {
				t.Errorf("holder environ %q (%v), want %q", got, err, env)
			}
			s, err := ReadState(state)
			must(t, err)
			if s.Pid != h.Pid || s.IDMap != m.String() || s.Rootfs != rootfs || s.Dir != "/" ||
				!slices.Equal(s.Env, env) || s.UID != os.Geteuid() || s.StartTime == 0 {
				t.Errorf("state %+v", s)
			}
			must(t, s.Check())
			if err := h.Stop(5 * time.Second); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if err := s.Check(); !errors.Is(err, ErrHolderGone) {
				t.Fatalf("Check after Stop = %v, want ErrHolderGone", err)
			}
			if err := StopHolder(s); !errors.Is(err, ErrHolderGone) {
				t.Fatalf("StopHolder after Stop = %v, want ErrHolderGone", err)
			}
		})
	}
}

func TestHolderDetach(t *testing.T) {
	h := startHolder(t, HolderConfig{Rootfs: Config{Rootfs: newRootfs(t)}})
	must(t, h.Detach())
	time.Sleep(100 * time.Millisecond)
	must(t, h.State.Check()) // still there without its socket
	stale := h.State
	stale.StartTime++
	if err := StopHolder(&stale); !errors.Is(err, ErrHolderGone) {
		t.Fatalf("StopHolder with a wrong start time = %v, want ErrHolderGone", err)
	}
	must(t, StopHolder(&h.State))
	select {
	case <-h.done:
		if h.err != nil {
			t.Fatalf("holder exit: %v", h.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("holder still running after SIGTERM")
	}
}

func TestHolderSetupError(t *testing.T) {
	ctx := context.Background()
	_, err := StartHolder(ctx, HolderConfig{Rootfs: Config{Rootfs: newRootfs(t),
		Mounts: []Mount{{Source: "/nonexistent-gpyxis", Target: "/data", Flags: 4096}}}})
	var ie *InitError
	if !errors.As(err, &ie) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("StartHolder with a missing mount source = %v, want an InitError with ENOENT", err)
	}
}

func TestProcStartTime(t *testing.T) {
	a, err := ProcStartTime(os.Getpid())
	must(t, err)
	b, err := ProcStartTime(1)
	if err == nil && b > a {
		t.Fatalf("pid 1 started at %d, after us at %d", b, a)
	}
	if _, err := ProcStartTime(1 << 30); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ProcStartTime of a missing pid = %v", err)
	}
}

// TestDetachRequested: a holder reads its runtime's word after the config,
// whose trailing newline may still be in the socket.
func TestDetachRequested(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"", false},
		{"\n", false},
		{"\n" + holdDetach + "\n", true},
		{holdDetach + "\n", true},
		{"\n\n" + holdDetach, true},
		{"other\n" + holdDetach + "\n", false},
	} {
		if got := detachRequested(strings.NewReader(tc.in)); got != tc.want {
			t.Errorf("detachRequested(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
