// SPDX-License-Identifier: Apache-2.0

package rootfs

import (
	"errors"
	"fmt"
	"log/slog"
	"path"
	"path/filepath"
	"strings"

	"github.com/gpyxis/gpyxis/pkg/mountspec"
	"github.com/gpyxis/gpyxis/pkg/namespaces"
)

// Config describes the mounts [Setup] makes for a container whose root
// filesystem is an already unpacked directory. It travels as JSON from the
// runtime to the container's init.
type Config struct {
	// Rootfs is the absolute host path of the unpacked root filesystem.
	Rootfs string `json:"rootfs"`
	// Writable leaves / read-write in the container and allows Setup to
	// create missing mount points in the rootfs directory. Default false:
	// / is remounted read-only and the image directory is never modified.
	Writable bool `json:"writable,omitempty"`
	// CreateMountpoints allows Setup to create missing mount points in the
	// rootfs directory even when / ends read-only: for a rootfs that belongs to
	// the container (a run's private copy), as enroot creates them before its
	// read-only remount. Default false.
	CreateMountpoints bool `json:"create_mountpoints,omitempty"`
	// Links are symbolic links made after the mounts, inside the rootfs (the /dev
	// links of a restricted /dev, which live on a tmpfs only the container has).
	// An existing entry at Path is left alone.
	Links []Link `json:"links,omitempty"`
	// Commands run after the mounts and links, inside the container's namespaces but
	// before pivot_root, with the rootfs at its host path: tools that set a rootfs up
	// from outside, as nvidia-container-cli does in enroot's 98-nvidia hook. Output goes
	// to the init's stderr; a failure stops the start.
	Commands []Command `json:"commands,omitempty"`
	// Unshare lists the optional namespaces the container was created with.
	// A PID namespace gets a fresh procfs instead of a bind of the host's,
	// a network namespace a fresh read-only sysfs and a running lo.
	Unshare namespaces.Unshare `json:"unshare,omitzero"`
	// Hostname, if set, is the container's hostname. It needs Unshare.UTS.
	Hostname string `json:"hostname,omitempty"`
	// Overlay, if set, makes the root filesystem an overlay of a read-only
	// lower tree (a node cache entry shared by many containers) and a
	// private upper directory, mounted on Rootfs inside the container's
	// namespaces (unprivileged overlayfs, Linux 5.11) instead of binding
	// Rootfs onto itself. Rootfs is then an empty mount point.
	Overlay *Overlay `json:"overlay,omitempty"`
	// OverlayOnly makes Setup stop after mounting the overlay: a holder
	// started so keeps the merged tree reachable from the host through
	// /proc/PID/root/ROOTFS, where the hooks prepare it (their writes land in
	// the upper directory) before the container proper starts.
	OverlayOnly bool `json:"overlay_only,omitempty"`
	// Mounts are the caller's mounts (--container-mounts, image volumes,
	// hooks), made in order after the system mounts.
	Mounts []Mount `json:"mounts,omitempty"`
	// Logger receives debug messages about skipped optional mounts.
	// Default: discard.
	Logger *slog.Logger `json:"-"`
}

// Mount is one mount(2) inside the container. Targets are resolved inside
// the rootfs: symlinks in them are followed as if the rootfs were /, so a
// target can never land outside it.
type Mount struct {
	// Source is a host path for bind mounts, or the device name for others
	// ("tmpfs", "proc").
	Source string `json:"source"`
	// Target is the absolute path inside the container.
	Target string `json:"target"`
	// FSType is the filesystem type; empty for bind mounts.
	FSType string `json:"fstype,omitempty"`
	// Flags are MS_* flags. MS_BIND makes a bind mount, MS_BIND|MS_REC a
	// recursive one; any other flag on a bind (MS_RDONLY, MS_NOSUID, ...)
	// is applied by a second MS_REMOUNT that keeps the flags the kernel
	// locked on the source. Propagation flags (MS_SLAVE, MS_PRIVATE,
	// MS_SHARED, MS_UNBINDABLE, recursive with MS_REC) are applied by a
	// separate call.
	Flags uintptr `json:"flags,omitempty"`
	// Data is the filesystem-specific option string ("size=1m,mode=755").
	Data string `json:"data,omitempty"`
	// Create says whether to create a missing target (enroot x-create).
	// Targets are created only when Config.Writable is set or when their
	// parent directory is on a mount Setup made (a tmpfs), never in a
	// read-only image.
	Create Create `json:"create,omitempty"`
	// Optional skips the mount, with a debug message, when its source does
	// not exist or its target is missing and cannot be created (enroot
	// nofail). Other errors are still fatal.
	Optional bool `json:"optional,omitempty"`
	// Detach lazily unmounts what is mounted on Target (enroot x-detach,
	// pyxis' "umount:" entries) instead of mounting: it removes a mount an
	// earlier entry or hook made, such as the home directory.
	Detach bool `json:"detach,omitempty"`
}

// Create is the x-create policy of a mount target: the same values as the mount
// specifications pkg/mountspec parses, so they pass through unchanged.
type Create = mountspec.Create

// Create policies.
const (
	// CreateNone requires the target to exist.
	CreateNone = mountspec.CreateNone
	// CreateDir creates a missing target and its parents as directories.
	CreateDir = mountspec.CreateDir
	// CreateFile creates a missing target as an empty file, and its parents
	// as directories.
	CreateFile = mountspec.CreateFile
	// CreateAuto creates a file if the source is a non-directory bind
	// source, a directory otherwise.
	CreateAuto = mountspec.CreateAuto
)

// validate checks what can be checked without touching the filesystem.
func (c *Config) validate() error {
	if !filepath.IsAbs(c.Rootfs) {
		return fmt.Errorf("rootfs %q: not an absolute path", c.Rootfs)
	}
	if c.Hostname != "" && !c.Unshare.UTS {
		return fmt.Errorf("hostname %q needs a UTS namespace", c.Hostname)
	}
	if o := c.Overlay; o != nil {
		for _, p := range []string{o.Lower, o.Upper, o.Work} {
			// The overlay option string separates with ',' and ':'.
			if !filepath.IsAbs(p) || strings.ContainsAny(p, ",:\\") {
				return fmt.Errorf("overlay directory %q: must be an absolute path without ',', ':' or '\\'", p)
			}
		}
	} else if c.OverlayOnly {
		return errors.New("overlay_only without an overlay")
	}
	for _, m := range c.Mounts {
		if !path.IsAbs(m.Target) {
			return fmt.Errorf("mount target %q: not an absolute path", m.Target)
		}
		if m.Create < CreateNone || m.Create > CreateAuto {
			return fmt.Errorf("mount target %q: bad create policy %d", m.Target, m.Create)
		}
	}
	return nil
}

func (c *Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// Overlay names the directories of an overlay root filesystem.
type Overlay struct {
	Lower string `json:"lower"` // read-only tree, never written
	Upper string `json:"upper"` // the container's changes
	Work  string `json:"work"`  // overlayfs' work directory, on Upper's filesystem
}

// Link is a symbolic link Setup makes: Path (absolute, inside the container) points
// to Target.
type Link struct {
	Path   string `json:"path"`
	Target string `json:"target"`
}

// Command is a program Setup runs before pivot_root.
type Command struct {
	Path string   `json:"path"`
	Args []string `json:"args"`
	Env  []string `json:"env"`
}
