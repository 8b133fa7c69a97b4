// SPDX-License-Identifier: Apache-2.0

package mountspec

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// maxSymlinks bounds symlink expansion during a walk, like the kernel's
// MAXSYMLINKS (40) that openat2 applies.
const maxSymlinks = 40

// ResolveInRoot returns the host path of target inside rootfs, resolving
// symlinks as if rootfs were "/": absolute symlinks restart at rootfs and
// ".." never leaves it. Trailing components that do not exist are allowed
// and kept as written (enroot realpathat), so the result can name a
// mountpoint that x-create will make.
//
// A ".." in target itself that climbs above the root is an error matching
// ErrEscape and unix.EXDEV, like enroot. The same climb through a symlink
// stays at the root (openat2 RESOLVE_IN_ROOT semantics). A symlink loop is
// unix.ELOOP; a non-directory on the way is unix.ENOTDIR.
//
// Existing targets are resolved with openat2(RESOLVE_IN_ROOT |
// RESOLVE_NO_MAGICLINKS); anything else (missing components, magic links,
// no openat2, no /proc) falls back to a component walk with O_PATH |
// O_NOFOLLOW descriptors that treats every symlink's text relative to the
// root, so both give the same answer.
//
// The result is a path string: mounting on it follows symlinks again, so
// the caller should own the root filesystem (as a rootless runtime does).
func ResolveInRoot(rootfs, target string) (string, error) {
	if err := checkTarget(target); err != nil {
		return "", err
	}
	root, rootfd, err := openRoot(rootfs)
	if err != nil {
		return "", err
	}
	defer unix.Close(rootfd)
	if p, ok := resolveOpenat2(root, rootfd, target); ok {
		return p, nil
	}
	return resolveWalk(root, rootfd, target)
}

// resolveWalk is ResolveInRoot without the openat2 fast path.
func resolveWalk(root string, rootfd int, target string) (string, error) {
	w, err := walkInRoot(root, rootfd, target)
	if err != nil {
		return "", err
	}
	defer w.close()
	return w.path(), nil
}

// CreateTarget resolves target like ResolveInRoot and creates what is
// missing according to kind, as enroot's x-create does (enroot-mount.c
// create_file): missing parents are directories with mode 0755, the target
// itself an empty directory or file with mode 0000 (enroot's marker for
// mountpoints; `enroot export` skips such entries). Existing targets are
// left alone, whatever their type. Every directory is created and entered
// relative to an O_PATH descriptor of its parent, never through a path, so
// a symlink cannot redirect creation out of rootfs. For CreateAuto, source
// (a host path) decides: a directory makes a directory, anything else a
// file, and nothing is created when source cannot be stat'ed. It returns
// the host path of the target.
func CreateTarget(rootfs, target string, kind Create, source string) (string, error) {
	if err := checkTarget(target); err != nil {
		return "", err
	}
	if kind == CreateAuto {
		kind = autoKind(source)
	}
	root, rootfd, err := openRoot(rootfs)
	if err != nil {
		return "", err
	}
	defer unix.Close(rootfd)
	w, err := walkInRoot(root, rootfd, target)
	if err != nil {
		return "", err
	}
	defer w.close()
	if kind != CreateNone && w.missing > 0 {
		if err := w.create(kind); err != nil {
			return "", fmt.Errorf("create %s %q in %q: %w", kind, target, rootfs, err)
		}
	}
	return w.path(), nil
}

// autoKind implements x-create=auto: the kind of the source, as enroot's
// stat(2) of mnt_fsname.
func autoKind(source string) Create {
	fi, err := os.Stat(source)
	switch {
	case err != nil:
		return CreateNone
	case fi.IsDir():
		return CreateDir
	default:
		return CreateFile
	}
}

// checkTarget rejects an empty target and a ".." in it that climbs above
// the root, counted on the target as written (enroot: EXDEV).
func checkTarget(target string) error {
	if target == "" {
		return fmt.Errorf("%w: empty target", ErrInvalidEntry)
	}
	depth := 0
	for _, c := range strings.Split(target, "/") {
		switch c {
		case "", ".":
		case "..":
			if depth--; depth < 0 {
				return fmt.Errorf("%w: %q climbs above \"/\" with \"..\": %w", ErrEscape, target, unix.EXDEV)
			}
		default:
			depth++
		}
	}
	return nil
}

// openRoot returns rootfs with symlinks resolved and an O_PATH descriptor
// of it.
func openRoot(rootfs string) (string, int, error) {
	abs, err := filepath.Abs(rootfs)
	if err != nil {
		return "", -1, fmt.Errorf("open container root: %w", err)
	}
	// The kernel resolves the path: a magic link on the way (/proc/PID/root,
	// how the host reaches a tree mounted in a container's namespace) is
	// followed into that namespace, where its text ("/") would lead back to
	// the host's own root.
	fd, err := unix.Open(abs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", -1, fmt.Errorf("open container root: %w", &os.PathError{Op: "open", Path: abs, Err: err})
	}
	// Results are paths under root: the plain form of abs when it names the
	// same directory, else abs itself.
	root := abs
	if r, err := filepath.EvalSymlinks(abs); err == nil && sameDir(r, fd) {
		root = r
	}
	return root, fd, nil
}

// sameDir reports whether path names the directory fd is open on.
func sameDir(path string, fd int) bool {
	var a, b unix.Stat_t
	return unix.Stat(path, &a) == nil && unix.Fstat(fd, &b) == nil && a.Dev == b.Dev && a.Ino == b.Ino
}

// resolveOpenat2 resolves an existing target in one openat2 call and reads
// the result back from /proc/self/fd. ok is false on any failure; the
// caller then walks.
func resolveOpenat2(root string, rootfd int, target string) (string, bool) {
	how := &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	var fd int
	var err error
	for range 4 {
		// EAGAIN: a concurrent rename made RESOLVE_IN_ROOT give up.
		if fd, err = unix.Openat2(rootfd, target, how); err != unix.EINTR && err != unix.EAGAIN {
			break
		}
	}
	if err != nil {
		return "", false
	}
	defer unix.Close(fd)
	p, err1 := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	r, err2 := os.Readlink("/proc/self/fd/" + strconv.Itoa(rootfd))
	if err1 != nil || err2 != nil {
		return "", false
	}
	var rel string
	switch {
	case p == r:
		return root, true
	case r == "/" && strings.HasPrefix(p, "/"):
		rel = p
	case strings.HasPrefix(p, r+"/"):
		rel = p[len(r):]
	default:
		return "", false
	}
	return joinRoot(root, strings.Split(rel[1:], "/")), true
}

func joinRoot(root string, comps []string) string {
	if len(comps) == 0 {
		return root
	}
	if root == "/" {
		return "/" + strings.Join(comps, "/")
	}
	return root + "/" + strings.Join(comps, "/")
}

// walk is the state of a component-by-component resolution (a Go version
// of enroot-mount.c realpathat, with ".." clamped at the root for
// symlinks).
type walk struct {
	root string
	// fds[0] is the root (not owned); fds[i] is an O_PATH descriptor of
	// the existing component resolved[i-1].
	fds      []int
	resolved []string
	// missing is how many trailing resolved components do not exist.
	missing int
}

func (w *walk) close() {
	for _, fd := range w.fds[1:] {
		unix.Close(fd)
	}
	w.fds = w.fds[:1]
}

func (w *walk) path() string { return joinRoot(w.root, w.resolved) }

func (w *walk) top() int { return w.fds[len(w.fds)-1] }

func (w *walk) pushExisting(name string, fd int) {
	w.fds = append(w.fds, fd)
	w.resolved = append(w.resolved, name)
}

func walkInRoot(root string, rootfd int, target string) (*walk, error) {
	w := &walk{root: root, fds: []int{rootfd}}
	rest, links := target, 0
	for rest != "" {
		var comp string
		comp, rest, _ = strings.Cut(rest, "/")
		switch {
		case comp == "" || comp == ".":
			continue
		case comp == "..":
			if err := w.up(); err != nil {
				w.close()
				return nil, err
			}
			continue
		case w.missing > 0:
			// Under a directory that does not exist.
			w.resolved = append(w.resolved, comp)
			w.missing++
			continue
		}
		link, err := readlinkat(w.top(), comp)
		switch err {
		case unix.EINVAL: // not a symlink
			fd, err := unix.Openat(w.top(), comp, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				w.close()
				return nil, &os.PathError{Op: "openat", Path: w.path() + "/" + comp, Err: err}
			}
			w.pushExisting(comp, fd)
		case unix.ENOENT:
			w.resolved = append(w.resolved, comp)
			w.missing++
		case nil:
			if links++; links > maxSymlinks {
				w.close()
				return nil, &os.PathError{Op: "resolve", Path: target, Err: unix.ELOOP}
			}
			if strings.HasPrefix(link, "/") {
				w.close()
				w.resolved = nil
			}
			if rest != "" {
				link += "/" + rest
			}
			rest = link
		default:
			w.close()
			return nil, &os.PathError{Op: "readlinkat", Path: w.path() + "/" + comp, Err: err}
		}
	}
	return w, nil
}

// up handles "..": drop the last resolved component, staying at the root.
func (w *walk) up() error {
	if len(w.resolved) == 0 {
		return nil
	}
	if w.missing > 0 {
		w.missing--
		w.resolved = w.resolved[:len(w.resolved)-1]
		return nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(w.top(), &st); err != nil {
		return &os.PathError{Op: "fstat", Path: w.path(), Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return &os.PathError{Op: "resolve", Path: w.path() + "/..", Err: unix.ENOTDIR}
	}
	unix.Close(w.top())
	w.fds = w.fds[:len(w.fds)-1]
	w.resolved = w.resolved[:len(w.resolved)-1]
	return nil
}

// create makes the missing trailing components (see CreateTarget).
func (w *walk) create(kind Create) error {
	names := w.resolved[len(w.resolved)-w.missing:]
	for i, name := range names {
		last := i == len(names)-1
		if last && kind == CreateFile {
			if err := unix.Mknodat(w.top(), name, unix.S_IFREG, 0); err != nil && err != unix.EEXIST {
				return &os.PathError{Op: "mknodat", Path: name, Err: err}
			}
			break
		}
		mode := uint32(0o755)
		if last {
			mode = 0
		}
		if err := unix.Mkdirat(w.top(), name, mode); err != nil && err != unix.EEXIST {
			return &os.PathError{Op: "mkdirat", Path: name, Err: err}
		}
		if last {
			break
		}
		fd, err := unix.Openat(w.top(), name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			// ELOOP/ENOTDIR: something else appeared under that name.
			return &os.PathError{Op: "openat", Path: name, Err: err}
		}
		w.fds = append(w.fds, fd)
	}
	w.missing = 0
	return nil
}

// readlinkat returns the target of the symlink name in dirfd, EINVAL if
// name is not a symlink.
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
		if size >= unix.PathMax*4 {
			return "", unix.ENAMETOOLONG
		}
	}
}
