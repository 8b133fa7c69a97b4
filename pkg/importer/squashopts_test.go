// SPDX-License-Identifier: Apache-2.0

package importer

import (
	"strings"
	"testing"

	"github.com/gpyxis/gpyxis/pkg/squashfs"
)

func TestParseSquashOptions(t *testing.T) {
	tests := []struct {
		in       string
		want     squashfs.Options
		warnings int
	}{
		{in: "", want: squashfs.Options{}},
		{in: "-comp zstd -Xcompression-level 3 -b 1M", want: squashfs.Options{Compression: squashfs.Zstd, Level: 3, BlockSize: 1 << 20}},
		{in: "-noI -noD -noF -noX -no-duplicates", want: squashfs.Options{Compression: squashfs.None}},
		{in: "-comp lzo -noD -exit-on-error", want: squashfs.Options{Compression: squashfs.None}, warnings: 1}, // enroot's default
		{in: "-comp xz", want: squashfs.Options{Compression: squashfs.Zstd}, warnings: 1},
		{in: "-b 131072 -processors 2 -no-fragments -mkfs-time 1700000000", want: squashfs.Options{BlockSize: 131072, Workers: 2, NoFragments: true, ModTime: 1700000000}},
		{in: "  -b   4K  ", want: squashfs.Options{BlockSize: 4096}},
	}
	for _, tc := range tests {
		got, warnings, err := ParseSquashOptions(tc.in, squashfs.Options{})
		if err != nil {
			t.Errorf("ParseSquashOptions(%q): %v", tc.in, err)
			continue
		}
		if got.Compression != tc.want.Compression || got.Level != tc.want.Level || got.BlockSize != tc.want.BlockSize ||
			got.Workers != tc.want.Workers || got.NoFragments != tc.want.NoFragments || got.ModTime != tc.want.ModTime || len(warnings) != tc.warnings {
			t.Errorf("ParseSquashOptions(%q) = %+v, warnings %q; want %+v and %d warnings", tc.in, got, warnings, tc.want, tc.warnings)
		}
	}
}

func TestParseSquashOptionsErrors(t *testing.T) {
	for in, want := range map[string]string{
		"-comp":                 "needs a value",
		"-comp brotli":          "unknown compressor",
		"-b":                    "needs a value",
		"-b lots":               "not a positive number",
		"-Xcompression-level x": "not a number",
		"-sort file":            "not supported",
		"-mkfs-time yesterday":  "not a number",
	} {
		if _, _, err := ParseSquashOptions(in, squashfs.Options{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSquashOptions(%q) error = %v, want %q", in, err, want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1": 1, "128K": 128 << 10, "1m": 1 << 20, "2G": 2 << 30} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "K", "-1", "0", "1.5M"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) succeeded", in)
		}
	}
}
