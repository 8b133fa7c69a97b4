// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
)

// ErrClosed is returned by Add and Close after Close.
var ErrClosed = errors.New("squashfs writer closed")

// Writer builds a squashfs image from entries added one by one.
//
// Errors in an Entry (bad path, duplicate, missing parent directory, bad
// type fields) are returned before anything is changed, and the Writer
// stays usable. Errors while reading content or writing the file are
// sticky: every later call returns them and the output is garbage.
//
// A Writer is not safe for concurrent use. Close must be called, also
// after an error, to stop its compression goroutines.
type Writer struct {
	f      *os.File
	o      Options
	comp   compressor
	out    *bufio.Writer
	pipe   *pipeline
	tree   *tree
	xattrs xattrTable

	frag   []byte // the fragment block being filled
	nfrags uint32 // fragment blocks submitted so far
	tail   []byte // buffer for a file's tail, block size
	dedup  *dedup // nil with NoDuplicates

	size uint64 // final file size, set by Close

	err    error
	closed bool
}

// NewWriter starts an image in f, which must be empty and seekable; the
// caller writes to a temporary name and renames it after Close. Close does
// not close f.
func NewWriter(f *os.File, opts Options) (*Writer, error) {
	o, err := opts.fill()
	if err != nil {
		return nil, fmt.Errorf("squashfs options: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("seek output: %w", err)
	}
	comp, err := newCompressor(o)
	if err != nil {
		return nil, err
	}
	w := &Writer{f: f, o: o, comp: comp, out: bufio.NewWriterSize(f, 1<<20), tree: newTree()}
	// The superblock is written last; reserve its space, then store the
	// compressor options, which must directly follow it.
	head := make([]byte, superblockSize)
	if opt := comp.options(); opt != nil {
		head = le16(head, uint16(len(opt))|metaUncompressed)
		head = append(head, opt...)
	}
	if _, err := w.out.Write(head); err != nil {
		comp.close()
		return nil, fmt.Errorf("write header: %w", err)
	}
	w.frag = make([]byte, 0, o.BlockSize)
	w.tail = make([]byte, o.BlockSize)
	if !o.NoDuplicates {
		w.dedup = newDedup()
	}
	w.pipe = newPipeline(f, w.out, uint64(len(head)), comp, o.BlockSize, o.Workers)
	return w, nil
}

// Add adds one entry. For Reg, content must yield exactly e.Size bytes and
// is read completely before Add returns; it is ignored for other types.
func (w *Writer) Add(e Entry, content io.Reader) error {
	if w.closed {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	if e.Type == Reg && content == nil && e.Size > 0 {
		return fmt.Errorf("add %q: no content for %d bytes", e.Path, e.Size)
	}
	n, err := w.insert(&e)
	if err != nil {
		return fmt.Errorf("add %q: %w", e.Path, err)
	}
	if e.Type != Reg {
		return nil
	}
	if err := w.addData(n.file, content); err != nil {
		w.err = fmt.Errorf("add %q: %w", e.Path, err)
		return w.err
	}
	return nil
}

// insert validates e and places it in the tree.
func (w *Writer) insert(e *Entry) (*node, error) {
	p, err := cleanPath(e.Path)
	if err != nil {
		return nil, err
	}
	if err := e.check(); err != nil {
		return nil, err
	}
	if p == "" && e.Type != Dir {
		return nil, fmt.Errorf("root must be a directory, not %s", e.Type)
	}
	var kv string
	if len(e.Xattrs) > 0 && e.Type != Hardlink {
		if kv, err = encodeXattrs(e.Xattrs); err != nil {
			return nil, err
		}
	}
	n, err := w.tree.insert(p, e.Type)
	if err != nil {
		return nil, err
	}
	n.mode = uint16(e.Mode & 0o7777)
	n.uid, n.gid, n.mtime, n.nlink = e.UID, e.GID, clampTime(e.ModTime), 1
	switch e.Type {
	case Symlink, Hardlink:
		n.link = e.Linkname
	case Char, Block:
		n.rdev, _ = encodeDev(e.Rdev)
	case Reg:
		n.file = w.newFileData(e.Size)
	}
	if kv != "" && e.Type != Hardlink {
		n.xattr = w.xattrs.add(kv, len(e.Xattrs))
	}
	return n, nil
}

func (w *Writer) newFileData(size int64) *fileData {
	bs := int64(w.o.BlockSize)
	nblocks := size / bs
	if size%bs != 0 && w.o.NoFragments {
		nblocks++
	}
	return &fileData{size: uint64(size), frag: noFragment, blocks: make([]uint32, nblocks)}
}

// blockLog is log2 of the block size.
func (w *Writer) blockLog() uint16 {
	return uint16(bits.TrailingZeros(uint(w.o.BlockSize)))
}
