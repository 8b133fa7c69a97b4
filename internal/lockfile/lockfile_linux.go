// SPDX-License-Identifier: Apache-2.0

// Package lockfile takes flock(2) locks on files: the rootfs, step, name and
// cache locks of gpyxis. A process holding a lock exclusively may remove
// its file (a lock of something that is gone): Lock checks, once it holds a
// lock, that the file it locked is still the one at the path, and starts
// over when it was removed or replaced meanwhile.
package lockfile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// poll is how often a waiting Lock tries again; flock(2) itself cannot be
// given a deadline or a context.
const poll = 20 * time.Millisecond

// Lock takes lock how (unix.LOCK_EX or unix.LOCK_SH, with unix.LOCK_NB to
// fail at once when it is held) on path, creating the file (0600) if
// needed, and waits as long as ctx allows. The error wraps
// unix.EWOULDBLOCK when LOCK_NB found it held, and ctx.Err() when waiting
// ended. The returned function releases the lock.
func Lock(ctx context.Context, path string, how int) (func(), error) {
	f, err := open(path)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if err == nil && !same(f, path) {
			// Its holder removed the file: the lock of a file no one else
			// will open protects nothing. Take the one at path now.
			f.Close()
			if f, err = open(path); err != nil {
				return nil, fmt.Errorf("lock: %w", err)
			}
			continue
		}
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || how&unix.LOCK_NB != 0 {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// same reports whether the open file f is the one at path.
func same(f *os.File, path string) bool {
	var a, b unix.Stat_t
	if unix.Fstat(int(f.Fd()), &a) != nil || unix.Stat(path, &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

// open opens (creating it, 0600) the lock file path. O_NOFOLLOW: a link in
// its place must not make the locker create or lock a file elsewhere;
// O_NONBLOCK: a FIFO in its place must not block the open.
func open(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0o600)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("lock file %s is a symbolic link: remove it", path)
	}
	return f, err
}
