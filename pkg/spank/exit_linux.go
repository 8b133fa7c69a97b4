// SPDX-License-Identifier: Apache-2.0

package spank

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gpyxis/gpyxis/internal/boundedio"
	"github.com/gpyxis/gpyxis/internal/pathtrust"
	"github.com/gpyxis/gpyxis/pkg/container"
	"github.com/gpyxis/gpyxis/pkg/importer"
	"github.com/gpyxis/gpyxis/pkg/rootfs"
)

// opExit ends the step on this node, once all its tasks exited: save (on
// the step's first node only), stop the holder, remove an unnamed container.
func opExit(req *Request, rep *Reply, d Deps) error {
	j, _, err := loadJob(req)
	if err != nil || !j.o.Enabled() {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	unlock, err := flock(ctx, j.stepFile(".lock"))
	if err != nil {
		return err
	}
	defer unlock()
	st, err := readStep(j.stepFile(".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return cleanAbandoned(j, d)
	}
	if err != nil {
		return err
	}
	store := container.Store{Dir: d.Config.DataPath}
	var errs []error
	if st.Failed == "" && st.Save != "" && j.nodeID == 0 {
		err := store.Export(st.Name, importer.Options{Output: st.Save, Force: true, Squash: d.Squash, Logger: d.Logger})
		if err != nil {
			errs = append(errs, fmt.Errorf("failed to export container %s to %s: %w", st.Name, st.Save, err))
		} else {
			rep.Log(fmt.Sprintf("exported container %s to %s", st.Name, st.Save))
		}
	}
	if st.OwnHolder {
		start := time.Now()
		defer func() {
			rep.Info(fmt.Sprintf("stopped container %s in %d ms", st.Name, time.Since(start).Milliseconds()))
		}()
		if err := stopHolder(&st.Holder); err != nil {
			errs = append(errs, err)
		}
		os.Remove(holderFile(j, st.Name))
	}
	if j.ps.Importer != "" && j.o.Image != "" && !isPath(j.o.Image) {
		if _, err := runImporter(ctx, req, j, d, "release"); err != nil {
			errs = append(errs, err)
		}
	}
	if st.Overlay != "" {
		// The cached tree below stays; the container's own layer goes.
		if err := container.RemoveRootfs(st.Overlay); err != nil {
			errs = append(errs, fmt.Errorf("failed to remove container filesystem: %w", err))
		}
	} else if st.Temporary && st.Failed == "" {
		rep.Info("removing container filesystem: " + st.Name)
		if err := store.Remove(st.Name); err != nil && !errors.Is(err, container.ErrNotExist) {
			errs = append(errs, fmt.Errorf("failed to remove container filesystem: %w", err))
		}
	}
	os.Remove(j.stepFile(".json"))
	os.Remove(j.stepFile(".lock"))
	return errors.Join(errs...)
}

// stopHolder ends a holder and waits (a few seconds) until it is gone, so
// that its rootfs can be removed.
func stopHolder(h *rootfs.HolderState) error {
	if err := rootfs.StopHolderWait(h, 5*time.Second); err != nil && !errors.Is(err, rootfs.ErrHolderGone) {
		return err
	}
	return nil
}

// jobStoresFile lists the data directories where a job's steps made named
// containers: the epilog has no job environment to find them by (a user may
// set ENROOT_DATA_PATH per job), so the steps write them down.
func jobStoresFile(dir, jobID string) string { return filepath.Join(dir, "job."+jobID+".stores") }

func recordJobStore(j *job, store string) error {
	path := jobStoresFile(j.dir, j.jobID)
	b, _ := boundedio.ReadFile(path, boundedio.Config)
	for _, l := range strings.Split(string(b), "\n") {
		if l == store {
			return nil
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("record job containers: %w", err)
	}
	// One short write with O_APPEND: concurrent steps never interleave lines.
	_, err = f.WriteString(store + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// opEpilog removes the job's containers (container_scope=job) from every
// data directory its steps used, and the job's leftover step state. Errors
// are reported, but the plugin never fails the epilog with them (a failed
// epilog drains the node, pyxis#138).
func opEpilog(req *Request, rep *Reply, d Deps) error {
	ps, err := ParsePlugstack(req.Args)
	if err != nil || ps.ContainerScope != ScopeJob {
		return err
	}
	jobID, err := req.Int("jobid")
	if err != nil {
		return err
	}
	uid, err := req.Int("uid")
	if err != nil {
		return err
	}
	id := strconv.FormatInt(jobID, 10)
	dir := filepath.Join(ps.RuntimePath, strconv.FormatInt(uid, 10))
	stores := []string{d.Config.DataPath}
	// The list of data directories is read only from a runtime directory
	// nobody else could have written it in.
	if pathtrust.CheckDir(dir, int(uid)) != nil {
		dir = ""
	}
	// Root reads a file of the user's: no link, no FIFO, no endless device.
	if b, err := boundedio.ReadFileNoFollow(jobStoresFile(dir, id), boundedio.Config); dir != "" && err == nil {
		stores = append(stores, strings.Fields(string(b))...)
	}
	prefix := "pyxis_" + id + "_"
	var errs []error
	seen := map[string]bool{}
	for _, sd := range stores {
		if seen[sd] {
			continue
		}
		seen[sd] = true
		store := container.Store{Dir: sd}
		names, err := store.List()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, n := range names {
			if !strings.HasPrefix(n, prefix) {
				continue
			}
			if err := store.Remove(n); err != nil {
				errs = append(errs, fmt.Errorf("container %s was not removed: %w", n, err))
			} else {
				rep.Info("removed container " + n)
			}
		}
	}
	if len(errs) == 0 {
		os.Remove(jobStoresFile(dir, id))
	}
	return errors.Join(errs...)
}

// cleanAbandoned removes what a step's setup made before it was killed
// (kill -9 between starting the holder and recording the step): nothing
// recorded it, so it is found by the step's own names. The holder state
// file names the step's holder, an unnamed step's container is its own
// (pyxis_JOB.STEP, in the store or as an overlay), and the step lock goes.
func cleanAbandoned(j *job, d Deps) error {
	var errs []error
	name := j.name()
	hf := holderFile(j, name)
	if h, err := rootfs.ReadState(hf); err == nil {
		// Only a live holder of this user: the PID may have been reused.
		if h.Check() == nil {
			if uid, err := rootfs.ProcUID(h.Pid); err == nil && uid == j.uid {
				errs = append(errs, stopHolder(h))
			}
		}
		os.Remove(hf)
	}
	if j.o.Name == "" {
		store := container.Store{Dir: d.Config.DataPath}
		if err := store.Remove(name); err != nil && !errors.Is(err, container.ErrNotExist) {
			errs = append(errs, fmt.Errorf("failed to remove container filesystem: %w", err))
		}
		overlay := filepath.Join(d.Config.DataPath, ".overlay-"+name)
		if _, err := os.Lstat(overlay); err == nil {
			errs = append(errs, container.RemoveRootfs(overlay))
		}
	}
	os.Remove(j.stepFile(".lock"))
	return errors.Join(errs...)
}
