// SPDX-License-Identifier: Apache-2.0

package rootfs

import (
	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/pkg/namespaces"
)

// systemMounts returns the mounts every container gets, in order: enroot's
// conf/mounts/10-system.fstab and 20-config.fstab.
//
// /proc and /sys are binds of the host's, not fresh mounts: a new procfs
// needs CAP_SYS_ADMIN in the user namespace owning the caller's PID
// namespace, and a new sysfs in the one owning its network namespace, and
// both belong to the host unless the container has its own (enroot
// runtime.sh; runc specconv "Replace the /sys mount with an rbind"). They
// are recursive because a non-recursive bind of a mount with locked
// submounts fails with EINVAL in a user namespace.
//
// The tmpfs mounts and the /etc files are optional: they are skipped when
// the target is missing from a read-only rootfs (the image directory is
// never modified then) or, for /etc, when the host has no such file.
func systemMounts(u namespaces.Unshare) []Mount {
	const (
		rbind  = unix.MS_BIND | unix.MS_REC
		nosuid = unix.MS_NOSUID
		nodev  = unix.MS_NODEV
		noexec = unix.MS_NOEXEC
	)
	proc := Mount{Source: "/proc", Target: "/proc", Flags: rbind | nosuid | nodev | noexec, Create: CreateDir}
	if u.PID {
		proc = Mount{Source: "proc", Target: "/proc", FSType: "proc", Flags: nosuid | nodev | noexec, Create: CreateDir}
	}
	sys := Mount{Source: "/sys", Target: "/sys", Flags: rbind | unix.MS_RDONLY | nosuid | nodev | noexec, Create: CreateDir}
	if u.Net {
		sys = Mount{Source: "sysfs", Target: "/sys", FSType: "sysfs", Flags: unix.MS_RDONLY | nosuid | nodev | noexec, Create: CreateDir}
	}
	ms := []Mount{proc, sys}
	if u.Net {
		// A fresh sysfs has an empty /sys/fs/cgroup: bring the host's
		// hierarchies (a tmpfs of v1 mount points, or cgroup2) so that the
		// cgroups hook finds the mount points it binds the container's
		// cgroup over.
		ms = append(ms, Mount{Source: "/sys/fs/cgroup", Target: "/sys/fs/cgroup",
			Flags: rbind | unix.MS_RDONLY | nosuid | nodev | noexec, Optional: true})
	}
	ms = append(ms, []Mount{
		// The whole host /dev, with GPUs, InfiniBand and /dev/shm. nodev is
		// not set, or the devices would be unusable.
		{Source: "/dev", Target: "/dev", Flags: rbind | nosuid | noexec, Create: CreateDir},
	}...)
	// /var/run and /var/lock are usually links to /run and /run/lock; the
	// in-root resolution mounts the tmpfs on /run, and /run/lock is then
	// created in that tmpfs even when the rootfs is read-only.
	for _, t := range []string{"/tmp", "/var/run", "/var/lock"} {
		ms = append(ms, Mount{Source: "tmpfs", Target: t, FSType: "tmpfs", Flags: nosuid | nodev,
			Data: "mode=755", Create: CreateDir, Optional: true})
	}
	ms = append(ms, Mount{Source: "/dev/shm", Target: "/dev/shm", Flags: unix.MS_BIND | nosuid | nodev | noexec,
		Create: CreateDir, Optional: true})
	for _, f := range []string{"/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/etc/machine-id"} {
		ms = append(ms, Mount{Source: f, Target: f, Flags: unix.MS_BIND | unix.MS_RDONLY | nosuid | nodev | noexec,
			Create: CreateFile, Optional: true})
	}
	return ms
}
