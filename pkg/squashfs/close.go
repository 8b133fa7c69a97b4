// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"fmt"
)

// Close writes the metadata tables and the superblock. After it returns
// an error, the file content is garbage.
func (w *Writer) Close() error {
	if w.closed {
		return ErrClosed
	}
	w.closed = true
	defer w.comp.close()
	if w.err == nil {
		w.err = w.flushFragment()
	}
	if err := w.pipe.finish(); err != nil && w.err == nil {
		w.err = err
	}
	if w.err != nil {
		return w.err
	}
	if err := w.finish(); err != nil {
		w.err = err
		return err
	}
	return nil
}

func (w *Writer) finish() error {
	if err := w.tree.resolveLinks(); err != nil {
		return err
	}
	b := newBuilder(w.comp, w.o.BlockSize)
	if err := b.build(w.tree.root); err != nil {
		return err
	}
	sb := w.superblock(b)
	if err := w.writeTables(b, sb); err != nil {
		return err
	}
	if err := w.out.Flush(); err != nil {
		return fmt.Errorf("write tables: %w", err)
	}
	if _, err := w.f.WriteAt(sb.encode(), 0); err != nil {
		return fmt.Errorf("write superblock: %w", err)
	}
	// Drop anything beyond the image in case f was not empty.
	if err := w.f.Truncate(int64(w.size)); err != nil {
		return fmt.Errorf("truncate output: %w", err)
	}
	var dups int
	var saved uint64
	if w.dedup != nil {
		dups, saved = w.dedup.count, w.dedup.saved
	}
	w.o.Logger.Debug("squashfs image written",
		"inodes", len(b.order), "fragments", len(w.pipe.frags),
		"sparse_blocks", w.pipe.sparse, "duplicate_files", dups,
		"duplicate_bytes", saved, "bytes_cut", w.pipe.cut, "bytes", sb.bytesUsed)
	return nil
}

// superblock fills the fields known before the tables are written.
func (w *Writer) superblock(b *builder) *superblock {
	sb := &superblock{
		inodes:      uint32(len(b.order)),
		mkfsTime:    uint32(w.o.ModTime),
		blockSize:   uint32(w.o.BlockSize),
		fragments:   uint32(len(w.pipe.frags)),
		compression: w.comp.id(),
		blockLog:    w.blockLog(),
		ids:         uint16(len(b.ids)),
		rootRef:     w.tree.root.ref,
		exportTable: invalidBlk,
	}
	switch {
	case w.o.NoFragments:
		sb.flags |= flagNoFragments
	default:
		sb.flags |= flagAlwaysFrags
	}
	if !w.o.NoDuplicates {
		sb.flags |= flagDuplicates
	}
	if w.o.Compression == None {
		sb.flags |= uncompressedAll
	}
	if w.comp.options() != nil {
		sb.flags |= flagCompOptions
	}
	if len(w.xattrs.sets) == 0 {
		sb.flags |= flagNoXattrs
	}
	return sb
}
