// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"os"
	"testing"
)

// TestDedupImages checks images with duplicate files (small, multi-block,
// sparse, hardlinked, interleaved with different files of the same size)
// with unsquashfs -lln, extraction and a kernel mount, and that they are
// smaller than the same images without duplicate detection.
func TestDedupImages(t *testing.T) {
	for _, c := range []struct {
		name string
		opts Options
	}{
		{"zstd-4k", Options{BlockSize: 4 << 10, Workers: 3}},
		{"zstd-4k-nofrag", Options{BlockSize: 4 << 10, NoFragments: true}},
		{"none-8k", Options{Compression: None, BlockSize: 8 << 10, Workers: 1}},
		{"zstd-128k", Options{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			bs := c.opts.BlockSize
			if bs == 0 {
				bs = defaultBlockSize
			}
			items, _ := dupItems(bs)
			img := build(t, c.opts, items)
			nd := c.opts
			nd.NoDuplicates = true
			ref := build(t, nd, items)
			st, err := os.Stat(img)
			must(t, err)
			rst, err := os.Stat(ref)
			must(t, err)
			t.Logf("image %d bytes, %d without duplicate detection", st.Size(), rst.Size())
			if st.Size() >= rst.Size() {
				t.Errorf("image with dedup %d bytes, without %d", st.Size(), rst.Size())
			}
			exp := expected(items)
			for name, im := range map[string]string{"dedup": img, "nodup": ref} {
				t.Run(name+"/lls", func(t *testing.T) { checkListing(t, im, exp) })
				t.Run(name+"/extract", func(t *testing.T) { checkExtract(t, im, exp) })
				t.Run(name+"/mount", func(t *testing.T) { checkMount(t, im, exp) })
			}
		})
	}
}
