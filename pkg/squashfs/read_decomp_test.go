// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"bytes"
	"testing"

	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// TestReadDictClamp checks that xz and lzma blocks whose header names a
// dictionary far larger than the block decode with the clamped one.
func TestReadDictClamp(t *testing.T) {
	data := textBytes(3, 100000)
	var xb bytes.Buffer
	xw, err := xz.WriterConfig{DictCap: 64 << 20, CheckSum: xz.None}.NewWriter(&xb)
	if err != nil {
		t.Fatal(err)
	}
	xw.Write(data)
	xw.Close()
	if c := clampXzDict(xb.Bytes(), 128<<10); bytes.Equal(c, xb.Bytes()) {
		t.Error("xz dictionary not clamped")
	}
	var lb bytes.Buffer
	lw, err := lzma.WriterConfig{DictCap: 64 << 20}.NewWriter(&lb)
	if err != nil {
		t.Fatal(err)
	}
	lw.Write(data)
	lw.Close()
	for name, d := range map[string]decompressor{"xz": xzDec{}, "lzma": lzmaDec{}} {
		src := xb.Bytes()
		if name == "lzma" {
			src = lb.Bytes()
		}
		out, err := d.decompress(nil, src, 128<<10)
		if err != nil || !bytes.Equal(out, data) {
			t.Errorf("%s: %v, %d bytes", name, err, len(out))
		}
		if _, err := d.decompress(nil, src, 4096); err == nil {
			t.Errorf("%s: output beyond the limit not detected", name)
		}
	}
}
