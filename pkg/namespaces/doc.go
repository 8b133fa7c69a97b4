// SPDX-License-Identifier: Apache-2.0

// Package namespaces creates the user, mount and cgroup namespaces of a
// container while sharing the host's network, PID, IPC and UTS namespaces,
// and opens a process's namespace files so that another process can join
// them later.
//
// # Why creation goes through a re-exec
//
// The Go runtime starts threads before main, and the kernel refuses
// unshare(CLONE_NEWUSER) and setns into a user or mount namespace from a
// multithreaded process (golang/go#22283). The only way for Go to get into
// new namespaces is to be born in them: clone(2) a fresh process with the
// namespace flags and exec a Go binary in it. [SysProcAttr] builds the
// [syscall.SysProcAttr] for that clone; os/exec does the rest. Joining the
// namespaces of an existing container is the job of the C join primitive
// (shim/nsjoin.c); this package only opens the namespace files for it
// ([Open], [OpenSet], [JoinOrder]).
//
// # ID maps
//
// A user namespace gets one single-ID map for uids and one for gids, which
// an unprivileged user may write without newuidmap (setgroups must be denied
// first, which GidMappingsEnableSetgroups=false does). The map is one of a
// closed set, [IDMap]:
//
//   - [Identity] (the default, as in enroot and pyxis) maps uid→uid. The
//     container's first process is not root inside, so it keeps the
//     capabilities it needs for mounting through ambient capabilities.
//   - [RemapRoot] maps 0→uid (--container-remap-root). The first process is
//     root inside and holds every capability of the namespace.
//
// The map is fixed when the namespace is created: it is a property of the
// container, not of a task.
//
// # Requirements
//
// Unprivileged user namespaces must be enabled. [Check] probes for them with
// the same attributes the runtime uses and names the sysctl to look at when
// they are not.
//
// The API is internal to gpyxis and is not stable.
package namespaces
