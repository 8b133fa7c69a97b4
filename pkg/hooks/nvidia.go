// SPDX-License-Identifier: Apache-2.0

package hooks

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/pkg/rootfs"
)

// Host lookups of the nvidia hook (variables for tests).
var (
	procModules = "/proc/modules"
	lookPath    = lookPathIn
)

// nvidiaCaps are the driver capabilities "all" expands to, in enroot's
// order.
var nvidiaCaps = []string{"compute", "compat32", "display", "graphics", "utility", "video"}

// NvidiaArgs returns the nvidia-container-cli command line enroot's
// 98-nvidia.sh runs for ctx, without the program name, or nil when the
// hook has nothing to do (NVIDIA_VISIBLE_DEVICES unset, empty or "void").
// NVIDIA_* values are taken from ctx.HostEnv first, then ctx.Env ("host
// env wins"):
//
//	--user [--debug=/dev/stderr] configure --no-cgroups --ldconfig=@LDCONFIG
//	[--device=DEVICES] [--mig-config=...] [--mig-monitor=...] [--CAP...]
//	[--require=REQ...] ROOTFS
//
// DEVICES is NVIDIA_VISIBLE_DEVICES unless "none" (libraries without
// devices). Capabilities come from NVIDIA_DRIVER_CAPABILITIES (default
// "utility"; "all" is every capability); an unknown one is an error, as
// in enroot. Every NVIDIA_REQUIRE_* value, in name order, becomes a
// --require unless NVIDIA_DISABLE_REQUIRE is set. --debug is added when
// NVIDIA_DEBUG_LOG is set. LDCONFIG is ldconfig.real or ldconfig, looked
// up in PATH plus /usr/sbin:/sbin.
func NvidiaArgs(ctx *Context) ([]string, error) {
	visible, _ := ctx.lookup("NVIDIA_VISIBLE_DEVICES")
	if visible == "" || visible == "void" {
		return nil, nil
	}
	ldconfig, err := lookPath("ldconfig.real", ctx)
	if err != nil {
		if ldconfig, err = lookPath("ldconfig", ctx); err != nil {
			return nil, fmt.Errorf("command not found: ldconfig")
		}
	}
	args := []string{"--user"}
	if _, ok := ctx.lookup("NVIDIA_DEBUG_LOG"); ok {
		args = append(args, "--debug=/dev/stderr")
	}
	args = append(args, "configure", "--no-cgroups", "--ldconfig=@"+ldconfig)
	if visible != "none" {
		args = append(args, "--device="+visible)
	}
	if v, ok := ctx.lookup("NVIDIA_MIG_CONFIG_DEVICES"); ok && v != "" {
		args = append(args, "--mig-config="+v)
	}
	if v, ok := ctx.lookup("NVIDIA_MIG_MONITOR_DEVICES"); ok && v != "" {
		args = append(args, "--mig-monitor="+v)
	}
	caps, _ := ctx.lookup("NVIDIA_DRIVER_CAPABILITIES")
	if caps == "" {
		caps = "utility"
	}
	for _, c := range strings.Fields(strings.ReplaceAll(caps, ",", " ")) {
		if c == "all" {
			for _, a := range nvidiaCaps {
				args = append(args, "--"+a)
			}
			break
		}
		if !slices.Contains(nvidiaCaps, c) {
			return nil, fmt.Errorf("unknown NVIDIA driver capability: %s", c)
		}
		args = append(args, "--"+c)
	}
	if _, ok := ctx.lookup("NVIDIA_DISABLE_REQUIRE"); !ok {
		for _, name := range ctx.nvidiaRequires() {
			v, _ := ctx.lookup(name)
			args = append(args, "--require="+v)
		}
	}
	return append(args, ctx.Rootfs), nil
}

// nvidiaRequires lists the NVIDIA_REQUIRE_* names in HostEnv and Env,
// sorted as bash's compgen -e lists them.
func (ctx *Context) nvidiaRequires() []string {
	var names []string
	for _, kv := range append(slices.Clone(ctx.HostEnv), ctx.Env.List()...) {
		n, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(n, "NVIDIA_REQUIRE_") && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// nvidia is enroot's 98-nvidia.sh: when NVIDIA_VISIBLE_DEVICES asks for
// GPUs and nvidia-container-cli is installed, run it on the rootfs (it
// mounts the driver libraries and devices and runs ldconfig there). With
// the compute capability it also binds /dev/gdrdrv and
// /dev/nvidia-caps-imex-channels (optional). When the CLI is not installed
// the hook is skipped with a debug message (enroot fails instead).
func nvidia(ctx *Context) error {
	cmd, err := NvidiaCommand(ctx)
	if err != nil || cmd == nil {
		return err
	}
	c := exec.Command(cmd.Path, cmd.Args...)
	c.Env = cmd.Env
	c.Stdout, c.Stderr = ctx.output(), ctx.output()
	if err := c.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return &ExitError{Hook: "nvidia-container-cli", Code: ee.ExitCode()}
		}
		return fmt.Errorf("nvidia-container-cli: %w", err)
	}
	return nil
}

// Command is a program a hook needs run; the nvidia one must run inside the
// container's user and mount namespaces, before pivot_root (see rootfs.Config.Commands).
type Command struct {
	Path string
	Args []string
	Env  []string
}

// NvidiaCommand returns the nvidia-container-cli invocation 98-nvidia.sh would make,
// and adds the GPU device mounts that go with it to ctx.Mounts; nil when the hook is
// off, no GPU is asked for (NVIDIA_VISIBLE_DEVICES unset, empty or void) or the tool is
// not installed.
func NvidiaCommand(ctx *Context) (*Command, error) {
	if !ctx.Enabled("nvidia") {
		return nil, nil
	}
	if v, _ := ctx.lookup("NVIDIA_VISIBLE_DEVICES"); v == "" || v == "void" {
		return nil, nil
	}
	cli, err := lookPath("nvidia-container-cli", ctx)
	if err != nil {
		ctx.logger().Debug("nvidia: nvidia-container-cli not installed, skipping")
		return nil, nil
	}
	args, err := NvidiaArgs(ctx)
	if err != nil {
		return nil, err
	}
	if data, err := os.ReadFile(procModules); err == nil && !strings.Contains(string(data), "nvidia_uvm") {
		ctx.logger().Warn("Kernel module nvidia_uvm is not loaded. Make sure the NVIDIA device driver is installed and loaded.")
	}
	if slices.Contains(args, "--compute") {
		ctx.Mounts = append(ctx.Mounts,
			rootfs.Mount{Source: "/dev/gdrdrv", Target: "/dev/gdrdrv",
				Flags: unix.MS_BIND | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NOEXEC, Create: rootfs.CreateFile, Optional: true},
			rootfs.Mount{Source: "/dev/nvidia-caps-imex-channels", Target: "/dev/nvidia-caps-imex-channels",
				Flags: unix.MS_BIND | unix.MS_REC | unix.MS_NOSUID | unix.MS_NOEXEC, Create: rootfs.CreateDir, Optional: true},
		)
	}
	return &Command{Path: cli, Args: args, Env: ctx.execEnv()}, nil
}

// lookPathIn finds name in the PATH of ctx.HostEnv (else the runtime's),
// plus /usr/sbin:/sbin as 98-nvidia.sh adds.
func lookPathIn(name string, ctx *Context) (string, error) {
	p, ok := ctx.hostLookup("PATH")
	if !ok {
		p = os.Getenv("PATH")
	}
	for _, dir := range strings.Split(p+":/usr/sbin:/sbin", ":") {
		if dir == "" {
			continue
		}
		f := dir + "/" + name
		if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return f, nil
		}
	}
	return "", exec.ErrNotFound
}
