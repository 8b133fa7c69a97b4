// SPDX-License-Identifier: Apache-2.0

package flatten

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Sparse files. archive/tar expands a sparse entry's holes into zeros through
// Read and keeps its sparse map to itself, so a few KiB of layer can make
// readers and sinks chew through a terabyte of zeros. Flatten therefore reads
// the map from the raw header bytes itself (recorded by rawStream while
// tar.Reader.Next parses them), reads the entry's data fragments straight from
// the raw stream and hands the sink a SparseReader: the cost of a sparse file
// is its data and its map, not its apparent size.

// SparseReader is implemented by the content reader of a Reg entry stored
// sparse in its layer: holes read as zeros through Read, and a sink that can
// make holes calls SkipSparse before each Read and skips the bytes it reports
// instead of writing them. Read never returns bytes of both a hole and data in
// one call. (pkg/squashfs's reader has the same method, so a sink handles
// both with one type assertion.)
type SparseReader interface {
	io.Reader
	// SkipSparse advances past the hole at the current position and returns
	// its length (0 when the next byte is data or at the end).
	SkipSparse() int64
}

// maxRecord bounds the header bytes recorded per entry: archive/tar accepts
// at most 1 MiB for each of a PAX header, a long name, a long link name and a
// sparse map.
const maxRecord = 8 << 20

const blockSize = 512

// rawStream sits between a layer's tar stream and tar.Reader. While record is
// set (during Next) it keeps the bytes tar.Reader reads, with their stream
// offset. For a sparse entry the fragment reader takes the data from under
// tar.Reader (ahead counts those bytes); tar.Reader then skips them as unread
// data through Seek, which only moves the position.
type rawStream struct {
	r      io.Reader
	pos    int64 // stream offset as tar.Reader sees it
	ahead  int64 // bytes taken from r beyond pos by a fragment reader
	record bool
	rec    []byte
	recAt  int64 // stream offset of rec[0]
	over   bool  // rec passed maxRecord
}

func (s *rawStream) startRecord() {
	s.record, s.rec, s.over = true, s.rec[:0], false
}

func (s *rawStream) Read(p []byte) (int, error) {
	if s.ahead > 0 {
		// tar.Reader only reads bytes taken ahead when it discards the rest
		// of an entry: any content does.
		n := int(min(int64(len(p)), s.ahead))
		clear(p[:n])
		s.ahead -= int64(n)
		s.pos += int64(n)
		return n, nil
	}
	n, err := s.r.Read(p)
	if s.record && n > 0 && !s.over {
		if len(s.rec) == 0 {
			s.recAt = s.pos
		}
		if len(s.rec)+n > maxRecord {
			s.over = true
		} else {
			s.rec = append(s.rec, p[:n]...)
		}
	}
	s.pos += int64(n)
	return n, err
}

// Seek supports only tar.Reader's skips over unread data (whence
// io.SeekCurrent): the skipped bytes are discarded, not recorded.
func (s *rawStream) Seek(off int64, whence int) (int64, error) {
	if whence != io.SeekCurrent || off < 0 {
		return 0, errors.New("layer stream: unsupported seek")
	}
	virt := min(off, s.ahead)
	s.ahead -= virt
	if rest := off - virt; rest > 0 {
		n, err := io.CopyN(io.Discard, s.r, rest)
		s.pos += virt + n
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return s.pos, err
	}
	s.pos += virt
	return s.pos, nil
}

// readData reads p from under tar.Reader: a sparse entry's stored data.
func (s *rawStream) readData(p []byte) (int, error) {
	n, err := io.ReadFull(s.r, p)
	s.ahead += int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// fragment is a run of stored data in a sparse file.
type fragment struct{ off, n int64 }

// sparseMap returns the data fragments of h when tar stored it sparse, as
// archive/tar recognises sparse entries (old GNU 'S' headers, PAX formats
// 0.0, 0.1 and 1.0), or nil for a plain entry. It checks the map against the
// entry's stored size, so the fragment reader and tar.Reader agree on where
// the entry ends.
func (s *rawStream) sparseMap(h *tar.Header) ([]fragment, error) {
	major, minor := h.PAXRecords["GNU.sparse.major"], h.PAXRecords["GNU.sparse.minor"]
	var frags []fragment
	var stored int64
	var err error
	switch {
	case h.Typeflag == tar.TypeGNUSparse:
		frags, stored, err = s.oldGNUMap()
	case major == "1" && minor == "0":
		frags, stored, err = s.pax1Map()
	case major == "0" && (minor == "0" || minor == "1"), major == "" && minor == "" && h.PAXRecords["GNU.sparse.map"] != "":
		frags, err = pax0Map(h.PAXRecords["GNU.sparse.map"])
		stored = -1 // the header's size field, checked by tar.Reader
	default:
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sparse map: %w", err)
	}
	var end, sum int64
	for _, f := range frags {
		if f.off < end || f.n < 0 || f.off > h.Size-f.n {
			return nil, errors.New("sparse map: fragments overlap or pass the file size")
		}
		end, sum = f.off+f.n, sum+f.n
	}
	if stored >= 0 && sum != stored {
		return nil, fmt.Errorf("sparse map: %d bytes of data, %d stored", sum, stored)
	}
	if frags == nil {
		frags = []fragment{}
	}
	return frags, nil
}

// headers returns the recorded blocks from the entry's first header on and
// the index of its last header block (the one after any 'x', 'g', 'L', 'K'
// headers and their content).
func (s *rawStream) headers() ([]byte, int, error) {
	if s.over {
		return nil, 0, errors.New("headers larger than 8 MiB")
	}
	// Before the headers tar.Reader may have read the last unread byte of
	// the previous entry; headers start on a block boundary.
	b := s.rec[(blockSize-s.recAt%blockSize)%blockSize:]
	for i := 0; i+blockSize <= len(b); {
		switch b[i+156] {
		case tar.TypeXHeader, tar.TypeXGlobalHeader, tar.TypeGNULongName, tar.TypeGNULongLink:
			size, err := numeric(b[i+124 : i+136])
			if err != nil || size < 0 || size > maxRecord {
				return nil, 0, errors.New("bad header size")
			}
			i += blockSize + int((size+blockSize-1)/blockSize*blockSize)
			continue
		}
		return b, i, nil
	}
	return nil, 0, errors.New("entry header not found")
}

// oldGNUMap reads the map of an old GNU sparse header: four entries in the
// header, 21 in each extension block that follows while isextended is set.
func (s *rawStream) oldGNUMap() ([]fragment, int64, error) {
	b, i, err := s.headers()
	if err != nil {
		return nil, 0, err
	}
	stored, err := numeric(b[i+124 : i+136])
	if err != nil {
		return nil, 0, err
	}
	var frags []fragment
	area, n, ext := b[i+386:], 4, b[i+482]
	for {
		for k := range n {
			e := area[k*24 : k*24+24]
			if e[0] == 0 {
				break
			}
			off, err1 := numeric(e[:12])
			length, err2 := numeric(e[12:])
			if err := errors.Join(err1, err2); err != nil {
				return nil, 0, err
			}
			frags = append(frags, fragment{off, length})
		}
		if ext == 0 {
			return frags, stored, nil
		}
		i += blockSize
		if i+blockSize > len(b) {
			return nil, 0, errors.New("extension block missing")
		}
		area, n, ext = b[i:], 21, b[i+504]
	}
}

// pax1Map reads the map of PAX sparse format 1.0: decimal lines at the start
// of the entry's data (the count, then offset and length pairs), padded to a
// block.
func (s *rawStream) pax1Map() ([]fragment, int64, error) {
	b, i, err := s.headers()
	if err != nil {
		return nil, 0, err
	}
	size, err := numeric(b[i+124 : i+136])
	if err != nil {
		return nil, 0, err
	}
	m := b[i+blockSize:]
	lines := strings.Split(string(m), "\n")
	count, err := strconv.ParseInt(lines[0], 10, 64)
	if err != nil || count < 0 || count >= int64(len(lines)) || 2*count+1 >= int64(len(lines)) {
		return nil, 0, errors.New("bad entry count")
	}
	var frags []fragment
	used := len(lines[0]) + 1
	for k := int64(0); k < count; k++ {
		a, b := lines[1+2*k], lines[2+2*k]
		off, err1 := strconv.ParseInt(a, 10, 64)
		n, err2 := strconv.ParseInt(b, 10, 64)
		if err1 != nil || err2 != nil {
			return nil, 0, errors.New("bad entry")
		}
		frags = append(frags, fragment{off, n})
		used += len(a) + len(b) + 2
	}
	mapBytes := int64(used+blockSize-1) / blockSize * blockSize
	if mapBytes != int64(len(m)) {
		return nil, 0, errors.New("map length does not match what tar read")
	}
	return frags, size - mapBytes, nil
}

// pax0Map parses GNU.sparse.map ("offset,length,..."; archive/tar folds
// format 0.0's repeated records into it).
func pax0Map(v string) ([]fragment, error) {
	if v == "" {
		return nil, nil
	}
	f := strings.Split(v, ",")
	if len(f)%2 != 0 {
		return nil, errors.New("odd number of fields")
	}
	var frags []fragment
	for k := 0; k < len(f); k += 2 {
		off, err1 := strconv.ParseInt(f[k], 10, 64)
		n, err2 := strconv.ParseInt(f[k+1], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, errors.New("bad entry")
		}
		frags = append(frags, fragment{off, n})
	}
	return frags, nil
}

// numeric parses a tar number field: octal, or base-256 with the high bit set.
func numeric(b []byte) (int64, error) {
	if len(b) > 0 && b[0]&0x80 != 0 {
		if b[0]&0x40 != 0 {
			return 0, errors.New("negative number")
		}
		var x uint64
		for k, c := range b {
			if k == 0 {
				c &= 0x7f
			}
			if x>>56 != 0 {
				return 0, errors.New("number overflows")
			}
			x = x<<8 | uint64(c)
		}
		if x>>63 != 0 {
			return 0, errors.New("number overflows")
		}
		return int64(x), nil
	}
	t := bytes.Trim(b, " \x00")
	if len(t) == 0 {
		return 0, nil
	}
	x, err := strconv.ParseUint(string(t), 8, 63)
	return int64(x), err
}

// sparseContent is the content reader of a sparse entry: data fragments come
// from the raw stream, holes are zeros or skipped.
type sparseContent struct {
	s     *rawStream
	frags []fragment // fragments not yet passed, the current one first
	pos   int64
	size  int64
	err   error
}

func (c *sparseContent) SkipSparse() int64 {
	end := c.size
	if len(c.frags) > 0 {
		end = c.frags[0].off
	}
	n := max(end-c.pos, 0)
	c.pos += n
	return n
}

func (c *sparseContent) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	for len(c.frags) > 0 && c.pos >= c.frags[0].off+c.frags[0].n {
		c.frags = c.frags[1:]
	}
	if c.pos >= c.size {
		return 0, io.EOF
	}
	if len(c.frags) == 0 || c.pos < c.frags[0].off {
		end := c.size
		if len(c.frags) > 0 {
			end = c.frags[0].off
		}
		n := int(min(int64(len(p)), end-c.pos))
		clear(p[:n])
		c.pos += int64(n)
		return n, nil
	}
	f := c.frags[0]
	n, err := c.s.readData(p[:min(int64(len(p)), f.off+f.n-c.pos)])
	c.pos += int64(n)
	if err != nil {
		c.err = fmt.Errorf("read sparse data: %w", err)
		return n, c.err
	}
	return n, nil
}

// parseSize parses a byte count with an optional K, M, G or T suffix (powers
// of 1024).
func parseSize(s string) (int64, error) {
	shift := 0
	if s != "" {
		switch s[len(s)-1] {
		case 'K', 'k':
			shift = 10
		case 'M', 'm':
			shift = 20
		case 'G', 'g':
			shift = 30
		case 'T', 't':
			shift = 40
		}
	}
	if shift > 0 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)>>shift {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n << shift, nil
}
