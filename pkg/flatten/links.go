// SPDX-License-Identifier: Apache-2.0

package flatten

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"sort"
)

// link handles a hardlink entry at p naming target. A tar hardlink names the
// target as it is at that point of the layer stack: earlier in the same layer
// or in a layer below. If an upper layer has replaced or deleted target since,
// the merged image still holds the old content, under the link's name.
func (f *flattener) link(p, linkname string) error {
	target, err := cleanPath(linkname)
	if err != nil {
		return fmt.Errorf("hardlink target %q: %w", linkname, err)
	}
	if t, ok := f.cur.links[target]; ok {
		target = t // a link to a link of this layer: the same inode
	}
	if target == p {
		return errors.New("hardlink to itself, or a hardlink cycle")
	}
	visible := f.place(p, f.layer, false)
	f.pending.hide(p, false, -1, f.layer)
	f.cur.links[p] = target
	f.see(p, seenLink)
	names := f.pending.take(p, f.layer) // links from above to p share its inode
	if visible {
		names = append([]string{p}, names...)
	}
	if len(names) == 0 {
		f.stats.Skipped++
		return nil
	}
	return f.join(target, names)
}

// join makes names further names of target as of this layer.
func (f *flattener) join(target string, names []string) error {
	switch f.seenHere(target) {
	case seenNone: // in a lower layer, or missing: wait for it
		f.pending.add(target, names, f.layer)
		return nil
	case seenEmitted:
		if a, ok := f.cur.alias[target]; ok {
			target = a
		}
		return f.linkTo(target, names)
	case seenDiscarded: // shadowed from above, read past: read the layer again
		f.cur.rereads[target] = append(f.cur.rereads[target], names...)
		return nil
	case seenDevice:
		f.stats.Skipped += int64(len(names))
		return nil
	case seenDir:
		return fmt.Errorf("hardlink %s: target %s is a directory", names[0], target)
	default: // seenLink: link() follows links of this layer before calling join
		return fmt.Errorf("hardlink %s: unresolved link chain at %s", names[0], target)
	}
}

// rereadEntry handles one header of the second pass over a layer: it adds the
// content that hardlinks of the first pass need, then stops.
func (f *flattener) rereadEntry(h *tar.Header, r io.Reader) error {
	if h.Typeflag == tar.TypeLink || h.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	p, err := cleanPath(h.Name)
	if err != nil {
		return err
	}
	names, ok := f.cur.rereads[p]
	if !ok {
		return nil
	}
	delete(f.cur.rereads, p)
	t, err := entryType(h.Typeflag)
	if err != nil {
		return err
	}
	if _, err := f.emitGroup(f.toEntry(p, t, h), names, r); err != nil {
		return err
	}
	if len(f.cur.rereads) == 0 {
		return errStop
	}
	return nil
}

// pendingLinks holds hardlinks whose target lies in a layer not read yet.
type pendingLinks struct {
	byTarget map[string][]*linkWait
	dirs     map[string]int // directory -> number of waited-for targets below it
}

// linkWait is a group of names created at one layer for one target.
type linkWait struct {
	names      []string
	layer      int32 // the layer of the hardlink entries
	brokenFrom int32 // target entries from this layer on are invisible to the link
}

func newPendingLinks() pendingLinks {
	return pendingLinks{byTarget: map[string][]*linkWait{}, dirs: map[string]int{}}
}

func (pl *pendingLinks) add(target string, names []string, l int32) {
	if _, ok := pl.byTarget[target]; !ok {
		for a, ok := parent(target); ok; a, ok = parent(a) {
			pl.dirs[a]++
		}
	}
	pl.byTarget[target] = append(pl.byTarget[target], &linkWait{names: names, layer: l, brokenFrom: never})
}

// take returns the names waiting for the entry at target in layer l (the
// topmost hardlink first) and forgets them.
func (pl *pendingLinks) take(target string, l int32) []string {
	waits, ok := pl.byTarget[target]
	if !ok {
		return nil
	}
	var names []string
	kept := waits[:0]
	for _, w := range waits {
		if w.brokenFrom <= l {
			kept = append(kept, w) // stays, to be reported as missing
			continue
		}
		names = append(names, w.names...)
	}
	if len(kept) > 0 {
		pl.byTarget[target] = kept
		return names
	}
	delete(pl.byTarget, target)
	for a, ok := parent(target); ok; a, ok = parent(a) {
		if pl.dirs[a]--; pl.dirs[a] == 0 {
			delete(pl.dirs, a)
		}
	}
	return names
}

// hide tells the waiting links that a layer deleted x's subtree (and x itself
// if self) for entries from layer from on. Links of layer exempt do not see
// it: a whiteout applies only to the layers under its own.
func (pl *pendingLinks) hide(x string, self bool, exempt, from int32) {
	if self {
		pl.breakTarget(x, exempt, from)
	}
	if pl.dirs[x] == 0 {
		return
	}
	for target := range pl.byTarget {
		if under(target, x) {
			pl.breakTarget(target, exempt, from)
		}
	}
}

func (pl *pendingLinks) breakTarget(target string, exempt, from int32) {
	for _, w := range pl.byTarget[target] {
		if w.layer != exempt {
			w.brokenFrom = min(w.brokenFrom, from)
		}
	}
}

// missing reports a hardlink whose target never showed up, if any.
func (pl *pendingLinks) missing() error {
	targets := make([]string, 0, len(pl.byTarget))
	for t := range pl.byTarget {
		targets = append(targets, t)
	}
	if len(targets) == 0 {
		return nil
	}
	sort.Strings(targets)
	w := pl.byTarget[targets[0]][0]
	return fmt.Errorf("layer %d: hardlink %s: target %s not found in its layer or below", w.layer, w.names[0], targets[0])
}
