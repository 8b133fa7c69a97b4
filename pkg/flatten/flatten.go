// SPDX-License-Identifier: Apache-2.0

package flatten

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
)

// Flatten reads layers newest first (layers[0] is the top layer) and adds each
// path of the merged image to sink exactly once. The merged image is what
// applying the layers bottom-up as the OCI image spec describes gives
// (whiteouts, opaque directories, type changes, hardlinks across layers),
// minus what Options drop. Errors name the layer by its index in layers.
func Flatten(ctx context.Context, layers []LayerOpener, sink Sink, opts Options) (Stats, error) {
	if v := os.Getenv(MaxBytesEnv); opts.MaxBytes <= 0 && v != "" {
		if n, err := parseSize(v); err != nil || n == 0 {
			return Stats{}, fmt.Errorf("%s=%q: not a size (a positive number of bytes, or with a K, M, G or T suffix)", MaxBytesEnv, v)
		}
	}
	f := newFlattener(ctx, sink, opts.fill())
	for i, open := range layers {
		if err := f.readLayer(int32(i), open); err != nil {
			return f.stats, fmt.Errorf("layer %d: %w", i, err)
		}
	}
	err := f.finish()
	return f.stats, err
}

// flattener holds the bookkeeping of one Flatten call: O(paths seen), no file
// content.
type flattener struct {
	ctx   context.Context
	sink  Sink
	opts  Options
	log   *slog.Logger
	stats Stats

	nodes   map[string]node // every path seen, as a whiteout, an entry or a parent
	layer   int32           // index of the layer being read
	cur     layerState      // what is known about the layer being read
	pending pendingLinks    // hardlinks waiting for a target in a lower layer
}

func newFlattener(ctx context.Context, sink Sink, opts Options) *flattener {
	return &flattener{
		ctx:     ctx,
		sink:    sink,
		opts:    opts,
		log:     opts.Logger,
		nodes:   make(map[string]node),
		pending: newPendingLinks(),
	}
}

// readLayer streams one layer, then reads it again if hardlinks in it need
// the content of an entry that the first pass dropped.
func (f *flattener) readLayer(l int32, open LayerOpener) error {
	f.layer = l
	f.cur = newLayerState()
	if err := f.pass(open, f.entry); err != nil {
		return err
	}
	if len(f.cur.rereads) == 0 {
		return nil
	}
	f.stats.Rereads++
	if err := f.pass(open, f.rereadEntry); err != nil {
		return fmt.Errorf("reread: %w", err)
	}
	if len(f.cur.rereads) != 0 {
		return fmt.Errorf("reread: %d hardlink targets missing on the second read", len(f.cur.rereads))
	}
	return nil
}

// errStop ends a pass early without an error.
var errStop = errors.New("stop")

// pass reads the tar stream once, calling fn for every header.
func (f *flattener) pass(open LayerOpener, fn func(*tar.Header, io.Reader) error) (err error) {
	rc, err := open()
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer func() {
		if cerr := rc.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close: %w", cerr)
		}
	}()
	raw := &rawStream{r: rc}
	tr := tar.NewReader(raw)
	for {
		if err := f.ctx.Err(); err != nil {
			return err
		}
		raw.startRecord()
		h, err := tr.Next()
		raw.record = false
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		var content io.Reader = tr
		frags, err := raw.sparseMap(h)
		if err != nil {
			return fmt.Errorf("entry %q: %w", h.Name, err)
		}
		if frags != nil {
			content = &sparseContent{s: raw, frags: frags, size: h.Size}
		}
		if err := fn(h, content); err != nil {
			if err == errStop {
				return nil
			}
			return fmt.Errorf("entry %q: %w", h.Name, err)
		}
	}
}
