// SPDX-License-Identifier: Apache-2.0

package squashfs

// dirIndex is one entry of an extended directory inode's index: it lets
// the kernel's lookup skip to the header that starts in a later metadata
// block instead of scanning the listing from the beginning.
type dirIndex struct {
	off  uint32 // offset of the header in the listing
	upos uint64 // uncompressed position of the header in the table
	name string // first name under that header
}

// listing encodes the directory entries of d.
//
// Entries are grouped under headers. A new header starts when the current
// one holds 256 entries, when the next inode lies in another inode
// metadata block or more than a signed 16-bit step from the header's base
// inode number, and when the listing crosses into a new directory metadata
// block: the last rule guarantees every block boundary is followed by a
// header that the directory index can point at.
func (b *builder) listing(d *node, start uint64) ([]byte, []dirIndex) {
	l := b.dirBuf[:0]
	var index []dirIndex
	hdr, count := -1, 0
	var hdrBlock uint64
	var base uint32
	for _, k := range d.kids {
		o := owner(k)
		blk := o.ref >> 16
		pos := start + uint64(len(l))
		delta := int64(o.ino) - int64(base)
		if hdr < 0 || count == dirMaxEntries || blk != hdrBlock || delta < -32768 || delta > 32767 ||
			pos/metaBlockSize != (start+uint64(hdr))/metaBlockSize {
			if hdr >= 0 {
				patchCount(l[hdr:], count)
				if pos/metaBlockSize != (start+uint64(hdr))/metaBlockSize {
					index = append(index, dirIndex{off: uint32(len(l)), upos: pos, name: k.name})
				}
			}
			hdr, count, hdrBlock, base = len(l), 0, blk, o.ino
			l = le32(l, 0)
			l = le32(l, uint32(blk))
			l = le32(l, base)
			delta = 0
		}
		l = le16(l, uint16(o.ref&0xffff))
		l = le16(l, uint16(int16(delta)))
		l = le16(l, basicType(o.typ))
		l = le16(l, uint16(len(k.name)-1))
		l = append(l, k.name...)
		count++
	}
	if hdr >= 0 {
		patchCount(l[hdr:], count)
	}
	b.dirBuf = l[:0]
	return l, index
}

// patchCount stores count-1, the on-disk form, in a header.
func patchCount(h []byte, count int) {
	c := uint32(count - 1)
	h[0], h[1], h[2], h[3] = byte(c), byte(c>>8), byte(c>>16), byte(c>>24)
}

// writeDir writes the listing of d to the directory table and its inode.
func (b *builder) writeDir(d *node) error {
	start := b.dirs.upos()
	l, index := b.listing(d, start)
	b.dirs.write(l)
	// The size counts 3 bytes for the "." and ".." entries that are not
	// stored; the kernel compares read positions against it that way.
	size := uint64(len(l)) + 3
	nlink := uint32(2)
	for _, k := range d.kids {
		if k.typ == Dir {
			nlink++
		}
	}
	parent := uint32(len(b.order) + 1) // the root's ".." as mksquashfs writes it
	if d.parent != nil {
		parent = d.parent.ino
	}
	block, offset := uint32(b.dirs.blockStart(start)), uint16(start%metaBlockSize)
	ext := d.xattr != noXattr || len(index) > 0 || size > 0xffff
	typ := uint16(inoDir)
	if ext {
		typ += extOffset
	}
	d.nlink = nlink
	ino, err := b.header(b.scratch[:0], d, typ)
	if err != nil {
		return err
	}
	if !ext {
		ino = le32(ino, block)
		ino = le32(ino, nlink)
		ino = le16(ino, uint16(size))
		ino = le16(ino, offset)
		ino = le32(ino, parent)
	} else {
		ino = le32(ino, nlink)
		ino = le32(ino, uint32(size))
		ino = le32(ino, block)
		ino = le32(ino, parent)
		ino = le16(ino, uint16(len(index)))
		ino = le16(ino, offset)
		ino = le32(ino, d.xattr)
		for _, x := range index {
			ino = le32(ino, x.off)
			ino = le32(ino, uint32(b.dirs.blockStart(x.upos)))
			ino = le32(ino, uint32(len(x.name)-1))
			ino = append(ino, x.name...)
		}
	}
	b.emit(d, ino)
	b.scratch = ino[:0]
	return nil
}
