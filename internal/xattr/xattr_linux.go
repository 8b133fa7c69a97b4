// SPDX-License-Identifier: Apache-2.0

// Package xattr reads a file's extended attributes without following symlinks.
package xattr

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// List returns the extended attributes of p whose names start with prefix ("" for
// all), not following a final symlink. A filesystem without xattrs gives none.
func List(p, prefix string) (map[string][]byte, error) {
	size, err := unix.Llistxattr(p, nil)
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listxattr %s: %w", p, err)
	}
	if size == 0 {
		return nil, nil
	}
	buf := make([]byte, size)
	if size, err = unix.Llistxattr(p, buf); err != nil {
		return nil, fmt.Errorf("listxattr %s: %w", p, err)
	}
	out := map[string][]byte{}
	for _, name := range strings.Split(string(buf[:size]), "\x00") {
		if name == "" || !strings.HasPrefix(name, prefix) {
			continue
		}
		// Sized first: values can be up to 64 KiB.
		n, err := unix.Lgetxattr(p, name, nil)
		if err != nil {
			return nil, fmt.Errorf("getxattr %s %s: %w", p, name, err)
		}
		val := make([]byte, n)
		if n, err = unix.Lgetxattr(p, name, val); err != nil {
			return nil, fmt.Errorf("getxattr %s %s: %w", p, name, err)
		}
		out[name] = val[:n]
	}
	return out, nil
}
