package container

import (
	"github.com/gpyxis/gpyxis/pkg/mountspec"
	"github.com/gpyxis/gpyxis/pkg/rootfs"
)

// Mounts turns parsed enroot/pyxis mount entries into the rootfs package's mounts.
// Propagation requests go with the mount flags; rootfs applies them in a separate call.
func Mounts(specs []mountspec.Mount) []rootfs.Mount {
	out := make([]rootfs.Mount, 0, len(specs))
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
		out = append(out, rootfs.Mount{
			Source: m.Source, Target: m.Target, FSType: fstype, Flags: flags, Data: m.Data,
			Create: m.Create, Optional: m.NoFail,
		})
	}
	return out
}
