// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
)

// dupKey identifies file content for duplicate detection: the size and a
// SHA-256 digest of the content (see hashBlock). A collision would make a
// file share another's data, which SHA-256 makes as unlikely as a
// corrupted disk.
type dupKey struct {
	size uint64
	sum  [sha256.Size]byte
}

// dedup finds regular files whose content was stored before. Only files
// that are not duplicates are remembered, so every duplicate points at the
// first copy.
type dedup struct {
	h     hash.Hash
	files map[dupKey]*fileData
	saved uint64 // file bytes not stored again, for the log
	count int    // files found to be duplicates
}

func newDedup() *dedup {
	return &dedup{h: sha256.New(), files: map[dupKey]*fileData{}}
}

// addData streams the content of a regular file into the pipeline: whole
// blocks go to the compressors, the tail into the current fragment block
// (or a short block of its own with NoFragments).
//
// With duplicate detection, the content is hashed as it is read. When the
// hash and size match an earlier file, the tail is not stored, and a
// marker sent down the pipeline after the file's blocks makes the block
// writer cut them off the output again (files are written contiguously,
// so they are the last bytes written) and point the file at the earlier
// copy's blocks.
func (w *Writer) addData(f *fileData, r io.Reader) error {
	d := w.dedup
	if f.size == 0 {
		d = nil
	}
	if d != nil {
		d.h.Reset()
	}
	bs := uint64(w.o.BlockSize)
	hr := &holeReader{r: r}
	hr.sparse, _ = r.(interface{ SkipSparse() int64 })
	var done uint64
	for i := 0; i < len(f.blocks); {
		// Whole blocks inside a hole the source reports go down the pipeline
		// as one run, never read, hashed or compressed.
		if run := min(hr.hole()/bs, uint64(len(f.blocks)-i)); run > 0 {
			if err := w.addHoles(f, i, int(run), d); err != nil {
				return err
			}
			hr.zeros -= run * bs
			i += int(run)
			done += run * bs
			continue
		}
		n := min(bs, f.size-done)
		if err := w.addBlock(f, i, hr, n, d); err != nil {
			return w.readErr(err, done, f.size)
		}
		done += n
		i++
	}
	var tail []byte
	if n := f.size - done; n > 0 {
		tail = w.tail[:n]
		if _, err := io.ReadFull(hr, tail); err != nil {
			return w.readErr(fmt.Errorf("read content: %w", err), done, f.size)
		}
		if d != nil {
			d.h.Write(tail)
		}
	}
	if err := checkEOF(hr, f.size); err != nil {
		return err
	}
	if d != nil {
		key := dupKey{size: f.size}
		d.h.Sum(key.sum[:0])
		if orig, ok := d.files[key]; ok {
			d.count++
			d.saved += f.size
			f.frag, f.fragOff = orig.frag, orig.fragOff
			if len(f.blocks) == 0 {
				return nil
			}
			return w.rewind(f, orig)
		}
		d.files[key] = f
	}
	if len(tail) > 0 {
		return w.addTail(f, tail)
	}
	return nil
}

func (w *Writer) readErr(err error, done, size uint64) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("content shorter than size %d (block at %d)", size, done)
	}
	return err
}

// addBlock reads one block of n bytes and submits it. It checks here
// whether the block is all zeros (sparse), so that the hash can skip it.
func (w *Writer) addBlock(f *fileData, i int, r io.Reader, n uint64, d *dedup) error {
	s, err := w.pipe.get()
	if err != nil {
		return err
	}
	s.in = s.in[:n]
	if _, err := io.ReadFull(r, s.in); err != nil {
		w.pipe.free <- s
		return fmt.Errorf("read content: %w", err)
	}
	s.file, s.index = f, i
	s.zero = bytes.Equal(s.in, w.pipe.zero[:n])
	zero := s.zero
	w.pipe.submit(s)
	// The slot is read concurrently by a compressor, but only this
	// goroutine refills it (after get), so its content stays valid.
	if d != nil {
		hashBlock(d.h, s.in, zero)
	}
	return nil
}

// addHoles submits run all-zero blocks from index i as one slot.
func (w *Writer) addHoles(f *fileData, i, run int, d *dedup) error {
	s, err := w.pipe.get()
	if err != nil {
		return err
	}
	s.file, s.index, s.zero, s.run = f, i, true, run
	w.pipe.submit(s)
	if d != nil {
		for range run {
			hashBlock(d.h, nil, true)
		}
	}
	return nil
}

// holeReader reads a file's content, asking a source that knows its holes
// (flatten.SparseReader, this package's SparseReader) to skip them: zeros
// counts the skipped bytes not yet passed on, which Read hands out first.
type holeReader struct {
	r      io.Reader
	sparse interface{ SkipSparse() int64 }
	zeros  uint64
}

// hole returns the zero bytes known to come next.
func (h *holeReader) hole() uint64 {
	if h.zeros == 0 && h.sparse != nil {
		h.zeros = uint64(max(h.sparse.SkipSparse(), 0))
	}
	return h.zeros
}

func (h *holeReader) Read(p []byte) (int, error) {
	if z := h.hole(); z > 0 {
		n := int(min(uint64(len(p)), z))
		clear(p[:n])
		h.zeros -= uint64(n)
		return n, nil
	}
	return h.r.Read(p)
}

// hashBlock feeds one data block to the content hash: a 0 byte for an
// all-zero block, else a 1 byte and the data. Block boundaries follow from
// the file size, which is part of the key, so the encoding is unambiguous,
// and sparse regions cost no hashing.
func hashBlock(h hash.Hash, b []byte, zero bool) {
	if zero {
		h.Write([]byte{0})
		return
	}
	h.Write([]byte{1})
	h.Write(b)
}

// rewind queues the marker that makes the block writer drop f's blocks,
// which are all submitted, and point f at orig's.
func (w *Writer) rewind(f, orig *fileData) error {
	s, err := w.pipe.get()
	if err != nil {
		return err
	}
	s.file, s.dupOf = f, orig
	w.pipe.submit(s)
	return nil
}

// addTail appends the tail of a file to the fragment block.
func (w *Writer) addTail(f *fileData, tail []byte) error {
	if len(w.frag)+len(tail) > w.o.BlockSize {
		if err := w.flushFragment(); err != nil {
			return err
		}
	}
	f.frag, f.fragOff = w.nfrags, uint32(len(w.frag))
	w.frag = append(w.frag, tail...)
	return nil
}

// flushFragment submits the fragment block being filled.
func (w *Writer) flushFragment() error {
	if len(w.frag) == 0 {
		return nil
	}
	s, err := w.pipe.get()
	if err != nil {
		return err
	}
	s.in = append(s.in[:0], w.frag...)
	s.frag = true
	w.pipe.submit(s)
	w.frag = w.frag[:0]
	w.nfrags++
	return nil
}

// checkEOF fails if r has more bytes than the size announced.
func checkEOF(r io.Reader, size uint64) error {
	var one [1]byte
	for {
		n, err := r.Read(one[:])
		if n > 0 {
			return fmt.Errorf("content longer than size %d", size)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read content: %w", err)
		}
	}
}
