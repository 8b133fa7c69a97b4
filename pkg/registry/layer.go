// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
)

// OpenLayer returns the decompressed tar stream of img.Layers[i] from the
// cache (call Fetch first). gzip and zstd layers are decompressed, tar layers
// passed through; other media types fail with ErrUnsupported.
//
// The stream verifies itself: the blob's digest and size, and the diff_id of
// the decompressed data, are checked when the data is read to its end, and
// the final Read returns an ErrDigestMismatch error instead of io.EOF (the
// corrupt cache entry is then removed). A tar reader stops at the end-of-archive
// marker, so drain the stream (io.Copy(io.Discard, rc)) to complete the check.
// Reads fail once ctx is done.
func (p *Puller) OpenLayer(ctx context.Context, img *Image, i int) (io.ReadCloser, error) {
	if i < 0 || i >= len(img.Layers) {
		return nil, fmt.Errorf("layer %d: out of range (image has %d)", i, len(img.Layers))
	}
	l := img.Layers[i]
	comp, err := layerCompression(l.MediaType)
	if err != nil {
		return nil, err
	}
	if err := checkDigest(l.Digest); err != nil {
		return nil, err
	}
	f, err := p.cache.open(l.Digest)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("layer %s is not in the cache (call Fetch first): %w", l.Digest, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open layer: %w", err)
	}
	return newLayerReader(ctx, f, f.Name(), f.Close, l, comp)
}

// OpenBlob opens a layer blob of the cache (call Fetch first), for a
// process that cannot read the cache itself: see OpenLayerFile.
func (p *Puller) OpenBlob(l Layer) (*os.File, error) {
	if err := checkDigest(l.Digest); err != nil {
		return nil, err
	}
	f, err := p.cache.open(l.Digest)
	if err != nil {
		return nil, fmt.Errorf("open layer: %w", err)
	}
	return f, nil
}

// OpenLayerFile is OpenLayer on a blob file that another process opened
// (OpenBlob): the stream verifies itself the same way, but a corrupt file
// is only reported, never removed. It reads f from offset 0 with pread,
// so a layer may be opened more than once, and leaves f open. f must be a
// regular file.
func OpenLayerFile(ctx context.Context, f *os.File, l Layer) (io.ReadCloser, error) {
	comp, err := layerCompression(l.MediaType)
	if err != nil {
		return nil, err
	}
	if err := checkDigest(l.Digest); err != nil {
		return nil, err
	}
	// The file comes from a process that may not be trusted: only a
	// regular file (not a pipe that never ends), and no more than one
	// byte past the layer's size (enough to tell a wrong size).
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("layer %s: %s is not a regular file", l.Digest, f.Name())
	}
	return newLayerReader(ctx, io.NewSectionReader(f, 0, l.Size+1), "", func() error { return nil }, l, comp)
}

func newLayerReader(ctx context.Context, src io.Reader, path string, closeSrc func() error, l Layer, comp compression) (io.ReadCloser, error) {
	r := &layerReader{ctx: ctx, src: src, path: path, closeSrc: closeSrc, layer: l, blobHash: sha256.New(), diffHash: sha256.New()}
	r.counted = &countReader{r: io.TeeReader(src, r.blobHash)}
	if err := r.openDecoder(comp); err != nil {
		closeSrc()
		return nil, &Error{Kind: ErrDigestMismatch, Ref: "layer " + l.Digest.String(), Hint: "cannot decompress it", Err: err}
	}
	return r, nil
}

// layerReader decompresses a cached layer and verifies it at the end.
type layerReader struct {
	ctx      context.Context
	src      io.Reader
	path     string // the cache file, removed when corrupt; "" for OpenLayerFile
	closeSrc func() error
	layer    Layer
	counted  *countReader
	dec      io.Reader
	closeDec func()
	blobHash hash.Hash
	diffHash hash.Hash
	final    error // sticky result once the end was reached
	comp     compression
}

func (r *layerReader) openDecoder(comp compression) error {
	r.comp = comp
	switch comp {
	case gzipped:
		z, err := gzip.NewReader(r.counted)
		if err != nil {
			return err
		}
		r.dec, r.closeDec = z, func() { z.Close() }
	case zstdCompressed:
		z, err := zstd.NewReader(r.counted)
		if err != nil {
			return err
		}
		r.dec, r.closeDec = z, z.Close
	default:
		r.dec, r.closeDec = r.counted, func() {}
	}
	return nil
}

func (r *layerReader) Read(b []byte) (int, error) {
	if r.final != nil {
		return 0, r.final
	}
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := r.dec.Read(b)
	r.diffHash.Write(b[:n])
	switch {
	case err == io.EOF:
		r.final = r.verify()
		return n, r.final
	case err != nil:
		r.final = r.undecodable(err)
		return n, r.final
	}
	return n, nil
}

// verify finishes the blob hash and compares both digests.
func (r *layerReader) verify() error {
	if _, err := io.Copy(io.Discard, r.counted); err != nil {
		return fmt.Errorf("read layer %s: %w", r.layer.Digest, err)
	}
	if got := digest.NewDigest(digest.SHA256, r.blobHash); got != r.layer.Digest || r.counted.n != r.layer.Size {
		return r.corrupt(fmt.Errorf("blob is %s (%d bytes)", got, r.counted.n))
	}
	if r.layer.DiffID != "" {
		if got := digest.NewDigest(digest.SHA256, r.diffHash); got != r.layer.DiffID {
			return r.corrupt(fmt.Errorf("uncompressed data is %s, config says diff_id %s", got, r.layer.DiffID))
		}
	}
	return io.EOF
}

// undecodable reports compressed data that cannot be decoded. When the blob
// still matches its digest, the layer is broken as the registry serves it
// and pulling again cannot help; otherwise the cache entry is corrupt.
func (r *layerReader) undecodable(cause error) error {
	desc := fmt.Errorf("decompress: %w", cause)
	if errors.Is(cause, io.ErrUnexpectedEOF) {
		desc = fmt.Errorf("unexpected EOF in its %s data: %w", r.comp, cause)
	}
	if _, err := io.Copy(io.Discard, r.counted); err != nil {
		return fmt.Errorf("read layer %s: %w", r.layer.Digest, err)
	}
	got := digest.NewDigest(digest.SHA256, r.blobHash)
	if got != r.layer.Digest || r.counted.n != r.layer.Size {
		return r.corrupt(fmt.Errorf("%w; the blob is %s (%d bytes)", desc, got, r.counted.n))
	}
	return &Error{Kind: ErrDigestMismatch, Summary: "truncated or corrupt layer", Ref: "layer " + r.layer.Digest.String(),
		Hint: "its digest matches, so the image itself is broken: build and push it again", Err: desc}
}

// corrupt removes the cache entry (if it is still the file being read) and
// returns an ErrDigestMismatch error.
func (r *layerReader) corrupt(cause error) error {
	if r.path == "" {
		return &Error{Kind: ErrDigestMismatch, Ref: "layer " + r.layer.Digest.String(), Err: cause}
	}
	if f, ok := r.src.(*os.File); ok {
		if fi, err := f.Stat(); err == nil {
			if cur, err := os.Stat(r.path); err == nil && os.SameFile(fi, cur) {
				os.Remove(r.path)
			}
		}
	}
	return &Error{Kind: ErrDigestMismatch, Ref: "cached layer " + r.layer.Digest.String(),
		Hint: "the corrupt cache entry was removed: pull again", Err: cause}
}

func (r *layerReader) Close() error {
	r.closeDec()
	return r.closeSrc()
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}
