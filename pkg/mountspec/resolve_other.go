// SPDX-License-Identifier: Apache-2.0

//go:build !linux

package mountspec

import (
	"errors"
	"fmt"
)

// ResolveInRoot needs Linux (openat2, O_PATH); see resolve_linux.go.
func ResolveInRoot(rootfs, target string) (string, error) {
	return "", fmt.Errorf("resolve %q in %q: %w", target, rootfs, errors.ErrUnsupported)
}

// CreateTarget needs Linux; see resolve_linux.go.
func CreateTarget(rootfs, target string, kind Create, source string) (string, error) {
	return "", fmt.Errorf("create %q in %q: %w", target, rootfs, errors.ErrUnsupported)
}
