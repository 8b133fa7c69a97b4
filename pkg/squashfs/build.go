// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"fmt"
	"slices"
	"strings"
)

// builder writes the inode and directory tables at Close.
//
// Inodes are numbered and written in post-order (children before their
// directory), so that when a directory's listing is written every inode it
// names already has its reference, and the directory inode can then point
// at the finished listing: no second pass over the tables is needed.
type builder struct {
	blockSize uint64
	inodes    *metaWriter
	dirs      *metaWriter
	order     []*node // inode owners in inode number order
	idIndex   map[uint32]uint16
	ids       []uint32
	scratch   []byte
	dirBuf    []byte
}

func newBuilder(c compressor, blockSize int) *builder {
	return &builder{
		blockSize: uint64(blockSize),
		inodes:    newMetaWriter(c),
		dirs:      newMetaWriter(c),
		idIndex:   map[uint32]uint16{},
	}
}

// owner returns the node holding n's inode.
func owner(n *node) *node {
	if n.typ == Hardlink {
		return n.owner
	}
	return n
}

// number sorts directories and assigns inode numbers in post-order.
func (b *builder) number(d *node) {
	// Lookups in the kernel stop at the first name greater than the one
	// sought, so entries must be sorted bytewise (strcmp order).
	slices.SortFunc(d.kids, func(x, y *node) int { return strings.Compare(x.name, y.name) })
	for _, k := range d.kids {
		if k.typ == Dir {
			b.number(k)
			continue
		}
		if o := owner(k); o.ino == 0 {
			b.order = append(b.order, o)
			o.ino = uint32(len(b.order))
		}
	}
	b.order = append(b.order, d)
	d.ino = uint32(len(b.order))
}

// build writes all inodes and directory listings.
func (b *builder) build(root *node) error {
	b.number(root)
	for _, n := range b.order {
		if err := b.writeInode(n); err != nil {
			return fmt.Errorf("inode %s: %w", n.path(), err)
		}
	}
	return nil
}

// id returns the id table index of a uid or gid.
func (b *builder) id(v uint32) (uint16, error) {
	if i, ok := b.idIndex[v]; ok {
		return i, nil
	}
	if len(b.ids) >= 0xffff {
		return 0, fmt.Errorf("more than %d distinct uids and gids", 0xffff)
	}
	i := uint16(len(b.ids))
	b.idIndex[v] = i
	b.ids = append(b.ids, v)
	return i, nil
}

// header appends the common inode header.
// Only permission bits go into the mode: the kernel adds the file type
// from the inode type and (since 6.x) rejects modes that carry S_IFMT bits.
func (b *builder) header(dst []byte, n *node, typ uint16) ([]byte, error) {
	uid, err := b.id(n.uid)
	if err != nil {
		return nil, err
	}
	gid, err := b.id(n.gid)
	if err != nil {
		return nil, err
	}
	dst = le16(dst, typ)
	dst = le16(dst, n.mode)
	dst = le16(dst, uid)
	dst = le16(dst, gid)
	dst = le32(dst, n.mtime)
	return le32(dst, n.ino), nil
}

// emit appends an encoded inode to the inode table and records its reference.
func (b *builder) emit(n *node, ino []byte) {
	n.ref = b.inodes.ref(b.inodes.upos())
	b.inodes.write(ino)
}

func (b *builder) writeInode(n *node) error {
	switch n.typ {
	case Dir:
		return b.writeDir(n)
	case Reg:
		return b.writeFile(n)
	case Symlink:
		return b.writeSymlink(n)
	default:
		return b.writeSpecial(n)
	}
}

// basicType is the inode (and directory entry) type code of a node.
func basicType(t Type) uint16 {
	switch t {
	case Dir:
		return inoDir
	case Reg:
		return inoReg
	case Symlink:
		return inoSymlink
	case Block:
		return inoBlock
	case Char:
		return inoChar
	case Fifo:
		return inoFifo
	}
	return inoSocket
}

func (b *builder) writeSymlink(n *node) error {
	ext := n.xattr != noXattr
	typ := uint16(inoSymlink)
	if ext {
		typ += extOffset
	}
	ino, err := b.header(b.scratch[:0], n, typ)
	if err != nil {
		return err
	}
	ino = le32(ino, n.nlink)
	ino = le32(ino, uint32(len(n.link)))
	ino = append(ino, n.link...)
	if ext {
		ino = le32(ino, n.xattr)
	}
	b.emit(n, ino)
	b.scratch = ino[:0]
	return nil
}

// writeSpecial writes device, fifo and socket inodes.
func (b *builder) writeSpecial(n *node) error {
	ext := n.xattr != noXattr
	typ := basicType(n.typ)
	if ext {
		typ += extOffset
	}
	ino, err := b.header(b.scratch[:0], n, typ)
	if err != nil {
		return err
	}
	ino = le32(ino, n.nlink)
	if n.typ == Char || n.typ == Block {
		ino = le32(ino, n.rdev)
	}
	if ext {
		ino = le32(ino, n.xattr)
	}
	b.emit(n, ino)
	b.scratch = ino[:0]
	return nil
}

func (b *builder) writeFile(n *node) error {
	f := n.file
	sparse := b.sparseBytes(f)
	ext := f.size > 0xffffffff || f.start > 0xffffffff || n.nlink > 1 || n.xattr != noXattr || sparse > 0
	typ := uint16(inoReg)
	if ext {
		typ += extOffset
	}
	ino, err := b.header(b.scratch[:0], n, typ)
	if err != nil {
		return err
	}
	if ext {
		ino = le64(ino, f.start)
		ino = le64(ino, f.size)
		ino = le64(ino, sparse)
		ino = le32(ino, n.nlink)
		ino = le32(ino, f.frag)
		ino = le32(ino, f.fragOff)
		ino = le32(ino, n.xattr)
	} else {
		ino = le32(ino, uint32(f.start))
		ino = le32(ino, f.frag)
		ino = le32(ino, f.fragOff)
		ino = le32(ino, uint32(f.size))
	}
	for _, w := range f.blocks {
		ino = le32(ino, w)
	}
	b.emit(n, ino)
	b.scratch = ino[:0]
	return nil
}

// sparseBytes is the number of file bytes held by sparse blocks.
func (b *builder) sparseBytes(f *fileData) uint64 {
	var s uint64
	for i, w := range f.blocks {
		if w == 0 {
			s += min(b.blockSize, f.size-uint64(i)*b.blockSize)
		}
	}
	return s
}
