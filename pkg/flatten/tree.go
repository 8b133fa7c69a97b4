// SPDX-License-Identifier: Apache-2.0

package flatten

import (
	"math"
	"strings"
)

// never is the layer index of an event that has not happened.
const never int32 = math.MaxInt32

// node is what Flatten knows about one path. Layers are read top-down, so
// every "from layer N" below means layer N and all layers under it. The map
// holds one node per path seen (about 20 bytes plus the path and map overhead),
// which keeps 121k paths well under 20 MB.
type node struct {
	hideFrom      int32 // entries at and below this path are hidden from this layer on
	childHideFrom int32 // entries strictly below this path are hidden from this layer on
	decidedAt     int32 // the layer that fixed the merged object at this path
	seenAt        int32 // the last layer with a tar entry at this path
	flags         uint8
	seen          seenState // what became of the entry read in layer seenAt
}

const (
	fDir     uint8 = 1 << iota // the merged object is a directory
	fEmitted                   // its directory entry has been added to the sink
)

// seenState records the fate of the entry at a path in the layer being read,
// for hardlinks later in the same layer that name it.
type seenState uint8

const (
	seenNone      seenState = iota
	seenEmitted             // its content went to the sink (under layerState.alias, if set)
	seenDiscarded           // its content was dropped: a link to it forces a reread
	seenDevice              // a device dropped by SkipDevices: links to it are dropped too
	seenDir                 // a directory: links to it are an error
	seenLink                // a hardlink: layerState.links holds its target
)

func newNode() node {
	return node{hideFrom: never, childHideFrom: never, decidedAt: never, seenAt: never}
}

func (f *flattener) get(p string) node {
	if n, ok := f.nodes[p]; ok {
		return n
	}
	return newNode()
}

// place records a layer-l entry at p and reports whether it is the merged
// object there: the first visible entry from the top decides a path. For a
// directory decided by an upper layer only implicitly (as the parent of
// something), the topmost directory entry still supplies the attributes.
func (f *flattener) place(p string, l int32, dir bool) bool {
	if !f.openParents(p, l) {
		return false
	}
	n := f.get(p)
	visible := false
	switch {
	case n.hideFrom <= l:
		// Whited out from above, or cut off by a non-directory at p that
		// sits between this layer and an upper directory at p.
	case n.decidedAt == never:
		n.decidedAt, visible = l, true
		if dir {
			n.flags |= fDir | fEmitted
		} else {
			n.childHideFrom = l // nothing can live under a file
		}
	case n.flags&fDir == 0:
		// A non-directory above already hides this entry and its subtree.
	case dir:
		visible = n.flags&fEmitted == 0
		n.flags |= fEmitted
	default:
		// A non-directory under a directory from above: bottom-up, it
		// replaced the lower directory, so the lower tree at p is gone.
		n.hideFrom = l + 1
	}
	f.nodes[p] = n
	return visible
}

// openParents walks the parents of p from the root down and reports whether
// they let a layer-l entry at p through. An entry implies its parents are
// directories in its layer even when it is hidden itself, so the undecided
// parents it reaches become directories decided at layer l; their attributes
// come from a directory entry further down, if any. The walk stops at the
// first parent that hides its subtree from layer l.
func (f *flattener) openParents(p string, l int32) bool {
	if p == "" {
		return true
	}
	for end := -1; ; {
		a := ""
		if end >= 0 {
			a = p[:end]
		}
		n := f.get(a)
		if n.hideFrom <= l {
			return false
		}
		if n.decidedAt == never {
			n.decidedAt = l
			n.flags |= fDir
			f.nodes[a] = n
		}
		if n.childHideFrom <= l {
			return false
		}
		k := strings.IndexByte(p[end+1:], '/')
		if k < 0 {
			return true
		}
		end += 1 + k
	}
}

// see records the fate of the layer's entry at p.
func (f *flattener) see(p string, s seenState) {
	n := f.get(p)
	n.seenAt, n.seen = f.layer, s
	f.nodes[p] = n
}

// seenHere reports the fate of an entry at p read earlier in this layer.
func (f *flattener) seenHere(p string) seenState {
	if n, ok := f.nodes[p]; ok && n.seenAt == f.layer {
		return n.seen
	}
	return seenNone
}

// layerState is what Flatten keeps about the layer being read only.
type layerState struct {
	links   map[string]string   // hardlink path -> its final non-link target in this layer or below
	alias   map[string]string   // path -> the name its content was added under, when not itself
	rereads map[string][]string // dropped entry -> the hardlink names that need its content
}

func newLayerState() layerState {
	return layerState{links: map[string]string{}, alias: map[string]string{}, rereads: map[string][]string{}}
}
