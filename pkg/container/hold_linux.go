// SPDX-License-Identifier: Apache-2.0

package container

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/gpyxis/gpyxis/pkg/namespaces"
	"github.com/gpyxis/gpyxis/pkg/rootfs"
)

// Holding is a container held running by a detached holder process, for
// processes that join it (Slurm tasks, `gpyxis-runtime exec`).
type Holding struct {
	// State is the holder's PID, start time, environment and working
	// directory, as written to the state file.
	State rootfs.HolderState
	// Seccomp is the BPF program joiners load (empty: none).
	Seccomp []byte
}

// Hold sets container NAME up as Start does (hooks, mounts, environment,
// working directory with /etc/rc's WORKDIR, o.Conf; o.RC is ignored) but
// runs no command: a detached holder keeps its namespaces until
// [rootfs.StopHolder]. The holder's state is written to stateFile
// (atomically) when that is not empty. The rootfs lock is held during setup
// only, so that several holders may share a rootfs (pyxis' :no_exec).
func (s Store) Hold(ctx context.Context, name string, o StartOptions, stateFile string) (*Holding, error) {
	dir, err := s.Lookup(name)
	if err != nil {
		return nil, err
	}
	if o.Conf != "" {
		if o.Conf, err = CheckConf(o.Conf); err != nil {
			return nil, err
		}
	}
	if err := namespaces.Check(); err != nil {
		return nil, err
	}
	unlock, err := lock(filepath.Join(dir, ".lock"), 30*time.Second)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer unlock()
	p, err := prepare(dir, s.loadConfig(name), o)
	if err != nil {
		return nil, err
	}
	return holdPrepared(ctx, p, o, stateFile, nil)
}

// holdPrepared starts a detached holder on a prepared container. keep are
// files the holder keeps open for its life.
func holdPrepared(ctx context.Context, p *prepared, o StartOptions, stateFile string, keep []*os.File) (*Holding, error) {
	h, err := rootfs.StartHolder(ctx, rootfs.HolderConfig{
		Rootfs: p.rootfs, IDMap: p.idmap, Env: p.env, Dir: p.dir, StateFile: stateFile, Stderr: o.Stderr,
		ExtraFiles: keep,
	})
	if err != nil {
		return nil, err
	}
	if err := h.Detach(); err != nil {
		h.Stop(time.Second)
		return nil, fmt.Errorf("start %s: detach holder: %w", p.rootfs.Rootfs, err)
	}
	return &Holding{State: h.State, Seccomp: p.seccomp}, nil
}

// rcWorkdirRe matches the line of an enroot-style /etc/rc (written by gpyxis'
// import and by enroot) that enters the image's WORKDIR.
var rcWorkdirRe = regexp.MustCompile(`(?m)^cd "([^"]*)" && unset OLDPWD`)

// rcWorkdir returns the WORKDIR recorded in the rootfs' /etc/rc, or "" if
// there is none: the working directory of a container made from a squashfs
// file, whose image config is not kept.
func rcWorkdir(dir string) string {
	b, err := readImageFile(dir, "/etc/rc")
	if err != nil {
		return ""
	}
	if m := rcWorkdirRe.FindSubmatch(b); m != nil && filepath.IsAbs(string(m[1])) {
		return string(m[1])
	}
	return ""
}

// Workdir returns the working directory a process entering container NAME
// starts in: the image's WORKDIR (from its config, or from /etc/rc for a
// container made from a squashfs file), or "/".
func (s Store) Workdir(name string) string {
	if wd := s.loadConfig(name).WorkingDir; wd != "" {
		return wd
	}
	if wd := rcWorkdir(s.Rootfs(name)); wd != "" {
		return wd
	}
	return "/"
}
