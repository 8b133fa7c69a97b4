// SPDX-License-Identifier: Apache-2.0

package rootfs

import "github.com/gpyxis/gpyxis/pkg/mountspec"

// FromSpecs turns parsed enroot/pyxis mount entries (pkg/mountspec) into mounts.
// Propagation requests go with the mount flags (Setup applies them in a separate
// call); entries that only change propagation of nothing (SkipMount) are dropped.
func FromSpecs(specs []mountspec.Mount) []Mount {
	out := make([]Mount, 0, len(specs))
	for _, m := range specs {
		if m.SkipMount {
			continue
		}
		fstype := m.FSType
		if m.IsBind() || fstype == "none" {
			fstype = ""
		}
		flags := m.Flags
		for _, p := range m.Propagations() {
			flags |= p
		}
		out = append(out, Mount{
			Source: m.Source, Target: m.Target, FSType: fstype, Flags: flags, Data: m.Data,
			Create: m.Create, Optional: m.NoFail, Detach: m.Detach,
		})
	}
	return out
}
