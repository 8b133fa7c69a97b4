// SPDX-License-Identifier: Apache-2.0

package hooks

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/pkg/rootfs"
)

// Link is a symbolic link to create inside the container after the
// mounts: Path (absolute, in the container) pointing to Target.
type Link struct {
	Path   string
	Target string
}

// devLinks are the /dev links 10-devices.sh makes on its tmpfs.
var devLinks = []Link{
	{"/dev/fd", "/proc/self/fd"},
	{"/dev/stdin", "/proc/self/fd/0"},
	{"/dev/stdout", "/proc/self/fd/1"},
	{"/dev/stderr", "/proc/self/fd/2"},
	{"/dev/ptmx", "pts/ptmx"},
}

// stdinTTY returns the host path of the terminal on stdin, if any (a
// variable for tests).
var stdinTTY = func() (string, bool) {
	if _, err := unix.IoctlGetTermios(0, unix.TCGETS); err != nil {
		return "", false
	}
	p, err := os.Readlink("/proc/self/fd/0")
	if err != nil || p == "" || p[0] != '/' {
		return "", false
	}
	return p, true
}

// devices is enroot's 10-devices.sh, when restrict_dev (or unshare_ipc) is
// on: a fresh tmpfs /dev (mode 755) over the host /dev the system mounts
// bound, with binds of null, zero, full, urandom, random and tty, a new
// devpts instance (ptmxmode=0666, mode=620) with /dev/ptmx a link to
// pts/ptmx, /dev/shm and /dev/mqueue (a private tmpfs and a new mqueue when
// the IPC namespace is unshared, else binds of the host ones),
// /dev/hugepages and /dev/log (optional), the terminal on stdin as
// /dev/console, and the fd, stdin, stdout and stderr links. GPUs then come
// only from the nvidia hook.
//
// The links cannot be made here (the tmpfs only exists in the container):
// they are returned in ctx.Links for the init to create.
//
// Differences from enroot: the host /dev is covered, not detached (no
// x-detach in rootfs.Mount); /dev/mqueue and /dev/log are optional, since
// minimal hosts lack them.
func devices(ctx *Context) error {
	ipc := ctx.Enabled("unshare_ipc")
	if !ctx.Enabled("restrict_dev") && !ipc {
		return nil
	}
	const dev = unix.MS_NOSUID | unix.MS_NOEXEC
	bind := func(p string, create rootfs.Create, extra uintptr, optional bool) rootfs.Mount {
		return rootfs.Mount{Source: p, Target: p, Flags: unix.MS_BIND | dev | extra, Create: create, Optional: optional}
	}
	m := []rootfs.Mount{
		{Source: "tmpfs", Target: "/dev", FSType: "tmpfs", Flags: dev, Data: "mode=755", Create: rootfs.CreateDir},
	}
	for _, d := range []string{"/dev/zero", "/dev/null", "/dev/full", "/dev/urandom", "/dev/random", "/dev/tty"} {
		m = append(m, bind(d, rootfs.CreateFile, 0, false))
	}
	m = append(m, rootfs.Mount{
		Source: "devpts", Target: "/dev/pts", FSType: "devpts", Flags: dev,
		Data: "newinstance,ptmxmode=0666,mode=620", Create: rootfs.CreateDir,
	})
	if ipc {
		m = append(m,
			rootfs.Mount{Source: "tmpfs", Target: "/dev/shm", FSType: "tmpfs", Flags: dev | unix.MS_NODEV, Data: "mode=1777", Create: rootfs.CreateDir},
			rootfs.Mount{Source: "mqueue", Target: "/dev/mqueue", FSType: "mqueue", Flags: dev | unix.MS_NODEV, Create: rootfs.CreateDir},
		)
	} else {
		m = append(m,
			bind("/dev/shm", rootfs.CreateDir, unix.MS_NODEV, false),
			bind("/dev/mqueue", rootfs.CreateDir, unix.MS_NODEV, true),
		)
	}
	m = append(m,
		bind("/dev/hugepages", rootfs.CreateDir, unix.MS_NODEV, true),
		bind("/dev/log", rootfs.CreateFile, unix.MS_NODEV, true),
	)
	if tty, ok := stdinTTY(); ok {
		m = append(m, rootfs.Mount{Source: tty, Target: "/dev/console", Flags: unix.MS_BIND | dev, Create: rootfs.CreateFile, Optional: true})
	}
	ctx.Mounts = append(ctx.Mounts, m...)
	ctx.Links = append(ctx.Links, devLinks...)
	return nil
}
