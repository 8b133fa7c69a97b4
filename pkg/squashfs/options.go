// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"fmt"
	"log/slog"
	"math/bits"
	"runtime"
)

// Compression selects how data and metadata blocks are compressed.
type Compression int

const (
	// Zstd compresses every block with zstd; it is the zero value and the
	// default.
	Zstd Compression = iota
	// None stores every block raw. The superblock then names gzip, as
	// mksquashfs -noI -noD -noF -noX does, so that any kernel can mount it.
	None
)

// String returns the mksquashfs name of the compression.
func (c Compression) String() string {
	switch c {
	case Zstd:
		return "zstd"
	case None:
		return "none"
	}
	return fmt.Sprintf("Compression(%d)", int(c))
}

// Options configures a Writer. The zero value is valid.
type Options struct {
	// Compression defaults to Zstd.
	Compression Compression
	// Level is the zstd level, 1..22, default 3. It is recorded in the image
	// and mapped to a klauspost/compress encoder with
	// zstd.EncoderLevelFromZstd: 1-2 SpeedFastest, 3-5 SpeedDefault,
	// 6-9 SpeedBetterCompression, 10-22 SpeedBestCompression. Ignored for None.
	Level int
	// BlockSize is the data block size: a power of two from 4 KiB to 1 MiB,
	// default 128 KiB.
	BlockSize int
	// Workers is the number of goroutines compressing data blocks, default
	// runtime.GOMAXPROCS(0).
	Workers int
	// NoFragments stores file tail ends in their own (short) block instead
	// of packing them into shared fragment blocks, like mksquashfs
	// -no-fragments.
	NoFragments bool
	// NoDuplicates stores every regular file's data even when an earlier
	// file has the same content, like mksquashfs -no-duplicates. By
	// default such a file shares the earlier file's blocks and fragment.
	NoDuplicates bool
	// ModTime is the superblock creation time in unix seconds, default 0 so
	// that output is reproducible.
	ModTime int64
	// Logger receives debug messages; nil means silent.
	Logger *slog.Logger
}

const (
	defaultLevel     = 3
	defaultBlockSize = 128 << 10
	minBlockSize     = 4 << 10
	maxBlockSize     = 1 << 20
)

// fill validates o and returns a copy with defaults applied.
func (o Options) fill() (Options, error) {
	if o.Compression != Zstd && o.Compression != None {
		return o, fmt.Errorf("unknown compression %d", int(o.Compression))
	}
	if o.Level == 0 {
		o.Level = defaultLevel
	}
	if o.Level < 1 || o.Level > 22 {
		return o, fmt.Errorf("zstd level %d out of range 1..22", o.Level)
	}
	if o.BlockSize == 0 {
		o.BlockSize = defaultBlockSize
	}
	bs := o.BlockSize
	if bs < minBlockSize || bs > maxBlockSize || bits.OnesCount(uint(bs)) != 1 {
		return o, fmt.Errorf("block size %d: not a power of two between 4 KiB and 1 MiB", bs)
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.ModTime < 0 || o.ModTime > 1<<32-1 {
		return o, fmt.Errorf("mod time %d does not fit in 32 bits", o.ModTime)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}
