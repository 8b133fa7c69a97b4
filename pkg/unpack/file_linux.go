// SPDX-License-Identifier: Apache-2.0

package unpack

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/pkg/flatten"
)

const chunk = 1 << 20

// writeFile creates a regular file with exactly e.Size bytes from content, leaving
// all-zero chunks as holes so that sparse files stay sparse. buf is the
// writer's one chunk buffer, reused for every file: images are mostly small
// files, and a fresh 1 MiB per file made unpacking several times slower.
func (w *Writer) writeFile(parent int, name string, e flatten.Entry, content io.Reader) error {
	fd, err := unix.Openat(parent, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	if w.buf == nil {
		w.buf = make([]byte, chunk)
	}
	buf := w.buf
	// A source that knows its holes (flatten's and squashfs's SparseReader)
	// skips them: they stay holes without a byte read.
	sparse, _ := content.(interface{ SkipSparse() int64 })
	var off int64
	for off < e.Size {
		if sparse != nil {
			if off += sparse.SkipSparse(); off >= e.Size {
				break
			}
		}
		n, err := io.ReadFull(content, buf[:min(int64(chunk), e.Size-off)])
		if err != nil {
			return fmt.Errorf("read content: %w", err)
		}
		if !allZero(buf[:n]) {
			if _, err := f.WriteAt(buf[:n], off); err != nil {
				return err
			}
		}
		off += int64(n)
	}
	if err := f.Truncate(e.Size); err != nil { // extends over a trailing hole
		return err
	}
	// After the last write and truncate, which would clear security.capability,
	// and before the chmod: a user.* attribute needs write permission on the file.
	w.setXattrs(e, func(k string, v []byte) error { return unix.Fsetxattr(fd, k, v, 0) })
	if err := unix.Fchmod(fd, e.Mode&0o7777); err != nil { // after writing: the mode may forbid writes
		return err
	}
	ts := []unix.Timespec{unix.NsecToTimespec(e.ModTime * 1e9), unix.NsecToTimespec(e.ModTime * 1e9)}
	return unix.UtimesNanoAt(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", fd), ts, 0)
}

func setTime(parent int, name string, mtime int64, flags int) error {
	ts := []unix.Timespec{unix.NsecToTimespec(mtime * 1e9), unix.NsecToTimespec(mtime * 1e9)}
	return unix.UtimesNanoAt(parent, name, ts, flags)
}

// zeros is compared against with bytes.Equal, which is vectorised, as the squashfs
// writer finds its sparse blocks.
var zeros = make([]byte, chunk)

func allZero(b []byte) bool { return bytes.Equal(b, zeros[:len(b)]) }
