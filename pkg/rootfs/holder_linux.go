// SPDX-License-Identifier: Apache-2.0

package rootfs

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/internal/boundedio"
	"github.com/gpyxis/gpyxis/internal/procfs"
	"github.com/gpyxis/gpyxis/pkg/namespaces"
)

// ErrHolderGone is returned when the process a [HolderState] names has
// exited, or its PID now belongs to another process.
var ErrHolderGone = errors.New("container holder is not running")

// HolderConfig describes a holder: a container init that makes the mounts
// and pivots, then stays in the namespaces, running nothing, so that tasks
// and `gpyxis-runtime exec` can join them.
type HolderConfig struct {
	// Rootfs is the mount setup; Rootfs.Unshare also picks the namespaces.
	// A PID namespace is refused: joiners could not enter it.
	Rootfs Config
	// IDMap is how the caller's uid and gid appear inside. Default
	// namespaces.Identity.
	IDMap namespaces.IDMap
	// Env is the container's environment for processes that join it. It is
	// recorded in the state file and is also the holder's own environment,
	// so that a joiner given only the PID finds it in /proc/PID/environ.
	Env []string
	// Dir is the joiners' default working directory. Default "/".
	Dir string
	// StateFile, if set, is where StartHolder writes the [HolderState].
	StateFile string
	// Stderr gets the init's error and debug messages; nil means /dev/null.
	Stderr io.Writer
	// Debug makes the init log skipped optional mounts to Stderr.
	Debug bool
	// ExtraFiles are open files the holder keeps for its whole life (as
	// fds 4, 5, ...): a shared lock on the cache entry under its rootfs.
	ExtraFiles []*os.File
}

// HolderState is what a joiner needs to know about a running holder. It is
// stored as JSON in HolderConfig.StateFile.
type HolderState struct {
	// Pid is the holder's host PID.
	Pid int `json:"pid"`
	// StartTime is field 22 of /proc/PID/stat (clock ticks after boot); with
	// Pid it tells the holder from a later process that reuses its PID.
	StartTime uint64 `json:"start_time"`
	// UID and GID are the owner's host IDs.
	UID int `json:"uid"`
	GID int `json:"gid"`
	// IDMap is the IDMap's name ("identity", "remap-root").
	IDMap string `json:"idmap"`
	// Rootfs is the host path of the root filesystem.
	Rootfs string `json:"rootfs"`
	// Unshare lists the optional namespaces.
	Unshare namespaces.Unshare `json:"unshare,omitzero"`
	// Env and Dir are the joiners' environment and working directory.
	Env []string `json:"env"`
	Dir string   `json:"dir"`
}

// Holder is a running holder started by [StartHolder].
type Holder struct {
	// Pid is the holder's host PID.
	Pid int
	// State is what was (or would have been) written to the state file.
	State HolderState

	cmd      *exec.Cmd
	sync     *os.File
	detached bool
	done     chan struct{}
	err      error
}

// StartHolder starts a holder: it re-executes the current binary (which must
// call [InitMain] when argv[1] is [InitArg]) in new user, mount and cgroup
// namespaces, Setsid; that init runs [Setup], changes to / and reports ready.
// StartHolder returns then, or with the init's error (an *[InitError]).
// Cancelling ctx before then kills the holder.
//
// The holder lives until [Holder.Stop], or until the thread that started it
// exits (its parent-death signal) unless [Holder.Detach] was called.
func StartHolder(ctx context.Context, c HolderConfig) (*Holder, error) {
	if err := c.Rootfs.validate(); err != nil {
		return nil, fmt.Errorf("start holder: %w", err)
	}
	if c.Rootfs.Unshare.PID {
		return nil, errors.New("start holder: a PID namespace cannot be joined")
	}
	if c.IDMap == nil {
		c.IDMap = namespaces.Identity{}
	}
	if c.Dir == "" {
		c.Dir = "/"
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("start holder: socketpair: %w", err)
	}
	parent := os.NewFile(uintptr(fds[0]), "holder-sync")
	child := os.NewFile(uintptr(fds[1]), "holder-sync")

	cmd := exec.Command("/proc/self/exe", InitArg)
	cmd.Env = append(filterEnv(c.Env), initFDEnv+"=3")
	cmd.ExtraFiles = append([]*os.File{child}, c.ExtraFiles...)
	cmd.Stderr = c.Stderr
	var lock *lockIDs
	cmd.SysProcAttr, lock = initAttr(c.IDMap, c.Rootfs, true)
	// No controlling terminal and no job-control signals from the caller's.
	cmd.SysProcAttr.Setsid = true
	err = cmd.Start()
	child.Close()
	if err != nil {
		parent.Close()
		return nil, fmt.Errorf("start holder init: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { cmd.Process.Kill() })
	h, err := holderReady(cmd, parent, c, lock)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		parent.Close()
		return nil, waitError(cmd, err)
	}
	return h, nil
}

func holderReady(cmd *exec.Cmd, parent *os.File, c HolderConfig, lock *lockIDs) (*Holder, error) {
	ic := initConfig{Rootfs: c.Rootfs, Debug: c.Debug, Holder: true, Lock: lock}
	if err := json.NewEncoder(parent).Encode(ic); err != nil {
		return nil, fmt.Errorf("start holder: send config: %w", err)
	}
	var msg initError
	if err := json.NewDecoder(parent).Decode(&msg); err != nil {
		return nil, fmt.Errorf("start holder: read init status: %w", err)
	}
	if !msg.Ready {
		return nil, &InitError{Message: msg.Message, Errno: unix.Errno(msg.Errno)}
	}
	pid := cmd.Process.Pid
	start, err := ProcStartTime(pid)
	if err != nil {
		return nil, fmt.Errorf("start holder: %w", err)
	}
	h := &Holder{Pid: pid, cmd: cmd, sync: parent, done: make(chan struct{}), State: HolderState{
		Pid: pid, StartTime: start, UID: os.Geteuid(), GID: os.Getegid(), IDMap: c.IDMap.String(),
		Rootfs: c.Rootfs.Rootfs, Unshare: c.Rootfs.Unshare, Env: c.Env, Dir: c.Dir,
	}}
	if c.StateFile != "" {
		if err := h.State.Write(c.StateFile); err != nil {
			return nil, fmt.Errorf("start holder: %w", err)
		}
	}
	go func() { h.err = cmd.Wait(); close(h.done) }()
	return h, nil
}

// Stop ends the holder by closing its socket (SIGTERM after Detach), and
// waits for it; after timeout it is killed. It returns nil if the holder
// exited 0. Processes that joined it keep the namespaces alive.
func (h *Holder) Stop(timeout time.Duration) error {
	if h.detached {
		h.cmd.Process.Signal(unix.SIGTERM)
	} else {
		h.sync.Close()
	}
	select {
	case <-h.done:
	case <-time.After(timeout):
		h.cmd.Process.Kill()
		<-h.done
	}
	return h.err
}

// Detach lets the holder outlive the caller: it clears its parent-death
// signal and no longer watches its socket. It then ends on SIGTERM, SIGINT
// or SIGHUP ([StopHolder]).
func (h *Holder) Detach() error {
	h.detached = true
	_, err := io.WriteString(h.sync, holdDetach+"\n")
	if err == nil {
		// Wait for the holder to have cleared its parent-death signal: if
		// the caller exited before, the holder would die with it.
		var ack [64]byte
		var n int
		n, err = h.sync.Read(ack[:])
		if err == nil && strings.TrimSpace(string(ack[:n])) != holdDetached {
			err = fmt.Errorf("holder answered %q", ack[:n])
		}
	}
	if cerr := h.sync.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("detach holder: %w", err)
	}
	return nil
}

// Wait waits for the holder to exit.
func (h *Holder) Wait() error { <-h.done; return h.err }

const (
	holdDetach   = "detach"
	holdDetached = "detached"
)

// holdMain is the holder's init after Setup: report ready and block.
func holdMain(sync *os.File) error {
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGHUP)
	if err := json.NewEncoder(sync).Encode(initError{Ready: true}); err != nil {
		return fmt.Errorf("report ready: %w", err)
	}
	eof := make(chan bool, 1)
	go func() { eof <- !detachRequested(sync) }()
	select {
	case <-sigs:
	case stop := <-eof:
		if !stop {
			// Pdeathsig (namespaces.SysProcAttr) would kill a detached
			// holder with the thread that started it.
			unix.Prctl(unix.PR_SET_PDEATHSIG, 0, 0, 0, 0)
			io.WriteString(sync, holdDetached+"\n")
			sync.Close()
			<-sigs
		}
		sync.Close()
	}
	os.Exit(0)
	return nil
}

// detachRequested reads the runtime's word to a holder: true for a detach
// request, false when the runtime went away (EOF) or said anything else.
// The config's JSON ends with a newline that the init's decoder may have
// left unread (it stops at the closing brace): blank lines are skipped, or
// a holder would stop as soon as it started.
func detachRequested(sync io.Reader) bool {
	r := bufio.NewReader(sync)
	for {
		line, err := r.ReadString('\n')
		if l := strings.TrimSpace(line); l != "" || err != nil {
			return l == holdDetach
		}
	}
}

// Write stores s as JSON at path, atomically (a temporary file renamed).
func (s *HolderState) Write(path string) error {
	if err := CheckStatePath(path); err != nil {
		return err
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write holder state: %w", err)
	}
	_, err = tmp.Write(append(data, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write holder state: %w", err)
	}
	return nil
}

// CheckStatePath refuses a state file path that holds anything but a
// regular file: Write renames over it, which would replace a device such
// as /dev/full (as root) or a directory entry that is not the caller's to
// replace.
func CheckStatePath(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("holder state: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("holder state %s: %s, not a regular file; name a new file or one that an earlier start --detach wrote", path, boundedio.Kind(fi.Mode()))
	}
	return nil
}

// ReadState reads a state file written by [StartHolder]. It does not check
// that the holder still runs: see [HolderState.Check].
func ReadState(path string) (*HolderState, error) {
	data, err := boundedio.ReadFile(path, boundedio.Config)
	if err != nil {
		return nil, fmt.Errorf("read holder state: %w", err)
	}
	var s HolderState
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("read holder state %s: %w", path, err)
	}
	if s.Pid <= 0 {
		return nil, fmt.Errorf("read holder state %s: no pid", path)
	}
	return &s, nil
}

// Check returns nil if the holder s describes is still running: its PID
// exists with the recorded start time. Otherwise it returns an error
// wrapping ErrHolderGone.
func (s *HolderState) Check() error {
	start, err := ProcStartTime(s.Pid)
	// ESRCH: /proc/PID of a process being reaped can fail reads before it goes.
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ESRCH) || err == nil && start != s.StartTime {
		return fmt.Errorf("holder pid %d: %w", s.Pid, ErrHolderGone)
	}
	return err
}

// StopHolder sends SIGTERM to the (detached) holder s describes, through a
// pidfd checked against the start time so that a reused PID is never hit.
func StopHolder(s *HolderState) error { return stopHolder(s, 0) }

// StopHolderWait is StopHolder, then waits up to timeout for the holder to
// exit. It watches the pidfd, which turns readable when the process exits:
// /proc/PID stays while the holder is a zombie that only its reaper (say,
// slurmstepd, a child subreaper polling once a second) can clear.
func StopHolderWait(s *HolderState, timeout time.Duration) error { return stopHolder(s, timeout) }

func stopHolder(s *HolderState, timeout time.Duration) error {
	fd, err := unix.PidfdOpen(s.Pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("holder pid %d: %w", s.Pid, ErrHolderGone)
	}
	if err != nil {
		return fmt.Errorf("stop holder: pidfd_open: %w", err)
	}
	defer unix.Close(fd)
	// The pidfd pins the process the PID named when it was opened; if that
	// one has the recorded start time, it is the holder.
	if err := s.Check(); err != nil {
		return err
	}
	if err := unix.PidfdSendSignal(fd, unix.SIGTERM, nil, 0); err != nil {
		return fmt.Errorf("stop holder: %w", err)
	}
	if timeout <= 0 {
		return nil
	}
	deadline := time.Now().Add(timeout)
	for {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, int(time.Until(deadline).Milliseconds()))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("stop holder: poll pidfd: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("stop holder: pid %d still runs %s after SIGTERM", s.Pid, timeout)
		}
		return nil
	}
}

// ProcStartTime returns field 22 of /proc/PID/stat, the process's start time
// in clock ticks after boot. An exited process gives an error wrapping
// os.ErrNotExist.
func ProcStartTime(pid int) (uint64, error) { return procfs.StartTime(pid) }

// ProcUID returns the real host uid of process pid, from /proc/PID/status.
func ProcUID(pid int) (int, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Uid:"); ok {
			if f := strings.Fields(v); len(f) > 0 {
				return strconv.Atoi(f[0])
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no Uid", pid)
}

// ProcEnv returns the environment process pid started with, from
// /proc/PID/environ, without gpyxis's own _GPYXIS_* variables: for a
// holder, the container's environment.
func ProcEnv(pid int) ([]string, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return nil, err
	}
	var env []string
	for _, kv := range strings.Split(string(data), "\x00") {
		if kv != "" {
			env = append(env, kv)
		}
	}
	return filterEnv(env), nil
}

// filterEnv drops the _GPYXIS_* variables that drive gpyxis's own processes.
func filterEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, "_GPYXIS_") {
			out = append(out, kv)
		}
	}
	return out
}

// LookPath finds the executable name in the PATH of env (default: the usual
// system directories), in the calling process's root, as the init does for
// the container's command.
func LookPath(name string, env []string) (string, error) { return lookPath(name, env) }
