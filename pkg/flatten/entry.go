// SPDX-License-Identifier: Apache-2.0

package flatten

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// entry handles one tar header of the first pass over a layer.
func (f *flattener) entry(h *tar.Header, r io.Reader) error {
	if h.Typeflag == tar.TypeXGlobalHeader {
		return nil // PAX defaults for later entries; archive/tar has applied them
	}
	p, err := cleanPath(h.Name)
	if err != nil {
		return err
	}
	isWh, opaque, victim, err := whiteoutKind(p)
	if err != nil {
		return err
	}
	if isWh {
		f.whiteout(victim, opaque)
		return nil
	}
	t, err := entryType(h.Typeflag)
	if err != nil {
		return err
	}
	if p == "" && t != Dir {
		return errors.New("the image root is not a directory")
	}
	if seen := f.seenHere(p); seen != seenNone {
		// Extraction would let the last one win, but the first one may
		// already be in the sink. No known writer produces this, except
		// repeated directories, which only lose their later attributes.
		level := slog.LevelWarn
		if seen == seenDir && t == Dir {
			level = slog.LevelDebug
		}
		f.log.Log(f.ctx, level, "duplicate entry in layer, keeping the first", "layer", f.layer, "path", p)
		f.stats.Skipped++
		return nil
	}
	if t == Hardlink {
		return f.link(p, h.Linkname)
	}
	return f.object(p, t, h, r)
}

// whiteout records a marker: victim (and its subtree) or, for an opaque
// marker, victim's children, vanish from the layers below this one.
func (f *flattener) whiteout(victim string, opaque bool) {
	f.stats.Whiteouts++
	n := f.get(victim)
	if opaque {
		n.childHideFrom = min(n.childHideFrom, f.layer+1)
	} else {
		n.hideFrom = min(n.hideFrom, f.layer+1)
	}
	f.nodes[victim] = n
	f.pending.hide(victim, !opaque, f.layer, f.layer+1)
}

// object handles a non-hardlink entry at p.
func (f *flattener) object(p string, t Type, h *tar.Header, r io.Reader) error {
	visible := f.place(p, f.layer, t == Dir)
	if t != Dir {
		f.pending.hide(p, false, -1, f.layer) // nothing below p survives, even for links
	}
	waiting := f.pending.take(p, f.layer)
	e := f.toEntry(p, t, h)
	if t == Dir {
		f.see(p, seenDir)
		if len(waiting) > 0 {
			return fmt.Errorf("hardlink %s: target %s is a directory", waiting[0], p)
		}
		if !visible || !f.emittable(p, Dir) {
			f.stats.Skipped++
			return nil
		}
		return f.add(e, nil)
	}
	var names []string
	if visible {
		names = append(names, p)
	}
	first, err := f.emitGroup(e, append(names, waiting...), r)
	if err != nil {
		return err
	}
	f.seeContent(p, t, first)
	return nil
}

// seeContent records where the content of the layer's entry at p went.
func (f *flattener) seeContent(p string, t Type, first string) {
	switch {
	case first != "":
		f.see(p, seenEmitted)
		if first != p {
			f.cur.alias[p] = first
		}
	case !f.emittable("", t):
		f.see(p, seenDevice)
	default:
		f.see(p, seenDiscarded)
	}
}
