package hooks

import (
	"fmt"

	"github.com/gpyxis/gpyxis/pkg/mountspec"
	"github.com/gpyxis/gpyxis/pkg/rootfs"
)

var createOf = map[mountspec.Create]rootfs.Create{
	mountspec.CreateNone: rootfs.CreateNone, mountspec.CreateDir: rootfs.CreateDir,
	mountspec.CreateFile: rootfs.CreateFile, mountspec.CreateAuto: rootfs.CreateAuto,
}

// convertMounts turns the fstab entries a site hook appended to
// ENROOT_MOUNTS into rootfs mounts, as pkg/container's Mounts does (kept
// separate to avoid an import cycle). enroot mounts the hooks' file with
// enroot-mount's default pass 0, so other passes are ignored; x-detach
// (unmounting a system mount) has no rootfs.Mount form and is an error.
func convertMounts(specs []mountspec.Mount) ([]rootfs.Mount, error) {
	var out []rootfs.Mount
	for _, m := range mountspec.FilterPass(specs, 0) {
		if m.Detach {
			return nil, fmt.Errorf("%s: x-detach is not supported in hook mounts", m.Origin)
		}
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
			Create: createOf[m.Create], Optional: m.NoFail,
		})
	}
	return out, nil
}
