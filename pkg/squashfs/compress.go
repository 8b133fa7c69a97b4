// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"fmt"

	"github.com/klauspost/compress/zstd"
)

// compressor compresses one block into dst[:0] and returns the result and
// whether to use it: false when the compressed form is not smaller (or
// there is no compression), and the block is stored raw. The returned
// slice is returned even then, so that callers keep its capacity.
// It must be safe for concurrent use.
type compressor interface {
	compress(dst, src []byte) ([]byte, bool)
	// id is the compressor id in the superblock.
	id() uint16
	// options returns the compressor options stored after the
	// superblock, or nil for none.
	options() []byte
	close()
}

func newCompressor(o Options) (compressor, error) {
	if o.Compression == None {
		return noneComp{}, nil
	}
	// Each block must be one single-segment frame without checksum: the
	// kernel decompresses a block into a buffer of block size and rejects
	// frames that declare a larger window (go-diskfs' streaming frames
	// fail to mount for this reason).
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(o.Level)),
		zstd.WithEncoderConcurrency(o.Workers+1),
		zstd.WithEncoderCRC(false),
		zstd.WithSingleSegment(true),
		zstd.WithZeroFrames(true),
		// No block is larger than this; a smaller window saves memory.
		zstd.WithWindowSize(max(o.BlockSize, metaBlockSize)),
	)
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	return &zstdComp{enc: enc, level: uint32(o.Level)}, nil
}

type noneComp struct{}

func (noneComp) compress(dst, src []byte) ([]byte, bool) { return dst, false }
func (noneComp) id() uint16                              { return compGzip }
func (noneComp) options() []byte                         { return nil }
func (noneComp) close()                                  {}

type zstdComp struct {
	enc   *zstd.Encoder
	level uint32
}

func (z *zstdComp) compress(dst, src []byte) ([]byte, bool) {
	out := z.enc.EncodeAll(src, dst[:0])
	return out, len(out) < len(src)
}

func (z *zstdComp) id() uint16 { return compZstd }

// options holds the zstd level, so that unsquashfs -stat reports it.
func (z *zstdComp) options() []byte {
	return le32(nil, z.level)
}

func (z *zstdComp) close() { z.enc.Close() }
