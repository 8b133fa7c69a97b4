// SPDX-License-Identifier: Apache-2.0

package inroot

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// openDir opens directory name inside the root as an O_PATH descriptor.
func (r *Root) openDir(name string) (int, error) {
	return r.resolve(name, unix.O_PATH|unix.O_DIRECTORY)
}

// maxLinks bounds the dangling symlinks MkdirAll follows (MAXSYMLINKS).
const maxLinks = 40

// MkdirAll creates directory name and its missing parents with mode perm
// (before umask), each made in its parent's descriptor. A symlink on the
// way is followed inside the root; when its target is missing, the target
// is created instead (resolved inside the root, as enroot's realpathat
// does), never the link replaced.
func (r *Root) MkdirAll(name string, perm os.FileMode) error {
	return r.mkdirAll(name, perm, 0)
}

func (r *Root) mkdirAll(name string, perm os.FileMode, links int) error {
	comps := strings.Split(name, "/")
	prefix := ""
	for i, c := range comps {
		if c == "" || c == "." {
			continue
		}
		p := prefix + "/" + c
		if c == ".." {
			prefix = p
			continue
		}
		fd, err := r.openDir(p)
		if err == nil {
			unix.Close(fd)
			prefix = p
			continue
		}
		if !errors.Is(err, unix.ENOENT) {
			return err
		}
		pfd, err := r.openDir(prefix)
		if err != nil {
			return err
		}
		if link, err := readlinkat(pfd, c); err == nil {
			unix.Close(pfd)
			if links >= maxLinks {
				return &os.PathError{Op: "mkdir", Path: name, Err: unix.ELOOP}
			}
			next := link
			if !strings.HasPrefix(link, "/") {
				next = prefix + "/" + link
			}
			return r.mkdirAll(next+"/"+strings.Join(comps[i+1:], "/"), perm, links+1)
		}
		err = unix.Mkdirat(pfd, c, uint32(perm.Perm()))
		unix.Close(pfd)
		if err != nil && err != unix.EEXIST {
			return &os.PathError{Op: "mkdir", Path: p, Err: err}
		}
		prefix = p
	}
	fd, err := r.openDir(name)
	if err != nil {
		return err
	}
	unix.Close(fd)
	return nil
}

// Mkdir creates directory name with exactly mode perm (umask ignored); its
// parent must exist.
func (r *Root) Mkdir(name string, perm os.FileMode) error {
	dir, base, err := split(name)
	if err != nil {
		return err
	}
	dfd, err := r.openDir(dir)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	if err := unix.Mkdirat(dfd, base, 0o700); err != nil {
		return &os.PathError{Op: "mkdir", Path: name, Err: err}
	}
	fd, err := unix.Openat(dfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Fchmod(fd, uint32(perm&os.ModePerm)); err != nil {
		return &os.PathError{Op: "chmod", Path: name, Err: err}
	}
	return nil
}

// WriteFileAtomic replaces file name with data: a temporary file in the same
// directory, renamed over the name, so that a reader never sees half a
// file and a symlink at the name is replaced, never followed. The
// permission bits (never set-id bits) and, when the caller may, the owner
// are the old regular file's; a new file gets mode perm. The parent
// directory must exist.
func (r *Root) WriteFileAtomic(name string, data []byte, perm os.FileMode) (err error) {
	dir, base, err := split(name)
	if err != nil {
		return err
	}
	dfd, err := r.openDir(dir)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	mode, uid, gid := uint32(perm&os.ModePerm), -1, -1
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			mode, uid, gid = st.Mode&0o777, int(st.Uid), int(st.Gid)
		case unix.S_IFDIR:
			return &fileError{fmt.Sprintf("cannot write %s in the container image: it is a directory", name), ErrNotRegular}
		}
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := "." + base + ".gpyxis-" + hex.EncodeToString(rnd[:])
	fd, err := unix.Openat(dfd, tmp, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &os.PathError{Op: "create", Path: dir + "/" + tmp, Err: err}
	}
	f := os.NewFile(uintptr(fd), tmp)
	defer func() {
		if err != nil {
			unix.Unlinkat(dfd, tmp, 0)
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return &os.PathError{Op: "write", Path: name, Err: err}
	}
	if uid >= 0 && os.Geteuid() == 0 && (uid != os.Geteuid() || gid != os.Getegid()) {
		// Root keeps the image's owner (root:shadow for /etc/shadow).
		if err := f.Chown(uid, gid); err != nil {
			f.Close()
			return &os.PathError{Op: "chown", Path: name, Err: err}
		}
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		f.Close()
		return &os.PathError{Op: "chmod", Path: name, Err: err}
	}
	if err := f.Close(); err != nil {
		return &os.PathError{Op: "write", Path: name, Err: err}
	}
	if err := unix.Renameat(dfd, tmp, dfd, base); err != nil {
		return &os.PathError{Op: "rename", Path: name, Err: err}
	}
	return nil
}

// CreateExcl creates the empty file name with mode perm (before umask)
// when nothing, not even a dangling symlink, has that name. created
// reports whether it did.
func (r *Root) CreateExcl(name string, perm os.FileMode) (created bool, err error) {
	dir, base, err := split(name)
	if err != nil {
		return false, err
	}
	dfd, err := r.openDir(dir)
	if err != nil {
		return false, err
	}
	defer unix.Close(dfd)
	// O_EXCL never follows a symlink at the name.
	fd, err := unix.Openat(dfd, base, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm&os.ModePerm))
	if err == unix.EEXIST {
		return false, nil
	}
	if err != nil {
		return false, &os.PathError{Op: "create", Path: name, Err: err}
	}
	unix.Close(fd)
	return true, nil
}

// Symlink makes name a symbolic link to target, replacing whatever
// non-directory had the name (the old entry itself, never what it points
// to). The parent directory must exist.
func (r *Root) Symlink(target, name string) error {
	dir, base, err := split(name)
	if err != nil {
		return err
	}
	dfd, err := r.openDir(dir)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	if err := unix.Unlinkat(dfd, base, 0); err != nil && err != unix.ENOENT {
		return &os.PathError{Op: "remove", Path: name, Err: err}
	}
	if err := unix.Symlinkat(target, dfd, base); err != nil {
		return &os.PathError{Op: "symlink", Path: name, Err: err}
	}
	return nil
}
