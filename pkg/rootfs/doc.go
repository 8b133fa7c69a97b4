// SPDX-License-Identifier: Apache-2.0

// Package rootfs turns an unpacked root filesystem directory into the root
// of a running container: it makes the container's mounts, pivots into the
// directory, and starts the container's process in new namespaces.
//
// # Process model
//
// [Start] re-executes the current binary (/proc/self/exe) with argv[1] =
// [InitArg] in new user, mount and cgroup namespaces (plus ipc/uts/net/pid on
// request), with the attributes from namespaces.SysProcAttr. The binary's
// main (or TestMain) must call [InitMain] when it sees the marker. The init
// reads its JSON configuration from fd 3, a socket shared with Start, runs
// [Setup], changes to the working directory, looks the command up in the
// PATH of its environment inside the new root, clears its ambient
// capabilities and execs the command. A failure before the exec is written
// back as JSON and returned by Start as an *[InitError] ("container init:
// mount /x on /data: source: no such file or directory") that unwraps to
// its errno; success is the socket closing on exec (see protocol.go).
//
// # Mount sequence
//
// [Setup] runs inside the new namespaces (as enroot's runtime::_start and
// conf/mounts/*.fstab do):
//
//  1. mount("", "/", MS_REC|MS_SLAVE): host events propagate in, nothing
//     leaks out.
//  2. bind the rootfs onto itself (MS_BIND|MS_REC), remount nosuid,nodev;
//     pivot_root needs a mount point. All later targets are resolved from
//     an fd opened on this bind.
//  3. system mounts: rbind /proc (nosuid,nodev,noexec), rbind /sys
//     (ro,nosuid,nodev,noexec, read-only recursively), rbind /dev
//     (nosuid,noexec), tmpfs mode=755 on /tmp, /var/run and /var/lock,
//     bind /dev/shm, read-only binds of /etc/hosts, /etc/hostname,
//     /etc/resolv.conf and /etc/machine-id. A PID namespace gets a fresh
//     procfs and a network namespace a fresh read-only sysfs instead.
//  4. the caller's Config.Mounts, in order.
//  5. sethostname (UTS namespace), lo up (network namespace).
//  6. pivot_root(".", "."): open old and new root O_PATH, fchdir(new),
//     pivot_root, fchdir(old), make it MS_REC|MS_SLAVE, umount2 MNT_DETACH,
//     chdir("/").
//  7. unless Config.Writable, remount / MS_BIND|MS_REMOUNT|MS_RDONLY with
//     nosuid,nodev and its locked flags.
//
// With a user namespace (not HostRoot), steps 6 and 7 run in a second
// stage: once the mounts are made and the rootfs mount is read-only, the
// init re-executes itself and a C constructor unshares an inner user,
// mount and cgroup namespace, which locks every mount's flags and
// submounts (lock_linux.go); the second stage binds the rootfs onto itself
// again, pivots into it and execs the command or holds. A remapped root
// cannot `mount -o remount,rw /` or unmount what the setup mounted.
//
// Binds take their flags through a second MS_BIND|MS_REMOUNT that ORs in
// the flags the kernel locked on the source (ro, nosuid, nodev, noexec,
// atime mode; read with statfs), or the remount fails with EPERM in a user
// namespace. Restrictions on an rbind are applied to every submount with
// mount_setattr(AT_RECURSIVE).
//
// Targets are resolved with openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS)
// from the rootfs fd, so absolute symlinks and ".." in an image stay inside
// it, and mount(2) is given /proc/self/fd/N so that what was resolved is
// what gets mounted on. A missing target is created (Mount.Create, enroot's
// x-create, following dangling symlinks inside the root) only when the
// rootfs is Writable or the parent directory is on a mount Setup made (a
// tmpfs): a read-only start never modifies the image directory. Optional
// mounts (the tmpfs and /etc ones among the system mounts) whose target is
// missing from a read-only rootfs are then skipped with a debug message;
// the image should ship /etc/hosts and friends (the unpacker can create
// them) or the container be started Writable.
//
// # What is left to later pieces
//
// Hooks (nvidia-container-cli, PMIx, home directory, cgroup step mount)
// belong between steps 3 and 4, with the rootfs path as $ROOTFS, as enroot
// runs them. The environment, login emulation, seccomp filter and
// NO_NEW_PRIVS are not done here: the init execs exactly Args with Env.
//
// # Holder
//
// [StartHolder] reuses this init for a holder, the process that keeps a
// container's namespaces for the tasks and exec calls that join them:
// instead of exec'ing a command after Setup it changes to /, reports ready
// on the same socket and blocks on it, Setsid, keeping the namespaces alive
// with the container's environment as its own. [Holder.Stop] closes the
// socket and the holder exits; [Holder.Detach] lets it outlive the caller
// until SIGTERM ([StopHolder]). A [HolderState] (pid, start time against
// PID reuse, owner, id map, rootfs, env, dir) is written to the state file
// the caller names. Tasks and `gpyxis-runtime exec` join the holder's
// namespaces with the C primitive shim/nsjoin.c; no Go code can.
//
// The API is internal to gpyxis and is not stable.
package rootfs
