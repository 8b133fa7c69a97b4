// SPDX-License-Identifier: Apache-2.0

package rootfs

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// pivotRoot makes rootfs the root of the mount namespace and detaches the
// old root, following runc's pivotRoot (rootfs_linux.go) and enroot's
// switch_root (enroot-switchroot.c).
//
// pivot_root(".", ".") stacks the old root on top of the new one at "/",
// which saves creating a put_old directory in a possibly read-only rootfs.
// After it, "." (our cwd, still the old root through the fd) is the old root,
// which is then unmounted. chroot alone would not do: host mounts would stay
// reachable, and processes that later setns into the mount namespace land at
// its root (pyxis pyxis_slurmstepd.c), which must be the container's.
// pivot_root acts on the fs_struct that all Go threads share (CLONE_FS), so
// it is safe from a multithreaded process.
func pivotRoot(rootfs string) error {
	oldroot, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("pivot_root: open old root: %w", err)
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("pivot_root: open %s: %w", rootfs, err)
	}
	defer unix.Close(newroot)

	if err := unix.Fchdir(newroot); err != nil {
		return fmt.Errorf("pivot_root: chdir %s: %w", rootfs, err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root %s: %w", rootfs, err)
	}
	// Back to the old root, now mounted on top of "/", to get rid of it.
	if err := unix.Fchdir(oldroot); err != nil {
		return fmt.Errorf("pivot_root: chdir old root: %w", err)
	}
	// Make the old root a slave before detaching it. Were any mount in it
	// still shared (the host's / often is), the unmount would propagate
	// back to the host and unmount its mounts too (runc: "Make oldroot
	// rslave to make sure our unmounts don't propagate to the host").
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("pivot_root: make old root rslave: %w", err)
	}
	// MNT_DETACH: host mounts under the old root are busy (our own cwd is
	// one) and locked together with it in a user namespace; a lazy unmount
	// of the whole tree is the only one allowed.
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("pivot_root: detach old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("pivot_root: chdir /: %w", err)
	}
	return nil
}
