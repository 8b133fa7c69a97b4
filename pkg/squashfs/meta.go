// SPDX-License-Identifier: Apache-2.0

package squashfs

// metaWriter builds a stream of metadata blocks in memory. Every 8 KiB of
// uncompressed input becomes one block, compressed as soon as it is full,
// so the on-disk offset of any position already written or in the current
// block is known; references into the stream are formed from it.
type metaWriter struct {
	comp    compressor
	buf     []byte   // the current, not yet full block
	out     []byte   // finished blocks, each with its length word
	starts  []uint64 // offset in out of every block, the current one last
	scratch []byte
}

func newMetaWriter(c compressor) *metaWriter {
	return &metaWriter{comp: c, buf: make([]byte, 0, metaBlockSize), starts: []uint64{0}}
}

// upos is the uncompressed position of the next byte written.
func (m *metaWriter) upos() uint64 {
	return uint64(len(m.starts)-1)*metaBlockSize + uint64(len(m.buf))
}

// blockStart is the offset, from the start of the stream, of the block
// holding uncompressed position u; u must not be ahead of upos.
func (m *metaWriter) blockStart(u uint64) uint64 {
	return m.starts[u/metaBlockSize]
}

// ref is the squashfs reference of position u: the block's offset in the
// upper 48 bits and the offset inside the uncompressed block in the lower 16.
func (m *metaWriter) ref(u uint64) uint64 {
	return m.blockStart(u)<<16 | u%metaBlockSize
}

func (m *metaWriter) write(p []byte) {
	for len(p) > 0 {
		n := copy(m.buf[len(m.buf):metaBlockSize], p)
		m.buf = m.buf[:len(m.buf)+n]
		p = p[n:]
		if len(m.buf) == metaBlockSize {
			m.flushBlock()
		}
	}
}

func (m *metaWriter) flushBlock() {
	c, ok := m.comp.compress(m.scratch, m.buf)
	m.scratch = c[:0]
	if !ok {
		m.out = le16(m.out, uint16(len(m.buf))|metaUncompressed)
		m.out = append(m.out, m.buf...)
	} else {
		m.out = le16(m.out, uint16(len(c)))
		m.out = append(m.out, c...)
	}
	m.buf = m.buf[:0]
	m.starts = append(m.starts, uint64(len(m.out)))
}

// finish flushes the last block and returns the stream and the offsets
// of its blocks.
func (m *metaWriter) finish() ([]byte, []uint64) {
	if len(m.buf) > 0 {
		m.flushBlock()
	}
	return m.out, m.starts[:len(m.starts)-1]
}
