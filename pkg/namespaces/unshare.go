// SPDX-License-Identifier: Apache-2.0

package namespaces

// Unshare lists the optional namespaces a container gets in addition to the
// user, mount and cgroup namespaces it always has
// (--container-unshare / ENROOT_UNSHARE_*). The zero value shares the host's
// IPC, UTS, network and PID namespaces, which is what HPC jobs want.
type Unshare struct {
	// IPC gives the container its own System V IPC and POSIX message queues.
	IPC bool `json:"ipc,omitempty"`
	// UTS gives the container its own hostname.
	UTS bool `json:"uts,omitempty"`
	// Net gives the container its own network namespace with only a
	// loopback interface (brought up by [LoopbackUp]); /sys is then a fresh
	// sysfs instead of a bind of the host's.
	Net bool `json:"net,omitempty"`
	// PID gives the container its own PID namespace; the container's
	// process is PID 1 in it (no reaper) and /proc is a fresh procfs.
	PID bool `json:"pid,omitempty"`
}
