// SPDX-License-Identifier: Apache-2.0

// Package inroot reads and writes files inside a container root filesystem
// without ever leaving it. Every path is resolved by the kernel relative to
// a descriptor of the root with openat2(RESOLVE_IN_ROOT |
// RESOLVE_NO_MAGICLINKS): an absolute symlink in the image restarts at the
// root, ".." stops there, and procfs magic links are refused, so that an
// image whose /etc/passwd links to a host file only ever names a file of
// its own tree. Reads accept regular files only (a FIFO would block, a
// device could be endless) and are bounded; writes never follow a symlink
// in the last component: a file is replaced by renaming a new one over the
// name, and new files are created with O_EXCL.
//
// The root itself is opened by the kernel's ordinary path walk, so a tree
// reached through /proc/PID/root (an overlay mounted in a container's
// namespace) is the tree of that namespace.
//
// Linux 5.6 or later is required (openat2).
package inroot

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/gpyxis/gpyxis/internal/boundedio"
	"golang.org/x/sys/unix"
)

// TextLimit bounds the text files of an image that are read whole
// (passwd, group, shadow, login.defs, environment, fstab, rc): far above
// what a real one holds, far below what hurts a node.
const TextLimit = 16 << 20

// ErrNotRegular is wrapped by the error of a path that is not a regular
// file where one is expected.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is wrapped by the error of a file larger than its limit.
var ErrTooLarge = errors.New("file too large")

// Root is an open container root filesystem.
type Root struct {
	fd   int
	path string
}

// Open opens the directory dir as a root. The caller must Close it.
func Open(dir string) (*Root, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open container root: %w", &os.PathError{Op: "open", Path: dir, Err: err})
	}
	return &Root{fd: fd, path: dir}, nil
}

// Close releases the root's descriptor.
func (r *Root) Close() error {
	if r.fd < 0 {
		return nil
	}
	err := unix.Close(r.fd)
	r.fd = -1
	return err
}

// Path is the host path the root was opened with, for messages.
func (r *Root) Path() string { return r.path }

// resolve opens name inside the root with flags (O_CLOEXEC added).
func (r *Root) resolve(name string, flags uint64) (int, error) {
	how := unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	if name == "" {
		name = "/"
	}
	for range 64 {
		fd, err := unix.Openat2(r.fd, name, &how)
		// EAGAIN: a concurrent rename raced with ".." resolution; retry.
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err == unix.ENOSYS {
			return -1, fmt.Errorf("%s: openat2 is missing (Linux 5.6 or later is required): %w", name, err)
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: name, Err: err}
		}
		return fd, nil
	}
	return -1, &os.PathError{Op: "open", Path: name, Err: unix.EAGAIN}
}

// Stat returns the file name names, its symlinks followed inside the root.
func (r *Root) Stat(name string) (fs.FileInfo, error) {
	return r.stat(name, unix.O_PATH)
}

// Lstat is Stat without following a symlink in the last component.
func (r *Root) Lstat(name string) (fs.FileInfo, error) {
	return r.stat(name, unix.O_PATH|unix.O_NOFOLLOW)
}

func (r *Root) stat(name string, flags uint64) (fs.FileInfo, error) {
	fd, err := r.resolve(name, flags)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	return f.Stat()
}

// OpenFile opens the regular file name for reading, refusing anything else.
func (r *Root) OpenFile(name string) (*os.File, error) {
	pfd, err := r.resolve(name, unix.O_PATH)
	if err != nil {
		return nil, err
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: name, Err: err}
	}
	if err := regular(name, st.Mode); err != nil {
		return nil, err
	}
	// Reopened through our own descriptor, not by name: what is opened is
	// the file just checked, even if the name changed since. O_NONBLOCK
	// and O_NOCTTY are harmless on a regular file.
	fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(pfd), unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// ReadFile reads the regular file name whole, refusing anything else and a
// file larger than limit bytes. A missing file is an error matching
// fs.ErrNotExist.
func (r *Root) ReadFile(name string, limit int64) ([]byte, error) {
	f, err := r.OpenFile(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f, name, limit)
}

func readLimited(f *os.File, name string, limit int64) ([]byte, error) {
	if fi, err := f.Stat(); err == nil && fi.Size() > limit {
		return nil, tooLarge(name, limit)
	}
	// The file may grow after the check: read one byte past the limit.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: name, Err: err}
	}
	if int64(len(data)) > limit {
		return nil, tooLarge(name, limit)
	}
	return data, nil
}

func tooLarge(name string, limit int64) error {
	return &fileError{fmt.Sprintf("%s in the container image is larger than %d MiB; shrink or remove it in the image", name, limit>>20), ErrTooLarge}
}

// fileError is a refusal of an image file: its message says what and the
// fix, and it matches its sentinel (ErrTooLarge, ErrNotRegular).
type fileError struct {
	msg string
	err error
}

func (e *fileError) Error() string { return e.msg }
func (e *fileError) Unwrap() error { return e.err }

// regular returns nil for a regular file mode, else an error naming what
// name is.
func regular(name string, mode uint32) error {
	if mode&unix.S_IFMT == unix.S_IFREG {
		return nil
	}
	return &fileError{fmt.Sprintf("%s in the container image is %s, not a regular file; make it one in the image", name, boundedio.KindOfMode(mode)), ErrNotRegular}
}

// split returns the parent directory and the last component of name. The
// last component must be a plain name: writes need one to create.
func split(name string) (dir, base string, err error) {
	n := strings.TrimRight(name, "/")
	i := strings.LastIndex(n, "/")
	dir, base = "/", n
	if i >= 0 {
		dir, base = n[:i], n[i+1:]
	}
	if dir == "" {
		dir = "/"
	}
	if base == "" || base == "." || base == ".." {
		return "", "", fmt.Errorf("%q does not end in a file name", name)
	}
	return dir, base, nil
}
