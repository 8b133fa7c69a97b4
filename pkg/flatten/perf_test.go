// SPDX-License-Identifier: Apache-2.0

package flatten

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"
)

// synthLayer streams a layer of n entries shaped like a Python install
// (about 60-byte paths, one directory per 20 files, small files), through a
// pipe so the test holds no tar in memory.
func synthLayer(n int, body string) LayerOpener {
	return func() (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeSynth(pw, n, body)) }()
		return pr, nil
	}
}

func writeSynth(w io.Writer, n int, body string) error {
	tw := tar.NewWriter(w)
	mt := time.Unix(1700000000, 0)
	for i := 0; i < n; i++ {
		h := &tar.Header{Typeflag: tar.TypeReg, Mode: 0o644, ModTime: mt, Size: int64(len(body)),
			Name: fmt.Sprintf("usr/lib/python3.11/site-packages/pkg%05d/module_%06d.py", i/20, i)}
		if i%20 == 0 {
			h = &tar.Header{Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mt, Name: fmt.Sprintf("usr/lib/python3.11/site-packages/pkg%05d/", i/20)}
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := io.WriteString(tw, body); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// heapSink drains content and samples the live heap now and then.
type heapSink struct {
	n       int
	maxHeap uint64
}

func (s *heapSink) Add(e Entry, r io.Reader) error {
	if r != nil {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
	}
	if s.n++; s.n%20000 == 0 {
		s.maxHeap = max(s.maxHeap, liveHeap())
	}
	return nil
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestMemory121k flattens two layers of 121k paths each (the top one
// shadowing the bottom one) and bounds the bookkeeping's heap.
func TestMemory121k(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("short, or race detector on (it distorts heap and speed)")
	}
	const n = 121_000
	base := liveHeap()
	s := &heapSink{}
	start := time.Now()
	st, err := Flatten(context.Background(), []LayerOpener{synthLayer(n, "new\n"), synthLayer(n, "old\n")}, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	used := int64(s.maxHeap) - int64(base)
	t.Logf("%d tar entries in %v (%.0f entries/s), heap %.1f MB: %+v", 2*n, el, 2*n/el.Seconds(), float64(used)/1e6, st)
	if used > 50<<20 {
		t.Errorf("bookkeeping heap %d MB, want under 50", used>>20)
	}
	if st.Entries != n+5 || st.Skipped != n {
		t.Errorf("stats %+v", st)
	}
}

// drainSink reads and forgets.
type drainSink struct{}

func (drainSink) Add(_ Entry, r io.Reader) error {
	if r != nil {
		_, err := io.Copy(io.Discard, r)
		return err
	}
	return nil
}

// BenchmarkFlatten reads a 100k-entry layer from memory (entries/s is the
// figure to quote; the tar reader is most of the cost).
func BenchmarkFlatten(b *testing.B) {
	const n = 100_000
	var buf bytes.Buffer
	if err := writeSynth(&buf, n, "x"); err != nil {
		b.Fatal(err)
	}
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil }
	b.ResetTimer()
	for b.Loop() {
		if _, err := Flatten(context.Background(), []LayerOpener{open}, drainSink{}, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "entries/s")
}
