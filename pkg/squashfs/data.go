package squashfs

import (
	"errors"
	"fmt"
	"io"
)

// addData streams the content of a regular file into the pipeline: whole
// blocks go to the compressors, the tail into the current fragment block
// (or a short block of its own with NoFragments).
func (w *Writer) addData(f *fileData, r io.Reader) error {
	bs := uint64(w.o.BlockSize)
	var done uint64
	for i := range f.blocks {
		n := min(bs, f.size-done)
		if err := w.addBlock(f, i, r, n); err != nil {
			return w.readErr(err, done, f.size)
		}
		done += n
	}
	if tail := f.size - done; tail > 0 {
		if err := w.addTail(f, r, tail); err != nil {
			return w.readErr(err, done, f.size)
		}
	}
	return checkEOF(r, f.size)
}

func (w *Writer) readErr(err error, done, size uint64) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("content shorter than size %d (block at %d)", size, done)
	}
	return err
}

// addBlock reads one block of n bytes and submits it.
func (w *Writer) addBlock(f *fileData, i int, r io.Reader, n uint64) error {
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
	w.pipe.submit(s)
	return nil
}

// addTail appends the last n bytes of the file to the fragment block.
func (w *Writer) addTail(f *fileData, r io.Reader, n uint64) error {
	if uint64(len(w.frag))+n > uint64(w.o.BlockSize) {
		if err := w.flushFragment(); err != nil {
			return err
		}
	}
	f.frag, f.fragOff = w.nfrags, uint32(len(w.frag))
	end := len(w.frag) + int(n)
	if _, err := io.ReadFull(r, w.frag[len(w.frag):end]); err != nil {
		return fmt.Errorf("read content: %w", err)
	}
	w.frag = w.frag[:end]
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
