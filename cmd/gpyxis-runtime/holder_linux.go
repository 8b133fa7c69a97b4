// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gpyxis/gpyxis/pkg/container"
	"github.com/gpyxis/gpyxis/pkg/rootfs"
)

// holderStatePath is the default state file of NAME's holder:
// RUNTIME_PATH/holder.NAME.json.
func holderStatePath(name string) (string, error) {
	if err := container.CheckName(name); err != nil {
		return "", err
	}
	cfg, err := siteConfig()
	if err != nil {
		return "", err
	}
	dir, err := userDir("runtime directory", cfg.RuntimePath)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "holder."+name+".json"), nil
}

// startDetached is `start --detach`: container NAME held by a detached
// holder, whose PID goes to stdout and whose state goes to stateFile.
func startDetached(ctx context.Context, stdout io.Writer, st container.Store, name string, o container.StartOptions, stateFile string) error {
	if stateFile == "" {
		p, err := holderStatePath(name)
		if err != nil {
			return err
		}
		stateFile = p
	}
	if err := os.MkdirAll(filepath.Dir(stateFile), 0o700); err != nil {
		return fmt.Errorf("holder state directory: %w", err)
	}
	if err := rootfs.CheckStatePath(stateFile); err != nil { // before the holder starts
		return err
	}
	if old, err := rootfs.ReadState(stateFile); err == nil && old.Check() == nil {
		return fmt.Errorf("%w: %s is held by pid %d already (%s; gpyxis-runtime stop %s)",
			container.ErrRunning, name, old.Pid, stateFile, name)
	}
	// The holder outlives this process: it must not keep the caller's stderr
	// (a pipe whose reader waits for everyone to close it). A writer that is
	// not an *os.File gets a pipe of its own, copied here during the setup.
	o.Stdin, o.Stdout, o.Stderr = nil, nil, struct{ io.Writer }{os.Stderr}
	h, err := st.Hold(ctx, name, o, stateFile)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, h.State.Pid)
	return err
}

const stopAbout = `Stop a container holder started by 'start --detach': send it SIGTERM and wait
up to --timeout for it to exit. The holder is named by the container
NAME (its default state file, else the holder running in NAME), by its PID, or by
its state file. Commands that joined it with exec keep running.`

func runStop(stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("stop", flag.ContinueOnError)
	var dataDir string
	var timeout time.Duration
	fs.StringVar(&dataDir, "data-dir", "", "where containers live (to find NAME's holder without its state file)")
	fs.DurationVar(&timeout, "timeout", 10*time.Second, "how long to wait for the holder to exit (0: do not wait)")
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		usageFor(stdout, fs, "stop [OPTIONS] NAME|PID|STATEFILE", stopAbout)
		return nil
	}
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: stop takes one container name, holder PID or state file", errUsage)
	}
	state, stateFile, err := stopTarget(pos[0], dataDir)
	if err != nil {
		return err
	}
	err = rootfs.StopHolderWait(state, timeout)
	if stateFile != "" && (err == nil || errors.Is(err, rootfs.ErrHolderGone)) {
		os.Remove(stateFile)
	}
	if err != nil {
		return fmt.Errorf("stop %s: %w", pos[0], err)
	}
	return nil
}

// stopTarget resolves stop's argument to the holder and its state file ("" if
// none is known).
func stopTarget(arg, dataDir string) (*rootfs.HolderState, string, error) {
	if pid, err := strconv.Atoi(arg); err == nil {
		s, err := holderByPid(pid)
		if err != nil {
			return nil, "", err
		}
		return s, stateFileOf(pid), nil
	}
	if strings.ContainsRune(arg, '/') || strings.HasSuffix(arg, ".json") {
		s, err := rootfs.ReadState(arg)
		return s, arg, err
	}
	path, err := holderStatePath(arg)
	if err != nil {
		return nil, "", err
	}
	if s, err := rootfs.ReadState(path); err == nil {
		return s, path, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, "", err
	}
	st, err := store(dataDir)
	if err != nil {
		return nil, "", err
	}
	if _, err := st.Lookup(arg); err != nil {
		return nil, "", err
	}
	for _, pid := range st.Pids(arg) {
		if s, err := holderByPid(pid); err == nil {
			return s, "", nil
		}
	}
	return nil, "", fmt.Errorf("%w: no holder of %s is running (gpyxis-runtime start --detach %s starts one)",
		rootfs.ErrHolderGone, arg, arg)
}

// holderByPid checks that pid is a holder of the caller's and returns its
// state.
func holderByPid(pid int) (*rootfs.HolderState, error) {
	uid, err := rootfs.ProcUID(pid)
	if err != nil {
		return nil, fmt.Errorf("pid %d: %w", pid, err)
	}
	if uid != os.Getuid() {
		return nil, fmt.Errorf("not your container: pid %d belongs to uid %d, you are uid %d", pid, uid, os.Getuid())
	}
	if !strings.HasSuffix(container.ProcCommand(pid), " "+rootfs.InitArg) {
		return nil, fmt.Errorf("pid %d is not a container holder (%s)", pid, container.ProcCommand(pid))
	}
	start, err := rootfs.ProcStartTime(pid)
	if err != nil {
		return nil, fmt.Errorf("pid %d: %w", pid, err)
	}
	return &rootfs.HolderState{Pid: pid, StartTime: start}, nil
}

// stateFileOf finds the default state file that names pid, if any.
func stateFileOf(pid int) string {
	cfg, err := siteConfig()
	if err != nil {
		return ""
	}
	files, _ := filepath.Glob(filepath.Join(cfg.RuntimePath, "holder.*.json"))
	for _, f := range files {
		if s, err := rootfs.ReadState(f); err == nil && s.Pid == pid {
			return f
		}
	}
	return ""
}
