// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/gpyxis/gpyxis/internal/boundedio"
	"github.com/gpyxis/gpyxis/internal/pathtrust"
)

// Trust model of the enroot credentials file: a password starting with '$' is
// run by /bin/sh as the calling user (enroot does the same, e.g. for
// "$(aws ecr get-login-password)"), so the file is code. It is refused unless it
// is a regular file owned by the calling user and not writable by group or
// others. Nothing is evaluated for registries that have no entry.

// loadCredentials returns the entry of the credentials file at path for
// registry and user, or nil when the file does not exist or has no entry.
// With user "" the first entry for the registry is used; otherwise only an
// entry with that login. Machine names match the registry with its port, else
// without it (as enroot); a "default" entry matches any registry.
func loadCredentials(path, registry, user string) (*netrcEntry, error) {
	if path == "" {
		return nil, nil
	}
	// Whoever can write to a directory above it could swap the file.
	if err := pathtrust.CheckParents(path, os.Geteuid()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, &Error{Kind: ErrCredentials, Ref: path, Err: err}
	}
	f, err := boundedio.Open(path, boundedio.Config)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &Error{Kind: ErrCredentials, Ref: path, Err: err}
	}
	defer f.Close()
	if err := checkTrusted(f); err != nil {
		return nil, &Error{Kind: ErrCredentials, Ref: path, Hint: "chmod go-w it and make sure you own it", Err: err}
	}
	entries, err := parseNetrc(boundedio.Reader(f, path, boundedio.Config))
	if err != nil {
		return nil, &Error{Kind: ErrCredentials, Ref: path, Err: err}
	}
	return findEntry(entries, registry, user), nil
}

// checkTrusted enforces the trust model on an open file.
func checkTrusted(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return errors.New("not a regular file")
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("mode %v is writable by group or others", fi.Mode().Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("owned by uid %d, not by the calling user (uid %d)", st.Uid, os.Geteuid())
	}
	return nil
}

// findEntry picks the entry for registry and user (see loadCredentials).
func findEntry(entries []netrcEntry, registry, user string) *netrcEntry {
	host := registry
	if i := strings.LastIndexByte(registry, ':'); i >= 0 && !strings.HasSuffix(registry, "]") {
		host = registry[:i]
	}
	for _, name := range []string{registry, host} {
		for i, e := range entries {
			if !e.isDefault && e.machine == name && (user == "" || e.login == user) {
				return &entries[i]
			}
		}
	}
	for i, e := range entries {
		if e.isDefault && (user == "" || e.login == user) {
			return &entries[i]
		}
	}
	return nil
}

// evalPassword returns the password, running it through the shell as
// `echo PASSWORD` when it starts with '$' (enroot's evalnetrc).
func (e *netrcEntry) evalPassword(ctx context.Context) (string, error) {
	if !strings.HasPrefix(e.password, "$") {
		return e.password, nil
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", "echo "+e.password)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", &Error{Kind: ErrCredentials, Ref: e.machine,
			Hint: "the password command failed: " + strings.TrimSpace(stderr.String()), Err: err}
	}
	pass := strings.TrimSuffix(stdout.String(), "\n")
	if pass == "" {
		return "", &Error{Kind: ErrCredentials, Ref: e.machine,
			Hint: "the password command printed nothing: " + strings.TrimSpace(stderr.String())}
	}
	return pass, nil
}
