// SPDX-License-Identifier: Apache-2.0

package rootfs

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/pkg/filter"
)

// defaultPath is used to find the command when Env has no PATH, as execvp
// does; the command's environment is left as given.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// InitMain is the container's init: main (or TestMain) must call it first
// thing when os.Args[1] is [InitArg]. It reads its configuration from the
// runtime, runs [Setup], and execs the command; it never returns.
func InitMain() {
	// Capabilities are per thread. The ambient set is cleared below on
	// this thread, so the execve must happen on it too.
	runtime.LockOSThread()
	sync, err := initSync()
	if err != nil {
		fmt.Fprintf(os.Stderr, "gpyxis init: %v\n", err)
		os.Exit(1)
	}
	if next := os.Getenv(nextFDEnv); next != "" {
		err = initNext(sync, next)
	} else {
		err = initRun(sync)
	}
	// Only reached on failure: report it to the runtime.
	ie := initError{Message: err.Error()}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		ie.Errno = int(errno)
	}
	json.NewEncoder(sync).Encode(ie)
	os.Exit(1)
}

// initSync returns the init's end of the runtime socket.
func initSync() (*os.File, error) {
	fd, err := strconv.Atoi(os.Getenv(initFDEnv))
	if err != nil {
		return nil, fmt.Errorf("%s not set: not started by rootfs.Start", initFDEnv)
	}
	// os/exec passed the fd without close-on-exec; set it, so that the
	// successful execve closes it and the runtime reads EOF.
	unix.CloseOnExec(fd)
	os.Unsetenv(initFDEnv)
	return os.NewFile(uintptr(fd), "init-sync"), nil
}

func initRun(sync *os.File) error {
	// One JSON value: Start follows it with EOF, a holder's runtime with
	// nothing until the holder has reported ready (protocol.go).
	var c initConfig
	if err := json.NewDecoder(sync).Decode(&c); err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if len(c.Args) == 0 && !c.Holder {
		return errors.New("no command")
	}
	if c.Debug {
		c.Rootfs.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if c.Lock != nil {
		unbindable := deferUnbindable(&c.Rootfs)
		if err := prepareMounts(c.Rootfs, true); err != nil {
			return err
		}
		return lockAndContinue(sync, *c.Lock, nextStage{Rootfs: c.Rootfs.Rootfs, Writable: c.Rootfs.Writable,
			Holder: c.Holder, Dir: c.Dir, Args: c.Args, Env: c.Env, Seccomp: c.Seccomp, Unbindable: unbindable})
	}
	if err := Setup(c.Rootfs); err != nil {
		return err
	}
	if c.Holder {
		return holdMain(sync)
	}
	return startCommand(c.Dir, c.Args, c.Env, c.Seccomp)
}

// startCommand changes to dir, looks the command up and execs it, inside
// the container's root; it only returns on failure.
func startCommand(dir string, args, env []string, bpf []byte) error {
	if dir == "" {
		dir = "/"
	}
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("chdir %s: %w", dir, err)
	}
	path, err := lookPath(args[0], env)
	if err != nil {
		return err
	}
	// The ambient capabilities that let an identity-mapped init mount must
	// not survive into the user's command: with them gone, execve by a
	// non-root uid leaves it without capabilities, as enroot-switchroot
	// drops them. A remapped root keeps its (namespaced) capabilities.
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	// The filter goes on last: after it, chown and setuid calls are faked, and the
	// init itself has no more need of them. In the user namespace the init holds
	// CAP_SYS_ADMIN, so no NO_NEW_PRIVS is needed and setuid binaries keep working.
	if len(bpf) > 0 {
		if err := filter.LoadBPF(bpf, filter.Options{}); err != nil {
			return fmt.Errorf("seccomp filter: %w", err)
		}
	}
	if err := unix.Exec(path, args, env); err != nil {
		return fmt.Errorf("exec %s: %w", path, err)
	}
	return nil // unreachable
}

// lookPath finds the executable file name in the PATH of env, inside the
// container; exec.LookPath would use the init's own (empty) environment.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		if err := isExecutable(name); err != nil {
			return "", fmt.Errorf("command %s: %w", name, err)
		}
		return name, nil
	}
	pathEnv := defaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathEnv = v
		}
	}
	for _, d := range strings.Split(pathEnv, ":") {
		if d == "" {
			d = "."
		}
		p := d + "/" + name
		if isExecutable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("command %q not found in the container (PATH=%s): %w", name, pathEnv, unix.ENOENT)
}

func isExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return unwrapPath(err)
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return unix.EACCES
	}
	return nil
}
