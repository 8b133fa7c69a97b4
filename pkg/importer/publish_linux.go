package importer

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// publish renames tmp to out. Without force it must not replace a file that another
// process created at out after our check: renameat2(RENAME_NOREPLACE) does that
// atomically; filesystems without it (EINVAL, e.g. NFS) fall back to link+unlink,
// which fails the same way when out exists.
func publish(tmp, out string, force bool) error {
	if force {
		if err := os.Rename(tmp, out); err != nil {
			return fmt.Errorf("rename output: %w", err)
		}
		return nil
	}
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, out, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		if err = os.Link(tmp, out); err == nil {
			return os.Remove(tmp)
		}
	}
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%w: %s (it appeared during the import; remove it or use --force)", ErrExists, out)
	}
	if err != nil {
		return fmt.Errorf("rename output: %w", err)
	}
	return nil
}
