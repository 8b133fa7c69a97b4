// SPDX-License-Identifier: Apache-2.0

//go:build linux && cgo

package filter

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel tests re-execute the test binary as a helper that loads the
// filter (or not, for a baseline), makes the filtered system calls and
// prints a report; the parent test runs it as root, as the unprivileged
// user tester, and in user namespaces, and judges the report.
const (
	envMode = "GPYXIS_FILTER_HELPER" // load, load-nnp, prctl, none
	envFile = "GPYXIS_FILTER_FILE"   // file to chown
	envBPF  = "GPYXIS_FILTER_BPF"    // program for mode prctl
	envELF  = "GPYXIS_FILTER_ELF"    // directory of i386 programs
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(envMode); mode != "" {
		if err := helper(mode); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// report is what the helper saw.
type report struct {
	UID, EUID, GID int
	Pid            bool              // getpid matched os.Getpid
	Open           bool              // openat of the file worked
	Errno          map[string]int    // faked calls: 0, or the errno
	FSUIDQuery     map[string]int    // setfsuid(-1) results
	UIDAfter       int               // getuid after the setuid family
	EUIDAfter      int               // geteuid after the setuid family
	GIDAfter       int               // getgid after the setgid family
	Status         map[string]string // Seccomp, NoNewPrivs of /proc/thread-self/status
	I386           map[string]int    // exit status of each i386 program, -1: did not run
}

func helper(mode string) error {
	// Everything below runs on one thread: raw set*id calls and prctl
	// seccomp act on the calling thread only, and the i386 programs are
	// forked from it.
	runtime.LockOSThread()
	path := os.Getenv(envFile)
	switch mode {
	case "none":
	case "load":
		if err := Load(Options{}); err != nil {
			return err
		}
	case "load-nnp":
		if err := Load(Options{NoNewPrivs: true}); err != nil {
			return err
		}
	case "prctl":
		if err := prctlLoad(os.Getenv(envBPF)); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}

	r := report{
		UID: unix.Getuid(), EUID: unix.Geteuid(), GID: unix.Getgid(),
		Errno: map[string]int{}, FSUIDQuery: map[string]int{}, I386: map[string]int{},
	}
	pid, _, _ := unix.RawSyscall(unix.SYS_GETPID, 0, 0, 0)
	r.Pid = int(pid) == os.Getpid()
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	pp := uintptr(unsafe.Pointer(p))
	fdcwd := unix.AT_FDCWD
	atFDCWD := uintptr(fdcwd)
	call := func(name string, nr uintptr, a ...uintptr) {
		a = append(a, 0, 0, 0)
		_, _, e := unix.RawSyscall(nr, a[0], a[1], a[2])
		r.Errno[name] = int(e)
	}
	fsQuery := func(name string, arg uintptr) {
		v, _, _ := unix.RawSyscall(unix.SYS_SETFSUID, arg, 0, 0)
		r.FSUIDQuery[name] = int(v)
	}

	// chown family first: in the baseline, setuid would take the right away.
	call("chown", unix.SYS_CHOWN, pp, 1234, 1234)
	call("lchown", unix.SYS_LCHOWN, pp, 1234, 1234)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	r.Open = err == nil
	if err == nil {
		call("fchown", unix.SYS_FCHOWN, uintptr(fd), 1234, 1234)
		unix.Close(fd)
	}
	_, _, e := unix.RawSyscall6(unix.SYS_FCHOWNAT, atFDCWD, pp, 1234, 1234, 0, 0)
	r.Errno["fchownat"] = int(e)
	// x32: this kernel may lack the ABI (ENOSYS), but seccomp runs first.
	call("x32 chown", x32Bit|unix.SYS_CHOWN, pp, 1234, 1234)
	call("x32 setuid", x32Bit|unix.SYS_SETUID, 4321)
	if dir := os.Getenv(envELF); dir != "" {
		for _, name := range i386Names {
			r.I386[name] = runI386(filepath.Join(dir, name))
		}
	}

	fsQuery("sign-extended", ^uintptr(0))
	fsQuery("zero-extended", 0xffffffff)
	fsQuery("after set 1234", 1234) // faked: 0; real: the old fsuid
	fsQuery("after", 0xffffffff)

	gid := uint32(1234)
	call("setgroups", unix.SYS_SETGROUPS, 1, uintptr(unsafe.Pointer(&gid)))
	call("setgid", unix.SYS_SETGID, 4321)
	call("setregid", unix.SYS_SETREGID, 4321, 4321)
	call("setresgid", unix.SYS_SETRESGID, 4321, 4321, 4321)
	call("setfsgid", unix.SYS_SETFSGID, 4321) // the errno is always 0; see FSUIDQuery
	call("setuid", unix.SYS_SETUID, 4321)
	call("setreuid", unix.SYS_SETREUID, 4321, 4321)
	call("setresuid", unix.SYS_SETRESUID, 4321, 4321, 4321)
	uid, _, _ := unix.RawSyscall(unix.SYS_GETUID, 0, 0, 0)
	euid, _, _ := unix.RawSyscall(unix.SYS_GETEUID, 0, 0, 0)
	g, _, _ := unix.RawSyscall(unix.SYS_GETGID, 0, 0, 0)
	r.UIDAfter, r.EUIDAfter, r.GIDAfter = int(uid), int(euid), int(g)

	if r.Status, err = threadStatus("Seccomp", "NoNewPrivs"); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

// prctlLoad loads exported bytes the way the C shim does: a struct
// sock_fprog and prctl(PR_SET_SECCOMP), on this thread only, with
// NO_NEW_PRIVS only if the kernel insists.
func prctlLoad(file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	insns, err := decode(b)
	if err != nil {
		return err
	}
	fprog := unix.SockFprog{Len: uint16(len(insns)), Filter: &insns[0]}
	set := func() error {
		return unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&fprog)), 0, 0)
	}
	err = set()
	if errors.Is(err, unix.EACCES) {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return err
		}
		err = set()
	}
	runtime.KeepAlive(insns)
	return err
}

func runI386(path string) int {
	err := exec.Command(path).Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	default:
		return -1
	}
}

func threadStatus(keys ...string) (map[string]string, error) {
	f, err := os.Open("/proc/thread-self/status")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, _ := strings.Cut(s.Text(), ":")
		for _, want := range keys {
			if k == want {
				m[k] = strings.TrimSpace(v)
			}
		}
	}
	return m, s.Err()
}

// The i386 programs; each exits with a status the parent predicts.
var i386Names = []string{"exit42", "chown32", "chown16", "setuid32", "setuid16", "setfsuid16-query", "setfsuid32-query", "setfsuid32-set"}

func writeI386(t *testing.T, dir, target string) {
	t.Helper()
	progs := map[string][]i386Step{
		"exit42":           {{nr: i386Exit, args: [3]uint32{42}}},
		"chown32":          {{nr: i386Chown32, args: [3]uint32{0, 1234, 1234}, path: true}},
		"chown16":          {{nr: i386Chown, args: [3]uint32{0, 1234, 1234}, path: true}},
		"setuid32":         {{nr: i386Setuid32, args: [3]uint32{4321}}, {nr: i386Getuid32}},
		"setuid16":         {{nr: i386Setuid, args: [3]uint32{4321}}, {nr: i386Getuid32}},
		"setfsuid16-query": {{nr: i386Setfsuid, args: [3]uint32{0xffff}}},
		"setfsuid32-query": {{nr: i386Setfsuid32, args: [3]uint32{0xffffffff}}},
		// The set returns the old fsuid, really or faked (0): make it 0
		// with a second query to compare.
		"setfsuid32-set": {{nr: i386Setfsuid32, args: [3]uint32{1234}}, {nr: i386Setfsuid32, args: [3]uint32{0xffffffff}}},
	}
	for _, name := range i386Names {
		if err := os.WriteFile(filepath.Join(dir, name), elf386(progs[name], target), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}
