// SPDX-License-Identifier: Apache-2.0

package mountspec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// CheckSource reports a missing source for a bind or move entry before the
// container starts, so the user gets a message naming the entry rather than
// a failed mount. Entries that are not binds, and nofail entries, are not
// checked. A relative Source is taken relative to cwd, and not checked when
// cwd is "" (pyxis does not check relative sources). Only "does not
// exist" (ENOENT, ENOTDIR) is an error, as in pyxis; other stat errors
// (EACCES...) are left for the mount to report.
//
// For pyxis entries the message is pyxis': "--container-mounts: source path
// does not exist: SRC".
func CheckSource(m Mount, cwd string) error {
	if !m.IsBind() || m.NoFail {
		return nil
	}
	src := m.Source
	if !filepath.IsAbs(src) {
		if cwd == "" {
			return nil
		}
		src = filepath.Join(cwd, src)
	}
	_, err := os.Stat(src)
	if err == nil || !(errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) {
		return nil
	}
	e := &Error{Origin: m.Origin, Entry: m.Line, Err: fmt.Errorf("%w: %s", ErrSourceNotExist, src),
		Hint: "create it, fix the path, or add the nofail option"}
	if m.Origin == PyxisOrigin {
		e.exact = PyxisOrigin + ": source path does not exist: " + m.Source
		e.Hint = "create it or fix the path"
	}
	return e
}
