// SPDX-License-Identifier: Apache-2.0

package rootfs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/pkg/namespaces"
)

// FirstExtraFD is the fd number StartConfig.ExtraFiles[0] gets in the
// command.
const FirstExtraFD = 4

// StartConfig describes a container process.
type StartConfig struct {
	// Rootfs is the mount setup; Rootfs.Unshare also picks the namespaces.
	Rootfs Config
	// IDMap is how the caller's uid and gid appear inside. Default
	// namespaces.Identity.
	IDMap namespaces.IDMap
	// Args is the command and its arguments. Args[0] is looked up in the
	// PATH of Env inside the container if it has no slash.
	Args []string
	// Env is the command's whole environment; nothing of the caller's is
	// inherited.
	Env []string
	// Dir is the working directory inside the container. Default "/".
	Dir string
	// Stdin, Stdout and Stderr are the command's; nil means /dev/null.
	// Stderr also gets the init's debug messages.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Debug makes the init log skipped optional mounts to Stderr.
	Debug bool
	// Seccomp is a BPF program (pkg/filter.BPF) the init loads just before it
	// execs the command. Default: none.
	Seccomp []byte
	// ExtraFiles are open files the command inherits as fds 4, 5, ... (fd 3
	// is the init's socket, closed when the command is exec'd): the rc
	// script of `start --rc`, read as /proc/self/fd/4 as enroot-switchroot
	// does with its memfd copy.
	ExtraFiles []*os.File
}

// Process is a running container process.
type Process struct {
	// Pid is the host PID; the init became the command, so it is both.
	Pid int
	cmd *exec.Cmd
}

// Wait waits for the command to exit, like exec.Cmd.Wait: a non-zero status
// is an *exec.ExitError.
func (p *Process) Wait() error { return p.cmd.Wait() }

// Signal sends sig to the command.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// ExitCode returns the exit code after Wait, or -1.
func (p *Process) ExitCode() int { return p.cmd.ProcessState.ExitCode() }

// Start runs c.Args in a new container: it re-executes the current binary
// (/proc/self/exe, which must call [InitMain] when argv[1] is [InitArg]) in
// new user, mount and cgroup namespaces; that init runs [Setup] and execs
// the command. Start returns once the command runs, or with the init's error
// (an *[InitError]) if the setup failed. Cancelling ctx kills the process.
func Start(ctx context.Context, c StartConfig) (*Process, error) {
	if len(c.Args) == 0 {
		return nil, errors.New("start container: no command")
	}
	if err := c.Rootfs.validate(); err != nil {
		return nil, fmt.Errorf("start container: %w", err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("start container: socketpair: %w", err)
	}
	parent := os.NewFile(uintptr(fds[0]), "init-sync")
	child := os.NewFile(uintptr(fds[1]), "init-sync")
	defer parent.Close()

	cmd := exec.CommandContext(ctx, "/proc/self/exe", InitArg)
	cmd.Env = []string{initFDEnv + "=3"}
	cmd.ExtraFiles = append([]*os.File{child}, c.ExtraFiles...) // fd 3, then 4...; os/exec clears their CLOEXEC
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.Stdin, c.Stdout, c.Stderr
	var lock *lockIDs
	cmd.SysProcAttr, lock = initAttr(c.IDMap, c.Rootfs, false)
	err = cmd.Start()
	child.Close()
	if err != nil {
		return nil, fmt.Errorf("start container init: %w", err)
	}

	if err := sendConfig(parent, c, lock); err != nil {
		return nil, waitError(cmd, fmt.Errorf("start container: send config: %w", err))
	}
	msg, err := io.ReadAll(parent)
	if err != nil {
		return nil, waitError(cmd, fmt.Errorf("start container: read init status: %w", err))
	}
	if len(msg) > 0 {
		var ie initError
		if err := json.Unmarshal(msg, &ie); err != nil {
			return nil, waitError(cmd, fmt.Errorf("start container: bad init status %q: %w", msg, err))
		}
		cmd.Wait() // the init exits 1 after reporting
		return nil, &InitError{Message: ie.Message, Errno: unix.Errno(ie.Errno)}
	}
	return &Process{Pid: cmd.Process.Pid, cmd: cmd}, nil
}

func sendConfig(w *os.File, c StartConfig, lock *lockIDs) error {
	ic := initConfig{Rootfs: c.Rootfs, Args: c.Args, Env: c.Env, Dir: c.Dir, Debug: c.Debug, Seccomp: c.Seccomp,
		Lock: lock}
	if err := json.NewEncoder(w).Encode(ic); err != nil {
		return err
	}
	// EOF tells the init the whole config is there.
	return unix.Shutdown(int(w.Fd()), unix.SHUT_WR)
}

// waitError kills and reaps the init after a protocol failure, adding its
// exit status to err.
func waitError(cmd *exec.Cmd, err error) error {
	cmd.Process.Kill()
	if werr := cmd.Wait(); werr != nil {
		return fmt.Errorf("%w (init: %w)", err, werr)
	}
	return err
}
