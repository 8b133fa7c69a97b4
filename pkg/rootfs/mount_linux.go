// SPDX-License-Identifier: Apache-2.0

package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"golang.org/x/sys/unix"
)

// mount makes m inside the rootfs. Optional mounts whose source or target is
// missing are skipped with a debug message.
func (r *root) mount(m Mount, log *slog.Logger) error {
	if m.Detach {
		return r.detach(m, log)
	}
	bind := m.Flags&unix.MS_BIND != 0
	what := m.Source
	if what == "" {
		what = m.FSType
	}
	isDir := true
	if bind {
		fi, err := os.Stat(m.Source)
		if err != nil {
			if m.Optional && errors.Is(err, fs.ErrNotExist) {
				log.Debug("skipping optional mount: no source", "source", m.Source, "target", m.Target)
				return nil
			}
			return fmt.Errorf("mount %s on %s: source: %w", what, m.Target, unwrapPath(err))
		}
		isDir = fi.IsDir()
	}
	fd, err := r.ensure(m.Target, m.Create, isDir)
	if err != nil {
		if m.Optional && (errors.Is(err, unix.ENOENT) || errors.Is(err, errNoCreate)) {
			log.Debug("skipping optional mount: no target", "source", what, "target", m.Target, "err", err)
			return nil
		}
		return fmt.Errorf("mount %s on %s: target: %w", what, m.Target, err)
	}
	defer unix.Close(fd)

	// The target is named through its fd, so the path resolved inside the
	// rootfs is exactly the one mounted on, even if a symlink changed since.
	if bind {
		err = unix.Mount(m.Source, fdPath(fd), "", unix.MS_BIND|(m.Flags&unix.MS_REC), "")
	} else {
		// Propagation flags turn mount(2) into a propagation change and
		// are ignored with a new mount: they need their own call below.
		err = unix.Mount(m.Source, fdPath(fd), m.FSType, m.Flags&^(propagationFlags|unix.MS_REC), m.Data)
	}
	if err != nil {
		return fmt.Errorf("mount %s on %s: %w", what, m.Target, err)
	}
	if !(bind && m.Flags&remountFlags != 0) && m.Flags&propagationFlags == 0 {
		return nil
	}
	// fd still names the directory under the new mount. Resolving the
	// target again walks into the mount and yields its root, which is what
	// MS_REMOUNT and propagation changes act on.
	top, err := r.open(m.Target)
	if err != nil {
		return fmt.Errorf("mount %s on %s: reopen: %w", what, m.Target, err)
	}
	defer unix.Close(top)
	if bind && m.Flags&remountFlags != 0 {
		if err := remount(top, m.Flags, m.Flags&unix.MS_REC != 0); err != nil {
			return fmt.Errorf("mount %s on %s: %w", what, m.Target, err)
		}
	}
	if p := m.Flags & (propagationFlags | unix.MS_REC); p&propagationFlags != 0 {
		if err := unix.Mount("", fdPath(top), "", p, ""); err != nil {
			return fmt.Errorf("mount %s on %s: make %s: %w", what, m.Target, flagString(p), err)
		}
	}
	return nil
}

// unwrapPath drops the *os.PathError around a syscall error when the message
// around it already names the path.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// detach lazily unmounts the mount on m.Target, resolved inside the rootfs.
func (r *root) detach(m Mount, log *slog.Logger) error {
	fd, err := r.open(m.Target)
	if err != nil {
		if m.Optional && errors.Is(err, unix.ENOENT) {
			log.Debug("skipping optional unmount: no target", "target", m.Target)
			return nil
		}
		return fmt.Errorf("unmount %s: %w", m.Target, err)
	}
	defer unix.Close(fd)
	// The fd, opened after the mount, names the mount's root: umount2 on its
	// /proc/self/fd link acts on that mount and no path is resolved again.
	if err := unix.Unmount(fdPath(fd), unix.MNT_DETACH); err != nil {
		if m.Optional && errors.Is(err, unix.EINVAL) {
			log.Debug("skipping optional unmount: not a mount point", "target", m.Target)
			return nil
		}
		return fmt.Errorf("unmount %s: %w", m.Target, err)
	}
	return nil
}
