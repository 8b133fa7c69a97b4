// SPDX-License-Identifier: Apache-2.0

package hooks

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/gpyxis/gpyxis/pkg/environ"
	"github.com/gpyxis/gpyxis/pkg/mountspec"
)

// ExitError is a hook executable that failed. Its message is enroot's:
// "<hook> exited with return code N".
type ExitError struct {
	Hook string // the hook's path, or the name given to [Exec]
	Code int    // exit status; 128+signal when killed by a signal, as bash reports it
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("%s exited with return code %d", e.Hook, e.Code)
}

// Site returns the site hooks of dir in glob order: the executable regular
// files (enroot runs the executable hooks.d/*.sh; any executable name is
// accepted here). Non-executable files and directories are skipped. A
// missing dir has no hooks.
func Site(dir string) ([]Hook, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		return nil, fmt.Errorf("site hooks %s: %w", dir, err)
	}
	var hooks []Hook
	for _, p := range names {
		fi, err := os.Stat(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // dangling link
			}
			return nil, fmt.Errorf("site hook: %w", err)
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			continue
		}
		hooks = append(hooks, siteHook{name: p, argv: []string{p}})
	}
	return hooks, nil
}

// Exec returns a hook that runs argv (argv[0] is looked up in PATH) with the
// site hooks' contract: the hooks() function of an enroot configuration
// script (start --conf), run by bash. name is the hook's name in messages.
func Exec(name string, argv ...string) Hook { return siteHook{name: name, argv: argv} }

// siteHook is a program run with enroot's hook contract: a hooks.d
// executable (argv is its path alone) or a command given to [Exec].
type siteHook struct {
	name string
	argv []string
}

func (h siteHook) Name() string { return h.name }

// Run executes the hook with enroot's contract (runtime::_start): the
// environ file starts with the current container environment and is read
// back whole after the hook (envfmt rules, ENROOT_* dropped, later lines
// win); the mounts file starts empty and its pass-0 entries are appended
// to ctx.Mounts.
func (h siteHook) Run(ctx *Context) error {
	tmp, err := os.MkdirTemp("", "gpyxis-hook-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	envFile := filepath.Join(tmp, "environment")
	mountsFile := filepath.Join(tmp, "fstab")
	var env strings.Builder
	for _, kv := range ctx.Env.List() {
		env.WriteString(kv + "\n")
	}
	if err := os.WriteFile(envFile, []byte(env.String()), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(mountsFile, nil, 0o600); err != nil {
		return err
	}
	if len(h.argv) == 0 {
		return fmt.Errorf("%s: no command", h.name)
	}
	cmd := exec.Command(h.argv[0], h.argv[1:]...)
	cmd.Env = append(ctx.execEnv(), h.contract(ctx, envFile, mountsFile)...)
	cmd.Stdout, cmd.Stderr = ctx.output(), ctx.output()
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code := ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
			return &ExitError{Hook: h.name, Code: code}
		}
		return fmt.Errorf("%s: %w", h.name, err)
	}
	if err := ctx.Env.LoadFile(envFile, keepRefs); err != nil {
		return err
	}
	specs, err := mountspec.ParseFstabFile(mountsFile, nil)
	if err != nil {
		return err
	}
	mounts, err := convertMounts(specs)
	if err != nil {
		return err
	}
	ctx.Mounts = append(ctx.Mounts, mounts...)
	return nil
}

// keepRefs leaves ${NAME} as written: enroot does not substitute the
// environ file again after the hooks.
var keepRefs environ.Lookup = func(name string) (string, bool) { return "${" + name + "}", true }

// contract is the hook's enroot environment, also under GPYXIS_* names.
func (h siteHook) contract(ctx *Context, envFile, mountsFile string) []string {
	pid := ctx.PID
	if pid == 0 {
		pid = os.Getpid()
	}
	vars := [][2]string{
		{"ROOTFS", ctx.Rootfs}, {"PID", strconv.Itoa(pid)},
		{"ENVIRON", envFile}, {"MOUNTS", mountsFile},
	}
	if ctx.RemapRoot {
		vars = append(vars, [2]string{"REMAP_ROOT", "y"})
	}
	if ctx.Enabled("mount_home") {
		vars = append(vars, [2]string{"MOUNT_HOME", "y"})
	}
	if ctx.Enabled("restrict_dev") {
		vars = append(vars, [2]string{"RESTRICT_DEV", "y"})
	}
	var out []string
	for _, v := range vars {
		out = append(out, "ENROOT_"+v[0]+"="+v[1], "GPYXIS_"+v[0]+"="+v[1])
	}
	return out
}
