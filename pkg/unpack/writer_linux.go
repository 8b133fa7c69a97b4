// SPDX-License-Identifier: Apache-2.0

package unpack

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/pkg/flatten"
)

// Writer is a flatten.Sink that creates the entries under a root directory.
type Writer struct {
	root    *os.File // O_PATH descriptor of the root: every *at call is relative to it
	log     *slog.Logger
	dirs    map[string]dirAttr // final attributes of directories, applied by Close
	Skipped int                // entries not created (device nodes)
	// Xattr, when set, says which of an entry's extended attributes to
	// keep. A privileged writer sets it to keep to what an unprivileged
	// one could write (UserXattrs): root would otherwise also write the
	// image's trusted.* and security.capability attributes.
	//
	// Some are never written whatever Xattr says (neverXattr): overlay's
	// own (trusted.overlay.*, user.overlay.*), as the tree may become an
	// overlay's lower layer, which would read them as its own (redirects,
	// opaque dirs); and security.* labels other than file capabilities
	// (selinux, smack, ima, evm), which are the host's policy to assign,
	// not an image's.
	Xattr func(name string) bool
	buf   []byte // the chunk buffer of writeFile, allocated once
}

// UserXattrs keeps user.* attributes, the only ones an unprivileged
// writer can set, except user.overlay.*, which an overlay mounted in a
// user namespace would read as its own.
func UserXattrs(name string) bool {
	return strings.HasPrefix(name, "user.") && !neverXattr(name)
}

// neverXattr reports whether name is never written from an image: in
// overlayfs's private namespace, or a security label other than file
// capabilities.
func neverXattr(name string) bool {
	return strings.HasPrefix(name, "user.overlay.") || strings.HasPrefix(name, "trusted.overlay.") ||
		(strings.HasPrefix(name, "security.") && name != "security.capability")
}

type dirAttr struct {
	mode  uint32
	mtime int64
}

// NewWriter writes into dir, which must exist (an empty directory).
func NewWriter(dir string, log *slog.Logger) (*Writer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open rootfs %s: %w", dir, err)
	}
	return &Writer{root: os.NewFile(uintptr(fd), dir), log: log, dirs: map[string]dirAttr{}}, nil
}

// Add creates one entry. Directories are created writable and get their final mode at
// Close, so that a 0555 or 0000 directory can still be filled.
func (w *Writer) Add(e flatten.Entry, content io.Reader) error {
	if e.Path == "" { // the root itself
		w.dirs[""] = dirAttr{e.Mode, e.ModTime}
		return nil
	}
	parent, err := w.parent(e.Path)
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	name := path.Base(e.Path)
	switch e.Type {
	case flatten.Dir:
		err = mkdir(parent, name)
		w.dirs[e.Path] = dirAttr{e.Mode, e.ModTime}
	case flatten.Reg:
		err = w.writeFile(parent, name, e, content)
	case flatten.Symlink:
		err = unix.Symlinkat(e.Linkname, parent, name)
		if err == nil {
			err = setTime(parent, name, e.ModTime, unix.AT_SYMLINK_NOFOLLOW)
		}
	case flatten.Hardlink:
		err = w.link(parent, name, e.Linkname)
	case flatten.Fifo:
		if err = unix.Mkfifoat(parent, name, e.Mode&0o7777); err == nil {
			err = unix.Fchmodat(parent, name, e.Mode&0o7777, 0)
		}
	case flatten.Char, flatten.Block, flatten.Socket:
		// mknod needs CAP_MKNOD in the initial user namespace: skip, as enroot does.
		w.Skipped++
		w.log.Debug("skipping device node", "path", e.Path)
		return nil
	default:
		err = fmt.Errorf("unknown type %v", e.Type)
	}
	if err != nil {
		return fmt.Errorf("unpack %s: %w", e.Path, err)
	}
	if e.Type != flatten.Reg && e.Type != flatten.Hardlink { // a file's are set by writeFile, a hardlink shares them
		w.setXattrsAt(parent, name, e)
	}
	return nil
}

// parent opens the parent directory of p inside the root, creating missing
// directories, and never following a symlink (RESOLVE_NO_SYMLINKS): an image that
// puts a file under a symlinked directory gets an error, not a write outside the root.
func (w *Writer) parent(p string) (int, error) {
	dir := path.Dir(p)
	how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
	if dir == "." {
		return unix.Openat2(int(w.root.Fd()), ".", how)
	}
	fd, err := unix.Openat2(int(w.root.Fd()), dir, how)
	if errors.Is(err, unix.ENOENT) {
		if err = w.mkdirAll(dir); err == nil {
			fd, err = unix.Openat2(int(w.root.Fd()), dir, how)
		}
	}
	if err != nil {
		return -1, fmt.Errorf("unpack %s: parent directory: %w", p, err)
	}
	return fd, nil
}

// mkdirAll creates dir and its missing parents, writable, one component at a time.
func (w *Writer) mkdirAll(dir string) error {
	cur := ""
	for _, c := range strings.Split(dir, "/") {
		parent, err := w.parent(path.Join(cur, c))
		if err != nil {
			return err
		}
		err = mkdir(parent, c)
		unix.Close(parent)
		if err != nil {
			return err
		}
		cur = path.Join(cur, c)
		if _, ok := w.dirs[cur]; !ok {
			w.dirs[cur] = dirAttr{mode: 0o755} // a parent no layer describes, as the squashfs writer does
		}
	}
	return nil
}

// mkdir creates a writable directory, or accepts an existing one.
func mkdir(parent int, name string) error {
	err := unix.Mkdirat(parent, name, 0o700)
	if errors.Is(err, unix.EEXIST) {
		var st unix.Stat_t
		if serr := unix.Fstatat(parent, name, &st, unix.AT_SYMLINK_NOFOLLOW); serr == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return nil
		}
	}
	return err
}

func (w *Writer) link(parent int, name, target string) error {
	how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
	tfd, err := unix.Openat2(int(w.root.Fd()), target, how)
	if err != nil {
		return fmt.Errorf("hardlink target %s: %w", target, err)
	}
	defer unix.Close(tfd)
	// linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; the /proc/self/fd path does not.
	return unix.Linkat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", tfd), parent, name, unix.AT_SYMLINK_FOLLOW)
}

// setXattrsAt sets e's extended attributes on the entry name of the
// directory parent. lsetxattr on /proc/self/fd/PARENT/NAME follows the magic
// link to the directory, which was resolved inside the root, and not the
// final component: it reaches a symlink or fifo itself, which no fd can
// (fsetxattr refuses an O_PATH fd; setxattr on /proc/self/fd/N of one
// follows a symlink, and lsetxattr acts on the magic link). Only this writer
// creates entries in the tree while it unpacks, so name is what Add made.
func (w *Writer) setXattrsAt(parent int, name string, e flatten.Entry) {
	p := fmt.Sprintf("/proc/self/fd/%d/%s", parent, name)
	w.setXattrs(e, func(k string, v []byte) error { return unix.Lsetxattr(p, k, v, 0) })
}

// setXattrs sets the attributes of e that the filter keeps with set. One
// that cannot be set is left out with a debug message, not an error, as
// tar does: user.* is refused on symlinks and special files, security.*
// and trusted.* to an unprivileged writer, all of them on a filesystem
// without xattrs.
func (w *Writer) setXattrs(e flatten.Entry, set func(k string, v []byte) error) {
	for k, v := range e.Xattrs {
		if neverXattr(k) || (w.Xattr != nil && !w.Xattr(k)) {
			continue
		}
		if err := set(k, v); err != nil {
			w.log.Debug("xattr not kept", "path", e.Path, "name", k, "err", err)
		}
	}
}

// Close gives directories their final modes and times, deepest first (a parent that
// becomes read-only must not stop its children's updates).
func (w *Writer) Close() error {
	defer w.root.Close()
	paths := make([]string, 0, len(w.dirs))
	for p := range w.dirs {
		paths = append(paths, p)
	}
	depth := func(p string) int {
		if p == "" {
			return -1
		}
		return strings.Count(p, "/")
	}
	sort.Slice(paths, func(i, j int) bool {
		if di, dj := depth(paths[i]), depth(paths[j]); di != dj {
			return di > dj
		}
		return paths[i] < paths[j]
	})
	for _, p := range paths {
		a := w.dirs[p]
		target := p
		if target == "" {
			target = "."
		}
		how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
		fd, err := unix.Openat2(int(w.root.Fd()), target, how)
		if err != nil {
			return fmt.Errorf("unpack %s: %w", p, err)
		}
		proc := fmt.Sprintf("/proc/self/fd/%d", fd)
		ts := []unix.Timespec{unix.NsecToTimespec(a.mtime * 1e9), unix.NsecToTimespec(a.mtime * 1e9)}
		err = unix.UtimesNanoAt(unix.AT_FDCWD, proc, ts, 0)
		if err == nil {
			err = unix.Fchmodat(unix.AT_FDCWD, proc, a.mode&0o7777, 0)
		}
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("unpack %s: set mode: %w", p, err)
		}
	}
	return nil
}
