// SPDX-License-Identifier: Apache-2.0

package importer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/gpyxis/gpyxis/pkg/flatten"
	"github.com/gpyxis/gpyxis/pkg/registry"
	"github.com/gpyxis/gpyxis/pkg/squashfs"
)

// ErrExists is returned when the output file exists and Options.Force is not set.
var ErrExists = errors.New("output already exists")

// Puller is what Import needs of a *registry.Puller.
type Puller interface {
	Resolve(ctx context.Context, ref registry.Reference) (*registry.Image, error)
	Fetch(ctx context.Context, img *registry.Image) error
	OpenLayer(ctx context.Context, img *registry.Image, i int) (io.ReadCloser, error)
}

// Options configure Import.
type Options struct {
	Output   string                   // path of the squashfs file to write; required
	Force    bool                     // replace Output if it exists (default: refuse)
	Squash   squashfs.Options         // compression, block size, workers
	Logger   *slog.Logger             // default: discard
	Progress func(files, bytes int64) // called as file content is squashed; optional
}

// Result describes a finished import.
type Result struct {
	Image  *registry.Image
	Output string
	Size   int64 // bytes of the squashfs file
	Stats  flatten.Stats
}

// Import pulls ref into the blob cache and writes its merged tree as a squashfs file,
// as `enroot import` does: every file owned by root, no device nodes and nothing
// under /dev, and enroot's /etc/{environment,fstab,rc,rc.local} from the image config.
// The layers stream from the cache through the flattener into the writer: the tree is
// never unpacked on disk. The file appears at Output complete or not at all.
func Import(ctx context.Context, p Puller, ref registry.Reference, o Options) (*Result, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if !o.Force {
		if _, err := os.Lstat(o.Output); err == nil {
			return nil, fmt.Errorf("%w: %s (remove it or use --force)", ErrExists, o.Output)
		}
	}
	img, err := p.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := p.Fetch(ctx, img); err != nil {
		return nil, err
	}
	stats, err := write(ctx, p, img, o)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(o.Output)
	if err != nil {
		return nil, fmt.Errorf("stat output: %w", err)
	}
	return &Result{Image: img, Output: o.Output, Size: fi.Size(), Stats: stats}, nil
}

// Layers lists an image's layers newest first, as the flattener reads them: enroot's
// config files on top, the image's layers, and WORKDIR at the very bottom (created
// only if the image lacks it). Import and container creation share it.
func Layers(ctx context.Context, p Puller, img *registry.Image) ([]flatten.LayerOpener, error) {
	top, err := configLayer(img.Config.Config)
	if err != nil {
		return nil, err
	}
	bottom, err := workdirLayer(img.Config.Config)
	if err != nil {
		return nil, err
	}
	out := []flatten.LayerOpener{memLayer(top)}
	for i := len(img.Layers) - 1; i >= 0; i-- {
		out = append(out, func() (io.ReadCloser, error) {
			rc, err := p.OpenLayer(ctx, img, i)
			return drainCloser{rc}, err
		})
	}
	return append(out, memLayer(bottom)), nil
}

// drainCloser reads a layer to its end before closing it: the puller verifies the
// blob digest and diff_id only when the stream ends, and a tar reader stops at the
// end-of-archive marker, before the padding that may follow it.
type drainCloser struct{ io.ReadCloser }

func (d drainCloser) Close() error {
	_, err := io.Copy(io.Discard, d.ReadCloser)
	if cerr := d.ReadCloser.Close(); err == nil {
		err = cerr
	}
	return err
}

func memLayer(b []byte) flatten.LayerOpener {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// write squashes img into Output.
func write(ctx context.Context, p Puller, img *registry.Image, o Options) (stats flatten.Stats, err error) {
	opens, err := Layers(ctx, p, img)
	if err != nil {
		return stats, err
	}
	err = WriteSquashfs(o, func(w *squashfs.Writer) error {
		stats, err = flatten.Flatten(ctx, opens, &sink{w: w, progress: o.Progress}, flatten.Options{
			AllRoot: true, SkipDevices: true, ExcludeDevDir: true, Logger: o.Logger,
		})
		return err
	})
	return stats, err
}

// WriteSquashfs writes a squashfs file at o.Output (refusing to replace one unless
// o.Force) from what fill adds to the writer. The file is unnamed (or a dot-named
// temporary where the filesystem lacks O_TMPFILE) until it is complete and synced:
// after any failure, interrupt or kill nothing is left under o.Output.
func WriteSquashfs(o Options, fill func(*squashfs.Writer) error) (err error) {
	tmp, err := createOutput(o.Output)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.discard()
		}
	}()
	w, err := squashfs.NewWriter(tmp.File, o.Squash)
	if err != nil {
		return fmt.Errorf("squashfs: %w", err)
	}
	err = fill(w)
	if cerr := w.Close(); err == nil && cerr != nil { // Close also stops the compressors after an error
		err = fmt.Errorf("squashfs: %w", cerr)
	}
	if err != nil {
		return err
	}
	return finish(tmp, o)
}

// finish makes the output durable and gives it its final name; without Force it
// never replaces a file that appeared at Output meanwhile.
func finish(tmp *output, o Options) error {
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("chmod output: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync output: %w", err)
	}
	if err := tmp.publish(o.Output, o.Force); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close output: %w", err)
	}
	// The new name is durable only once its directory is.
	if d, err := os.Open(filepath.Dir(o.Output)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// sink adapts the squashfs writer to the flattener.
type sink struct {
	w            *squashfs.Writer
	files, bytes int64
	progress     func(files, bytes int64)
}

func (s *sink) Add(e flatten.Entry, content io.Reader) error {
	t, err := squashType(e.Type)
	if err != nil {
		return err
	}
	if err := s.w.Add(squashfs.Entry{
		Path: e.Path, Type: t, Mode: e.Mode, UID: e.UID, GID: e.GID, ModTime: e.ModTime,
		Size: e.Size, Linkname: e.Linkname, Rdev: e.Rdev, Xattrs: e.Xattrs,
	}, content); err != nil {
		return err
	}
	if e.Type == flatten.Reg {
		s.files++
		s.bytes += e.Size
		if s.progress != nil {
			s.progress(s.files, s.bytes)
		}
	}
	return nil
}

func squashType(t flatten.Type) (squashfs.Type, error) {
	switch t {
	case flatten.Dir:
		return squashfs.Dir, nil
	case flatten.Reg:
		return squashfs.Reg, nil
	case flatten.Symlink:
		return squashfs.Symlink, nil
	case flatten.Hardlink:
		return squashfs.Hardlink, nil
	case flatten.Fifo:
		return squashfs.Fifo, nil
	case flatten.Char:
		return squashfs.Char, nil
	case flatten.Block:
		return squashfs.Block, nil
	case flatten.Socket:
		return squashfs.Socket, nil
	}
	return 0, fmt.Errorf("entry type %v has no squashfs type", t)
}
