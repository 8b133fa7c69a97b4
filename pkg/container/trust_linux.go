// SPDX-License-Identifier: Apache-2.0

package container

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/internal/pathtrust"
)

// A data directory that another user can write to (or swap on the way to
// it) lets them put their binaries under a container's name: every use of
// one is checked first (internal/pathtrust), as the calling user.

// Ensure creates the data directory (0700) when it is missing and checks
// that the caller can trust it.
func (s Store) Ensure() error {
	if err := pathtrust.MkdirAll(s.Dir, 0o700, os.Geteuid()); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	return nil
}

// trusted checks an existing data directory; a missing one passes (it
// holds nothing yet).
func (s Store) trusted() error {
	err := pathtrust.CheckDir(s.Dir, os.Geteuid())
	var pe *pathtrust.Error
	switch {
	case err == nil || errors.Is(err, fs.ErrNotExist):
		return nil
	case errors.As(err, &pe) && pe.OtherOwner():
		// Another user's containers: theirs, not missing.
		return fmt.Errorf("data directory: permission denied: %w", err)
	}
	return fmt.Errorf("data directory: %w", err)
}

// lookupRootfs checks NAME's rootfs at dir in a trusted store: a directory
// of the caller's, or an error that says what is there instead.
func (s Store) lookupRootfs(name, dir string) error {
	var st unix.Stat_t
	err := unix.Lstat(dir, &st)
	switch {
	case errors.Is(err, unix.EACCES):
		// Another user's directory on the way: say whose, not "no such container".
		return fmt.Errorf("container %s: permission denied: %s belongs to %s, not to you", name, s.Dir, ownerOf(s.Dir))
	case err != nil:
		return fmt.Errorf("%w: %s (create it with: gpyxis-runtime create --name %s IMAGE)", ErrNotExist, name, name)
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("container %s: %s is not a directory: remove it and create the container again", name, dir)
	case int(st.Uid) != os.Geteuid():
		return fmt.Errorf("container %s: permission denied: %s belongs to %s, not to you: remove it and create the container again",
			name, dir, uidName(int(st.Uid)))
	}
	return nil
}

// ownerOf names the owner of path, or of the nearest directory above it
// the caller can see.
func ownerOf(path string) string {
	for p := path; ; p = filepath.Dir(p) {
		var st unix.Stat_t
		if unix.Lstat(p, &st) == nil {
			return uidName(int(st.Uid))
		}
		if p == filepath.Dir(p) {
			return "another user"
		}
	}
}

// uidName is "tester2 (uid 1002)", or "uid 1002" without a name.
func uidName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username + " (uid " + strconv.Itoa(uid) + ")"
	}
	return "uid " + strconv.Itoa(uid)
}
