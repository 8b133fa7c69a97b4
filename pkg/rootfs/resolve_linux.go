// SPDX-License-Identifier: Apache-2.0

package rootfs

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// errNoCreate is returned by root.ensure when a target is missing and may
// not be created because its parent lies in the read-only image.
var errNoCreate = errors.New("not allowed in a read-only rootfs")

// root resolves and creates paths inside the rootfs without ever leaving it.
// Its fd must be opened on the rootfs bind mount Setup makes, not on the
// directory below it: mounts made through paths resolved from an fd on the
// underlying mount would be hidden under the bind.
type root struct {
	fd       int
	path     string // host path, for messages
	writable bool   // may create mount points in the rootfs mount itself
	mntID    uint64 // mount ID of the rootfs bind mount
}

func openRoot(p string, writable bool) (*root, error) {
	fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open rootfs %s: %w", p, err)
	}
	id, err := mountID(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("rootfs %s: %w", p, err)
	}
	return &root{fd: fd, path: p, writable: writable, mntID: id}, nil
}

func (r *root) close() { unix.Close(r.fd) }

// open returns an O_PATH fd on target, resolved inside the rootfs.
// RESOLVE_IN_ROOT treats the rootfs as / for absolute symlinks and "..",
// which is enroot's realpathat and runc's pathrs done by the kernel (Linux
// 5.6). Magic links (/proc/self/fd/...) are refused so that a link in the
// image cannot point at a host file through procfs.
func (r *root) open(target string) (int, error) {
	how := unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for range 64 {
		fd, err := unix.Openat2(r.fd, target, &how)
		// EAGAIN: a concurrent rename raced with ".." resolution; retry.
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		return fd, err
	}
	return -1, unix.EAGAIN
}

// maxLinks bounds the dangling symlinks ensure follows (MAXSYMLINKS).
const maxLinks = 40

// ensure opens target, creating it first when it is missing, c allows it
// and the place is writable (see Mount.Create). isDir tells CreateAuto what
// to make. The result is an O_PATH fd.
//
// Missing components are created one by one, each in a directory opened
// inside the root. A component that is a dangling symlink is not replaced:
// its target, resolved inside the root, is created instead, as enroot's
// realpathat does (/var/lock -> /run/lock creates /run/lock). Paths are
// never cleaned lexically, so ".." after a symlink means what the kernel
// says it means.
func (r *root) ensure(target string, c Create, isDir bool) (int, error) {
	return r.ensureLinks(target, c == CreateDir || (c == CreateAuto && isDir), c != CreateNone, 0)
}

func (r *root) ensureLinks(target string, dir, create bool, links int) (int, error) {
	fd, err := r.open(target)
	if err != unix.ENOENT || !create {
		return fd, err
	}
	var comps []string
	for _, c := range strings.Split(target, "/") {
		if c != "" && c != "." {
			comps = append(comps, c)
		}
	}
	parent := "/"
	for i, name := range comps {
		p := path.Join(parent, name)
		if name == ".." {
			p = parent + "/.."
		}
		last := i == len(comps)-1
		fd, err := r.open(p)
		if err == nil {
			if last {
				return fd, nil
			}
			unix.Close(fd)
			parent = p
			continue
		}
		if err != unix.ENOENT {
			return -1, err
		}
		pfd, err := r.open(parent)
		if err != nil {
			return -1, err
		}
		if link, err := readlinkat(pfd, name); err == nil {
			unix.Close(pfd)
			if links >= maxLinks {
				return -1, unix.ELOOP
			}
			next := link
			if !path.IsAbs(link) {
				next = parent + "/" + link
			}
			next += "/" + strings.Join(comps[i+1:], "/")
			return r.ensureLinks(next, dir, create, links+1)
		}
		err = r.create(pfd, name, dir || !last)
		unix.Close(pfd)
		if err != nil {
			return -1, fmt.Errorf("create %s: %w", p, err)
		}
		if last {
			return r.open(p)
		}
		parent = p
	}
	return r.open(target) // target is "/"
}

// create makes name in the directory pfd: a directory, or an empty file.
func (r *root) create(pfd int, name string, dir bool) error {
	if err := r.mayCreate(pfd); err != nil {
		return err
	}
	var err error
	if dir {
		err = unix.Mkdirat(pfd, name, 0o755)
	} else {
		var f int
		f, err = unix.Openat(pfd, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		if err == nil {
			unix.Close(f)
		}
	}
	if err == unix.EEXIST {
		return nil // lost a race with another creator; fine
	}
	return err
}

func readlinkat(dirfd int, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dirfd, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// mayCreate allows creation under the directory pfd when the rootfs is
// writable or pfd is on another mount than the rootfs (a tmpfs Setup made,
// such as /run for a /var/lock -> /run/lock link).
func (r *root) mayCreate(pfd int) error {
	if r.writable {
		return nil
	}
	id, err := mountID(pfd)
	if err != nil {
		return err
	}
	if id == r.mntID {
		return errNoCreate
	}
	return nil
}

// mountID returns the ID of the mount fd is on (statx STATX_MNT_ID, 5.8).
func mountID(fd int) (uint64, error) {
	var st unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &st); err != nil {
		return 0, fmt.Errorf("statx: %w", err)
	}
	if st.Mask&unix.STATX_MNT_ID == 0 {
		return 0, errors.New("statx: kernel reports no mount ID")
	}
	return st.Mnt_id, nil
}

// fdPath is the procfs path through which mount(2) reaches the object fd
// refers to, without resolving its name again.
func fdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// symlink makes l inside the rootfs, its parent resolved like a mount target (never
// out of the rootfs); an existing entry is kept, as enroot's `ln -s` would fail on it.
func (r *root) symlink(l Link) error {
	parent, err := r.open(path.Dir(l.Path))
	if err != nil {
		return fmt.Errorf("link %s: %w", l.Path, err)
	}
	defer unix.Close(parent)
	err = unix.Symlinkat(l.Target, parent, path.Base(l.Path))
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("link %s -> %s: %w", l.Path, l.Target, err)
	}
	return nil
}
