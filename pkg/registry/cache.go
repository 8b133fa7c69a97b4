// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// cache is the on-disk blob store:
//
//	ROOT/blobs/sha256/<hex>       verified blobs, as served (compressed), mode 0644
//	ROOT/locks/sha256/<hex>.lock  flock(2) files serializing work on one blob
//	ROOT/tmp/                     partial downloads, renamed into blobs/ when verified
//
// Lock files are never removed (removing a lock file races with its users).
// Files are opened without following symbolic links and with O_NONBLOCK, and
// a blob must be a regular file, so that a stray link or FIFO is an error
// instead of a write elsewhere or a hang. The directory is trusted by whoever
// uses it: users who do not trust each other share downloads through a
// shared cache (see sharedCache) next to their own.
type cache struct {
	root, blobs, locks, tmp string

	sharedOnce sync.Once
	shared     *sharedCache // nil: none configured, or unusable
}

// openCache creates the layout under root. root is created with mode 0700
// when missing; the subdirectories take root's permission bits (including the
// sticky and setgid bits), so a root made 1777 or 2775 by an administrator
// yields a cache shared by several users.
func openCache(root string) (*cache, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("cache directory: %w", err)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("create cache directory: %w", err)
	}
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("cache directory: %w", err)
	}
	c := &cache{
		root:  root,
		blobs: filepath.Join(root, "blobs", "sha256"),
		locks: filepath.Join(root, "locks", "sha256"),
		tmp:   filepath.Join(root, "tmp"),
	}
	mode := fi.Mode() & (fs.ModePerm | fs.ModeSticky | fs.ModeSetgid)
	for _, d := range []string{filepath.Dir(c.blobs), c.blobs, filepath.Dir(c.locks), c.locks, c.tmp} {
		if err := mkdirMode(d, mode); err != nil {
			return nil, fmt.Errorf("create cache directory: %w", err)
		}
	}
	return c, nil
}

// mkdirMode creates dir with exactly mode (umask notwithstanding) unless it
// exists.
func mkdirMode(dir string, mode fs.FileMode) error {
	err := os.Mkdir(dir, mode.Perm())
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return os.Chmod(dir, mode)
}

// path is where the blob d lives.
func (c *cache) path(d digest.Digest) string { return filepath.Join(c.blobs, d.Encoded()) }

// open opens the blob d: a regular file, never a symbolic link, a FIFO or a
// device (O_NONBLOCK: opening a FIFO would wait for a writer).
func (c *cache) open(d digest.Digest) (*os.File, error) {
	f, err := os.OpenFile(c.path(d), os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("%s is a symbolic link, not a blob: remove it", c.path(d))
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file (%s): remove it", f.Name(), fi.Mode().Type())
	}
	return f, nil
}

// lock takes an exclusive flock on d's lock file, polling so that ctx can
// cancel the wait. The returned function releases it.
func (c *cache) lock(ctx context.Context, d digest.Digest, waiting func()) (func(), error) {
	name := filepath.Join(c.locks, d.Encoded()+".lock")
	// O_NOFOLLOW: a planted link must not make us create a file elsewhere;
	// O_NONBLOCK: a FIFO in its place must not block the open.
	f, err := os.OpenFile(name, os.O_RDONLY|os.O_CREATE|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0o644)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("lock file %s is a symbolic link: remove it", name)
	}
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	delay := 10 * time.Millisecond
	for first := true; ; first = false {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", name, err)
		}
		if first && waiting != nil {
			waiting()
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 250*time.Millisecond)
	}
}

// check reports whether a valid copy of d (size bytes) is in the cache. With
// rehash it hashes the file; otherwise the size must match. An invalid entry
// is removed. Call it holding d's lock.
func (c *cache) check(d digest.Digest, size int64, rehash bool) (bool, error) {
	name := c.path(d)
	var st unix.Stat_t
	if err := unix.Lstat(name, &st); errors.Is(err, unix.ENOENT) {
		return false, nil
	} else if err == nil && st.Mode&unix.S_IFMT != unix.S_IFREG {
		// Not a blob (a link, a FIFO, ...): make room for the download.
		if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("remove %s, which is not a regular file: %w", name, err)
		}
		return false, nil
	}
	f, err := c.open(d)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open cached blob: %w", err)
	}
	defer f.Close()
	ok, err := blobValid(f, d, size, rehash)
	if err != nil {
		return false, fmt.Errorf("verify cached blob %s: %w", d, err)
	}
	if !ok {
		if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("remove corrupt cached blob: %w", err)
		}
	}
	return ok, nil
}

// blobValid compares f with d and size.
func blobValid(f *os.File, d digest.Digest, size int64, rehash bool) (bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	if size >= 0 && fi.Size() != size {
		return false, nil
	}
	if !rehash {
		return true, nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false, err
	}
	return digest.NewDigest(digest.SHA256, h) == d, nil
}

// commit makes the verified temporary file tmp the cache entry for d: it
// syncs the data, sets mode 0644, renames it into place and syncs the directory.
func (c *cache) commit(tmp *os.File, d digest.Digest) error {
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync blob: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("chmod blob: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close blob: %w", err)
	}
	if err := os.Rename(tmp.Name(), c.path(d)); err != nil {
		return fmt.Errorf("store blob: %w", err)
	}
	dir, err := os.Open(c.blobs)
	if err != nil {
		return fmt.Errorf("sync cache directory: %w", err)
	}
	defer dir.Close()
	if err := dir.Sync(); err != nil {
		return fmt.Errorf("sync cache directory: %w", err)
	}
	return nil
}
