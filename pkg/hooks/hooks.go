// SPDX-License-Identifier: Apache-2.0

package hooks

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/gpyxis/gpyxis/internal/inroot"
	"github.com/gpyxis/gpyxis/pkg/environ"
	"github.com/gpyxis/gpyxis/pkg/rootfs"
)

// Context is what hooks read and produce. The runtime fills it before the
// container init starts; hooks append to Mounts, change Env and write files
// under Rootfs.
type Context struct {
	// Rootfs is the host path of the container rootfs directory, writable
	// by the caller at this point.
	Rootfs string
	// UID and GID are the host ids of the user.
	UID, GID int
	// RemapRoot says the user is mapped to root inside (enroot --root).
	RemapRoot bool
	// User is the host user name; looked up from UID when empty.
	User string
	// Home is the host $HOME; the passwd home of UID when empty.
	Home string
	// Env is the container environment being built; hooks may add to it.
	// It must not be nil.
	Env *environ.Env
	// HostEnv is the environment the hooks see, NAME=VALUE strings (what
	// enroot's hooks inherit: the caller's environment). Site hooks get it
	// as their environment, and the nvidia hook reads NVIDIA_* from it
	// first ("host env wins", as 98-nvidia.sh does). For lookups nil means
	// none; executables then inherit the runtime's own environment.
	HostEnv []string
	// PID is exported to site hooks as ENROOT_PID; 0 means os.Getpid().
	PID int
	// Mounts are the mounts hooks produce, in order; the container init
	// applies them after its system mounts and before the user's mounts.
	Mounts []rootfs.Mount
	// Links are symbolic links the container init must create after the
	// mounts (the /dev links of restrict_dev, on a tmpfs that only exists
	// in the container). rootfs.Config has no field for them yet.
	Links []Link
	// Config holds the switches (see the package documentation); a
	// missing key takes enroot's default.
	Config map[string]string
	// Logger receives debug and warning messages; nil discards them.
	Logger *slog.Logger
	// Output receives the standard output and error of site hooks and of
	// nvidia-container-cli; nil discards them.
	Output io.Writer

	root *inroot.Root // Rootfs opened by fs
}

// Hook is one hook.
type Hook interface {
	// Name is the hook's name in messages: the builtin's name or the site
	// hook's path.
	Name() string
	// Run applies the hook to ctx.
	Run(ctx *Context) error
}

// Builtin returns the built-in hooks in enroot's order (the glob order of
// its conf/hooks/*.sh). Each checks its own switch when run.
func Builtin() []Hook {
	return []Hook{
		builtin{"aptfix", aptfix},
		builtin{"cgroups", cgroups},
		builtin{"devices", devices},
		builtin{"home", home},
		builtin{"localtime", localtime},
		builtin{"shadow", shadow},
		builtin{"nvidia", nvidia},
	}
}

type builtin struct {
	name string
	run  func(*Context) error
}

func (b builtin) Name() string           { return b.name }
func (b builtin) Run(ctx *Context) error { return b.run(ctx) }

// RunAll runs hooks in order and stops at the first error, which names the
// hook.
func RunAll(ctx *Context, hooks []Hook) error {
	if ctx.Env == nil {
		ctx.Env = environ.New()
	}
	defer ctx.closeFS()
	for _, h := range hooks {
		ctx.logger().Debug("running hook", "hook", h.Name())
		if err := h.Run(ctx); err != nil {
			var ee *ExitError
			if errors.As(err, &ee) {
				return err
			}
			return fmt.Errorf("hook %s: %w", h.Name(), err)
		}
	}
	return nil
}

// defaults are enroot's: ENROOT_MOUNT_HOME and ENROOT_RESTRICT_DEV unset,
// the other hooks always run.
var defaults = map[string]bool{
	"aptfix": true, "cgroups": true, "restrict_dev": false, "unshare_ipc": false,
	"mount_home": false, "localtime": true, "shadow": true, "nvidia": true,
}

// Enabled reports the switch key of ctx.Config, or its default.
func (ctx *Context) Enabled(key string) bool {
	v, ok := ctx.Config[key]
	if !ok {
		return defaults[key]
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "n", "no", "false", "off":
		return false
	}
	return true
}

func (ctx *Context) logger() *slog.Logger {
	if ctx.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return ctx.Logger
}

// execEnv is the base environment of the executables hooks run.
func (ctx *Context) execEnv() []string {
	if ctx.HostEnv == nil {
		return os.Environ()
	}
	return slices.Clone(ctx.HostEnv)
}

func (ctx *Context) output() io.Writer {
	if ctx.Output == nil {
		return io.Discard
	}
	return ctx.Output
}

// hostLookup finds name in HostEnv (last setting wins).
func (ctx *Context) hostLookup(name string) (string, bool) {
	for i := len(ctx.HostEnv) - 1; i >= 0; i-- {
		if n, v, ok := strings.Cut(ctx.HostEnv[i], "="); ok && n == name {
			return v, true
		}
	}
	return "", false
}

// lookup finds name in HostEnv, then in Env: enroot hooks export the
// environ file's values only where the hook's own environment lacks them.
func (ctx *Context) lookup(name string) (string, bool) {
	if v, ok := ctx.hostLookup(name); ok {
		return v, true
	}
	return ctx.Env.Get(name)
}
