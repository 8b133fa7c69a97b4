// SPDX-License-Identifier: Apache-2.0

// Package boundedio reads files a user or a site names (configuration files,
// credentials, scripts, state files) without trusting what the name points
// at: a device such as /dev/zero, a FIFO nobody writes to or a file of many
// gigabytes is refused with an error naming the path, instead of blocking or
// growing memory until the kernel kills the process.
package boundedio

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Limits for each kind of input. They are far above what a legitimate file
// of the kind holds and far below what hurts a node.
const (
	// Config bounds configuration, credential, state and metadata files.
	Config = 1 << 20
	// Script bounds rc and configuration scripts.
	Script = 16 << 20
)

// ErrTooLarge is wrapped by the error of a file larger than its limit.
var ErrTooLarge = errors.New("file too large")

// ErrNotRegular is wrapped by the error of a path that is not a regular file
// (nor a pipe where pipes are allowed).
var ErrNotRegular = errors.New("not a regular file")

// Error names the refused path and why.
type Error struct {
	Path    string
	Problem string
	Err     error
}

func (e *Error) Error() string { return e.Path + ": " + e.Problem }
func (e *Error) Unwrap() error { return e.Err }

// Open opens the regular file at path for reading, refusing anything else and
// a file larger than limit bytes. The caller still reads at most limit+1
// bytes: the file may grow after the check. A missing file fails with an
// error wrapping fs.ErrNotExist.
func Open(path string, limit int64) (*os.File, error) {
	return open(path, limit, false)
}

// ReadFile reads the regular file at path whole, refusing anything else and a
// file larger than limit bytes.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := open(path, limit, false)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return read(f, path, limit)
}

// ReadFileNoFollow is ReadFile refusing a symbolic link as the last
// component: for root reading a file in a directory a user owns, where a
// link could point root at a file the user cannot read.
func ReadFileNoFollow(path string, limit int64) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if err := check(path, fi, limit, false); err != nil {
		return nil, err
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	if fi, err = f.Stat(); err == nil {
		err = check(path, fi, limit, false)
	}
	if err != nil {
		return nil, err
	}
	return read(f, path, limit)
}

// ReadFileOrPipe is ReadFile that also takes a pipe, such as a shell's
// <(...) or /dev/stdin, read until its writer closes it or limit is passed.
// A named pipe's open waits for a writer.
func ReadFileOrPipe(path string, limit int64) ([]byte, error) {
	f, err := open(path, limit, true)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return read(f, path, limit)
}

// Read reads r to its end, failing once it passes limit bytes; path names r
// in the error.
func Read(r io.Reader, path string, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, tooLarge(path, limit)
	}
	return b, nil
}

// Reader returns r that fails with a too-large error naming path once it has
// given limit bytes and more remain: a streaming parser's bound.
func Reader(r io.Reader, path string, limit int64) io.Reader {
	return &reader{r: r, path: path, limit: limit}
}

type reader struct {
	r     io.Reader
	path  string
	limit int64
	n     int64 // bytes given so far
	over  bool  // a byte past the limit was seen
}

func (r *reader) Read(p []byte) (int, error) {
	if r.over {
		return 0, tooLarge(r.path, r.limit)
	}
	// Ask for one byte past the limit to tell "exactly limit" from "more".
	if max := r.limit - r.n + 1; int64(len(p)) > max {
		p = p[:max]
	}
	n, err := r.r.Read(p)
	if r.n+int64(n) > r.limit {
		r.over, n, err = true, int(r.limit-r.n), nil
	}
	r.n += int64(n)
	return n, err
}

func read(f *os.File, path string, limit int64) ([]byte, error) {
	b, err := Read(f, path, limit)
	if err != nil && !errors.As(err, new(*Error)) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, err
}

func open(path string, limit int64, pipes bool) (*os.File, error) {
	// A stat before the open keeps devices from being opened at all (opening
	// some has side effects); the fstat after it is what counts.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := check(path, fi, limit, pipes); err != nil {
		return nil, err
	}
	// O_NONBLOCK: opening a FIFO without a writer must not block where a
	// regular file is expected. Where a pipe is welcome, its open waits for
	// the writer as any reader's would.
	flags := unix.O_RDONLY | unix.O_NONBLOCK | unix.O_CLOEXEC | unix.O_NOCTTY
	if fi.Mode()&fs.ModeNamedPipe != 0 {
		flags &^= unix.O_NONBLOCK
	}
	fd, err := unix.Open(path, flags, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	fi, err = f.Stat()
	if err == nil {
		err = check(path, fi, limit, pipes)
	}
	if err == nil {
		// Blocking reads from here on: a pipe's writer may not have written yet.
		err = unix.SetNonblock(fd, false)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func check(path string, fi fs.FileInfo, limit int64, pipes bool) error {
	m := fi.Mode()
	switch {
	case m.IsRegular():
		if fi.Size() > limit {
			return tooLarge(path, limit)
		}
		return nil
	case pipes && m&fs.ModeNamedPipe != 0:
		return nil
	case isDevNull(fi):
		return nil // reads as an empty file at once: the usual "none"
	}
	want := "a regular file"
	if pipes {
		want = "a regular file or a pipe"
	}
	return &Error{Path: path, Problem: fmt.Sprintf("%s, not %s", Kind(m), want), Err: ErrNotRegular}
}

// isDevNull reports whether fi is the null device (character 1:3).
func isDevNull(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && fi.Mode()&fs.ModeCharDevice != 0 && unix.Major(uint64(st.Rdev)) == 1 && unix.Minor(uint64(st.Rdev)) == 3
}

func tooLarge(path string, limit int64) error {
	return &Error{Path: path, Problem: fmt.Sprintf("larger than %s (a small text file is expected: check the path)", Size(limit)), Err: ErrTooLarge}
}

// Kind names the type of a file that is not regular for an error message:
// "a character device", "a FIFO", "a directory"...
func Kind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "a special file"
}

// KindOfMode is Kind for a raw st_mode from stat(2).
func KindOfMode(mode uint32) string {
	var t fs.FileMode
	switch mode & syscall.S_IFMT {
	case syscall.S_IFREG:
	case syscall.S_IFDIR:
		t = fs.ModeDir
	case syscall.S_IFLNK:
		t = fs.ModeSymlink
	case syscall.S_IFCHR:
		t = fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFBLK:
		t = fs.ModeDevice
	case syscall.S_IFIFO:
		t = fs.ModeNamedPipe
	case syscall.S_IFSOCK:
		t = fs.ModeSocket
	default:
		t = fs.ModeIrregular
	}
	return Kind(t)
}

// Size formats n bytes the way the limits read: "1 MiB", "16 MiB", "4 TiB".
func Size(n int64) string {
	for _, u := range []struct {
		shift uint
		name  string
	}{{40, "TiB"}, {30, "GiB"}, {20, "MiB"}, {10, "KiB"}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d %s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}
