// SPDX-License-Identifier: Apache-2.0

package rootfs

import (
	"fmt"

	"golang.org/x/sys/unix"
)

const (
	propagationFlags = unix.MS_SHARED | unix.MS_SLAVE | unix.MS_PRIVATE | unix.MS_UNBINDABLE
	atimeFlags       = unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME | unix.MS_STRICTATIME
	// remountFlags are the per-mount flags a bind takes only through a
	// second MS_BIND|MS_REMOUNT call.
	remountFlags = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | atimeFlags
)

// statfsToMS maps the statfs ST_* flags of a mount to the MS_* flags that
// the kernel locks when a mount namespace is copied into a less privileged
// user namespace: read-only, nosuid, nodev, noexec and, if atime is set,
// the atime mode. A remount that would clear any of them fails with EPERM
// (fs/namespace.c can_change_locked_flags), so remount ORs them back in, as
// enroot's mount_generic (enroot-mount.c) and runc's remount do. Mounts
// made inside the namespace have no locked flags, but ORing in their own
// restrictions keeps them too: a bind never lifts a restriction of its
// source.
func statfsToMS(st uint64, atime bool) uintptr {
	var f uintptr
	for _, m := range []struct {
		st uint64
		ms uintptr
	}{
		{unix.ST_RDONLY, unix.MS_RDONLY},
		{unix.ST_NOSUID, unix.MS_NOSUID},
		{unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC},
	} {
		if st&m.st != 0 {
			f |= m.ms
		}
	}
	if !atime {
		return f
	}
	switch {
	case st&unix.ST_NOATIME != 0:
		f |= unix.MS_NOATIME
	case st&unix.ST_RELATIME != 0:
		f |= unix.MS_RELATIME
	default:
		// Passing any atime flag makes the kernel default to relatime, so
		// a strictatime mount must say so explicitly.
		f |= unix.MS_STRICTATIME
	}
	if st&unix.ST_NODIRATIME != 0 {
		f |= unix.MS_NODIRATIME
	}
	return f
}

// remount applies flags to the mount whose root fd refers to, keeping its
// locked flags. "The initial MS_BIND won't change the mount options" (runc
// rootfs_linux.go): a bind takes ro/nosuid/... only through MS_REMOUNT.
// With recursive, MS_RDONLY/NOSUID/NODEV/NOEXEC are then also set on every
// submount with mount_setattr(AT_RECURSIVE) (Linux 5.12), because a remount
// changes only the top mount of an rbind: without it /sys/fs/cgroup would
// stay writable under a read-only /sys.
func remount(fd int, flags uintptr, recursive bool) error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return fmt.Errorf("statfs: %w", err)
	}
	want := flags & remountFlags
	err := unix.Mount("", fdPath(fd), "", unix.MS_BIND|unix.MS_REMOUNT|want|statfsToMS(uint64(st.Flags), want&atimeFlags == 0), "")
	if err == unix.EPERM && want&atimeFlags != 0 {
		// The atime mode asked for differs from one the kernel locked:
		// keep the source's, as runc does when its first remount fails.
		err = unix.Mount("", fdPath(fd), "", unix.MS_BIND|unix.MS_REMOUNT|want&^atimeFlags|statfsToMS(uint64(st.Flags), true), "")
	}
	if err != nil {
		return fmt.Errorf("remount %s: %w", flagString(want), err)
	}
	if !recursive {
		return nil
	}
	attr := &unix.MountAttr{Attr_set: mountAttr(flags)}
	if attr.Attr_set == 0 {
		return nil
	}
	err = unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr)
	if err == unix.ENOSYS {
		return nil // before 5.12: only the top mount is changed
	}
	if err != nil {
		return fmt.Errorf("mount_setattr %s recursive: %w", flagString(flags&remountFlags), err)
	}
	return nil
}

// mountAttr maps the MS_* flags that only restrict to MOUNT_ATTR_* bits.
func mountAttr(flags uintptr) uint64 {
	var a uint64
	for _, m := range []struct {
		ms   uintptr
		attr uint64
	}{
		{unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY},
		{unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID},
		{unix.MS_NODEV, unix.MOUNT_ATTR_NODEV},
		{unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC},
	} {
		if flags&m.ms != 0 {
			a |= m.attr
		}
	}
	return a
}

// flagString names the MS_* flags in f, for messages.
func flagString(f uintptr) string {
	names := []struct {
		f uintptr
		n string
	}{
		{unix.MS_RDONLY, "ro"}, {unix.MS_NOSUID, "nosuid"}, {unix.MS_NODEV, "nodev"},
		{unix.MS_NOEXEC, "noexec"}, {unix.MS_NOATIME, "noatime"}, {unix.MS_NODIRATIME, "nodiratime"},
		{unix.MS_RELATIME, "relatime"}, {unix.MS_STRICTATIME, "strictatime"},
		{unix.MS_BIND, "bind"}, {unix.MS_REC, "rec"}, {unix.MS_SLAVE, "slave"},
		{unix.MS_PRIVATE, "private"}, {unix.MS_SHARED, "shared"}, {unix.MS_UNBINDABLE, "unbindable"},
	}
	s := ""
	for _, n := range names {
		if f&n.f != 0 {
			if s != "" {
				s += ","
			}
			s += n.n
		}
	}
	if s == "" {
		return "rw"
	}
	return s
}
