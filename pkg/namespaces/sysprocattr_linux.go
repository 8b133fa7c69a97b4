// SPDX-License-Identifier: Apache-2.0

package namespaces

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// initCaps are the capabilities an identity-mapped container init keeps
// across its exec as ambient capabilities. A process that is not uid 0
// inside its user namespace loses all capabilities on execve unless they are
// ambient, and the init is that process: it must still mount, pivot_root and
// create mount points after the exec of /proc/self/exe. enroot raises every
// capability the same way (enroot-nsenter.c raise_capabilities).
var initCaps = []uintptr{
	unix.CAP_SYS_ADMIN,       // mount, umount2, pivot_root, sethostname
	unix.CAP_SYS_CHROOT,      // chroot, should a later step need it
	unix.CAP_DAC_OVERRIDE,    // create mount points in directories not writable by the user
	unix.CAP_DAC_READ_SEARCH, // walk directories not searchable by the user
	unix.CAP_FOWNER,          // chmod of created mount points owned by others
	unix.CAP_CHOWN,           // likewise
	unix.CAP_SETUID,          // setuid/setgid inside the namespace (holder, later)
	unix.CAP_SETGID,
	unix.CAP_NET_ADMIN, // bring up lo in a new network namespace
	unix.CAP_KILL,      // signal container processes (holder, later)
}

// SysProcAttr returns the attributes with which to start a container's first
// process (the re-executed init) in new namespaces. uid and gid are the
// caller's host IDs; m says how they appear inside; unshare adds optional
// namespaces.
//
// The result always has CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWCGROUP. The cgroup
// namespace is created in the clone rather than by unshare(2) later, because
// unshare(CLONE_NEWCGROUP) in Go would move only one thread; its root is the
// caller's cgroup (the task's, under Slurm).
//
// Pdeathsig is SIGKILL: if the thread that started the process dies, the
// container goes with it rather than running on unsupervised (gVisor
// MaybeRunAsRoot does the same). Pdeathsig is inherited across the init's
// final exec, so it applies to the user's command too. Setsid is left false
// so that an interactive command keeps its controlling terminal; a detached
// holder should set it.
func SysProcAttr(m IDMap, uid, gid int, unshare Unshare) *syscall.SysProcAttr {
	if m == nil {
		m = Identity{}
	}
	if _, ok := m.(HostRoot); ok {
		// Real root needs no user namespace to mount: without one, the
		// container's root is the host's (ENROOT_ALLOW_SUPERUSER).
		return &syscall.SysProcAttr{Cloneflags: cloneFlags(unshare) &^ unix.CLONE_NEWUSER, Pdeathsig: syscall.SIGKILL}
	}
	a := &syscall.SysProcAttr{
		Cloneflags:  cloneFlags(unshare),
		UidMappings: idMappings(m, uid),
		GidMappings: idMappings(m, gid),
		// An unprivileged process may write a gid_map only after denying
		// setgroups(2) in the namespace (user_namespaces(7), Linux 3.19).
		// Supplementary groups stay in effect for host permission checks.
		GidMappingsEnableSetgroups: false,
		Pdeathsig:                  syscall.SIGKILL,
	}
	if m.Inside(uid) != 0 {
		// Go adds these to the inheritable set before raising them as
		// ambient, in the child, after the maps are written.
		a.AmbientCaps = append([]uintptr(nil), initCaps...)
	}
	return a
}

// cloneFlags returns the namespace flags for clone(2).
func cloneFlags(u Unshare) uintptr {
	f := uintptr(unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP)
	if u.IPC {
		f |= unix.CLONE_NEWIPC
	}
	if u.UTS {
		f |= unix.CLONE_NEWUTS
	}
	if u.Net {
		f |= unix.CLONE_NEWNET
	}
	if u.PID {
		f |= unix.CLONE_NEWPID
	}
	return f
}

// idMappings returns the single-entry map of host ID id under m.
func idMappings(m IDMap, id int) []syscall.SysProcIDMap {
	return []syscall.SysProcIDMap{{ContainerID: m.Inside(id), HostID: id, Size: 1}}
}
