// SPDX-License-Identifier: Apache-2.0

package rootfs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/pkg/namespaces"
)

// Mount locking.
//
// The init makes the container's mounts in a mount namespace owned by the
// container's user namespace, where it (and a remapped root after it) holds
// CAP_SYS_ADMIN: there `mount -o remount,rw /` would undo the read-only
// root, and an umount would uncover what /etc/hosts or /proc hide. So once
// the mounts are made (and the rootfs mount made read-only), the init
// re-executes itself (/proc/self/exe, argv unchanged) and a C constructor,
// single-threaded, unshares a further user and mount namespace
// (lock_cgo_linux.go). A mount namespace copied into a less privileged user
// namespace gets every mount's ro, nosuid, nodev, noexec and atime flags
// locked (MNT_LOCK_*) and its submounts locked in place (MNT_LOCKED): root
// in the inner namespace can still mount filesystems of its own, but no
// longer change or remove those of the setup. The second stage then
// pivots into the rootfs and execs the command, or holds the namespaces (a
// holder), so that whoever joins the container joins the locked ones.
//
// The re-exec happens before pivot_root, in the host's root: the runtime
// binary is dynamically linked, and its ELF interpreter and libraries must
// be the host's, never the image's.
//
// The uts, net, ipc and pid namespaces stay owned by the outer user
// namespace: a remapped root cannot change the hostname or network set up
// at start, nor mount a new procfs.
const (
	// lockEnv arms the constructor.
	lockEnv = "_GPYXIS_LOCK_MOUNTS"
	// nextFDEnv names the memfd holding the second stage's nextStage.
	nextFDEnv = "_GPYXIS_INIT_NEXT"
)

// initAttr returns the attributes with which to start a container's init
// and, when its mounts get locked, the uid and gid its second stage maps
// the caller's to (nil otherwise).
//
// A locked container has two user namespaces: the outer one, where the
// init makes the mounts, maps the caller's ids to themselves, and the inner
// one maps them (as seen in the outer, so unchanged) to what m says. Inside,
// /proc/self/uid_map reads "0 UID 1" with a remapped root, as it would with
// one namespace. The cgroup namespace is created with the inner one, so
// that it belongs to it: a process joining the holder (shim/nsjoin.c)
// enters the user namespace first and then needs CAP_SYS_ADMIN over the
// others.
//
// Mounts are not locked for real root (HostRoot, which could change any
// mount anyway), for an overlay-only holder (its mount is prepared from
// outside), nor for a holder with its own ipc, uts or net namespace: those
// would belong to the outer user namespace, which a joiner cannot enter
// after the inner one. Nor without cgo (lock_nocgo_linux.go).
func initAttr(m namespaces.IDMap, c Config, holder bool) (*syscall.SysProcAttr, *lockIDs) {
	uid, gid := os.Geteuid(), os.Getegid()
	if m == nil {
		m = namespaces.Identity{}
	}
	_, host := m.(namespaces.HostRoot)
	u := c.Unshare
	if host || c.OverlayOnly || !canLockMounts || (holder && (u.IPC || u.UTS || u.Net)) {
		return namespaces.SysProcAttr(m, uid, gid, u), nil
	}
	a := namespaces.SysProcAttr(namespaces.Identity{}, uid, gid, u)
	a.Cloneflags &^= unix.CLONE_NEWCGROUP // made by the second stage
	return a, &lockIDs{UID: m.Inside(uid), GID: m.Inside(gid)}
}

// lockIDs are the ids the inner user namespace maps the caller's to.
type lockIDs struct {
	UID int `json:"uid"`
	GID int `json:"gid"`
}

// nextStage is what the first stage of the init hands the second.
type nextStage struct {
	Rootfs   string   `json:"rootfs"`
	Writable bool     `json:"writable,omitempty"`
	Holder   bool     `json:"holder,omitempty"`
	Dir      string   `json:"dir,omitempty"`
	Args     []string `json:"args,omitempty"`
	Env      []string `json:"env,omitempty"`
	Seccomp  []byte   `json:"seccomp,omitempty"`
	// Unbindable are the mounts to make unbindable once in the new root
	// (deferUnbindable).
	Unbindable []Mount `json:"unbindable,omitempty"`
}

// deferUnbindable makes c's unbindable mounts private for the first stage
// and returns them: the second stage's recursive bind of the rootfs (a
// locked mount cannot be pivoted into) copies no unbindable mount, so they
// become unbindable only after the pivot, where nothing binds them again.
func deferUnbindable(c *Config) []Mount {
	var later []Mount
	for i, m := range c.Mounts {
		if m.Flags&unix.MS_UNBINDABLE != 0 {
			later = append(later, Mount{Target: m.Target, Flags: m.Flags & (unix.MS_UNBINDABLE | unix.MS_REC), Optional: m.Optional})
			c.Mounts[i].Flags = m.Flags&^unix.MS_UNBINDABLE | unix.MS_PRIVATE
		}
	}
	return later
}

// makeUnbindable applies the deferred propagation changes in the new root,
// where the targets resolve as they did inside the rootfs in the first stage.
func makeUnbindable(ms []Mount) error {
	for _, m := range ms {
		err := unix.Mount("", m.Target, "", m.Flags, "")
		if err != nil && !(m.Optional && (errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINVAL))) {
			return fmt.Errorf("mount on %s: make %s: %w", m.Target, flagString(m.Flags), err)
		}
	}
	return nil
}

// lockAndContinue re-executes the init into its second stage, handing it n
// in a memfd and keeping the runtime socket open across the exec, so that a
// failure of the second stage still reaches the runtime. Only returns on
// failure.
func lockAndContinue(sync *os.File, ids lockIDs, n nextStage) error {
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	fd, err := unix.MemfdCreate("gpyxis-init-next", 0) // not close-on-exec: the second stage reads it
	if err != nil {
		return fmt.Errorf("lock mounts: memfd: %w", err)
	}
	f := os.NewFile(uintptr(fd), "init-next")
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("lock mounts: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("lock mounts: %w", err)
	}
	syncFD := int(sync.Fd())
	if _, err := unix.FcntlInt(uintptr(syncFD), unix.F_SETFD, 0); err != nil {
		return fmt.Errorf("lock mounts: %w", err)
	}
	env := append(os.Environ(), initFDEnv+"="+strconv.Itoa(syncFD), nextFDEnv+"="+strconv.Itoa(fd), lockEnv+"="+strconv.Itoa(ids.UID)+":"+strconv.Itoa(ids.GID))
	err = unix.Exec("/proc/self/exe", []string{"/proc/self/exe", InitArg}, env)
	unix.CloseOnExec(syncFD)
	return fmt.Errorf("lock mounts: re-execute init: %w", err)
}

// initNext is the init's second stage, in the locked namespaces.
func initNext(sync *os.File, fdEnv string) error {
	os.Unsetenv(nextFDEnv)
	os.Unsetenv(lockEnv)
	if err := lockedErr(); err != nil {
		return err
	}
	fd, err := strconv.Atoi(fdEnv)
	if err != nil {
		return fmt.Errorf("bad %s=%q", nextFDEnv, fdEnv)
	}
	f := os.NewFile(uintptr(fd), "init-next")
	var n nextStage
	err = json.NewDecoder(f).Decode(&n)
	f.Close()
	if err != nil {
		return fmt.Errorf("read second stage: %w", err)
	}
	if err := enterRoot(n.Rootfs, n.Writable, true); err != nil {
		return err
	}
	if err := makeUnbindable(n.Unbindable); err != nil {
		return err
	}
	if n.Holder {
		return holdMain(sync)
	}
	return startCommand(n.Dir, n.Args, n.Env, n.Seccomp)
}
