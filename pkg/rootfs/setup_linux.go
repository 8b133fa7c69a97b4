// SPDX-License-Identifier: Apache-2.0

package rootfs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/pkg/namespaces"
)

// Setup prepares the mounts of a container and makes c.Rootfs its root
// directory. It must run inside the container's new user and mount
// namespaces (the init started by [Start]), with CAP_SYS_ADMIN there; it
// changes the root and working directory of the calling process.
//
// The sequence (enroot's runtime::_start):
//
//  1. mount / MS_REC|MS_SLAVE: host mount events still propagate in,
//     nothing propagates out.
//  2. bind c.Rootfs onto itself (MS_REC), remount nosuid,nodev: pivot_root
//     needs the new root to be a mount point.
//  3. the system mounts (systemMounts): /proc, /sys (ro), /dev, tmpfs on
//     /tmp, /var/run, /var/lock, /dev/shm, ro binds of the /etc files.
//  4. c.Mounts, in order (hooks will come between 3 and 4, as in enroot).
//  5. hostname (UTS namespace) and lo (network namespace).
//  6. pivot_root(".", ".") and detach of the old root.
//  7. remount / read-only unless c.Writable.
func Setup(c Config) error {
	if err := prepareMounts(c, false); err != nil || c.OverlayOnly {
		return err
	}
	return enterRoot(c.Rootfs, c.Writable, false)
}

// prepareMounts makes the mounts of steps 1-5 under c.Rootfs. With
// readOnlyNow (and not c.Writable) it also makes the rootfs mount read-only
// now, before pivot_root, so that the copy of the mount namespace that
// locks the mounts (lock_linux.go) locks it read-only.
func prepareMounts(c Config, readOnlyNow bool) error {
	if err := c.validate(); err != nil {
		return err
	}
	log := c.logger()
	// Slave, not private: a host unmount (say of a filesystem a user bound
	// in) still reaches the container, and no mount made here leaks to the
	// host. runc prepareRoot and enroot both use rslave. Go sets
	// MS_PRIVATE itself only for Unshareflags, not for Cloneflags.
	if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make / rslave: %w", err)
	}
	// pivot_root needs the new root to be a mount point whose parent is not
	// shared; a bind of the directory onto itself makes it one. Recursive
	// so that mounts already under it (a squashfuse overlay) come along.
	if o := c.Overlay; o != nil {
		// An overlay is a mount point of its own. Mounted here, in the
		// container's user namespace, it needs no privilege on the host.
		opts := "lowerdir=" + o.Lower + ",upperdir=" + o.Upper + ",workdir=" + o.Work
		if err := unix.Mount("overlay", c.Rootfs, "overlay", 0, opts); err != nil {
			return fmt.Errorf("overlay rootfs on %s: %w", c.Rootfs, err)
		}
		if c.OverlayOnly {
			return nil
		}
	} else if err := unix.Mount(c.Rootfs, c.Rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind rootfs %s: %w", c.Rootfs, err)
	}
	// Opened only now, on the bind: every later mount goes through this fd
	// and must land on the bind, not on the directory hidden below it.
	r, err := openRoot(c.Rootfs, c.Writable || c.CreateMountpoints)
	if err != nil {
		return err
	}
	defer r.close()
	// enroot binds the rootfs "nosuid,nodev": setuid binaries and device
	// nodes in an image must not work even if the unpacker missed them.
	if err := remount(r.fd, unix.MS_NOSUID|unix.MS_NODEV, false); err != nil {
		return fmt.Errorf("rootfs %s: %w", c.Rootfs, err)
	}
	for _, m := range systemMounts(c.Unshare) {
		if err := r.mount(m, log); err != nil {
			return err
		}
	}
	for _, m := range c.Mounts {
		if err := r.mount(m, log); err != nil {
			return err
		}
	}
	for _, l := range c.Links {
		if err := r.symlink(l); err != nil {
			return err
		}
	}
	for _, cmd := range c.Commands {
		if err := runCommand(cmd); err != nil {
			return err
		}
	}
	if c.Hostname != "" {
		if err := unix.Sethostname([]byte(c.Hostname)); err != nil {
			return fmt.Errorf("sethostname %q: %w", c.Hostname, err)
		}
	}
	if c.Unshare.Net {
		if err := namespaces.LoopbackUp(); err != nil {
			return err
		}
	}
	if readOnlyNow && !c.Writable {
		if err := remount(r.fd, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, false); err != nil {
			return fmt.Errorf("rootfs %s read-only: %w", c.Rootfs, err)
		}
	}
	return nil
}

// enterRoot makes rootfs the root (steps 6 and 7). rebind first binds it
// onto itself again: in a mount namespace copied into a less privileged
// user namespace the rootfs mount is locked to its parent (MNT_LOCKED) and
// pivot_root refuses it with EINVAL; a recursive bind made there is a new,
// unlocked mount that keeps the locked flags and submounts.
func enterRoot(rootfs string, writable, rebind bool) error {
	if rebind {
		if err := unix.Mount(rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind rootfs %s: %w", rootfs, err)
		}
	}
	if err := pivotRoot(rootfs); err != nil {
		return err
	}
	if writable {
		return nil
	}
	return readOnlyRoot()
}

// readOnlyRoot remounts the new / read-only (enroot: "bind,nosuid,nodev,ro"
// unless ENROOT_ROOTFS_WRITABLE). Only the rootfs mount changes; /tmp and
// the other mounts on it keep their own flags.
func readOnlyRoot() error {
	fd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("remount / read-only: %w", err)
	}
	defer unix.Close(fd)
	if err := remount(fd, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, false); err != nil {
		return fmt.Errorf("/: %w", err)
	}
	return nil
}

// runCommand runs a setup tool to completion, its output on the init's stderr.
func runCommand(c Command) error {
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = c.Env, os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("%s exited with return code %d", filepath.Base(c.Path), ee.ExitCode())
		}
		return fmt.Errorf("%s: %w", filepath.Base(c.Path), err)
	}
	return nil
}
