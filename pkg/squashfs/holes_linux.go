// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// FileContent returns f's content for Writer.Add as a SparseReader: the holes
// the filesystem reports (lseek SEEK_DATA/SEEK_HOLE) are skipped, never read,
// so a sparse file costs its data. Where the filesystem cannot tell, holes
// read as the zeros they are. Reads use pread from the start of the file.
func FileContent(f *os.File) io.Reader {
	h := &holeFile{f: f, size: -1}
	if fi, err := f.Stat(); err == nil {
		h.size = fi.Size()
	}
	return h
}

type holeFile struct {
	f          *os.File
	size       int64 // at the start; -1: unknown, holes are not looked for
	pos        int64
	data, hole int64 // the data region at or after pos: [data, hole), valid while hole > pos
	noSeek     bool
}

// region finds the next data region unless the one known still lies ahead.
func (h *holeFile) region() {
	if h.noSeek || h.size < 0 || h.hole > h.pos || h.pos >= h.size {
		return
	}
	d, err := unix.Seek(int(h.f.Fd()), h.pos, unix.SEEK_DATA)
	if err == unix.ENXIO { // no data from pos on: a hole to the end
		h.data, h.hole = h.size, h.size
		return
	}
	if err != nil {
		h.noSeek = true
		return
	}
	e, err := unix.Seek(int(h.f.Fd()), d, unix.SEEK_HOLE)
	if err != nil {
		h.noSeek = true
		return
	}
	h.data, h.hole = d, e
}

func (h *holeFile) SkipSparse() int64 {
	h.region()
	if h.noSeek || h.size < 0 || h.data <= h.pos || h.hole <= h.pos {
		return 0
	}
	n := min(h.data, h.size) - h.pos
	h.pos += n
	return n
}

func (h *holeFile) Read(p []byte) (int, error) {
	if h.size >= 0 && h.pos < h.size {
		h.region()
		if !h.noSeek && h.hole > h.pos {
			if h.pos < h.data { // in a hole: its zeros, and nothing after
				n := int(min(int64(len(p)), min(h.data, h.size)-h.pos))
				clear(p[:n])
				h.pos += int64(n)
				return n, nil
			}
			p = p[:min(int64(len(p)), h.hole-h.pos)]
		}
	}
	n, err := h.f.ReadAt(p, h.pos)
	h.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}
