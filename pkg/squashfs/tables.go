// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"bufio"
	"fmt"
)

// superblock holds the fields of the 96-byte squashfs superblock.
type superblock struct {
	inodes, mkfsTime, blockSize, fragments uint32
	compression, blockLog, flags, ids      uint16
	rootRef, bytesUsed                     uint64
	idTable, xattrTable, inodeTable        uint64
	dirTable, fragTable, exportTable       uint64
}

func (s *superblock) encode() []byte {
	b := make([]byte, 0, superblockSize)
	b = le32(b, magic)
	b = le32(b, s.inodes)
	b = le32(b, s.mkfsTime)
	b = le32(b, s.blockSize)
	b = le32(b, s.fragments)
	b = le16(b, s.compression)
	b = le16(b, s.blockLog)
	b = le16(b, s.flags)
	b = le16(b, s.ids)
	b = le16(b, versionMajor)
	b = le16(b, versionMinor)
	for _, v := range []uint64{s.rootRef, s.bytesUsed, s.idTable, s.xattrTable, s.inodeTable, s.dirTable, s.fragTable, s.exportTable} {
		b = le64(b, v)
	}
	return b
}

// tableWriter appends tables after the data area and tracks the offset.
type tableWriter struct {
	out *bufio.Writer
	pos uint64
	err error
}

func (t *tableWriter) write(p []byte) uint64 {
	at := t.pos
	if t.err == nil {
		_, t.err = t.out.Write(p)
	}
	t.pos += uint64(len(p))
	return at
}

// indexed writes a lookup table (fragments, ids, xattr ids): its entries
// in metadata blocks, then the list of the blocks' absolute offsets. It
// returns the offset of that list, which is what the superblock stores.
// The kernel requires the list to follow the last block immediately.
func (t *tableWriter) indexed(c compressor, entries []byte) uint64 {
	m := newMetaWriter(c)
	m.write(entries)
	blocks, starts := m.finish()
	base := t.write(blocks)
	var idx []byte
	for _, s := range starts {
		idx = le64(idx, base+s)
	}
	return t.write(idx)
}

// writeTables writes inode, directory, fragment, id and xattr tables and
// fills in the superblock's table offsets.
func (w *Writer) writeTables(b *builder, sb *superblock) error {
	t := &tableWriter{out: w.out, pos: w.pipe.pos}
	inodes, _ := b.inodes.finish()
	dirs, _ := b.dirs.finish()
	sb.inodeTable = t.write(inodes)
	sb.dirTable = t.write(dirs)
	var frags []byte
	for _, f := range w.pipe.frags {
		frags = le64(frags, f.start)
		frags = le32(frags, f.word)
		frags = le32(frags, 0)
	}
	sb.fragTable = t.pos
	if len(frags) > 0 {
		sb.fragTable = t.indexed(w.comp, frags)
	}
	var ids []byte
	for _, id := range b.ids {
		ids = le32(ids, id)
	}
	sb.idTable = t.indexed(w.comp, ids)
	sb.xattrTable = invalidBlk
	if len(w.xattrs.sets) > 0 {
		kv, xids := w.xattrs.tables(w.comp)
		kvStart := t.write(kv)
		m := newMetaWriter(w.comp)
		m.write(xids)
		blocks, starts := m.finish()
		base := t.write(blocks)
		hdr := le64(nil, kvStart)
		hdr = le32(hdr, uint32(len(w.xattrs.sets)))
		hdr = le32(hdr, 0)
		for _, s := range starts {
			hdr = le64(hdr, base+s)
		}
		sb.xattrTable = t.write(hdr)
	}
	sb.bytesUsed = t.pos
	if pad := (padTo - t.pos%padTo) % padTo; pad > 0 {
		t.write(make([]byte, pad))
	}
	if t.err != nil {
		return fmt.Errorf("write tables: %w", t.err)
	}
	w.size = t.pos
	return nil
}
