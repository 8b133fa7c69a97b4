// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// dupItems returns files with duplicate content, for block size bs: the
// groups map each path to the first path with the same content, which its
// data must be shared with. Files of the same size but different content,
// zero-length files and hardlinks are mixed in.
func dupItems(bs int) (items []item, groups map[string]string) {
	small := textBytes(20, 3000)
	multi := textBytes(21, 3*bs+100)
	exact := randBytes(22, 2*bs)   // whole blocks, no tail
	bigTail := randBytes(23, bs+7) // incompressible, so dups show in the size
	sparse := make([]byte, 5*bs+50)
	copy(sparse, "head")
	copy(sparse[len(sparse)-4:], "tail")
	zeros := make([]byte, 3*bs) // all blocks sparse
	sameSize := slices.Clone(multi)
	sameSize[len(sameSize)-1] ^= 1 // differs in the last byte only
	sameSize2 := slices.Clone(multi)
	sameSize2[bs/2] ^= 1 // differs in the first block only
	reg := func(p string, data []byte) item {
		return item{e: Entry{Path: p, Type: Reg, Mode: 0o644, ModTime: 1700000000}, data: data}
	}
	items = []item{
		reg("a/small", small),
		reg("a/multi", multi),
		reg("a/exact", exact),
		reg("a/bigtail", bigTail),
		reg("a/sparse", sparse),
		reg("a/zeros", zeros),
		reg("a/empty", nil),
		reg("b/small", small),
		reg("b/other", textBytes(24, 3000)),
		reg("b/multi", multi),
		reg("b/same-size", sameSize),
		reg("b/same-size-2", sameSize2),
		reg("b/exact", exact),
		reg("b/other-multi", randBytes(25, 2*bs+9)),
		reg("b/bigtail", bigTail),
		reg("b/sparse", sparse),
		reg("b/zeros", zeros),
		reg("b/empty", nil),
		{e: Entry{Path: "c/link-first", Type: Hardlink, Linkname: "c/multi"}},
		reg("c/multi", multi),
		{e: Entry{Path: "c/link-after", Type: Hardlink, Linkname: "c/small"}},
		reg("c/small", small),
		reg("c/bigtail", bigTail),
		reg("c/other-small", textBytes(26, 100)),
		reg("c/sparse", sparse),
		reg("c/small-2", small),
	}
	for i := range items {
		items[i].e.Size = int64(len(items[i].data))
	}
	groups = map[string]string{
		"b/small": "a/small", "c/small": "a/small", "c/small-2": "a/small",
		"b/multi": "a/multi", "c/multi": "a/multi",
		"b/exact": "a/exact", "b/bigtail": "a/bigtail", "c/bigtail": "a/bigtail",
		"b/sparse": "a/sparse", "c/sparse": "a/sparse", "b/zeros": "a/zeros",
	}
	return items, groups
}

// buildWriter is build, but returns the closed Writer for inspection.
func buildWriter(t *testing.T, opts Options, items []item) (*Writer, string) {
	t.Helper()
	img := filepath.Join(t.TempDir(), "img.sqfs")
	f, err := os.Create(img)
	must(t, err)
	defer f.Close()
	w, err := NewWriter(f, opts)
	must(t, err)
	for _, it := range items {
		if err := w.Add(it.e, it.reader()); err != nil {
			t.Fatalf("add %s: %v", it.e.Path, err)
		}
	}
	must(t, w.Close())
	return w, img
}

// TestDedupLayout checks that duplicates share the first copy's blocks
// and fragment, that nothing else is shared, and that the data area
// shrinks by what the duplicates would have taken.
func TestDedupLayout(t *testing.T) {
	for _, opts := range []Options{
		{BlockSize: 4096, Workers: 3},
		{BlockSize: 4096, NoFragments: true, Workers: 1},
		{BlockSize: 8192, Compression: None},
	} {
		items, groups := dupItems(opts.BlockSize)
		w, img := buildWriter(t, opts, items)
		nd := opts
		nd.NoDuplicates = true
		wn, imgn := buildWriter(t, nd, items)

		starts := map[uint64]string{}   // data start of files with stored blocks
		frags := map[[2]uint32]string{} // fragment and offset of files with a tail
		for _, it := range items {
			p := it.e.Path
			n := w.tree.nodes[p]
			if it.e.Type != Reg || n.file.size == 0 {
				continue
			}
			f := n.file
			if orig, ok := groups[p]; ok {
				o := w.tree.nodes[orig].file
				if f.start != o.start || !slices.Equal(f.blocks, o.blocks) || f.frag != o.frag || f.fragOff != o.fragOff {
					t.Errorf("%+v: %s does not share the data of %s: %+v vs %+v", opts, p, orig, *f, *o)
				}
				continue
			}
			// Not a duplicate: data of its own.
			if slices.ContainsFunc(f.blocks, func(w uint32) bool { return w != 0 }) {
				if other, ok := starts[f.start]; ok {
					t.Errorf("%+v: %s starts where %s does", opts, p, other)
				}
				starts[f.start] = p
			}
			if f.frag != noFragment {
				k := [2]uint32{f.frag, f.fragOff}
				if other, ok := frags[k]; ok {
					t.Errorf("%+v: %s has the fragment of %s", opts, p, other)
				}
				frags[k] = p
			}
		}
		// Without dedup, every copy is stored again.
		for p := range groups {
			f := wn.tree.nodes[p].file
			o := wn.tree.nodes[groups[p]].file
			if f.start == o.start && f.frag == o.frag && f.fragOff == o.fragOff {
				t.Errorf("%+v NoDuplicates: %s shares the data of %s", opts, p, groups[p])
			}
		}
		// The random duplicates alone (incompressible) make a difference
		// of 3 blocks (b/exact's 2, b/bigtail's 1) plus 2 tails.
		bs := uint64(opts.BlockSize)
		if got := wn.pipe.pos - w.pipe.pos; got < 3*bs+14 {
			t.Errorf("%+v: data area %d bytes with dedup, %d without: saved %d, want at least %d",
				opts, w.pipe.pos, wn.pipe.pos, got, 3*bs+14)
		}
		if w.dedup.count != len(groups) {
			t.Errorf("%+v: %d duplicates found, want %d", opts, w.dedup.count, len(groups))
		}
		a, err := os.ReadFile(img)
		must(t, err)
		b, err := os.ReadFile(imgn)
		must(t, err)
		if len(a) > len(b) || bytes.Equal(a, b) {
			t.Errorf("%+v: image %d bytes with dedup, %d without", opts, len(a), len(b))
		}
	}
}
