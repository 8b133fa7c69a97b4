// SPDX-License-Identifier: Apache-2.0

package flatten

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gpyxis/gpyxis/integration/harness"
	"golang.org/x/sys/unix"
)

// TestMultilayerImage flattens the real debian:multilayer image of the
// integration harness (integration/infra/images-multilayer.sh) and checks
// the merged tree against its hand-written manifest.
func TestMultilayerImage(t *testing.T) {
	layout := filepath.Join(harness.StateDir(), "build", "oci")
	if _, err := os.Stat(filepath.Join(layout, "index.json")); err != nil {
		msg := fmt.Sprintf("no OCI layout at %s (%v): build it with sudo integration/infra/images-build.sh", layout, err)
		if os.Getenv(harness.RequiredEnv) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to recreate setuid files, owners and xattrs")
	}
	layers, err := ociLayers(layout, "debian:multilayer")
	if err != nil {
		t.Fatal(err)
	}
	expPath, err := harness.RepoFile("integration/infra/images/multilayer.expected")
	if err != nil {
		t.Fatal(err)
	}
	exp, err := os.ReadFile(expPath)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	sink := &dirSink{root: root, keep: multilayerSubset}
	start := time.Now()
	st, err := Flatten(context.Background(), layers, sink, Options{AllRoot: true, SkipDevices: true, ExcludeDevDir: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.finish(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d layers in %v: %+v", len(layers), time.Since(start), st)
	got, err := harness.Manifest(root, "/opt/ml", "/etc/gpyxis-test", "/etc/motd")
	if err != nil {
		t.Fatal(err)
	}
	if want := expectedWithoutDevices(string(exp)); got != want {
		t.Errorf("merged tree differs\ngot:\n%s\nwant:\n%s", got, want)
	}
}

func multilayerSubset(p string) bool {
	switch p {
	case "opt", "opt/ml", "etc", "etc/gpyxis-test", "etc/motd":
		return true
	}
	return strings.HasPrefix(p, "opt/ml/")
}

// expectedWithoutDevices drops comments and the device lines: the importer
// drops devices, as enroot's unprivileged import does.
func expectedWithoutDevices(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l == "" || strings.HasPrefix(l, "#") || strings.Contains(l, " type=char ") || strings.Contains(l, " type=block ") {
			continue
		}
		b.WriteString(l)
	}
	return b.String()
}

// dirSink materializes the entries keep accepts under root and drains the
// others. Directory modes and hardlinks are applied by finish.
type dirSink struct {
	root  string
	keep  func(string) bool
	dirs  []Entry
	links []Entry
}

func (s *dirSink) Add(e Entry, r io.Reader) error {
	if !s.keep(e.Path) {
		if r != nil {
			_, err := io.Copy(io.Discard, r)
			return err
		}
		return nil
	}
	full := filepath.Join(s.root, e.Path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return err
	}
	var err error
	switch e.Type {
	case Dir:
		s.dirs = append(s.dirs, e)
		return os.MkdirAll(full, 0o755)
	case Hardlink:
		s.links = append(s.links, e)
		return nil
	case Reg:
		err = writeSparse(full, r, e.Size)
	case Symlink:
		return s.xattrs(full, e, os.Symlink(e.Linkname, full))
	case Fifo:
		err = unix.Mkfifo(full, 0o600)
	default:
		return fmt.Errorf("%s: unexpected %v", e.Path, e.Type)
	}
	if err == nil {
		err = unix.Chmod(full, e.Mode)
	}
	return s.xattrs(full, e, err)
}

func (s *dirSink) xattrs(full string, e Entry, err error) error {
	for k, v := range e.Xattrs {
		if err == nil {
			err = unix.Lsetxattr(full, k, v, 0)
		}
	}
	return err
}

func (s *dirSink) finish() error {
	for _, e := range s.links {
		if err := os.Link(filepath.Join(s.root, e.Linkname), filepath.Join(s.root, e.Path)); err != nil {
			return err
		}
	}
	for _, e := range s.dirs {
		full := filepath.Join(s.root, e.Path)
		if err := s.xattrs(full, e, unix.Chmod(full, e.Mode)); err != nil {
			return err
		}
	}
	return nil
}

// writeSparse writes r to path, leaving holes where it yields whole zero
// chunks, so the 4 GiB sparse file of the image takes no space or time.
func writeSparse(path string, r io.Reader, size int64) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	buf := make([]byte, 1<<20)
	zero := make([]byte, len(buf))
	var off int64
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 && !bytes.Equal(buf[:n], zero[:n]) {
			if _, err := f.WriteAt(buf[:n], off); err != nil {
				return err
			}
		}
		off += int64(n)
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	if off != size {
		return fmt.Errorf("%s: %d bytes, want %d", path, off, size)
	}
	return f.Truncate(size)
}
