// SPDX-License-Identifier: Apache-2.0

package namespaces

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// startHelper starts the test binary as a waiting helper with
// SysProcAttr(m, euid, egid, u) and returns its pid.
func startHelper(t *testing.T, m IDMap, u Unshare) int {
	t.Helper()
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = []string{helperEnv + "=wait"}
	cmd.SysProcAttr = SysProcAttr(m, os.Geteuid(), os.Getegid(), u)
	w, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper: %v", err)
	}
	t.Cleanup(func() {
		w.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper: %v", err)
		}
	})
	return cmd.Process.Pid
}

func readProc(t *testing.T, pid int, name string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLiveNamespaces(t *testing.T) {
	uid, gid := os.Geteuid(), os.Getegid()
	for _, tc := range []struct {
		m     IDMap
		inner int
	}{{Identity{}, uid}, {RemapRoot{}, 0}} {
		t.Run(tc.m.String(), func(t *testing.T) {
			pid := startHelper(t, tc.m, Unshare{})
			if got, want := strings.Fields(readProc(t, pid, "uid_map")), []string{strconv.Itoa(tc.inner), strconv.Itoa(uid), "1"}; strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("uid_map = %v, want %v", got, want)
			}
			innerG := gid
			if tc.inner == 0 {
				innerG = 0
			}
			if got := strings.Join(strings.Fields(readProc(t, pid, "gid_map")), " "); got != fmt.Sprintf("%d %d 1", innerG, gid) {
				t.Errorf("gid_map = %q", got)
			}
			if got := strings.TrimSpace(readProc(t, pid, "setgroups")); got != "deny" {
				t.Errorf("setgroups = %q, want deny", got)
			}
			for _, k := range []Kind{User, Mount, Cgroup} {
				if same, err := Same(os.Getpid(), pid, k); err != nil || same {
					t.Errorf("%s namespace shared with the host (err %v)", k, err)
				}
			}
			for _, k := range []Kind{Net, IPC, UTS, PID} {
				if same, err := Same(os.Getpid(), pid, k); err != nil || !same {
					t.Errorf("%s namespace not shared with the host (err %v)", k, err)
				}
			}
			amb := statusField(readProc(t, pid, "status"), "CapAmb")
			if wantAmb := tc.inner != 0; (amb != "0000000000000000") != wantAmb {
				t.Errorf("CapAmb = %s, want ambient caps %v", amb, wantAmb)
			}
		})
	}
}

func TestLiveUnshareAll(t *testing.T) {
	u := Unshare{IPC: true, UTS: true, Net: true, PID: true}
	pid := startHelper(t, RemapRoot{}, u)
	for _, k := range []Kind{User, Mount, Cgroup, Net, IPC, UTS} {
		if same, err := Same(os.Getpid(), pid, k); err != nil || same {
			t.Errorf("%s namespace shared with the host (err %v)", k, err)
		}
	}
	// The helper is PID 1 of its own PID namespace: NSpid lists both pids.
	if got := statusField(readProc(t, pid, "status"), "NSpid"); got != fmt.Sprintf("%d\t1", pid) {
		t.Errorf("NSpid = %q", got)
	}
}

func statusField(status, key string) string {
	for _, l := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func TestOpenSet(t *testing.T) {
	pid := startHelper(t, Identity{}, Unshare{})
	fs, err := OpenSet(pid, JoinOrder(Unshare{})...)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, f := range fs {
			f.Close()
		}
	}()
	for i, k := range JoinOrder(Unshare{}) {
		id, err := Ident(fs[i])
		if err != nil {
			t.Fatal(err)
		}
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, k))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("%s:[%d]", k, id.Ino); link != want {
			t.Errorf("%s: link %q, ident %v", k, link, id)
		}
	}
	if _, err := OpenSet(pid, User, Kind("nonexistent")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenSet(nonexistent) = %v, want ErrNotExist", err)
	}
}

func TestCheck(t *testing.T) {
	if err := Check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

func TestSysctlReport(t *testing.T) {
	dir := t.TempDir()
	for p, v := range map[string]string{
		"kernel/unprivileged_userns_clone":             "0\n",
		"user/max_user_namespaces":                     "0\n",
		"kernel/apparmor_restrict_unprivileged_userns": "1\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := sysctlReport(dir)
	for _, want := range []string{
		"kernel.unprivileged_userns_clone = 0 <- Debian",
		"user.max_user_namespaces = 0 <- must be greater than 0",
		"kernel.apparmor_restrict_unprivileged_userns = 1 <- Ubuntu",
	} {
		if !strings.Contains(r, want) {
			t.Errorf("report lacks %q:%s", want, r)
		}
	}
	// This machine: nothing forbids user namespaces, so the report says so.
	if r := sysctlReport("/proc/sys"); !strings.Contains(r, "none of kernel.unprivileged_userns_clone") {
		t.Errorf("report:%s", r)
	}
}
