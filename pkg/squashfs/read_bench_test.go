// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// discardSink reads every file to the end, skipping sparse runs.
type discardSink struct {
	bytes int64
	buf   []byte
}

func (s *discardSink) Add(e Entry, c io.Reader) error {
	if c == nil {
		return nil
	}
	sr := c.(SparseReader)
	for {
		s.bytes += sr.SkipSparse()
		n, err := sr.Read(s.buf)
		s.bytes += int64(n)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// diskSink extracts into a directory (no owners, devices or xattrs): the
// work unsquashfs -d does, for a fair timing.
type diskSink struct {
	root string
	buf  []byte
}

func (s *diskSink) Add(e Entry, c io.Reader) error {
	p := filepath.Join(s.root, e.Path)
	switch e.Type {
	case Dir:
		if e.Path == "" {
			return nil
		}
		return os.Mkdir(p, 0o755)
	case Symlink:
		return os.Symlink(e.Linkname, p)
	case Hardlink:
		return os.Link(filepath.Join(s.root, e.Linkname), p)
	case Reg:
		f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, os.FileMode(e.Mode&0o777))
		if err != nil {
			return err
		}
		sr := c.(SparseReader)
		for err == nil {
			if z := sr.SkipSparse(); z > 0 {
				_, err = f.Seek(z, io.SeekCurrent)
			}
			var n int
			n, err = sr.Read(s.buf)
			if n > 0 {
				if _, werr := f.Write(s.buf[:n]); werr != nil {
					err = werr
				}
			}
		}
		if err == io.EOF {
			err = f.Truncate(e.Size)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	return nil
}

// BenchmarkReadDebian reads a mksquashfs zstd image of host directories
// (default /usr/bin and /usr/share/doc, about 300 MB of Debian files;
// GPYXIS_SQUASHFS_TREE=DIR overrides) into a discarding sink, and logs
// the time of unsquashfs -d and of this reader extracting to /dev/shm.
//
//	go test -run XXX -bench ReadDebian -benchtime 3x ./pkg/squashfs
func BenchmarkReadDebian(b *testing.B) {
	needMksquashfs(b)
	srcs := []string{"/usr/bin", "/usr/share/doc"}
	if d := os.Getenv("GPYXIS_SQUASHFS_TREE"); d != "" {
		srcs = strings.Split(d, ":")
	}
	img := filepath.Join(b.TempDir(), "img.sqfs")
	args := append(append([]string{}, srcs...), img, "-noappend", "-no-progress", "-quiet", "-comp", "zstd", "-Xcompression-level", "3")
	if out, err := exec.Command("mksquashfs", args...).CombinedOutput(); err != nil {
		b.Fatalf("mksquashfs: %v\n%s", err, out)
	}
	f, err := os.Open(img)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	r, err := OpenReader(f)
	if err != nil {
		b.Fatal(err)
	}
	st, _ := f.Stat()
	// Measure the content size once.
	probe := &discardSink{buf: make([]byte, 256<<10)}
	if err := r.Walk(context.Background(), probe, ReadOptions{}); err != nil {
		b.Fatal(err)
	}
	b.Logf("image %s: %d MB on disk, %d MB of content, %s, block size %d", strings.Join(srcs, " "), st.Size()>>20, probe.bytes>>20, r.Compression(), r.BlockSize())

	tmp := "/dev/shm"
	if _, err := os.Stat(tmp); err != nil {
		tmp = b.TempDir()
	}
	extract := func(name string, run func(dir string) error) {
		dir, err := os.MkdirTemp(tmp, "gpyxis-read-bench-")
		if err != nil {
			b.Fatal(err)
		}
		defer os.RemoveAll(dir)
		start := time.Now()
		if err := run(filepath.Join(dir, "x")); err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		d := time.Since(start)
		b.Logf("%-34s %6.2f s  %6.0f MB/s", name, d.Seconds(), float64(probe.bytes)/1e6/d.Seconds())
	}
	extract("unsquashfs -d "+tmp, func(dir string) error {
		out, err := exec.Command("unsquashfs", "-n", "-q", "-d", dir, img).CombinedOutput()
		if err != nil {
			return &exec.ExitError{Stderr: out}
		}
		return nil
	})
	extract("unsquashfs -p 1 -d "+tmp, func(dir string) error {
		return exec.Command("unsquashfs", "-n", "-q", "-p", "1", "-d", dir, img).Run()
	})
	for _, workers := range []int{0, 1} {
		name := "Walk to " + tmp
		if workers == 1 {
			name += " (1 worker)"
		}
		extract(name, func(dir string) error {
			if err := os.Mkdir(dir, 0o755); err != nil {
				return err
			}
			return r.Walk(context.Background(), &diskSink{root: dir, buf: make([]byte, 256<<10)}, ReadOptions{Workers: workers})
		})
	}

	b.SetBytes(probe.bytes)
	b.ResetTimer()
	for b.Loop() {
		s := &discardSink{buf: make([]byte, 256<<10)}
		if err := r.Walk(context.Background(), s, ReadOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
