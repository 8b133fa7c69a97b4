// SPDX-License-Identifier: Apache-2.0

package mountspec

import (
	"errors"
	"path/filepath"
	"syscall"
)

// PrepareTarget resolves the entry's Target inside rootfs and creates it as
// its x-create option says (CreateTarget), returning the host path to mount
// on. A relative Source (used by x-create=auto) is taken relative to cwd
// when cwd is not "". Errors are [*Error]s naming the entry, with a hint.
func (m Mount) PrepareTarget(rootfs, cwd string) (string, error) {
	src := m.Source
	if cwd != "" && !filepath.IsAbs(src) {
		src = filepath.Join(cwd, src)
	}
	kind := m.Create
	if m.Detach {
		kind = CreateNone
	}
	p, err := CreateTarget(rootfs, m.Target, kind, src)
	if err != nil {
		return "", &Error{Origin: m.Origin, Entry: m.Line, Err: err, Hint: targetHint(err)}
	}
	return p, nil
}

func targetHint(err error) string {
	switch {
	case errors.Is(err, ErrEscape):
		return `remove the ".." components that climb above the container's "/"`
	case errors.Is(err, syscall.ELOOP):
		return "the target goes through a symlink loop (or more than 40 symlinks) in the container image; mount somewhere else or fix the image"
	case errors.Is(err, syscall.ENOTDIR):
		return "a component of the target is not a directory in the container image; choose another target"
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return "a directory on the way to the target cannot be searched or written; choose another target or fix its permissions in the image"
	case errors.Is(err, syscall.EROFS):
		return "the container root is read-only here; mount onto an existing path or create it in the image"
	}
	return ""
}
