// SPDX-License-Identifier: Apache-2.0

package mountspec

import "slices"

// Pass numbers enroot uses (src/runtime.sh, runtime::_start: system mounts,
// then the hooks, then the image's and the user's mounts).
const (
	// PassSystem entries are mounted before the hooks run (the system
	// fstabs in /etc/enroot/mounts.d use it).
	PassSystem = -1
	// PassDefault entries are mounted after the hooks: the image's
	// /etc/fstab, user fstabs without a pass, --mount and pyxis mounts.
	PassDefault = 0
)

// Sort orders mounts by Pass, ascending, keeping the given order within a
// pass (stable). enroot itself does not sort: it concatenates the image's
// /etc/fstab and the mounts.d files in glob order, then mounts the pass -1
// entries before the hooks and the pass 0 entries after them; Sort
// reproduces that order for one combined list.
func Sort(mounts []Mount) {
	slices.SortStableFunc(mounts, func(a, b Mount) int { return a.Pass - b.Pass })
}

// FilterPass returns the mounts whose Pass is pass, in order, as
// `enroot-mount --pass N` selects them. enroot only ever runs passes -1 and
// 0, so entries with any other pass are never mounted by enroot.
func FilterPass(mounts []Mount, pass int) []Mount {
	var out []Mount
	for _, m := range mounts {
		if m.Pass == pass {
			out = append(out, m)
		}
	}
	return out
}
