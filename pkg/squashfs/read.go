// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"slices"
)

// Reader reads a squashfs 4.0 image written by this package or by
// mksquashfs / tar2sqfs. OpenReader loads the metadata (inode, directory,
// id, fragment and xattr tables) into memory; Walk streams the entries and
// decompresses file data in parallel.
//
// A Reader is safe for concurrent Walks; it does not close the file.
type Reader struct {
	f      io.ReaderAt
	sb     superblock
	comp   decompressor
	bs     uint64 // data block size
	inodes metaStream
	dirs   metaStream
	ids    []uint32
	frags  []fragRef
	xattr  *xattrReader // nil without xattrs
}

// fragRef is one fragment table entry: where a fragment block lies and
// its size word (bit 24: stored raw).
type fragRef struct {
	start uint64
	size  uint32
}

// ErrNotSquashfs is returned (wrapped) by OpenReader when the file does not
// start with a squashfs superblock.
var ErrNotSquashfs = errors.New("not a squashfs image")

// errCorrupt marks structural errors in an image.
var errCorrupt = errors.New("corrupt squashfs image")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errCorrupt, fmt.Sprintf(format, args...))
}

// maxMetaLoad bounds the size of one metadata table region that is read
// into memory (the inode or directory table of an image with millions of
// entries is well below it).
const maxMetaLoad = 1 << 30

// OpenReader validates the superblock of the image in f and loads its
// metadata tables. f is read with ReadAt only, so it may be shared.
func OpenReader(f *os.File) (*Reader, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("squashfs: %w", err)
	}
	return openReader(f, st.Size())
}

func openReader(f io.ReaderAt, size int64) (*Reader, error) {
	var raw [superblockSize]byte
	if n, err := f.ReadAt(raw[:], 0); n < len(raw) {
		if n >= 4 && binary.LittleEndian.Uint32(raw[:]) == magic {
			return nil, fmt.Errorf("squashfs: %w: truncated superblock", errCorrupt)
		}
		if err == nil || err == io.EOF {
			return nil, fmt.Errorf("squashfs: %w (file of %d bytes)", ErrNotSquashfs, size)
		}
		return nil, fmt.Errorf("squashfs: read superblock: %w", err)
	}
	sb, err := parseSuperblock(raw[:], size)
	if err != nil {
		return nil, fmt.Errorf("squashfs: %w", err)
	}
	comp, err := newDecompressor(sb.compression, sb.blockSize)
	if err != nil {
		return nil, fmt.Errorf("squashfs: %w", err)
	}
	r := &Reader{f: f, sb: *sb, comp: comp, bs: uint64(sb.blockSize)}
	if err := r.checkOptions(); err != nil {
		return nil, fmt.Errorf("squashfs: %w", err)
	}
	if err := r.load(); err != nil {
		return nil, fmt.Errorf("squashfs: %w", err)
	}
	return r, nil
}

func parseSuperblock(b []byte, size int64) (*superblock, error) {
	le := binary.LittleEndian
	switch m := le.Uint32(b); {
	case m == magic:
	case binary.BigEndian.Uint32(b) == magic:
		return nil, fmt.Errorf("%w: big-endian squashfs (version 3 or older) not supported", ErrNotSquashfs)
	default:
		return nil, ErrNotSquashfs
	}
	sb := &superblock{
		inodes: le.Uint32(b[4:]), mkfsTime: le.Uint32(b[8:]), blockSize: le.Uint32(b[12:]),
		fragments: le.Uint32(b[16:]), compression: le.Uint16(b[20:]), blockLog: le.Uint16(b[22:]),
		flags: le.Uint16(b[24:]), ids: le.Uint16(b[26:]),
		rootRef: le.Uint64(b[32:]), bytesUsed: le.Uint64(b[40:]), idTable: le.Uint64(b[48:]),
		xattrTable: le.Uint64(b[56:]), inodeTable: le.Uint64(b[64:]), dirTable: le.Uint64(b[72:]),
		fragTable: le.Uint64(b[80:]), exportTable: le.Uint64(b[88:]),
	}
	if major, minor := le.Uint16(b[28:]), le.Uint16(b[30:]); major != versionMajor || minor != versionMinor {
		return nil, fmt.Errorf("squashfs version %d.%d not supported (only 4.0)", major, minor)
	}
	bs := sb.blockSize
	if bs < minBlockSize || bs > maxBlockSize || bits.OnesCount32(bs) != 1 || 1<<sb.blockLog != bs {
		return nil, corrupt("block size %d (log %d) not a power of two between 4 KiB and 1 MiB", bs, sb.blockLog)
	}
	if sb.bytesUsed < superblockSize || sb.bytesUsed > uint64(size) {
		return nil, fmt.Errorf("%w: image of %d bytes is larger than the file (%d bytes): truncated?",
			errCorrupt, sb.bytesUsed, size)
	}
	if sb.ids == 0 {
		return nil, corrupt("no uid/gid table")
	}
	for _, t := range []struct {
		name string
		off  uint64
	}{{"inode", sb.inodeTable}, {"directory", sb.dirTable}, {"id", sb.idTable}} {
		if t.off < superblockSize || t.off >= sb.bytesUsed {
			return nil, corrupt("%s table at %d outside the image (%d bytes)", t.name, t.off, sb.bytesUsed)
		}
	}
	return sb, nil
}

// checkOptions rejects compressor options the decompressors cannot honour:
// xz with branch/call/jump filters (mksquashfs -Xbcj), which the Go xz
// package does not implement.
func (r *Reader) checkOptions() error {
	if r.sb.compression != compXz || r.sb.flags&flagCompOptions == 0 {
		return nil
	}
	opt, _, err := r.metaBlock(superblockSize, r.sb.bytesUsed, nil)
	if err != nil {
		return fmt.Errorf("compressor options: %w", err)
	}
	if len(opt) >= 8 && binary.LittleEndian.Uint32(opt[4:]) != 0 {
		return fmt.Errorf("xz with branch/call/jump filters (mksquashfs -Xbcj) not supported")
	}
	return nil
}

// Superblock facts, for tools and logs.

// BlockSize returns the data block size of the image.
func (r *Reader) BlockSize() int { return int(r.bs) }

// Compression returns the name of the image's compressor ("zstd",
// "gzip", ...). Images without any compressed block still name one.
func (r *Reader) Compression() string { return compName(r.sb.compression) }

// Inodes returns the number of inodes the superblock declares.
func (r *Reader) Inodes() int { return int(r.sb.inodes) }

// load reads the id, fragment and xattr tables and the inode and
// directory tables.
func (r *Reader) load() error {
	sb := &r.sb
	// The metadata blocks of the indexed tables lie before their index;
	// the first block of each bounds the table that precedes it.
	bounds := []uint64{sb.inodeTable, sb.dirTable, sb.idTable, sb.bytesUsed}
	idIdx, err := r.tableIndex("id", sb.idTable, uint64(sb.ids)*4)
	if err != nil {
		return err
	}
	bounds = append(bounds, idIdx...)
	var fragIdx []uint64
	if sb.fragments > 0 {
		if fragIdx, err = r.tableIndex("fragment", sb.fragTable, uint64(sb.fragments)*16); err != nil {
			return err
		}
		bounds = append(bounds, sb.fragTable)
		bounds = append(bounds, fragIdx...)
	}
	if sb.exportTable != invalidBlk && sb.exportTable < sb.bytesUsed {
		idx, err := r.tableIndex("export", sb.exportTable, uint64(sb.inodes)*8)
		if err == nil { // the export table is not needed: ignore its errors
			bounds = append(bounds, sb.exportTable)
			bounds = append(bounds, idx...)
		}
	}
	var xhdr []byte
	if sb.xattrTable != invalidBlk {
		if sb.xattrTable >= sb.bytesUsed || sb.bytesUsed-sb.xattrTable < 16 {
			return corrupt("xattr table at %d outside the image", sb.xattrTable)
		}
		xhdr = make([]byte, 16)
		if err := r.readAt(xhdr, sb.xattrTable); err != nil {
			return err
		}
		bounds = append(bounds, sb.xattrTable, binary.LittleEndian.Uint64(xhdr))
	}
	slices.Sort(bounds)
	end := func(start uint64) uint64 {
		for _, b := range bounds {
			if b > start {
				return b
			}
		}
		return sb.bytesUsed
	}

	ids, err := r.readTable("id", idIdx, uint64(sb.ids)*4, end)
	if err != nil {
		return err
	}
	r.ids = make([]uint32, sb.ids)
	for i := range r.ids {
		r.ids[i] = binary.LittleEndian.Uint32(ids[4*i:])
	}
	if sb.fragments > 0 {
		ft, err := r.readTable("fragment", fragIdx, uint64(sb.fragments)*16, end)
		if err != nil {
			return err
		}
		r.frags = make([]fragRef, sb.fragments)
		for i := range r.frags {
			r.frags[i] = fragRef{start: binary.LittleEndian.Uint64(ft[16*i:]), size: binary.LittleEndian.Uint32(ft[16*i+8:])}
		}
	}
	if xhdr != nil {
		if r.xattr, err = r.loadXattrs(xhdr, end); err != nil {
			return err
		}
	}
	if r.inodes, err = r.loadStream("inode", sb.inodeTable, end(sb.inodeTable)); err != nil {
		return err
	}
	if r.dirs, err = r.loadStream("directory", sb.dirTable, end(sb.dirTable)); err != nil {
		return err
	}
	return nil
}

func (r *Reader) readAt(p []byte, off uint64) error {
	if off > r.sb.bytesUsed || uint64(len(p)) > r.sb.bytesUsed-off {
		return corrupt("read of %d bytes at %d beyond the image end %d", len(p), off, r.sb.bytesUsed)
	}
	n, err := r.f.ReadAt(p, int64(off))
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read at %d: %w", off, err)
}

// tableIndex reads the list of metadata block offsets of a lookup table
// holding n bytes of entries.
func (r *Reader) tableIndex(name string, at, n uint64) ([]uint64, error) {
	blocks := (n + metaBlockSize - 1) / metaBlockSize
	if at == invalidBlk || at >= r.sb.bytesUsed || blocks*8 > r.sb.bytesUsed-at {
		return nil, corrupt("%s table index at %d (%d blocks) outside the image", name, at, blocks)
	}
	b := make([]byte, blocks*8)
	if err := r.readAt(b, at); err != nil {
		return nil, err
	}
	idx := make([]uint64, blocks)
	for i := range idx {
		idx[i] = binary.LittleEndian.Uint64(b[8*i:])
		if idx[i] < superblockSize || idx[i] >= at {
			return nil, corrupt("%s table block %d at %d outside the image", name, i, idx[i])
		}
	}
	return idx, nil
}

// readTable reads the metadata blocks of a lookup table and returns its
// first n bytes.
func (r *Reader) readTable(name string, idx []uint64, n uint64, end func(uint64) uint64) ([]byte, error) {
	var out []byte
	for i, off := range idx {
		b, next, err := r.metaBlock(off, end(off), nil)
		if err != nil {
			return nil, fmt.Errorf("%s table block %d: %w", name, i, err)
		}
		// The blocks are written back to back; insisting on it keeps a
		// corrupt index from multiplying one block.
		if i < len(idx)-1 && idx[i+1] != next {
			return nil, corrupt("%s table block %d at %d does not follow block %d", name, i+1, idx[i+1], i)
		}
		if i < len(idx)-1 && len(b) != metaBlockSize {
			return nil, corrupt("%s table block %d holds %d bytes, not %d", name, i, len(b), metaBlockSize)
		}
		out = append(out, b...)
	}
	if uint64(len(out)) < n {
		return nil, corrupt("%s table holds %d bytes, want %d", name, len(out), n)
	}
	return out[:n], nil
}

// metaBlock reads and decompresses the metadata block at off, which must
// end by end, appending it to dst. It returns the data and the offset
// after the block.
func (r *Reader) metaBlock(off, end uint64, dst []byte) ([]byte, uint64, error) {
	if end > r.sb.bytesUsed {
		end = r.sb.bytesUsed
	}
	if off+2 > end || off+2 < off {
		return nil, 0, corrupt("metadata block at %d beyond its table", off)
	}
	var h [2]byte
	if err := r.readAt(h[:], off); err != nil {
		return nil, 0, err
	}
	word := binary.LittleEndian.Uint16(h[:])
	n := uint64(word &^ metaUncompressed)
	if n == 0 || n > metaBlockSize || off+2+n > end {
		return nil, 0, corrupt("metadata block at %d: bad length word %#x", off, word)
	}
	src := make([]byte, n)
	if err := r.readAt(src, off+2); err != nil {
		return nil, 0, err
	}
	if word&metaUncompressed != 0 {
		return append(dst, src...), off + 2 + n, nil
	}
	out, err := r.comp.decompress(dst[len(dst):], src, metaBlockSize)
	if err != nil {
		return nil, 0, corrupt("metadata block at %d: %v", off, err)
	}
	return append(dst, out...), off + 2 + n, nil
}

// metaStream is a table of metadata blocks (inodes, directories, xattrs)
// decompressed into one buffer. A reference to it (the block's offset
// from the table start << 16 | the offset in the block) maps to a position
// in data through blocks.
type metaStream struct {
	data   []byte
	blocks map[uint64]uint32 // block offset from table start -> position in data
}

// loadStream reads the metadata blocks from start up to end.
func (r *Reader) loadStream(name string, start, end uint64) (metaStream, error) {
	s := metaStream{blocks: map[uint64]uint32{}}
	if end > r.sb.bytesUsed || end < start {
		return s, corrupt("%s table at %d: bad end %d", name, start, end)
	}
	if end-start > maxMetaLoad {
		return s, corrupt("%s table of %d bytes", name, end-start)
	}
	raw := make([]byte, end-start)
	if err := r.readAt(raw, start); err != nil {
		return s, fmt.Errorf("%s table: %w", name, err)
	}
	s.data = make([]byte, 0, 4*len(raw))
	for off := 0; off < len(raw); {
		if len(raw)-off < 2 {
			return s, corrupt("%s table: metadata block at %d truncated", name, start+uint64(off))
		}
		word := binary.LittleEndian.Uint16(raw[off:])
		n := int(word &^ metaUncompressed)
		if n == 0 || n > metaBlockSize || off+2+n > len(raw) {
			return s, corrupt("%s table: metadata block at %d: bad length word %#x", name, start+uint64(off), word)
		}
		if len(s.data) > 1<<32-metaBlockSize {
			return s, corrupt("%s table too large", name)
		}
		s.blocks[uint64(off)] = uint32(len(s.data))
		src := raw[off+2 : off+2+n]
		if word&metaUncompressed != 0 {
			s.data = append(s.data, src...)
		} else {
			s.data = slices.Grow(s.data, metaBlockSize)
			out, err := r.comp.decompress(s.data[len(s.data):], src, metaBlockSize)
			if err != nil {
				return s, corrupt("%s table: metadata block at %d: %v", name, start+uint64(off), err)
			}
			s.data = append(s.data, out...)
		}
		off += 2 + n
	}
	return s, nil
}

// pos maps a reference to a position in the stream.
func (s *metaStream) pos(ref uint64) (int, error) {
	p, ok := s.blocks[ref>>16]
	if !ok || ref&0xffff >= metaBlockSize {
		return 0, corrupt("reference %#x does not point at a metadata block", ref)
	}
	return int(p) + int(ref&0xffff), nil
}

// cursor decodes little-endian fields from a metadata stream; the first
// out-of-range read sets err and all later reads return zeros.
type cursor struct {
	b   []byte
	p   int
	err error
}

func (c *cursor) take(n int) []byte {
	if c.err != nil {
		return nil
	}
	if n < 0 || n > len(c.b)-c.p {
		c.err = corrupt("metadata ends inside a record at %d", c.p)
		return nil
	}
	b := c.b[c.p : c.p+n]
	c.p += n
	return b
}

func (c *cursor) u16() uint16 {
	if b := c.take(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (c *cursor) u32() uint32 {
	if b := c.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (c *cursor) u64() uint64 {
	if b := c.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}
