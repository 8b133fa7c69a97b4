// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/pkg/container"
	"github.com/gpyxis/gpyxis/pkg/filter"
	"github.com/gpyxis/gpyxis/pkg/rootfs"
)

const execAbout = `Run a command in a running container, as enroot exec does: join the user, cgroup
and mount namespaces (and ipc, uts, net if it has its own) of the container's holder,
given by its PID or its state file, then run the command with the container's
environment (plus --env), in its working directory, under the seccomp filter.
Only your own containers can be joined.`

// execFDEnv names the memfd that carries an execConfig from the outer exec
// (on the host) to the inner one (re-executed, joined by the constructor):
//
//	gpyxis-runtime exec TARGET CMD       on the host: resolve and check the
//	                                     holder, open its /proc/PID/ns/* fds,
//	  execve(/proc/self/exe exec)        write execConfig to a memfd
//	    _GPYXIS_JOIN_FD=a,b,c,...        constructor (nsjoin_linux.go): setns
//	    _GPYXIS_EXEC_FD=m                user → cgroup → mnt → ipc/uts/net, chdir /
//	                                     Go: read config, chdir, seccomp,
//	  execve(CMD)                        exec the command
//
// The process execs twice and never forks: the command keeps the caller's
// PID, stdio, terminal and exit status.
const execFDEnv = "_GPYXIS_EXEC_FD"

// execConfig is what the outer exec passes to the inner one.
type execConfig struct {
	Args    []string `json:"args"`
	Env     []string `json:"env"`
	Dir     string   `json:"dir"`
	Seccomp []byte   `json:"seccomp,omitempty"`
}

func runExec(stdout io.Writer, args []string) error {
	if os.Getenv(execFDEnv) != "" {
		return execInside()
	}
	fs := flag.NewFlagSet("exec", flag.ContinueOnError)
	var envs stringList
	var workdir string
	var noSeccomp bool
	for _, n := range []string{"e", "env"} {
		fs.Var(&envs, n, "set NAME=VALUE, or pass the host's NAME (repeatable)")
	}
	fs.StringVar(&workdir, "workdir", "", "working directory inside the container (default: the container's, or /)")
	fs.BoolVar(&noSeccomp, "no-seccomp", false, "do not load the seccomp filter that fakes chown and setuid calls")
	pos, err := parseUntilPositional(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		usageFor(stdout, fs, "exec [OPTIONS] PID|STATEFILE [--] COMMAND [ARG...]", execAbout)
		return nil
	}
	if err != nil {
		return err
	}
	if len(pos) > 1 && pos[1] == "--" {
		pos = append(pos[:1], pos[2:]...)
	}
	if len(pos) < 2 {
		return fmt.Errorf("%w: exec needs a container and a command (try 'gpyxis-runtime exec --help')", errUsage)
	}
	if !canJoin {
		return errors.New("exec: this gpyxis-runtime was built without cgo and cannot join namespaces")
	}
	c := execConfig{Args: pos[1:], Dir: "/"}
	pid, state, err := execTarget(pos[0])
	if err != nil {
		return err
	}
	if state != nil {
		c.Env, c.Dir = state.Env, state.Dir
	} else if c.Env, err = rootfs.ProcEnv(pid); err != nil {
		return fmt.Errorf("exec: container environment: %w", err)
	}
	c.Env = mergeEnv(c.Env, envs)
	if workdir != "" {
		c.Dir = workdir
	}
	if !noSeccomp {
		if c.Seccomp, err = filter.BPF(filter.Options{}); err != nil {
			return fmt.Errorf("exec: seccomp filter: %w", err)
		}
	}
	fds, err := openJoinFDs(pid)
	if err != nil {
		return err
	}
	// The fds pin the namespaces of whatever process had the PID when they
	// were opened: check again that it was the holder.
	if state != nil {
		if err := state.Check(); err != nil {
			return fmt.Errorf("exec: %w", err)
		}
	}
	mfd, err := configMemfd(c)
	if err != nil {
		return err
	}
	list := make([]string, len(fds))
	for i, fd := range fds {
		list[i] = strconv.Itoa(fd)
	}
	env := []string{joinFDEnv + "=" + strings.Join(list, ","), execFDEnv + "=" + strconv.Itoa(mfd)}
	err = unix.Exec("/proc/self/exe", []string{os.Args[0], "exec"}, env)
	return fmt.Errorf("exec: re-execute /proc/self/exe: %w", err)
}

// execTarget resolves a PID or a state file to the holder's PID, and checks
// that the caller owns it.
func execTarget(arg string) (int, *rootfs.HolderState, error) {
	var state *rootfs.HolderState
	pid, err := strconv.Atoi(arg)
	if err != nil || pid <= 0 {
		if state, err = rootfs.ReadState(arg); err != nil {
			if errors.Is(err, fs.ErrNotExist) && container.CheckName(arg) == nil {
				// Likely a container name: exec takes what start --detach gave.
				return 0, nil, fmt.Errorf("%w: exec %s: no such holder PID or state file: exec takes the PID that "+
					"'gpyxis-runtime start --detach %s' printed, or its state file (--state, default "+
					"$ENROOT_RUNTIME_PATH/holder.%s.json)", errUsage, arg, arg, arg)
			}
			return 0, nil, fmt.Errorf("exec: %w", err)
		}
		if err := state.Check(); err != nil {
			return 0, nil, fmt.Errorf("exec: %w", err)
		}
		pid = state.Pid
	}
	// Root may setns into anyone's user namespace; refuse, as a joined
	// container runs with its owner's identity and files.
	uid, err := rootfs.ProcUID(pid)
	if err != nil {
		return 0, nil, fmt.Errorf("exec: container pid %d: %w", pid, err)
	}
	if uid != os.Getuid() {
		return 0, nil, fmt.Errorf("exec: not your container: pid %d belongs to uid %d, you are uid %d", pid, uid, os.Getuid())
	}
	return pid, state, nil
}

// openJoinFDs opens the holder's namespaces, in join order and without
// close-on-exec, all before any is joined (namespaces.OpenSet). Those the
// caller is already in (net, ipc, uts unless unshared) are skipped by the
// constructor.
func openJoinFDs(pid int) ([]int, error) {
	var fds []int
	for _, k := range []string{"user", "cgroup", "mnt", "ipc", "uts", "net"} {
		p := "/proc/" + strconv.Itoa(pid) + "/ns/" + k
		fd, err := unix.Open(p, unix.O_RDONLY, 0)
		if err != nil {
			for _, f := range fds {
				unix.Close(f)
			}
			return nil, fmt.Errorf("exec: %w", &os.PathError{Op: "open", Path: p, Err: err})
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

// configMemfd writes c to a memfd that survives the exec.
func configMemfd(c execConfig) (int, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return -1, err
	}
	fd, err := unix.MemfdCreate("gpyxis-exec", 0)
	if err != nil {
		return -1, fmt.Errorf("exec: memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "gpyxis-exec")
	if _, err := f.Write(data); err != nil {
		return -1, fmt.Errorf("exec: write config: %w", err)
	}
	// f is never closed: its fd must reach the inner exec.
	return fd, nil
}

// mergeEnv returns env with each of set applied: NAME=VALUE replaces or adds
// NAME; a bare NAME passes the caller's value, if any.
func mergeEnv(env, set []string) []string {
	env = append([]string(nil), env...)
	for _, kv := range set {
		name, _, ok := strings.Cut(kv, "=")
		if !ok {
			v, found := os.LookupEnv(kv)
			if !found {
				continue
			}
			kv = name + "=" + v
		}
		env = slicesDeleteVar(env, name)
		env = append(env, kv)
	}
	return env
}

func slicesDeleteVar(env []string, name string) []string {
	out := env[:0]
	for _, kv := range env {
		if n, _, _ := strings.Cut(kv, "="); n != name {
			out = append(out, kv)
		}
	}
	return out
}

// execInside is the inner exec: the constructor has joined the container.
func execInside() error {
	fd, err := strconv.Atoi(os.Getenv(execFDEnv))
	if err != nil {
		return fmt.Errorf("exec: bad %s", execFDEnv)
	}
	if !joined() {
		// Never run the command on the host.
		return errors.New("exec: the namespace join constructor did not run")
	}
	f := os.NewFile(uintptr(fd), "gpyxis-exec")
	var c execConfig
	_, err = f.Seek(0, io.SeekStart)
	if err == nil {
		err = json.NewDecoder(f).Decode(&c)
	}
	f.Close()
	if err != nil {
		return fmt.Errorf("exec: read config: %w", err)
	}
	if len(c.Args) == 0 {
		return errors.New("exec: no command")
	}
	// The filter goes on this thread and the exec must follow on it.
	runtime.LockOSThread()
	if err := unix.Chdir(c.Dir); err != nil {
		return fmt.Errorf("exec: chdir %s: %w", c.Dir, err)
	}
	path, err := rootfs.LookPath(c.Args[0], c.Env)
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	// After setns(user) this process holds CAP_SYS_ADMIN in the container's
	// user namespace, so the filter needs no NO_NEW_PRIVS; execve by a
	// non-root uid then drops the capabilities (capabilities(7): execve by a
	// non-zero uid of a file without capabilities leaves none permitted).
	if len(c.Seccomp) > 0 {
		if err := filter.LoadBPF(c.Seccomp, filter.Options{}); err != nil {
			return fmt.Errorf("exec: seccomp filter: %w", err)
		}
	}
	if err := unix.Exec(path, c.Args, c.Env); err != nil {
		return fmt.Errorf("exec: %s: %w", path, err)
	}
	return nil
}
