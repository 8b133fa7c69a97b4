// SPDX-License-Identifier: Apache-2.0

package importer

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gpyxis/gpyxis/pkg/squashfs"
)

// ParseSquashOptions reads an enroot-style mksquashfs option string
// (ENROOT_SQUASH_OPTIONS, e.g. "-comp zstd -Xcompression-level 3 -b 1M") into writer
// options, so that sites keep their configuration. Options that only tune mksquashfs
// itself are accepted and ignored; options that would change the image in a way our
// writer cannot are reported as warnings, never silently dropped:
//
//	-comp zstd            zstd (gzip, lzo, lz4, xz, lzma: warned, zstd is used; enroot's
//	                      default lzo exists only for RHEL 7 kernels)
//	-Xcompression-level N zstd level
//	-b SIZE               block size, bytes or with K/M suffix
//	-noI -noD -noF -noX   with -noD (data uncompressed) the whole image is uncompressed
//	-no-compression       uncompressed
//	-no-fragments         no fragment blocks
//	-processors N         compression workers
//	-no-duplicates, -exit-on-error, -all-root, -noappend, -no-progress, -quiet,
//	-no-xattrs, -xattrs, -always-use-fragments, -keep-as-directory: no effect here
func ParseSquashOptions(s string, base squashfs.Options) (squashfs.Options, []string, error) {
	o, warnings := base, []string(nil)
	args := strings.Fields(s)
	for i := 0; i < len(args); i++ {
		arg := args[i]
		value := func() (string, error) {
			if i+1 >= len(args) {
				return "", fmt.Errorf("squash option %s needs a value", arg)
			}
			i++
			return args[i], nil
		}
		switch arg {
		case "-comp":
			v, err := value()
			if err != nil {
				return o, nil, err
			}
			switch v {
			case "zstd":
				o.Compression = squashfs.Zstd
			case "gzip", "lzo", "lz4", "xz", "lzma":
				o.Compression = squashfs.Zstd
				warnings = append(warnings, fmt.Sprintf("squash option -comp %s: not supported, using zstd (the Linux kernel reads it since 4.14)", v))
			default:
				return o, nil, fmt.Errorf("squash option -comp %s: unknown compressor (use zstd)", v)
			}
		case "-Xcompression-level":
			n, err := intValue(value, arg)
			if err != nil {
				return o, nil, err
			}
			o.Level = n
		case "-b":
			v, err := value()
			if err != nil {
				return o, nil, err
			}
			n, err := ParseSize(v)
			if err != nil {
				return o, nil, fmt.Errorf("squash option -b: %w", err)
			}
			o.BlockSize = int(n)
		case "-processors":
			n, err := intValue(value, arg)
			if err != nil {
				return o, nil, err
			}
			o.Workers = n
		case "-noD", "-noData", "-no-compression":
			o.Compression = squashfs.None
		case "-no-fragments", "-noF", "-noFragmentCompression":
			if arg == "-no-fragments" {
				o.NoFragments = true
			}
		case "-noI", "-noInodeCompression", "-noX", "-noXattrCompression", "-no-duplicates", "-exit-on-error",
			"-all-root", "-noappend", "-no-progress", "-quiet", "-no-xattrs", "-xattrs", "-always-use-fragments",
			"-keep-as-directory", "-no-recovery", "-no-exports":
		case "-mkfs-time", "-all-time":
			v, err := value()
			if err != nil {
				return o, nil, err
			}
			if arg == "-mkfs-time" {
				if o.ModTime, err = strconv.ParseInt(v, 10, 64); err != nil {
					return o, nil, fmt.Errorf("squash option -mkfs-time %s: not a number of seconds", v)
				}
			}
		default:
			return o, nil, fmt.Errorf("squash option %s is not supported (supported: -comp zstd, -Xcompression-level N, -b SIZE, -noD/-no-compression, -no-fragments, -processors N)", arg)
		}
	}
	return o, warnings, nil
}

func intValue(value func() (string, error), arg string) (int, error) {
	v, err := value()
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("squash option %s %s: not a number", arg, v)
	}
	return n, nil
}

// ParseSize reads a byte count with an optional K, M or G suffix (powers of 1024), as
// mksquashfs -b does: 131072, 128K, 1M.
func ParseSize(s string) (int64, error) {
	mult := int64(1)
	switch strings.ToUpper(s[len(s)-min(len(s), 1):]) {
	case "K":
		mult = 1 << 10
	case "M":
		mult = 1 << 20
	case "G":
		mult = 1 << 30
	}
	digits := s
	if mult != 1 {
		digits = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("size %q is not a positive number of bytes with an optional K, M or G suffix", s)
	}
	return n * mult, nil
}
