// SPDX-License-Identifier: Apache-2.0

package hooks

import (
	"fmt"

	"github.com/gpyxis/gpyxis/pkg/mountspec"
	"github.com/gpyxis/gpyxis/pkg/rootfs"
)

// convertMounts turns the fstab entries a site hook appended to
// ENROOT_MOUNTS into rootfs mounts. enroot mounts the hooks' file with
// enroot-mount's default pass 0, so other passes are ignored; x-detach
// (unmounting a system mount) has no rootfs.Mount form and is an error.
func convertMounts(specs []mountspec.Mount) ([]rootfs.Mount, error) {
	specs = mountspec.FilterPass(specs, 0)
	for _, m := range specs {
		if m.Detach {
			return nil, fmt.Errorf("%s: x-detach is not supported in hook mounts", m.Origin)
		}
	}
	return rootfs.FromSpecs(specs), nil
}
