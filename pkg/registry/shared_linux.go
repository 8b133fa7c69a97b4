// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/internal/tempname"
)

// sharedCache is a node-wide directory of layer blobs shared by users who
// do not trust each other (WithSharedCacheDir). It adds to the user's own
// cache and never replaces it. The rules, which let nobody make another
// user's pull fail, hang, or use anything but verified bytes:
//
//   - The directory DIR must be owned by root (an administrator's
//     `install -d -m 1777 -o root DIR`) or by the caller, and not be a
//     symbolic link. Another user's DIR is not used at all: its owner could
//     swap or remove entries at will. Anything wrong with DIR only logs a
//     warning; the pull goes on without it.
//   - DIR is flat: DIR/sha256-<hex> entries and DIR/.tmp-* files in
//     progress, nothing else is read or created (no subdirectories to
//     squat, no shared lock files to hold or plant).
//   - Locks are the caller's own (the lock files of the user's cache):
//     a user can only make their own pulls wait. Two users may download
//     the same blob at once; the second one to publish keeps the first copy.
//   - An entry is opened below DIR's descriptor without following symbolic
//     links or crossing a mount point, with O_NONBLOCK (a FIFO or a file
//     with a lease cannot block the open), and used only if it is a
//     regular file of the layer's size. It is never read in place: its
//     bytes are hashed as they are copied into the user's own cache, and
//     only a copy with the right digest is kept. Anything else is ignored
//     and the blob downloaded instead.
//   - A blob enters DIR only after it was verified into the user's own
//     cache: hard-linked from there (one copy on disk) or, across file
//     systems, copied into an O_EXCL temporary file in DIR, fsynced and
//     linked to its name. Links never replace an existing name; an invalid
//     entry is removed only when it is the caller's own, since in a sticky
//     DIR nobody can remove or replace another user's file. Otherwise the
//     blob stays in the user's own cache only.
type sharedCache struct {
	dir *os.File // DIR, opened O_DIRECTORY|O_NOFOLLOW: every access is relative to it
	log *slog.Logger
}

// openShared opens DIR for use as a shared blob cache, or explains why it
// cannot be used.
func openShared(dir string, log *slog.Logger) (*sharedCache, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(abs, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return nil, fmt.Errorf("%s is not a directory (a symbolic link or a file): create it with install -d -m 1777 -o root %s", abs, abs)
		}
		return nil, fmt.Errorf("%w: create it with install -d -m 1777 -o root %s", err, abs)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("stat %s: %w", abs, err)
	}
	if st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		f.Close()
		return nil, fmt.Errorf("%s belongs to uid %d, who could replace its entries: only a directory owned by root or by you is used "+
			"(an administrator creates it with install -d -m 1777 -o root %s)", abs, st.Uid, abs)
	}
	return &sharedCache{dir: f, log: log}, nil
}

// WithSharedCacheDir adds a node-wide blob cache shared by users who do not
// trust each other (GPYXIS_SHARED_CACHE_DIR), next to the user's own cache
// (WithCacheDir): Fetch copies a blob from it, verified, instead of
// downloading it, and offers the blobs it downloads to it. The directory
// should be created by an administrator: install -d -m 1777 -o root DIR.
// Default: none. See sharedCache for the rules that keep users from harming
// each other through it.
func WithSharedCacheDir(dir string) Option {
	return func(o *options) error {
		if dir == "" {
			return errors.New("empty shared cache directory")
		}
		o.sharedDir = dir
		return nil
	}
}

// sharedCache returns the shared cache, opened on first use; nil when none
// is configured or it cannot be used (a warning says why: it never fails
// a pull).
func (p *Puller) sharedCache() *sharedCache {
	p.cache.sharedOnce.Do(func() {
		if p.opts.sharedDir == "" {
			return
		}
		s, err := openShared(p.opts.sharedDir, p.opts.log)
		if err != nil {
			p.opts.log.Warn("shared cache not used", "error", err)
			return
		}
		p.cache.shared = s
	})
	return p.cache.shared
}

// fromShared copies l from the shared cache into the user's own cache,
// verified; false when the shared cache does not hold it intact.
func (p *Puller) fromShared(ctx context.Context, s *sharedCache, l Layer) (bool, error) {
	tmp, err := createBlobTemp(p.cache.tmp, l.Digest)
	if err != nil {
		return false, fmt.Errorf("create temporary blob: %w", err)
	}
	ok, err := s.copyTo(ctx, tmp, l)
	if err == nil && ok {
		err = p.cache.commit(tmp, l.Digest)
	}
	if err != nil || !ok {
		tmp.Close()
		os.Remove(tmp.Name())
		return false, err
	}
	return true, nil
}

// entryName is the name of d's entry in DIR.
func entryName(d digest.Digest) string { return d.Algorithm().String() + "-" + d.Encoded() }

// open opens l's entry: nil, nil when there is none. The file is a regular
// file of l's size, its content still unverified.
func (s *sharedCache) open(l Layer) (*os.File, error) {
	name := entryName(l.Digest)
	// Only a regular file is opened at all: opening a device node (a hard
	// link to one on DIR's file system) can act on the device. The check
	// after the open closes the race.
	var st unix.Stat_t
	if err := unix.Fstatat(int(s.dir.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW); errors.Is(err, unix.ENOENT) {
		return nil, nil
	} else if err == nil && st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%s is not a regular file (uid %d's)", name, st.Uid)
	}
	// O_NONBLOCK: a FIFO or a file under another user's write lease would
	// otherwise block the open until killed.
	fd, err := openBelow(int(s.dir.Fd()), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), filepath.Join(s.dir.Name(), name))
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("stat %s: %w", name, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file (uid %d's)", name, st.Uid)
	}
	if st.Size != l.Size {
		f.Close()
		return nil, fmt.Errorf("%s has %d bytes, the layer %d (uid %d's)", name, st.Size, l.Size, st.Uid)
	}
	return f, nil
}

// copyTo copies l's entry into the temporary file dst of the user's cache,
// hashing what it copies; ok reports whether dst now holds exactly l. An
// entry that is missing or bad is not an error (it is logged); err is a
// failure to write dst.
func (s *sharedCache) copyTo(ctx context.Context, dst *os.File, l Layer) (ok bool, err error) {
	src, err := s.open(l)
	if err != nil {
		s.log.Warn("shared cache: ignoring an unusable entry, downloading instead", "digest", l.Digest, "error", err)
		return false, nil
	}
	if src == nil {
		return false, nil
	}
	defer src.Close()
	h := sha256.New()
	buf := make([]byte, 256<<10)
	var n int64
	for n <= l.Size {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		m, rerr := src.Read(buf[:min(int64(len(buf)), l.Size+1-n)])
		if _, err := dst.Write(buf[:m]); err != nil {
			return false, fmt.Errorf("copy layer %s from the shared cache: %w", l.Digest, err)
		}
		h.Write(buf[:m])
		n += int64(m)
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			s.log.Warn("shared cache: cannot read an entry, downloading instead", "digest", l.Digest, "error", rerr)
			return false, nil
		}
	}
	if got := digest.NewDigest(digest.SHA256, h); got != l.Digest || n != l.Size {
		s.log.Warn("shared cache: ignoring a corrupt entry, downloading instead", "digest", l.Digest, "got", got, "bytes", n)
		return false, nil
	}
	return true, nil
}

// publish offers the verified blob at own (the user's cache) to the other
// users. It is best effort: a failure is logged, the pull goes on.
func (s *sharedCache) publish(own string, l Layer) {
	name := entryName(l.Digest)
	dirfd := int(s.dir.Fd())
	// A hard link shares the verified file itself; it fails across file
	// systems (EXDEV) and for a cache the caller does not own.
	err := unix.Linkat(unix.AT_FDCWD, own, dirfd, name, 0)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		err = s.copyIn(own, name)
	}
	if errors.Is(err, unix.EEXIST) {
		err = s.replaceOwn(own, name, l)
	}
	if err != nil {
		s.log.Debug("shared cache: blob kept in your own cache only", "digest", l.Digest, "error", err)
		return
	}
	// Make the new name durable before anyone relies on it.
	_ = unix.Fsync(dirfd)
	s.log.Debug("shared cache: published", "digest", l.Digest)
}

// sharedTempPrefix starts the names of blobs being copied into DIR:
// .tmp-sha256-HEX-OWNER (internal/tempname), so that the next publish and
// cache gc can remove what a killed pull of the same user left.
const sharedTempPrefix = ".tmp-"

// copyIn copies own into an O_EXCL temporary file in DIR and links it to
// name (EEXIST if name exists).
func (s *sharedCache) copyIn(own, name string) error {
	src, err := os.Open(own)
	if err != nil {
		return err
	}
	defer src.Close()
	tempname.Collect(s.dir.Name(), sharedTempPrefix)
	// O_EXCL|O_NOFOLLOW (tempname.Create): never write through a name
	// someone else planted. DIR's path is safe to use: root or the caller
	// owns it.
	dst, err := tempname.Create(s.dir.Name(), sharedTempPrefix+name+"-")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	tmp := filepath.Base(dst.Name())
	dirfd := int(s.dir.Fd())
	defer func() {
		dst.Close()
		_ = unix.Unlinkat(dirfd, tmp, 0) // the link to name, if any, keeps the data
	}()
	if _, err := io.Copy(dst, src); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	// Data and mode first, so that the name never shows a partial file.
	if err := dst.Sync(); err != nil {
		return err
	}
	if err := dst.Chmod(0o644); err != nil {
		return err
	}
	return unix.Linkat(dirfd, tmp, dirfd, name, 0)
}

// replaceOwn handles an existing name: fine when it holds l, removed and
// linked again when it is the caller's own bad file, else left alone.
func (s *sharedCache) replaceOwn(own, name string, l Layer) error {
	if f, err := s.open(l); err == nil && f != nil {
		good, _ := fileIs(f, l)
		f.Close()
		if good {
			return nil
		}
	}
	dirfd := int(s.dir.Fd())
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s is not this layer and belongs to uid %d", name, st.Uid)
	}
	flags := 0
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		flags = unix.AT_REMOVEDIR // an empty one only
	}
	if err := unix.Unlinkat(dirfd, name, flags); err != nil {
		return err
	}
	err := unix.Linkat(unix.AT_FDCWD, own, dirfd, name, 0)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		err = s.copyIn(own, name)
	}
	return err
}

// fileIs reports whether f holds exactly l's blob.
func fileIs(f *os.File, l Layer) (bool, error) {
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, l.Size+1))
	if err != nil {
		return false, err
	}
	return n == l.Size && digest.NewDigest(digest.SHA256, h) == l.Digest, nil
}

// openBelow opens name in the directory dirfd without following a symbolic
// link and without crossing a mount point: a user may mount a FUSE file
// system over a file they own, and its open or read could then block
// forever. Kernels without openat2 (before 5.6, or a seccomp filter that
// refuses it) get a plain openat.
func openBelow(dirfd int, name string, flags int) (int, error) {
	fd, err := unix.Openat2(dirfd, name, &unix.OpenHow{
		Flags:   uint64(flags),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_XDEV | unix.RESOLVE_NO_MAGICLINKS,
	})
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		return unix.Openat(dirfd, name, flags, 0)
	}
	return fd, err
}
