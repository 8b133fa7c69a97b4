// SPDX-License-Identifier: Apache-2.0

package flatten

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sparseSink records each Reg entry's data fragments, skipping holes.
type sparseSink struct {
	data map[string]map[int64]string // path -> offset -> bytes
	size map[string]int64
}

func (s *sparseSink) Add(e Entry, r io.Reader) error {
	if e.Type != Reg {
		return nil
	}
	s.size[e.Path] = e.Size
	m := map[int64]string{}
	s.data[e.Path] = m
	var off int64
	buf := make([]byte, 4096)
	for {
		if sr, ok := r.(SparseReader); ok {
			off += sr.SkipSparse()
		}
		n, err := r.Read(buf)
		if n > 0 {
			if b := bytes.Trim(buf[:n], "\x00"); len(b) > 0 {
				m[off+int64(bytes.IndexByte(buf[:n], b[0]))] = string(b)
			}
			off += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if off != e.Size {
		return errors.New("short content")
	}
	return nil
}

// gnuTar archives files of dir with GNU tar's --sparse in format.
func gnuTar(t *testing.T, dir, format string, names ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("GNU tar not installed")
	}
	args := append([]string{"--sparse", "--format=" + strings.Fields(format)[0]}, strings.Fields(format)[1:]...)
	args = append(append(args, "-cf", "-", "-C", dir), names...)
	out, err := exec.Command("tar", args...).Output()
	if err != nil {
		t.Fatalf("tar %v: %v", args, err)
	}
	return out
}

// TestSparseTerabyte flattens a layer holding a 1 TiB sparse file in each
// format archive/tar reads: the holes are skipped, never read as zeros, so it
// takes milliseconds, and the entries after it are read intact.
func TestSparseTerabyte(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "s")
	if err := os.WriteFile(p, []byte("head"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("mid"), 1<<30); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 40); err != nil {
		t.Skipf("no 1 TiB sparse file here: %v", err)
	}
	f.Close()
	if err := os.WriteFile(filepath.Join(dir, "z"), []byte("after"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"gnu", "pax --sparse-version=0.0", "pax --sparse-version=0.1", "pax --sparse-version=1.0"} {
		t.Run(strings.ReplaceAll(format, " --sparse-version=", "-"), func(t *testing.T) {
			layer := gnuTar(t, dir, format, "s", "z")
			// The same layer twice: the upper copy shadows the lower one,
			// which is skipped unread.
			open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layer)), nil }
			sink := &sparseSink{data: map[string]map[int64]string{}, size: map[string]int64{}}
			start := time.Now()
			st, err := Flatten(context.Background(), []LayerOpener{open, open}, sink, Options{})
			if err != nil {
				t.Fatalf("%s: %v", format, err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("%s: took %v", format, d)
			}
			if sink.size["s"] != 1<<40 || sink.data["s"][0] != "head" || sink.data["s"][1<<30] != "mid" || len(sink.data["s"]) != 2 {
				t.Errorf("%s: s = size %d, data %v", format, sink.size["s"], sink.data["s"])
			}
			if sink.data["z"][0] != "after" {
				t.Errorf("%s: z = %v", format, sink.data["z"])
			}
			if st.Bytes != 1<<40+5 {
				t.Errorf("%s: Stats.Bytes = %d", format, st.Bytes)
			}
			// Its apparent size counts against the budget.
			_, err = Flatten(context.Background(), []LayerOpener{open}, sink, Options{MaxBytes: 1 << 30})
			if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "more than 1 GiB") {
				t.Errorf("%s: with a 1 GiB budget: %v", format, err)
			}
			t.Setenv(MaxBytesEnv, "1G")
			_, err = Flatten(context.Background(), []LayerOpener{open}, sink, Options{})
			if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "set "+MaxBytesEnv) {
				t.Errorf("%s: with %s=1G: %v", format, MaxBytesEnv, err)
			}
		})
	}
}

// TestSparseSmallPlainRead reads a small sparse file through Read alone.
func TestSparseSmallPlainRead(t *testing.T) {
	dir := t.TempDir()
	want := make([]byte, 3<<20)
	copy(want[1<<20:], "data")
	copy(want[len(want)-3:], "end")
	makeSparseFile(t, filepath.Join(dir, "s"), int64(len(want)), map[int64]string{1 << 20: "data", int64(len(want)) - 3: "end"})
	for _, format := range []string{"gnu", "pax --sparse-version=1.0"} {
		layer := gnuTar(t, dir, format, "s")
		var got []byte
		sink := sinkFunc(func(e Entry, r io.Reader) error {
			if e.Type == Reg {
				if _, ok := r.(SparseReader); !ok {
					return errors.New("the content of a sparse entry is no SparseReader")
				}
				var err error
				got, err = io.ReadAll(r)
				return err
			}
			return nil
		})
		open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layer)), nil }
		if _, err := Flatten(context.Background(), []LayerOpener{open}, sink, Options{}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: content differs (%d bytes)", format, len(got))
		}
	}
}

// makeSparseFile makes a file of size bytes with data at the given offsets and
// holes elsewhere, so that GNU tar --sparse stores it sparse.
func makeSparseFile(t testing.TB, p string, size int64, data map[int64]string) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for off, s := range data {
		if _, err := f.WriteAt([]byte(s), off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
}

type sinkFunc func(Entry, io.Reader) error

func (f sinkFunc) Add(e Entry, r io.Reader) error { return f(e, r) }

func TestMaxBytesEnvInvalid(t *testing.T) {
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(nil)), nil }
	for _, v := range []string{"lots", "0", "-5G"} {
		t.Setenv(MaxBytesEnv, v)
		if _, err := Flatten(context.Background(), []LayerOpener{open}, newRecSink(), Options{}); err == nil || !strings.Contains(err.Error(), MaxBytesEnv) {
			t.Errorf("%s=%s: %v", MaxBytesEnv, v, err)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"4T": 4 << 40, "512M": 512 << 20, "100": 100} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "x", "-1", "99999999999T"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}

func TestMaxEntries(t *testing.T) {
	layer := tarBytes(t, []ent{dir("a"), file("a/1", "x"), file("a/2", "y"), file("a/3", "z")})
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layer)), nil }
	if _, err := Flatten(context.Background(), []LayerOpener{open}, newRecSink(), Options{MaxEntries: 3}); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "more than 3 files") {
		t.Errorf("MaxEntries 3: %v", err)
	}
	if _, err := Flatten(context.Background(), []LayerOpener{open}, newRecSink(), Options{MaxEntries: 5}); err != nil {
		t.Errorf("MaxEntries 5: %v", err)
	}
	_, err := Flatten(context.Background(), []LayerOpener{open}, newRecSink(), Options{MaxBytes: 2})
	if !errors.Is(err, ErrTooLarge) || strings.Contains(err.Error(), MaxBytesEnv) {
		t.Errorf("MaxBytes 2: %v (an explicit budget names no variable)", err)
	}
}

// FuzzSparse flattens mutated sparse layers (GNU tar's four sparse formats
// as seeds): never a panic, and whatever Flatten accepts reads, holes
// skipped, as archive/tar itself reads the entry.
func FuzzSparse(f *testing.F) {
	if _, err := exec.LookPath("tar"); err == nil {
		dir := f.TempDir()
		makeSparseFile(f, filepath.Join(dir, "s"), 300<<10, map[int64]string{5000: "data", 200 << 10: "more"})
		os.WriteFile(filepath.Join(dir, "z"), []byte("after"), 0o644)
		for _, format := range []string{"gnu", "pax --sparse-version=0.0", "pax --sparse-version=0.1", "pax --sparse-version=1.0"} {
			args := append([]string{"--sparse", "--format=" + strings.Fields(format)[0]}, strings.Fields(format)[1:]...)
			out, err := exec.Command("tar", append(args, "-cf", "-", "-C", dir, "s", "z")...).Output()
			if err != nil {
				f.Fatal(err)
			}
			f.Add(out)
		}
	}
	f.Fuzz(func(t *testing.T, layer []byte) {
		hang := time.AfterFunc(10*time.Second, func() { panic("flatten hangs on this layer") })
		defer hang.Stop()
		want := map[string][]byte{}
		tr := tar.NewReader(bytes.NewReader(layer))
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			if h.Size > 1<<20 {
				return // too large to compare in a fuzz run
			}
			if b, err := io.ReadAll(tr); err == nil {
				if p, err := cleanPath(h.Name); err == nil {
					want[p] = b
				}
			}
		}
		got := map[string][]byte{}
		sink := sinkFunc(func(e Entry, r io.Reader) error {
			if e.Type != Reg {
				return nil
			}
			b := make([]byte, 0, e.Size)
			buf := make([]byte, 4096)
			for {
				if sr, ok := r.(SparseReader); ok {
					b = append(b, make([]byte, sr.SkipSparse())...)
				}
				n, err := r.Read(buf)
				b = append(b, buf[:n]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					return err
				}
			}
			got[e.Path] = b
			return nil
		})
		open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layer)), nil }
		if _, err := Flatten(context.Background(), []LayerOpener{open}, sink, Options{MaxBytes: 16 << 20}); err != nil {
			return
		}
		for p, b := range got {
			if w, ok := want[p]; ok && !bytes.Equal(w, b) {
				t.Fatalf("%s: %d bytes through flatten, %d through archive/tar", p, len(b), len(w))
			}
		}
	})
}
