// SPDX-License-Identifier: Apache-2.0

package pathtrust

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gpyxis/gpyxis/internal/boundedio"
	"golang.org/x/sys/unix"
)

// ErrUntrusted is wrapped by every refusal (errors.Is(err, ErrUntrusted)).
var ErrUntrusted = errors.New("untrusted path")

// maxLinks bounds the symbolic links followed on one walk, as the kernel's
// own limit on a path lookup.
const maxLinks = 40

// What an Error is about.
const (
	badOwner  = "owner"  // the directory or file itself: wrong owner or writable by others
	badParent = "parent" // a directory above it
	badLink   = "link"   // a symbolic link on the way
	badType   = "type"   // not a directory (or not a regular file)
)

// Error is a refusal. Path is the path the caller asked about, At the
// component at fault (Path itself, a parent, or a link on the way).
type Error struct {
	Path, At string
	What     string
	Owner    int    // At's owner
	Mode     uint32 // At's st_mode
	Want     int    // the uid Path must belong to
	File     bool   // Path was to be a regular file, not a directory
}

func (e *Error) Is(target error) bool { return target == ErrUntrusted }

// OtherOwner reports whether the path itself belongs to another user (as
// opposed to being open to others, or something on the way being wrong).
func (e *Error) OtherOwner() bool { return e.What == badOwner && e.Owner != e.Want }

func (e *Error) Error() string {
	mode := fmt.Sprintf("%04o", e.Mode&0o7777)
	self, rootOr := "yours", "root's or yours"
	if e.Want != os.Geteuid() {
		self, rootOr = "owned by "+describe(e.Want), "owned by root or "+describe(e.Want)
	}
	switch e.What {
	case badParent:
		return fmt.Sprintf("refusing %s: its parent %s is owned by %s, mode %s; every directory above it must be %s "+
			"and not writable by others unless sticky: chmod go-w (or +t) or chown %s, or choose another directory",
			e.Path, e.At, describe(e.Owner), mode, rootOr, e.At)
	case badLink:
		return fmt.Sprintf("refusing %s: %s is a symbolic link owned by %s; a link on the way must be %s: remove it and retry",
			e.Path, e.At, describe(e.Owner), rootOr)
	case badType:
		want := "a directory"
		if e.File {
			want = "a regular file"
		}
		return fmt.Sprintf("refusing %s: %s is not %s (%s owned by %s, mode %s): remove it and retry",
			e.Path, e.At, want, boundedio.KindOfMode(e.Mode), describe(e.Owner), mode)
	}
	if e.File {
		return fmt.Sprintf("refusing %s: owned by %s, mode %s; it must be %s and not writable by others: "+
			"chmod go-w or chown it (or remove it) and retry", e.Path, describe(e.Owner), mode, rootOr)
	}
	return fmt.Sprintf("refusing %s: owned by %s, mode %s; it must be %s and not writable by others: "+
		"remove it (or chmod go-w / chown) and retry", e.Path, describe(e.Owner), mode, self)
}

// describe names a uid: "tester2 (uid 1002)", or "uid 1002" without a name.
func describe(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username + " (uid " + strconv.Itoa(uid) + ")"
	}
	return "uid " + strconv.Itoa(uid)
}

// CheckDir checks that uid may trust the existing directory path. A missing
// path is an error that matches fs.ErrNotExist, whatever is above it: what
// is not there cannot have been planted (yet), and is not used.
func CheckDir(path string, uid int) error {
	if err := missing(path); err != nil {
		return err
	}
	fd, err := walk(path, walkOptions{uid: uid})
	if err != nil {
		return err
	}
	unix.Close(fd)
	return nil
}

// MkdirAll creates path's missing directories with mode perm (0700 for a
// per-user directory), as the caller, then checks path for uid. A directory
// that appears between the check and the mkdir (another user racing the
// caller) is checked like any other.
func MkdirAll(path string, perm os.FileMode, uid int) error {
	fd, err := walk(path, walkOptions{uid: uid, create: true, perm: uint32(perm.Perm())})
	if err != nil {
		return err
	}
	unix.Close(fd)
	return nil
}

// OpenFile opens the regular file path for reading after checking it and
// every directory above it for uid: the file must belong to uid (or root)
// and not be writable by group or others. A missing file is an error that
// matches fs.ErrNotExist.
func OpenFile(path string, uid int) (*os.File, error) {
	if err := missing(path); err != nil {
		return nil, err
	}
	return openFile(path, absPath(path), uid, 0)
}

// missing returns path's not-exist error, or nil if it may exist. The
// answer only saves the walk: what exists is checked by it.
func missing(path string) error {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// openFile opens abs (path itself, or what a link on the way named).
func openFile(path, abs string, uid, links int) (*os.File, error) {
	if links > maxLinks {
		return nil, &fs.PathError{Op: "open", Path: path, Err: unix.ELOOP}
	}
	parent, err := walk(filepath.Dir(abs), walkOptions{uid: uid, parentOnly: true, asked: path})
	if err != nil {
		return nil, err
	}
	defer unix.Close(parent)
	name := filepath.Base(abs)
	// O_NONBLOCK: a FIFO planted where the file should be must not block the open.
	fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) {
		// A link: followed only if root's or uid's, then opened the same way.
		lfd, lerr := unix.Openat(parent, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if lerr != nil {
			return nil, &fs.PathError{Op: "open", Path: path, Err: lerr}
		}
		target, lerr := linkTarget(lfd, path, abs, uid)
		unix.Close(lfd)
		if lerr != nil {
			return nil, lerr
		}
		return openFile(path, target, uid, links+1)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return checkedFile(fd, path, uid)
}

// checkedFile applies the file rule to an open descriptor and returns it
// as a blocking *os.File.
func checkedFile(fd int, path string, uid int) (*os.File, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	e := &Error{Path: path, At: path, Owner: int(st.Uid), Mode: st.Mode, Want: uid, File: true}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		e.What = badType
	case (int(st.Uid) != uid && st.Uid != 0) || st.Mode&0o022 != 0:
		e.What = badOwner
	default:
		// Reads from a regular file never block; the flag only guarded the open.
		if err := unix.SetNonblock(fd, false); err != nil {
			unix.Close(fd)
			return nil, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
	unix.Close(fd)
	return nil, e
}

// beforeMkdir, when set by a test, runs between finding a component
// missing and creating it: the window another user races.
var beforeMkdir func(path string)

type walkOptions struct {
	uid        int
	create     bool
	perm       uint32
	parentOnly bool   // the last component is checked as a parent (OpenFile)
	asked      string // the path to name in errors, if not the walked one
}

func absPath(path string) string {
	if a, err := filepath.Abs(path); err == nil {
		return a
	}
	return filepath.Clean(path)
}

// walk checks path component by component from /, each opened O_PATH and
// O_NOFOLLOW relative to its checked parent, and returns the last one's
// descriptor.
func walk(path string, o walkOptions) (int, error) {
	asked := o.asked
	if asked == "" {
		asked = path
	}
	abs := absPath(path)
	for links := 0; ; links++ {
		if links > maxLinks {
			return -1, &fs.PathError{Op: "open", Path: asked, Err: unix.ELOOP}
		}
		fd, next, err := walkOnce(abs, asked, o)
		if err != nil || next == "" {
			return fd, err
		}
		// A trusted link: start over on the path it leads to, which was
		// made absolute and symlink-free up to the link.
		abs = next
	}
}

// walkOnce walks abs; it returns the descriptor of its last component, or
// the path to walk instead when it met a (trusted) symbolic link.
func walkOnce(abs, asked string, o walkOptions) (int, string, error) {
	fd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", &fs.PathError{Op: "open", Path: "/", Err: err}
	}
	var comps []string
	if abs != "/" {
		comps = strings.Split(strings.TrimPrefix(abs, "/"), "/")
	}
	cur := "/"
	if err := check(fd, cur, asked, len(comps) == 0 && !o.parentOnly, o.uid); err != nil {
		unix.Close(fd)
		return -1, "", err
	}
	for i, c := range comps {
		last := i == len(comps)-1
		next := filepath.Join(cur, c)
		nfd, err := openComponent(fd, c)
		if errors.Is(err, unix.ENOENT) && o.create {
			if beforeMkdir != nil {
				beforeMkdir(next)
			}
			// Made by the caller with perm; EEXIST is another process (or
			// user) racing this one, and what exists is checked below.
			if err := unix.Mkdirat(fd, c, o.perm); err != nil && !errors.Is(err, unix.EEXIST) {
				unix.Close(fd)
				return -1, "", &fs.PathError{Op: "mkdir", Path: next, Err: err}
			}
			nfd, err = openComponent(fd, c)
		}
		if err != nil {
			unix.Close(fd)
			return -1, "", &fs.PathError{Op: "open", Path: next, Err: err}
		}
		var st unix.Stat_t
		if err := unix.Fstat(nfd, &st); err != nil {
			unix.Close(fd)
			unix.Close(nfd)
			return -1, "", &fs.PathError{Op: "stat", Path: next, Err: err}
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			target, err := linkTarget(nfd, asked, next, o.uid)
			unix.Close(fd)
			unix.Close(nfd)
			if err != nil {
				return -1, "", err
			}
			return -1, filepath.Join(append([]string{target}, comps[i+1:]...)...), nil
		}
		unix.Close(fd)
		fd = nfd
		cur = next
		if err := check(fd, cur, asked, last && !o.parentOnly, o.uid); err != nil {
			unix.Close(fd)
			return -1, "", err
		}
	}
	return fd, "", nil
}

// openComponent opens name in the directory open at fd, not following a
// link. O_DIRECTORY first: with O_PATH, only a directory lookup triggers an
// automount (a home under autofs); a link or a file is then opened as is,
// for the checks to say what it is.
func openComponent(fd int, name string) (int, error) {
	nfd, err := unix.Openat(fd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
		nfd, err = unix.Openat(fd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	}
	return nfd, err
}

// linkTarget checks the link at path, open at fd, and returns the absolute
// path it names.
func linkTarget(fd int, asked, path string, uid int) (string, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "", &fs.PathError{Op: "stat", Path: asked, Err: err}
	}
	if int(st.Uid) != uid && st.Uid != 0 {
		return "", &Error{Path: asked, At: path, What: badLink, Owner: int(st.Uid), Mode: st.Mode, Want: uid}
	}
	buf := make([]byte, unix.PathMax)
	// An empty name reads the link open at fd itself (O_PATH|O_NOFOLLOW).
	n, err := unix.Readlinkat(fd, "", buf)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: asked, Err: err}
	}
	target := string(buf[:n])
	if !filepath.IsAbs(target) {
		target = filepath.Join(filepath.Dir(path), target)
	}
	return filepath.Clean(target), nil
}

// check applies the rule to the directory open at fd: final, the one the
// caller uses; otherwise a directory above it.
func check(fd int, path, asked string, final bool, uid int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	e := &Error{Path: asked, At: path, Owner: int(st.Uid), Mode: st.Mode, Want: uid}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		e.What = badType
		return e
	}
	if final {
		if int(st.Uid) != uid || st.Mode&0o022 != 0 {
			e.What = badOwner
			return e
		}
		return nil
	}
	if (int(st.Uid) != uid && st.Uid != 0) || (st.Mode&0o022 != 0 && st.Mode&unix.S_ISVTX == 0) {
		e.What = badParent
		return e
	}
	return nil
}

// CheckParents checks every directory above path: whoever can write to one
// of them can put their own file at path. A missing path is an error that
// matches fs.ErrNotExist.
func CheckParents(path string, uid int) error {
	if err := missing(path); err != nil {
		return err
	}
	fd, err := walk(filepath.Dir(absPath(path)), walkOptions{uid: uid, parentOnly: true, asked: path})
	if err != nil {
		return err
	}
	unix.Close(fd)
	return nil
}
