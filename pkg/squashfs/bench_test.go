// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// genTree writes a tree of n files of mixed sizes, mostly compressible
// text-like content that differs per file (so mksquashfs' duplicate
// detection gains nothing), and returns its total data size.
func genTree(tb testing.TB, dir string, n int) int64 {
	tb.Helper()
	vocab := make([]string, 512)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range vocab {
		w := make([]byte, 2+r.IntN(9))
		for j := range w {
			w[j] = byte('a' + r.IntN(26))
		}
		vocab[i] = string(w)
	}
	var total int64
	for i := range n {
		size := r.IntN(8 << 10)
		switch {
		case i%1000 == 0:
			size = 8<<20 + r.IntN(1<<20)
		case i%50 == 0:
			size = 128<<10 + r.IntN(256<<10)
		}
		var data []byte
		if i%5000 == 0 || i%97 == 0 {
			data = randBytes(uint64(i), size)
		} else {
			data = wordBytes(r, vocab, size)
		}
		p := filepath.Join(dir, fmt.Sprintf("d%03d/s%02d/file-%05d.txt", i%200, i%7, i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			tb.Fatal(err)
		}
		total += int64(size)
	}
	return total
}

func wordBytes(r *rand.Rand, vocab []string, n int) []byte {
	b := make([]byte, 0, n+16)
	for len(b) < n {
		b = append(b, vocab[r.IntN(len(vocab))]...)
		if r.IntN(12) == 0 {
			b = append(b, '\n')
		} else {
			b = append(b, ' ')
		}
	}
	return b[:n]
}

// squashDir adds every entry below dir, as root-owned, to a new image.
func squashDir(tb testing.TB, dir, img string, opts Options) {
	f, err := os.Create(img)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	w, err := NewWriter(f, opts)
	if err != nil {
		tb.Fatal(err)
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := Entry{Path: filepath.ToSlash(rel), Mode: uint32(info.Mode().Perm()), ModTime: info.ModTime().Unix()}
		if d.IsDir() {
			e.Type = Dir
			return w.Add(e, nil)
		}
		e.Type, e.Size = Reg, info.Size()
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		return w.Add(e, src)
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkWriter squashes a generated 20k-file tree with zstd level 3
// and 1 MiB blocks, then logs a comparison with mksquashfs on that tree.
func BenchmarkWriter(b *testing.B) {
	dir := b.TempDir()
	total := genTree(b, filepath.Join(dir, "tree"), 20000)
	img := filepath.Join(dir, "go.sqfs")
	opts := Options{Level: 3, BlockSize: 1 << 20}
	b.SetBytes(total)
	var elapsed time.Duration
	runs := 0
	for b.Loop() {
		start := time.Now()
		squashDir(b, filepath.Join(dir, "tree"), img, opts)
		elapsed += time.Since(start)
		runs++
	}
	goTime := elapsed / time.Duration(runs)
	st, err := os.Stat(img)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.Size())/float64(total), "ratio")
	compareMksquashfs(b, filepath.Join(dir, "tree"), filepath.Join(dir, "ref.sqfs"), total, st.Size(), goTime)
}

func compareMksquashfs(b *testing.B, tree, ref string, total, goSize int64, goTime time.Duration) {
	if _, err := exec.LookPath("mksquashfs"); err != nil {
		b.Log("mksquashfs not found (package squashfs-tools): no comparison")
		return
	}
	start := time.Now()
	out, err := exec.Command("mksquashfs", tree, ref, "-comp", "zstd", "-Xcompression-level", "3",
		"-b", "1M", "-all-root", "-no-xattrs", "-quiet", "-noappend").CombinedOutput()
	if err != nil {
		b.Fatalf("mksquashfs: %v\n%s", err, out)
	}
	refTime := time.Since(start)
	st, err := os.Stat(ref)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("data %d MB, GOMAXPROCS %d", total>>20, runtime.GOMAXPROCS(0))
	b.Logf("gpyxis:     %d bytes in %v (%.0f MB/s)", goSize, goTime.Round(time.Millisecond), float64(total)/1e6/goTime.Seconds())
	b.Logf("mksquashfs: %d bytes in %v (%.0f MB/s)", st.Size(), refTime.Round(time.Millisecond), float64(total)/1e6/refTime.Seconds())
	b.Logf("size ratio gpyxis/mksquashfs %.4f, time ratio %.2f", float64(goSize)/float64(st.Size()), goTime.Seconds()/refTime.Seconds())
}

// TestMemory121k adds 121k metadata-only entries and checks the heap.
func TestMemory121k(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	w := newTestWriter(t, Options{Compression: None})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 121000 {
		p := fmt.Sprintf("usr/share/doc/package-%04d/%s-%06d.txt", i/40, strings.Repeat("f", i%20), i)
		e := Entry{Path: p, Type: Reg, Mode: 0o644, ModTime: int64(i)}
		if i%10 == 0 {
			e = Entry{Path: p, Type: Symlink, Linkname: "../../../lib/x86_64-linux-gnu/libfoo.so.1", Mode: 0o777}
		}
		must(t, w.Add(e, strings.NewReader("")))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	start := time.Now()
	must(t, w.Close())
	t.Logf("heap for 121k entries: %.1f MB (%d B/entry); Close took %v", float64(heap)/1e6, heap/121000, time.Since(start))
	if heap > 100e6 {
		t.Errorf("metadata heap %d bytes, want < 100 MB", heap)
	}
}
