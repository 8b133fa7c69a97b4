// SPDX-License-Identifier: Apache-2.0

package flatten

import "sort"

// finish checks that every hardlink found its target and adds the
// directories that no layer described (parents implied by their children).
func (f *flattener) finish() error {
	if err := f.pending.missing(); err != nil {
		return err
	}
	var dirs []string
	for p, n := range f.nodes {
		if n.flags&(fDir|fEmitted) == fDir && f.emittable(p, Dir) {
			dirs = append(dirs, p)
		}
	}
	if root, ok := f.nodes[""]; !ok || root.flags&fEmitted == 0 && root.flags&fDir == 0 {
		dirs = append(dirs, "") // an image with no entries at all
	}
	sort.Strings(dirs)
	for _, p := range dirs {
		if err := f.add(Entry{Path: p, Type: Dir, Mode: 0o755}, nil); err != nil {
			return err
		}
	}
	return nil
}
