// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
)

// rawStream strips the length words of an uncompressed metadata stream.
func rawStream(t *testing.T, out []byte) []byte {
	var s []byte
	for len(out) > 0 {
		w := binary.LittleEndian.Uint16(out)
		if w&metaUncompressed == 0 {
			t.Fatal("compressed metadata block in an uncompressed stream")
		}
		n := int(w &^ metaUncompressed)
		s = append(s, out[2:2+n]...)
		out = out[2+n:]
	}
	return s
}

// TestDirIndex checks, on the tables themselves, that a directory whose
// listing spans many metadata blocks gets an extended inode whose index
// entries each point at a header in the block they name.
func TestDirIndex(t *testing.T) {
	w := newTestWriter(t, Options{Compression: None})
	for i := range 5000 {
		name := fmt.Sprintf("big/%05d-%s", i, strings.Repeat("y", i%50))
		must(t, w.Add(Entry{Path: name, Type: Fifo}, nil))
	}
	must(t, w.pipe.finish())
	b := newBuilder(w.comp, w.o.BlockSize)
	must(t, b.build(w.tree.root))
	ino, _ := b.inodes.finish()
	dirsOut, _ := b.dirs.finish()
	inodes, dirs := rawStream(t, ino), rawStream(t, dirsOut)
	big := w.tree.nodes["big"]
	// With raw blocks, block k starts at k*(8192+2).
	upos := func(ref uint64) int { return int(ref>>16)/(metaBlockSize+2)*metaBlockSize + int(ref&0xffff) }
	in := inodes[upos(big.ref):]
	le := binary.LittleEndian
	if typ := le.Uint16(in); typ != inoDir+extOffset {
		t.Fatalf("big dir inode type %d, want extended dir", typ)
	}
	size, start := le.Uint32(in[20:]), le.Uint32(in[24:])
	count, offset := int(le.Uint16(in[32:])), int(le.Uint16(in[34:]))
	listing := upos(uint64(start)<<16 | uint64(offset))
	if count < int(size)/metaBlockSize-1 {
		t.Fatalf("%d index entries for a %d-byte listing", count, size)
	}
	p := in[40:]
	for i := range count {
		off, blk, n := int(le.Uint32(p)), le.Uint32(p[4:]), int(le.Uint32(p[8:]))+1
		name := string(p[12 : 12+n])
		p = p[12+n:]
		hdr := listing + off
		if want := uint32(hdr / metaBlockSize * (metaBlockSize + 2)); blk != want {
			t.Errorf("index %d: block %d, want %d", i, blk, want)
		}
		entry := dirs[hdr+12:]
		if got := string(entry[8 : 8+int(le.Uint16(entry[6:]))+1]); got != name {
			t.Errorf("index %d: header's first name %q, index says %q", i, got, name)
		}
		if c := le.Uint32(dirs[hdr:]) + 1; c > dirMaxEntries {
			t.Errorf("index %d: header with %d entries", i, c)
		}
	}
}
