// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"

	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// Compressor ids of the superblock besides gzip and zstd (format.go).
const (
	compLzma = 2
	compLzo  = 3
	compXz   = 4
	compLz4  = 5
)

// decompressor decompresses one block. It must be safe for concurrent
// use.
type decompressor interface {
	// decompress appends the decompressed src to dst[:0] and returns it;
	// more than limit output bytes is an error.
	decompress(dst, src []byte, limit int) ([]byte, error)
}

var errTooLarge = errors.New("block decompresses to more than the block size")

func compName(id uint16) string {
	switch id {
	case compGzip:
		return "gzip"
	case compLzma:
		return "lzma"
	case compLzo:
		return "lzo"
	case compXz:
		return "xz"
	case compLz4:
		return "lz4"
	case compZstd:
		return "zstd"
	}
	return fmt.Sprintf("compressor %d", id)
}

const supportedComps = "gzip, lzma, lzo, xz, lz4, zstd"

func newDecompressor(id uint16, blockSize uint32) (decompressor, error) {
	limit := max(int(blockSize), metaBlockSize)
	switch id {
	case compGzip:
		return &zlibDec{}, nil
	case compZstd:
		d, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0), // one decoder per GOMAXPROCS for DecodeAll
			zstd.WithDecoderMaxMemory(uint64(limit)),
			zstd.WithDecoderMaxWindow(uint64(max(limit, zstd.MinWindowSize))),
			zstd.IgnoreChecksum(false))
		if err != nil {
			return nil, fmt.Errorf("zstd decoder: %w", err)
		}
		return zstdDec{d}, nil
	case compXz:
		return xzDec{}, nil
	case compLzma:
		return lzmaDec{}, nil
	case compLz4:
		return lz4Dec{}, nil
	case compLzo:
		return lzoDec{}, nil
	}
	return nil, fmt.Errorf("%s not supported (supported: %s)", compName(id), supportedComps)
}

type zstdDec struct{ d *zstd.Decoder }

func (z zstdDec) decompress(dst, src []byte, limit int) ([]byte, error) {
	out, err := z.d.DecodeAll(src, dst[:0])
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	if len(out) > limit {
		return nil, errTooLarge
	}
	return out, nil
}

// zlibDec decodes gzip-compressed squashfs blocks, which are zlib streams.
type zlibDec struct{ pool sync.Pool }

func (z *zlibDec) decompress(dst, src []byte, limit int) ([]byte, error) {
	br := bytes.NewReader(src)
	var zr io.ReadCloser
	if v := z.pool.Get(); v != nil {
		zr = v.(io.ReadCloser)
		if err := zr.(zlib.Resetter).Reset(br, nil); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
	} else {
		var err error
		if zr, err = zlib.NewReader(br); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
	}
	out, err := readLimit(zr, dst, limit)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	z.pool.Put(zr)
	return out, nil
}

// readLimit reads r to its end into dst[:0], failing beyond limit bytes.
func readLimit(r io.Reader, dst []byte, limit int) ([]byte, error) {
	if cap(dst) < limit+1 {
		dst = make([]byte, 0, limit+1)
	}
	buf := dst[:limit+1]
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err == io.EOF {
			return buf[:n], nil
		}
		if err != nil {
			return nil, err
		}
	}
	return nil, errTooLarge
}

type xzDec struct{}

func (xzDec) decompress(dst, src []byte, limit int) ([]byte, error) {
	xr, err := xz.ReaderConfig{SingleStream: true}.NewReader(bytes.NewReader(clampXzDict(src, limit)))
	if err != nil {
		return nil, err // the package's errors start with "xz: "
	}
	out, err := readLimit(xr, dst, limit)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// clampXzDict returns src, or a copy whose first block's LZMA2 dictionary
// is no larger than needed for limit output bytes. The decoder allocates
// the dictionary the header names, so a corrupt header could otherwise
// cost up to 4 GiB; a dictionary at least as large as the output decodes
// the same.
func clampXzDict(src []byte, limit int) []byte {
	const streamHeader = 12
	if len(src) < streamHeader+8 {
		return src
	}
	h := src[streamHeader:]
	size := (int(h[0]) + 1) * 4
	if h[0] == 0 || size > len(h) || h[1]&3 != 0 { // index, truncated, or more than one filter
		return src
	}
	p := 2
	varint := func() (uint64, bool) {
		var v uint64
		for i := 0; i < 9 && p < size-4; i++ {
			b := h[p]
			p++
			v |= uint64(b&0x7f) << (7 * i)
			if b&0x80 == 0 {
				return v, true
			}
		}
		return 0, false
	}
	for _, present := range []bool{h[1]&0x40 != 0, h[1]&0x80 != 0} {
		if present {
			if _, ok := varint(); !ok {
				return src
			}
		}
	}
	id, ok1 := varint()
	n, ok2 := varint()
	if !ok1 || !ok2 || id != 0x21 || n != 1 || p >= size-4 {
		return src
	}
	code := byte(0) // 4 KiB
	for code < 40 && xzDictCap(code) < uint64(limit) {
		code++
	}
	if h[p] <= code {
		return src
	}
	out := bytes.Clone(src)
	oh := out[streamHeader:]
	oh[p] = code
	binary.LittleEndian.PutUint32(oh[size-4:], crc32.ChecksumIEEE(oh[:size-4]))
	return out
}

// xzDictCap decodes an LZMA2 dictionary size property.
func xzDictCap(code byte) uint64 {
	return uint64(2|code&1) << (code/2 + 11)
}

type lzmaDec struct{}

func (lzmaDec) decompress(dst, src []byte, limit int) ([]byte, error) {
	// The 13-byte header holds the properties, the dictionary size and the
	// output size; clamp the dictionary as for xz.
	if len(src) >= 13 && binary.LittleEndian.Uint32(src[1:]) > uint32(max(limit, 4096)) {
		src = bytes.Clone(src)
		binary.LittleEndian.PutUint32(src[1:], uint32(max(limit, 4096)))
	}
	lr, err := lzma.NewReader(bytes.NewReader(src))
	if err != nil {
		return nil, err
	}
	out, err := readLimit(lr, dst, limit)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// lz4Dec decodes the LZ4 block format (LZ4_decompress_safe), which
// squashfs uses without a frame.
type lz4Dec struct{}

var errLz4 = errors.New("lz4: corrupt block")

func (lz4Dec) decompress(dst, src []byte, limit int) ([]byte, error) {
	if cap(dst) < limit {
		dst = make([]byte, 0, limit)
	}
	out := dst[:limit]
	d, s := 0, 0
	for {
		if s >= len(src) {
			return nil, errLz4
		}
		tok := src[s]
		s++
		lit := int(tok >> 4)
		if lit == 15 {
			for {
				if s >= len(src) {
					return nil, errLz4
				}
				b := src[s]
				s++
				lit += int(b)
				if b != 255 {
					break
				}
			}
		}
		if lit > len(src)-s {
			return nil, errLz4
		}
		if lit > len(out)-d {
			return nil, errTooLarge
		}
		d += copy(out[d:], src[s:s+lit])
		s += lit
		if s == len(src) {
			return out[:d], nil // the last sequence has literals only
		}
		if len(src)-s < 2 {
			return nil, errLz4
		}
		off := int(src[s]) | int(src[s+1])<<8
		s += 2
		if off == 0 || off > d {
			return nil, errLz4
		}
		ml := int(tok & 15)
		if ml == 15 {
			for {
				if s >= len(src) {
					return nil, errLz4
				}
				b := src[s]
				s++
				ml += int(b)
				if b != 255 {
					break
				}
			}
		}
		ml += 4
		if ml > len(out)-d {
			return nil, errTooLarge
		}
		d = backCopy(out, d, off, ml)
	}
}

// backCopy copies n bytes from off bytes back in out to position d, where
// the regions may overlap (repeating the pattern), and returns d+n.
func backCopy(out []byte, d, off, n int) int {
	if off >= n {
		copy(out[d:d+n], out[d-off:])
		return d + n
	}
	for n > 0 {
		c := copy(out[d:d+min(n, off)], out[d-off:d])
		d += c
		n -= c
		off += c // the copied run doubles the available pattern
	}
	return d
}

// lzoDec decodes LZO1X blocks (lzo1x_decompress_safe), the format of all
// of mksquashfs' lzo variants.
type lzoDec struct{}

var errLzo = errors.New("lzo: corrupt block")

func (lzoDec) decompress(dst, src []byte, limit int) ([]byte, error) {
	if cap(dst) < limit {
		dst = make([]byte, 0, limit)
	}
	out := dst[:limit]
	d, s := 0, 0
	in := func() (int, bool) {
		if s >= len(src) {
			return 0, false
		}
		s++
		return int(src[s-1]), true
	}
	// length reads the extension of a length field that was zero.
	length := func(base int) (int, bool) {
		n := 0
		for {
			if s >= len(src) {
				return 0, false
			}
			if src[s] != 0 {
				break
			}
			n += 255
			s++
			if n > 1<<30 {
				return 0, false
			}
		}
		b, _ := in()
		return n + base + b, true
	}
	literals := func(n int) error {
		if n > len(src)-s {
			return errLzo
		}
		if n > len(out)-d {
			return errTooLarge
		}
		d += copy(out[d:], src[s:s+n])
		s += n
		return nil
	}
	match := func(dist, n int) error {
		if dist <= 0 || dist > d {
			return errLzo
		}
		if n > len(out)-d {
			return errTooLarge
		}
		d = backCopy(out, d, dist, n)
		return nil
	}

	t, ok := in()
	if !ok {
		return nil, errLzo
	}
	state := 0 // number of literals copied by the last instruction (0..4, 4 = "many")
	if t > 17 {
		if err := literals(t - 17); err != nil {
			return nil, err
		}
		state = 4
		if t-17 < 4 {
			state = t - 17
		}
		if t, ok = in(); !ok {
			return nil, errLzo
		}
	}
	for {
		var dist, n int
		switch {
		case t >= 64: // M2: 2-bit literal count, 3..8 byte match, distance up to 2 KiB
			b, ok := in()
			if !ok {
				return nil, errLzo
			}
			dist = (b << 3) + ((t >> 2) & 7) + 1
			n = (t >> 5) - 1 + 2
		case t >= 32: // M3: distance up to 16 KiB
			n = t & 31
			if n == 0 {
				if n, ok = length(31); !ok {
					return nil, errLzo
				}
			}
			n += 2
			b0, ok0 := in()
			b1, ok1 := in()
			if !ok0 || !ok1 {
				return nil, errLzo
			}
			dist = (b0 >> 2) + (b1 << 6) + 1
			t = b0
		case t >= 16: // M4: distance 16..48 KiB, or the end marker
			n = t & 7
			if n == 0 {
				if n, ok = length(7); !ok {
					return nil, errLzo
				}
			}
			n += 2
			b0, ok0 := in()
			b1, ok1 := in()
			if !ok0 || !ok1 {
				return nil, errLzo
			}
			dist = ((t & 8) << 11) + (b0 >> 2) + (b1 << 6)
			if dist == 0 {
				if n != 3 || s != len(src) {
					return nil, errLzo
				}
				return out[:d], nil
			}
			dist += 16384
			t = b0
		default: // t < 16
			if state == 0 {
				// A literal run: 3 + t bytes (t extended when 0).
				n = t
				if n == 0 {
					if n, ok = length(15); !ok {
						return nil, errLzo
					}
				}
				if err := literals(n + 3); err != nil {
					return nil, err
				}
				state = 4
				if t, ok = in(); !ok {
					return nil, errLzo
				}
				continue
			}
			b, ok := in()
			if !ok {
				return nil, errLzo
			}
			if state == 4 { // M1 after a long literal run: 3-byte match, distance 2049..3072
				dist = (t >> 2) + (b << 2) + 2048 + 1
				n = 3
			} else { // M1: 2-byte match, distance up to 1 KiB
				dist = (t >> 2) + (b << 2) + 1
				n = 2
			}
		}
		if err := match(dist, n); err != nil {
			return nil, err
		}
		// The low two bits of the last instruction byte give 0..3 trailing
		// literals.
		lits := t & 3
		if err := literals(lits); err != nil {
			return nil, err
		}
		state = lits
		if t, ok = in(); !ok {
			return nil, errLzo
		}
	}
}
