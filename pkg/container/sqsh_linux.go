// SPDX-License-Identifier: Apache-2.0

package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/gpyxis/gpyxis/pkg/flatten"
	"github.com/gpyxis/gpyxis/pkg/squashfs"
	"github.com/gpyxis/gpyxis/pkg/unpack"
)

// IsSquashfs reports whether image names a squashfs file (made by gpyxis, enroot or
// mksquashfs) rather than a registry reference: a path that exists and ends in .sqsh,
// or any existing file that starts with the squashfs magic.
func IsSquashfs(image string) bool {
	fi, err := os.Stat(image)
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	if strings.HasSuffix(image, ".sqsh") || strings.HasSuffix(image, ".squashfs") {
		return true
	}
	f, err := os.Open(image)
	if err != nil {
		return false
	}
	defer f.Close()
	magic := make([]byte, 4)
	_, err = io.ReadFull(f, magic)
	return err == nil && string(magic) == "hsqs"
}

// extractSquashfs writes the tree of the squashfs file image into dir, natively and in
// parallel (no unsquashfs), with the rootless policy of pkg/unpack.
func extractSquashfs(ctx context.Context, image, dir string, log *slog.Logger) error {
	f, err := os.Open(image)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	defer f.Close()
	r, err := squashfs.OpenReader(f)
	if err != nil {
		if errors.Is(err, squashfs.ErrNotSquashfs) {
			return fmt.Errorf("%s: %w (give a .sqsh made by gpyxis-runtime import, enroot import or mksquashfs)", image, err)
		}
		return fmt.Errorf("%s: %w", image, err)
	}
	w, err := unpack.NewWriter(dir, log)
	if err != nil {
		return err
	}
	err = r.Walk(ctx, sqshSink{w}, squashfs.ReadOptions{Logger: log})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("extract %s: %w", image, err)
	}
	return nil
}

// sqshSink feeds a squashfs walk into the directory writer.
type sqshSink struct{ w *unpack.Writer }

func (s sqshSink) Add(e squashfs.Entry, content io.Reader) error {
	t, ok := flattenType[e.Type]
	if !ok {
		return fmt.Errorf("%s: unknown entry type %v", e.Path, e.Type)
	}
	path := e.Path
	if path == "." {
		path = ""
	}
	return s.w.Add(flatten.Entry{Path: path, Type: t, Mode: e.Mode, UID: e.UID, GID: e.GID, ModTime: e.ModTime,
		Size: e.Size, Linkname: e.Linkname, Rdev: e.Rdev, Xattrs: e.Xattrs}, content)
}

var flattenType = map[squashfs.Type]flatten.Type{
	squashfs.Dir: flatten.Dir, squashfs.Reg: flatten.Reg, squashfs.Symlink: flatten.Symlink,
	squashfs.Hardlink: flatten.Hardlink, squashfs.Fifo: flatten.Fifo, squashfs.Char: flatten.Char,
	squashfs.Block: flatten.Block, squashfs.Socket: flatten.Socket,
}
