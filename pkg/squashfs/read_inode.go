// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
)

// inode is a decoded inode.
type inode struct {
	typ      Type
	mode     uint32
	uid, gid uint32
	mtime    uint32
	number   uint32
	nlink    uint32
	xattr    uint32 // xattr id or noXattr
	link     string // Symlink
	rdev     uint32 // Char, Block: squashfs encoding

	// Dir: the listing's reference into the directory table and its size.
	dirRef  uint64
	dirSize uint32

	// Reg.
	size    uint64
	start   uint64
	frag    uint32
	fragOff uint32
	nblocks uint64
	blocks  int // position of the block size words in the inode stream
}

// readInode decodes the inode at ref.
func (r *Reader) readInode(ref uint64) (*inode, error) {
	p, err := r.inodes.pos(ref)
	if err != nil {
		return nil, err
	}
	c := cursor{b: r.inodes.data, p: p}
	typ := c.u16()
	in := &inode{mode: uint32(c.u16() & 0o7777), xattr: noXattr, nlink: 1}
	uidx, gidx := c.u16(), c.u16()
	in.mtime, in.number = c.u32(), c.u32()
	if c.err != nil {
		return nil, c.err
	}
	if int(uidx) >= len(r.ids) || int(gidx) >= len(r.ids) {
		return nil, corrupt("inode %d: uid/gid index %d/%d beyond the id table (%d)", in.number, uidx, gidx, len(r.ids))
	}
	in.uid, in.gid = r.ids[uidx], r.ids[gidx]
	ext := typ > extOffset
	switch typ {
	case inoDir:
		block := c.u32()
		in.nlink = c.u32()
		in.dirSize = uint32(c.u16())
		off := c.u16()
		c.u32() // parent
		in.typ, in.dirRef = Dir, uint64(block)<<16|uint64(off)
	case inoDir + extOffset:
		in.nlink = c.u32()
		in.dirSize = c.u32()
		block := c.u32()
		c.u32() // parent
		c.u16() // index count
		off := c.u16()
		in.xattr = c.u32()
		in.typ, in.dirRef = Dir, uint64(block)<<16|uint64(off)
	case inoReg:
		in.start = uint64(c.u32())
		in.frag, in.fragOff = c.u32(), c.u32()
		in.size = uint64(c.u32())
		in.typ = Reg
	case inoReg + extOffset:
		in.start, in.size = c.u64(), c.u64()
		c.u64() // sparse bytes
		in.nlink = c.u32()
		in.frag, in.fragOff = c.u32(), c.u32()
		in.xattr = c.u32()
		in.typ = Reg
	case inoSymlink, inoSymlink + extOffset:
		in.nlink = c.u32()
		n := c.u32()
		if n == 0 || n > maxSymlink+1 {
			return nil, corrupt("inode %d: symlink target of %d bytes", in.number, n)
		}
		in.link = string(c.take(int(n)))
		if ext {
			in.xattr = c.u32()
		}
		in.typ = Symlink
	case inoBlock, inoChar, inoBlock + extOffset, inoChar + extOffset:
		in.nlink = c.u32()
		in.rdev = c.u32()
		if ext {
			in.xattr = c.u32()
		}
		in.typ = Block
		if typ%extOffset == inoChar {
			in.typ = Char
		}
	case inoFifo, inoSocket, inoFifo + extOffset, inoSocket + extOffset:
		in.nlink = c.u32()
		if ext {
			in.xattr = c.u32()
		}
		in.typ = Fifo
		if typ%extOffset == inoSocket%extOffset {
			in.typ = Socket
		}
	default:
		return nil, corrupt("inode %d: unknown type %d", in.number, typ)
	}
	if c.err != nil {
		return nil, fmt.Errorf("inode %d: %w", in.number, c.err)
	}
	if in.typ == Reg {
		in.nblocks = in.size / r.bs
		if in.frag == noFragment {
			in.nblocks = (in.size + r.bs - 1) / r.bs
		} else if in.frag >= uint32(len(r.frags)) {
			return nil, corrupt("inode %d: fragment %d beyond the fragment table (%d)", in.number, in.frag, len(r.frags))
		} else if uint64(in.fragOff)+in.size%r.bs > r.bs {
			return nil, corrupt("inode %d: tail at %d of fragment %d beyond the block size", in.number, in.fragOff, in.frag)
		}
		in.blocks = c.p
		if in.nblocks > uint64(len(c.b)-c.p)/4 {
			return nil, corrupt("inode %d: %d block sizes for %d bytes beyond the inode table", in.number, in.nblocks, in.size)
		}
	}
	if in.xattr != noXattr && (r.xattr == nil || in.xattr >= uint32(len(r.xattr.ids))) {
		return nil, corrupt("inode %d: xattr id %d beyond the xattr table", in.number, in.xattr)
	}
	return in, nil
}

// blockWord returns the size word of data block i of a regular file.
func (r *Reader) blockWord(in *inode, i uint64) uint32 {
	return binary.LittleEndian.Uint32(r.inodes.data[in.blocks+4*int(i):])
}

// dirEntry is one entry of a directory listing.
type dirEntry struct {
	name string
	ref  uint64 // inode reference
}

// listing reads the entries of directory in.
func (r *Reader) listing(in *inode) ([]dirEntry, error) {
	if in.dirSize <= 3 {
		return nil, nil
	}
	p, err := r.dirs.pos(in.dirRef)
	if err != nil {
		return nil, fmt.Errorf("directory inode %d: %w", in.number, err)
	}
	size := int(in.dirSize - 3)
	if size > len(r.dirs.data)-p {
		return nil, corrupt("directory inode %d: listing of %d bytes beyond the directory table", in.number, size)
	}
	c := cursor{b: r.dirs.data[p : p+size]}
	var out []dirEntry
	for c.p < len(c.b) {
		count := c.u32() + 1
		block := uint64(c.u32())
		c.u32() // base inode number
		if c.err != nil {
			return nil, fmt.Errorf("directory inode %d: %w", in.number, c.err)
		}
		if count > dirMaxEntries {
			return nil, corrupt("directory inode %d: header with %d entries", in.number, count)
		}
		for range count {
			off := c.u16()
			c.u16() // inode number delta
			c.u16() // type
			n := int(c.u16()) + 1
			name := string(c.take(n))
			if c.err != nil {
				return nil, fmt.Errorf("directory inode %d: %w", in.number, c.err)
			}
			if name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
				return nil, corrupt("directory inode %d: bad name %q", in.number, name)
			}
			out = append(out, dirEntry{name: name, ref: block<<16 | uint64(off)})
		}
	}
	return out, nil
}

// xattrReader holds the xattr id table and the key/value table.
type xattrReader struct {
	ids []xattrID
	kv  metaStream
}

type xattrID struct {
	ref   uint64
	count uint32
	size  uint32
}

// loadXattrs reads the xattr tables; hdr is the 16-byte xattr table header.
func (r *Reader) loadXattrs(hdr []byte, end func(uint64) uint64) (*xattrReader, error) {
	kvStart := binary.LittleEndian.Uint64(hdr)
	n := binary.LittleEndian.Uint32(hdr[8:])
	x := &xattrReader{}
	if n == 0 {
		return x, nil
	}
	if kvStart < superblockSize || kvStart >= r.sb.xattrTable {
		return nil, corrupt("xattr key/value table at %d outside the image", kvStart)
	}
	idx, err := r.tableIndex("xattr id", r.sb.xattrTable+16, uint64(n)*16)
	if err != nil {
		return nil, err
	}
	b, err := r.readTable("xattr id", idx, uint64(n)*16, end)
	if err != nil {
		return nil, err
	}
	x.ids = make([]xattrID, n)
	for i := range x.ids {
		x.ids[i] = xattrID{binary.LittleEndian.Uint64(b[16*i:]), binary.LittleEndian.Uint32(b[16*i+8:]), binary.LittleEndian.Uint32(b[16*i+12:])}
	}
	if x.kv, err = r.loadStream("xattr", kvStart, min(end(kvStart), idx[0])); err != nil {
		return nil, err
	}
	return x, nil
}

// get decodes xattr set id.
func (x *xattrReader) get(id uint32) (map[string][]byte, error) {
	e := x.ids[id]
	p, err := x.kv.pos(e.ref)
	if err != nil {
		return nil, fmt.Errorf("xattr set %d: %w", id, err)
	}
	c := cursor{b: x.kv.data, p: p}
	m := make(map[string][]byte, min(e.count, 16))
	for range e.count {
		typ := c.u16()
		name := string(c.take(int(c.u16())))
		vsize := c.u32()
		var val []byte
		if typ&0x100 != 0 { // value stored out of line: a reference to it
			if vsize != 8 {
				return nil, corrupt("xattr set %d: out-of-line value reference of %d bytes", id, vsize)
			}
			vp, err := x.kv.pos(c.u64())
			if err != nil {
				return nil, fmt.Errorf("xattr set %d: %w", id, err)
			}
			vc := cursor{b: x.kv.data, p: vp}
			val = vc.take(int(vc.u32()))
			if vc.err != nil {
				return nil, fmt.Errorf("xattr set %d: %w", id, vc.err)
			}
		} else {
			val = c.take(int(vsize))
		}
		if c.err != nil {
			return nil, fmt.Errorf("xattr set %d: %w", id, c.err)
		}
		code := typ &^ 0x100
		if int(code) >= len(xattrPrefixes) || name == "" {
			return nil, corrupt("xattr set %d: bad name type %d or empty name", id, typ)
		}
		m[xattrPrefixes[code].prefix+name] = slices.Clone(val)
	}
	return m, nil
}

// decodeDev converts the 32-bit squashfs device number to unix.Mkdev form.
func decodeDev(d uint32) uint64 {
	major := uint64(d>>8) & 0xfff
	minor := uint64(d&0xff) | uint64(d>>12)&0xfff00
	return mkdevT(major, minor)
}

// mkdevT is unix.Mkdev, spelled out so the reader builds on any GOOS.
func mkdevT(major, minor uint64) uint64 {
	return (major&0xfff)<<8 | (major&^0xfff)<<32 | minor&0xff | (minor&^0xff)<<12
}
