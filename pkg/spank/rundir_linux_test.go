// SPDX-License-Identifier: Apache-2.0

package spank

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// userRuntimeDir makes RUNTIME_PATH/UID the user's and refuses one that
// another user made first (root checks it against the job user's uid).
func TestUserRuntimeDir(t *testing.T) {
	uid, gid := os.Getuid(), os.Getgid()
	if uid == 0 {
		uid, gid = 65534, 65534 // root makes it for a user, as slurmstepd does
	}
	ps := Plugstack{RuntimePath: filepath.Join(t.TempDir(), "run")}
	dir, err := userRuntimeDir(ps, uid, gid)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 || dir != filepath.Join(ps.RuntimePath, strconv.Itoa(uid)) {
		t.Errorf("%s: mode %v, want RUNTIME_PATH/%d with mode 0700", dir, fi.Mode().Perm(), uid)
	}
	// Pre-created by someone else, open to all: refused, with the fix.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err = userRuntimeDir(ps, uid, gid)
	if err == nil || !strings.Contains(err.Error(), "refusing "+dir) || !strings.Contains(err.Error(), "mode 0777") {
		t.Errorf("a 0777 runtime directory: %v, want a refusal naming it", err)
	}
	if os.Getuid() == 0 {
		os.Chmod(dir, 0o700)
		if err := os.Chown(dir, 1, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := userRuntimeDir(ps, uid, gid); err == nil || !strings.Contains(err.Error(), "owned by daemon (uid 1)") {
			t.Errorf("another user's runtime directory: %v, want a refusal naming its owner", err)
		}
	}
}
