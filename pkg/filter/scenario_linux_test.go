// SPDX-License-Identifier: Apache-2.0

//go:build linux && cgo

package filter

import (
	"bytes"
	"encoding/json"
	"github.com/gpyxis/gpyxis/internal/testutil"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// launcher says how the helper is started.
type launcher struct {
	name   string
	tester bool // as the user tester, via setpriv
	userns bool // in a new user namespace mapping only the user to root
	nnp    string
}

// env is the shared test directory: a copy of the test binary that tester
// can execute, and the exported program.
type env struct {
	dir, bin, bpf string
	tester        *user.User
	ia32          bool
}

func setup(t *testing.T) *env {
	t.Helper()
	dir, err := os.MkdirTemp("", "gpyxis-filter-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e := &env{dir: dir, bin: filepath.Join(dir, "filter.test"), bpf: filepath.Join(dir, "filter.bpf")}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := testutil.CopyExecutable(e.bin, self); err != nil {
		t.Fatal(err)
	}
	prog, err := BPF(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.bpf, prog, 0o644); err != nil {
		t.Fatal(err)
	}
	if u, err := user.Lookup("tester"); err == nil {
		e.tester = u
	}
	if runtime.GOARCH == "amd64" {
		exit42 := filepath.Join(dir, "exit42")
		if err := os.WriteFile(exit42, elf386([]i386Step{{nr: i386Exit, args: [3]uint32{42}}}, ""), 0o755); err != nil {
			t.Fatal(err)
		}
		e.ia32 = runI386(exit42) == 42
	}
	if !e.ia32 {
		t.Log("no i386 emulation in this kernel: i386 checks skipped")
	}
	return e
}

// run starts the helper in mode under l, with a fresh file to chown owned
// by the helper's user, and returns its report and the file's owner
// afterwards as the host sees it.
func (e *env) run(t *testing.T, l launcher, mode string) (report, [2]int, [2]int) {
	t.Helper()
	sub, err := os.MkdirTemp(e.dir, "run-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(sub, 0o755)
	target := filepath.Join(sub, "target")
	if err := os.WriteFile(target, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	owner := [2]int{os.Getuid(), os.Getgid()}
	if l.tester {
		uid, _ := strconv.Atoi(e.tester.Uid)
		gid, _ := strconv.Atoi(e.tester.Gid)
		owner = [2]int{uid, gid}
		if err := os.Chown(target, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	elfDir := ""
	if e.ia32 {
		writeI386(t, sub, target)
		elfDir = sub
	}

	var cmd *exec.Cmd
	switch {
	case l.tester && l.userns:
		cmd = exec.Command("setpriv", "--reuid=tester", "--regid=tester", "--init-groups", "--", "unshare", "-Ur", "--", e.bin)
	case l.tester:
		cmd = exec.Command("setpriv", "--reuid=tester", "--regid=tester", "--init-groups", "--", e.bin)
	default:
		cmd = exec.Command(e.bin)
		if l.userns {
			cmd.SysProcAttr = &syscall.SysProcAttr{
				Cloneflags:  syscall.CLONE_NEWUSER,
				UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
				GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
			}
		}
	}
	cmd.Args = append(cmd.Args, "-test.run=^$")
	cmd.Env = append(os.Environ(), envMode+"="+mode, envFile+"="+target, envBPF+"="+e.bpf, envELF+"="+elfDir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if l.tester && l.userns && bytes.HasPrefix(stderr.Bytes(), []byte("unshare:")) {
			t.Skipf("tester cannot create a user namespace: %s", stderr.String())
		}
		t.Fatalf("%v: %v\n%s", cmd.Args, err, stderr.String())
	}
	var r report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("report %q: %v\n%s", stdout.String(), err, stderr.String())
	}
	var st unix.Stat_t
	if err := unix.Stat(target, &st); err != nil {
		t.Fatal(err)
	}
	return r, owner, [2]int{int(st.Uid), int(st.Gid)}
}

func (e *env) launchers(t *testing.T) []launcher {
	root := os.Getuid() == 0
	ls := []launcher{{name: "self", nnp: "1"}}
	if root {
		ls[0].nnp = "0" // CAP_SYS_ADMIN
	}
	if usernsOK() {
		ls = append(ls, launcher{name: "userns", userns: true, nnp: "0"})
	} else {
		t.Log("user namespaces unavailable: userns runs skipped")
	}
	_, errSetpriv := exec.LookPath("setpriv")
	_, errUnshare := exec.LookPath("unshare")
	switch {
	case !root || e.tester == nil || errSetpriv != nil:
		t.Log("not root, no user tester or no setpriv: tester runs skipped")
	default:
		ls = append(ls, launcher{name: "tester", tester: true, nnp: "1"})
		if usernsOK() && errUnshare == nil {
			ls = append(ls, launcher{name: "tester-userns", tester: true, userns: true, nnp: "0"})
		}
	}
	return ls
}

func usernsOK() bool {
	cmd := exec.Command("/bin/true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}
	return cmd.Run() == nil
}

// TestKernel loads the filter with Load, Load with NoNewPrivs, and as the
// shim does (exported bytes, prctl), under every launcher available, and
// checks the faked calls against the real kernel.
func TestKernel(t *testing.T) {
	e := setup(t)
	for _, l := range e.launchers(t) {
		for _, mode := range []string{"load", "load-nnp", "prctl"} {
			t.Run(l.name+"/"+mode, func(t *testing.T) {
				r, before, after := e.run(t, l, mode)
				t.Logf("%+v", r)
				want := l.nnp
				if mode == "load-nnp" {
					want = "1"
				}
				checkFiltered(t, e, r, before, after, want)
			})
		}
	}
}

func checkFiltered(t *testing.T, e *env, r report, before, after [2]int, nnp string) {
	t.Helper()
	if r.Status["Seccomp"] != "2" || r.Status["NoNewPrivs"] != nnp {
		t.Errorf("status %v, want Seccomp 2, NoNewPrivs %s", r.Status, nnp)
	}
	for name, errno := range r.Errno {
		if errno != 0 {
			t.Errorf("%s: %v, want success", name, syscall.Errno(errno))
		}
	}
	if len(r.Errno) != 14 {
		t.Errorf("%d calls reported, want 14: %v", len(r.Errno), r.Errno)
	}
	if after != before {
		t.Errorf("owner %v after the chowns, want unchanged %v", after, before)
	}
	if r.UIDAfter != r.UID || r.EUIDAfter != r.EUID || r.GIDAfter != r.GID {
		t.Errorf("ids after setuid/setgid: uid %d euid %d gid %d, want %d %d %d", r.UIDAfter, r.EUIDAfter, r.GIDAfter, r.UID, r.EUID, r.GID)
	}
	for name, v := range r.FSUIDQuery {
		want := r.EUID
		if name == "after set 1234" {
			want = 0
		}
		if v != want {
			t.Errorf("setfsuid %s: %d, want %d", name, v, want)
		}
	}
	if !r.Pid || !r.Open {
		t.Errorf("getpid ok %v, open ok %v", r.Pid, r.Open)
	}
	if !e.ia32 {
		return
	}
	want := map[string]int{
		"exit42": 42, "chown32": 0, "chown16": 0,
		"setuid32": r.UID & 0xff, "setuid16": r.UID & 0xff,
		"setfsuid16-query": r.EUID & 0xff, "setfsuid32-query": r.EUID & 0xff, "setfsuid32-set": r.EUID & 0xff,
	}
	for name, w := range want {
		if r.I386[name] != w {
			t.Errorf("i386 %s: exit %d, want %d", name, r.I386[name], w)
		}
	}
}

// TestKernelBaseline runs the same calls without the filter, to show that
// the checks above would notice real effects.
func TestKernelBaseline(t *testing.T) {
	e := setup(t)
	for _, l := range e.launchers(t) {
		t.Run(l.name, func(t *testing.T) {
			r, before, after := e.run(t, l, "none")
			t.Logf("%+v", r)
			if r.Status["Seccomp"] != "0" {
				t.Errorf("Seccomp %q without a filter", r.Status["Seccomp"])
			}
			chown := syscall.Errno(r.Errno["chown"])
			switch {
			case l.userns:
				// 1234 is not mapped.
				if chown != unix.EINVAL || r.Errno["setuid"] != int(unix.EINVAL) {
					t.Errorf("chown %v, setuid %v, want EINVAL", chown, syscall.Errno(r.Errno["setuid"]))
				}
				if e.ia32 && (r.I386["chown32"] != 256-int(unix.EINVAL) || r.I386["setuid32"] != 256-int(unix.EINVAL)) {
					t.Errorf("i386 chown32, setuid32: exit %d, %d, want -EINVAL", r.I386["chown32"], r.I386["setuid32"])
				}
			case l.tester || os.Getuid() != 0:
				if chown != unix.EPERM {
					t.Errorf("chown %v, want EPERM", chown)
				}
				if e.ia32 && r.I386["chown32"] != 256-int(unix.EPERM) {
					t.Errorf("i386 chown32: exit %d, want -EPERM", r.I386["chown32"])
				}
			default:
				if chown != 0 || after == before || r.UIDAfter != 4321 {
					t.Errorf("root: chown %v, owner %v, uid %d: want real effects", chown, after, r.UIDAfter)
				}
				if e.ia32 && (r.I386["setuid32"] != 4321&0xff || r.I386["setfsuid32-set"] != 1234&0xff) {
					t.Errorf("root: i386 setuid32, setfsuid32-set: exit %d, %d, want real effects", r.I386["setuid32"], r.I386["setfsuid32-set"])
				}
			}
			if x := syscall.Errno(r.Errno["x32 chown"]); x != 0 && x != unix.ENOSYS {
				t.Errorf("x32 chown: %v", x)
			}
		})
	}
}
