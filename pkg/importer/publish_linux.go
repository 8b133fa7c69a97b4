// SPDX-License-Identifier: Apache-2.0

package importer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/internal/tempname"
)

// output is the file being written: unnamed (O_TMPFILE) where the filesystem allows,
// so that even a SIGKILL leaves nothing behind, else a dot-named temporary file.
type output struct {
	*os.File
	named bool // false: O_TMPFILE, linked into place by publish
}

// createOutput opens the file that will become out.
func createOutput(out string) (*output, error) {
	dir := filepath.Dir(out)
	tempname.Collect(dir, tempPrefix(out)) // what killed imports of out left
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o644)
	if err == nil {
		return &output{File: os.NewFile(uintptr(fd), filepath.Join(dir, "(unnamed)"))}, nil
	}
	// Filesystems without O_TMPFILE (NFS, older Lustre) answer EOPNOTSUPP or EISDIR.
	f, err := tempname.Create(dir, tempPrefix(out))
	if err != nil {
		return nil, fmt.Errorf("create output: %w", err)
	}
	return &output{File: f, named: true}, nil
}

// tempPrefix starts the names of out's temporary files (internal/tempname):
// .OUT.tmp-OWNER.
func tempPrefix(out string) string { return "." + filepath.Base(out) + ".tmp-" }

// discard removes what createOutput made, after a failure.
func (o *output) discard() {
	o.Close()
	if o.named {
		os.Remove(o.Name())
	}
}

// publish gives the finished, closed-or-open file the name out. Without force it never
// replaces a file that appeared at out during the import: linkat and
// renameat2(RENAME_NOREPLACE) both fail with EEXIST instead.
func (o *output) publish(out string, force bool) error {
	src := o.Name()
	if !o.named {
		// An O_TMPFILE file gets a name by linking its /proc/self/fd entry (linkat with
		// AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH).
		proc := "/proc/self/fd/" + strconv.Itoa(int(o.Fd()))
		if !force {
			return existsErr(unix.Linkat(unix.AT_FDCWD, proc, unix.AT_FDCWD, out, unix.AT_SYMLINK_FOLLOW), out)
		}
		name, err := tempname.Name(tempPrefix(out))
		if err != nil {
			return fmt.Errorf("link output: %w", err)
		}
		src = filepath.Join(filepath.Dir(out), name)
		if err := unix.Linkat(unix.AT_FDCWD, proc, unix.AT_FDCWD, src, unix.AT_SYMLINK_FOLLOW); err != nil {
			return fmt.Errorf("link output: %w", err)
		}
	}
	if force {
		if err := os.Rename(src, out); err != nil {
			os.Remove(src)
			return fmt.Errorf("rename output: %w", err)
		}
		return nil
	}
	err := unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, out, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) { // no RENAME_NOREPLACE here
		if err = os.Link(src, out); err == nil {
			err = os.Remove(src)
		}
	}
	return existsErr(err, out)
}

func existsErr(err error, out string) error {
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%w: %s (it appeared during the import; remove it or use --force)", ErrExists, out)
	}
	if err != nil {
		return fmt.Errorf("publish output: %w", err)
	}
	return nil
}
