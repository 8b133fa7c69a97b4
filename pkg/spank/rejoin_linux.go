package spank

import (
	"context"
	"errors"
	"fmt"

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
