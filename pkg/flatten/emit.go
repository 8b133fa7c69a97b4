// SPDX-License-Identifier: Apache-2.0

package flatten

import (
	"fmt"
	"io"
	"strings"

	"github.com/gpyxis/gpyxis/internal/boundedio"
)

// emittable reports whether an object of type t may be added at p.
func (f *flattener) emittable(p string, t Type) bool {
	if f.opts.ExcludeDevDir && strings.HasPrefix(p, "dev/") {
		return false
	}
	return !f.opts.SkipDevices || (t != Char && t != Block)
}

// emitGroup adds e's content under the first name in names that may be added
// and Hardlink entries to it under the others. It returns the name the
// content went to, "" if none.
func (f *flattener) emitGroup(e Entry, names []string, r io.Reader) (string, error) {
	if len(names) == 0 {
		f.stats.Skipped++ // shadowed, and no hardlink needs it
		return "", nil
	}
	first := ""
	for _, name := range names {
		if !f.emittable(name, e.Type) {
			f.stats.Skipped++
			continue
		}
		if first != "" {
			if err := f.add(Entry{Path: name, Type: Hardlink, Linkname: first}, nil); err != nil {
				return "", err
			}
			continue
		}
		first, e.Path = name, name
		if err := f.add(e, r); err != nil {
			return "", err
		}
	}
	return first, nil
}

// linkTo adds Hardlink entries under names to target, already added.
func (f *flattener) linkTo(target string, names []string) error {
	for _, name := range names {
		if !f.emittable(name, Hardlink) {
			f.stats.Skipped++
			continue
		}
		if err := f.add(Entry{Path: name, Type: Hardlink, Linkname: target}, nil); err != nil {
			return err
		}
	}
	return nil
}

// add passes e to the sink; a Reg entry gets r limited to its size and the
// sink must read all of it.
func (f *flattener) add(e Entry, r io.Reader) error {
	var err error
	switch sc, sparse := r.(*sparseContent); {
	case e.Type != Reg && (f.opts.MaxEntries == 0 || f.stats.Entries < f.opts.MaxEntries):
		err = f.sink.Add(e, nil)
	case f.opts.MaxEntries > 0 && f.stats.Entries >= f.opts.MaxEntries:
		err = fmt.Errorf("%w: the image has more than %d files, directories and links", ErrTooLarge, f.opts.MaxEntries)
	case f.stats.Bytes > f.opts.MaxBytes-e.Size:
		err = fmt.Errorf("%w: the image's files would hold more than %s (sparse files count their apparent size)", ErrTooLarge, boundedio.Size(f.opts.MaxBytes))
		if f.opts.maxBytesHint {
			err = fmt.Errorf("%w; set %s to a larger size to allow it", err, MaxBytesEnv)
		}
	case sparse:
		// Sized exactly by its map: no LimitedReader, which would hide SkipSparse.
		err = f.sink.Add(e, sc)
		if left := sc.size - sc.pos; err == nil && left > 0 {
			err = fmt.Errorf("sink left %d of %d bytes unread", left, e.Size)
		}
		f.stats.Files++
		f.stats.Bytes += e.Size
	default:
		lr := &io.LimitedReader{R: r, N: e.Size}
		err = f.sink.Add(e, lr)
		if err == nil && lr.N > 0 {
			err = fmt.Errorf("sink left %d of %d bytes unread", lr.N, e.Size)
		}
		f.stats.Files++
		f.stats.Bytes += e.Size - lr.N
	}
	if err != nil {
		return fmt.Errorf("add %s: %w", e.Path, err)
	}
	f.stats.Entries++
	if e.Type == Hardlink {
		f.stats.Hardlinks++
	}
	return nil
}
