// SPDX-License-Identifier: Apache-2.0

package spank

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/gpyxis/gpyxis/pkg/filter"
	"github.com/gpyxis/gpyxis/pkg/namespaces"
	"github.com/gpyxis/gpyxis/pkg/rootfs"
)

// rejoinAttempts bounds how often a task replaces a holder that exited
// under it: each attempt either joins a live holder or starts this step's
// own, so more than a few means something else is wrong.
const rejoinAttempts = 5

// joinStep joins the step's container. A step that attached to another
// step's holder (a named container that was running) can lose it at any
// moment: its owner stops it when that step ends, possibly between this
// step's setup and a later task's join. Opened namespace fds pin the
// namespaces for good, so the race is only up to the open: when the holder
// is gone by then, the task takes the step lock, and unless another task
// already replaced the holder, sets the container up again (attach to
// another running instance, or start this step's own holder, stopped at
// this step's exit).
func joinStep(ctx context.Context, req *Request, rep *Reply, j *job, d Deps, st *stepState) error {
	for attempt := 0; ; attempt++ {
		err := join(req, rep, j, st)
		if !errors.Is(err, rootfs.ErrHolderGone) || st.OwnHolder || attempt == rejoinAttempts {
			return err
		}
		d.Logger.Debug("the container's holder exited before this task joined it: setting up again",
			"container", st.Name, "pid", st.Holder.Pid)
		// A holder being stopped may still look running for a moment.
		time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
		if st, err = replaceHolder(ctx, req, rep, j, d, st.Holder); err != nil {
			return err
		}
	}
}

// replaceHolder re-reads the step state under the step lock and, if it
// still names the holder gone, sets the container up again and records it.
func replaceHolder(ctx context.Context, req *Request, rep *Reply, j *job, d Deps, gone rootfs.HolderState) (*stepState, error) {
	unlock, err := flock(ctx, j.stepFile(".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	st, err := readStep(j.stepFile(".json"))
	if err != nil {
		return nil, fmt.Errorf("container setup: %w", err)
	}
	if st.Failed != "" {
		return nil, errOtherTask
	}
	if st.Holder.Pid != gone.Pid || st.Holder.StartTime != gone.StartTime {
		return st, nil // another task of this step replaced it already
	}
	fresh, err := setUp(ctx, req, rep, j, d)
	if err != nil {
		return nil, err
	}
	// What the first setup decided beyond the holder stays.
	fresh.Save, fresh.Temporary = st.Save, st.Temporary
	if err := writeStep(j.stepFile(".json"), fresh); err != nil {
		if fresh.OwnHolder {
			stopHolder(&fresh.Holder)
		}
		return nil, err
	}
	return fresh, nil
}

// join fills the reply every task gets: the namespace fds of the holder,
// the working directory, the seccomp filter and the environment.
func join(req *Request, rep *Reply, j *job, st *stepState) error {
	h := st.Holder
	if err := h.Check(); err != nil {
		return fmt.Errorf("container %s: %w", st.Name, err)
	}
	uid, err := rootfs.ProcUID(h.Pid)
	if err != nil {
		if gone := h.Check(); gone != nil {
			return fmt.Errorf("container %s: %w", st.Name, gone)
		}
	}
	if err != nil || uid != j.uid {
		return fmt.Errorf("container %s: holder pid %d is not yours", st.Name, h.Pid)
	}
	for _, n := range j.o.Unshare {
		kind := map[string]namespaces.Kind{"net": "net", "ipc": "ipc", "uts": "uts"}[n]
		same, err := namespaces.Same(h.Pid, os.Getpid(), kind)
		if err != nil {
			return err
		}
		if same {
			long := map[string]string{"net": "network", "ipc": "IPC", "uts": "UTS"}[n]
			return fmt.Errorf("--container-unshare=%s requested but the container is not in a separate %s namespace", n, long)
		}
	}
	files, err := namespaces.OpenSet(h.Pid, "user", "cgroup", "mnt", "ipc", "uts", "net")
	if err != nil {
		// The holder exiting between the check and the opens is one race
		// a caller can recover from: say so by its error. An exiting
		// holder loses its namespace links before its /proc entry (a
		// zombie keeps its PID and start time), hence ENOENT counts.
		if gone := h.Check(); gone != nil {
			return fmt.Errorf("container %s: %w", st.Name, gone)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("container %s: holder pid %d exiting: %w", st.Name, h.Pid, rootfs.ErrHolderGone)
		}
		return fmt.Errorf("container %s: %w", st.Name, err)
	}
	// The fds pin whatever process had the PID when they were opened.
	if err := h.Check(); err != nil {
		for _, f := range files {
			f.Close()
		}
		return fmt.Errorf("container %s: %w", st.Name, err)
	}
	rep.Files = files
	dir := h.Dir
	if j.o.Workdir != "" {
		dir = j.o.Workdir
	}
	if dir == "" {
		dir = "/"
	}
	rep.Chdir(dir)
	if !st.Superuser {
		prog, err := filter.BPF(filter.Options{})
		if err != nil {
			return fmt.Errorf("seccomp filter: %w", err)
		}
		rep.Seccomp(prog)
	}
	final := PyTorch(MergeEnv(req.Env, h.Env, j.o.Env))
	set, unset := Diff(req.Env, final)
	for _, kv := range set {
		rep.Setenv(kv)
	}
	for _, n := range unset {
		rep.Unsetenv(n)
	}
	return nil
}
