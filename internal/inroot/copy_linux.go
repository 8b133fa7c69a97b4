// SPDX-License-Identifier: Apache-2.0

package inroot

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// maxDepth bounds the directory nesting CopyTree descends (two
// descriptors are open per level).
const maxDepth = 64

// CopyTree copies the contents of directory src into the existing directory
// dst, both inside the root, as cp -a src/. dst without ownership:
// directories (mode kept, plus owner rwx), regular files (mode kept) and
// symlinks (copied as links, never followed). Other file types are
// skipped. Everything below src and dst is reached through descriptors
// with O_NOFOLLOW, so no symlink in the tree is followed; existing entries
// in dst are errors, never written through.
func (r *Root) CopyTree(src, dst string) error {
	sfd, err := r.resolve(src, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer unix.Close(sfd)
	dfd, err := r.resolve(dst, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	var st unix.Stat_t
	if err := unix.Fstat(dfd, &st); err != nil {
		return &os.PathError{Op: "stat", Path: dst, Err: err}
	}
	c := copier{dstDev: st.Dev, dstIno: st.Ino}
	return c.copyDir(sfd, dfd, src, dst, 0)
}

// copier remembers the destination directory, so that a destination inside
// the source (an image whose skeleton is an ancestor of the new home) is
// not copied into itself without end.
type copier struct {
	dstDev, dstIno uint64
}

func (c copier) copyDir(sfd, dfd int, src, dst string, depth int) error {
	if depth >= maxDepth {
		return fmt.Errorf("copy %s: nested more than %d directories deep", src, maxDepth)
	}
	// A duplicate: the os.File owns and closes it, the caller keeps sfd.
	dup, err := unix.FcntlInt(uintptr(sfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "dup", Path: src, Err: err}
	}
	d := os.NewFile(uintptr(dup), src)
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return &os.PathError{Op: "readdir", Path: src, Err: err}
	}
	for _, name := range names {
		if err := c.copyEntry(sfd, dfd, name, src+"/"+name, dst+"/"+name, depth); err != nil {
			return err
		}
	}
	return nil
}

func (c copier) copyEntry(sfd, dfd int, name, src, dst string, depth int) error {
	var st unix.Stat_t
	if err := unix.Fstatat(sfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "stat", Path: src, Err: err}
	}
	if st.Dev == c.dstDev && st.Ino == c.dstIno {
		return nil // the destination itself
	}
	perm := st.Mode & 0o7777
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if err := unix.Mkdirat(dfd, name, 0o700); err != nil {
			return &os.PathError{Op: "mkdir", Path: dst, Err: err}
		}
		cs, err := unix.Openat(sfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "open", Path: src, Err: err}
		}
		defer unix.Close(cs)
		cd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "open", Path: dst, Err: err}
		}
		defer unix.Close(cd)
		if err := c.copyDir(cs, cd, src, dst, depth+1); err != nil {
			return err
		}
		// The mode last: a read-only directory must still take its entries.
		if err := unix.Fchmod(cd, perm|0o700); err != nil {
			return &os.PathError{Op: "chmod", Path: dst, Err: err}
		}
	case unix.S_IFLNK:
		target, err := readlinkat(sfd, name)
		if err != nil {
			return &os.PathError{Op: "readlink", Path: src, Err: err}
		}
		if err := unix.Symlinkat(target, dfd, name); err != nil {
			return &os.PathError{Op: "symlink", Path: dst, Err: err}
		}
	case unix.S_IFREG:
		return copyFile(sfd, dfd, name, src, dst, perm&0o777)
	}
	return nil
}

func copyFile(sfd, dfd int, name, src, dst string, perm uint32) error {
	// O_NONBLOCK: if a FIFO replaced the file since the stat, the open
	// does not wait for a writer; the fstat below then refuses it.
	in, err := unix.Openat(sfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: src, Err: err}
	}
	inf := os.NewFile(uintptr(in), src)
	defer inf.Close()
	var st unix.Stat_t
	if err := unix.Fstat(in, &st); err != nil {
		return &os.PathError{Op: "stat", Path: src, Err: err}
	}
	if err := regular(src, st.Mode); err != nil {
		return err
	}
	out, err := unix.Openat(dfd, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
	if err != nil {
		return &os.PathError{Op: "create", Path: dst, Err: err}
	}
	outf := os.NewFile(uintptr(out), dst)
	if _, err := io.Copy(outf, inf); err != nil {
		outf.Close()
		return &os.PathError{Op: "copy", Path: dst, Err: err}
	}
	return outf.Close()
}

// readlinkat returns the target of the symlink name in dirfd.
func readlinkat(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
		if size >= 4*unix.PathMax {
			return "", unix.ENAMETOOLONG
		}
	}
}
