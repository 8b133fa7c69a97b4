// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/pkg/blobinfocache/none"
	"go.podman.io/image/v5/types"
	"golang.org/x/sync/errgroup"
)

// Fetch makes sure every layer blob of img is in the cache, verified.
//
// Up to WithJobs blobs are handled at once. Each blob is handled under an
// exclusive flock on its lock file, so concurrent Fetches in this and other
// processes download it once: the others wait and then find it cached. A
// cached blob is re-hashed first (see WithVerifyCached) and removed if it is
// corrupt. A download goes to a temporary file in the cache, hashed as it
// arrives; only if digest and size match is it fsynced and renamed into
// place. On any error or cancellation the temporary file is removed. The
// registry is contacted only if some blob is missing. With a shared cache
// (WithSharedCacheDir), a blob missing from the user's cache is first copied
// from it, verified, and a downloaded one is offered to it.
func (p *Puller) Fetch(ctx context.Context, img *Image) error {
	src := &lazySession{p: p, ref: img.Ref}
	defer src.close()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(p.opts.jobs)
	var downloaded atomic.Int32
	seen := map[digest.Digest]bool{}
	for i, l := range img.Layers {
		if seen[l.Digest] {
			continue
		}
		seen[l.Digest] = true
		g.Go(func() error {
			got, err := p.ensure(gctx, src, i, l)
			if got {
				downloaded.Add(1)
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if downloaded.Load() == 0 {
		p.opts.log.Info("found all layers in cache", "ref", img.Ref.String())
	}
	return nil
}

// ensure puts layer i in the cache, reporting whether it had to download it.
func (p *Puller) ensure(ctx context.Context, src *lazySession, i int, l Layer) (bool, error) {
	unlock, err := p.cache.lock(ctx, l.Digest, func() {
		p.opts.log.Debug("waiting for another download of the layer", "digest", l.Digest)
	})
	if err != nil {
		return false, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	defer unlock()
	ok, err := p.cache.check(l.Digest, l.Size, p.opts.verifyCached)
	if err != nil {
		return false, err
	}
	if !ok && p.sharedCache() != nil {
		if ok, err = p.fromShared(ctx, p.sharedCache(), l); err != nil {
			return false, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		if ok {
			p.opts.log.Info("copied layer from the shared cache", "digest", l.Digest, "size", l.Size)
		}
	}
	if ok {
		p.report(ProgressEvent{Index: i, Digest: l.Digest, Done: l.Size, Total: l.Size, Cached: true, Completed: true})
		return false, nil
	}
	s, err := src.get(ctx)
	if err != nil {
		return false, err
	}
	p.opts.log.Info("downloading layer", "digest", l.Digest, "size", l.Size)
	err = p.retryTransfer(ctx, "layer "+l.Digest.String(), s.ref, p.opts.transferTimeout,
		func(t *transfer) error { return p.download(t, s, i, l) })
	if err != nil {
		return true, missingBlob(p.classify(err, s.ref, s.authed), "layer", l.Digest, s.ref)
	}
	if sh := p.sharedCache(); sh != nil {
		sh.publish(p.cache.path(l.Digest), l)
	}
	return true, nil
}

// download fetches layer i into a temporary file and commits it to the cache,
// in one attempt watched by t.
func (p *Puller) download(t *transfer, s *session, i int, l Layer) (err error) {
	tmp, err := createBlobTemp(p.cache.tmp, l.Digest)
	if err != nil {
		return fmt.Errorf("create temporary blob: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	rc, _, err := s.src.GetBlob(t.ctx, types.BlobInfo{Digest: l.Digest, Size: l.Size, MediaType: l.MediaType}, none.NoCache)
	if err != nil {
		return fmt.Errorf("fetch layer %s: %w", l.Digest, err)
	}
	rc = t.body(rc)
	defer rc.Close()
	h := sha256.New()
	pw := &progressWriter{p: p, ev: ProgressEvent{Index: i, Digest: l.Digest, Total: l.Size}}
	n, err := io.CopyBuffer(io.MultiWriter(tmp, h, pw), io.LimitReader(rc, l.Size+1), make([]byte, 256<<10))
	if err != nil {
		return fmt.Errorf("download layer %s: %w", l.Digest, err)
	}
	if err := contentMismatch("layer "+l.Digest.String()+" of "+s.ref.String(), "the manifest", l.Digest, l.Size,
		digest.NewDigest(digest.SHA256, h), n, true); err != nil {
		return err
	}
	if err := p.cache.commit(tmp, l.Digest); err != nil {
		return err
	}
	committed = true
	pw.complete()
	return nil
}

// lazySession opens the registry connection on first use.
type lazySession struct {
	p    *Puller
	ref  Reference
	once sync.Once
	s    *session
	err  error
}

func (l *lazySession) get(ctx context.Context) (*session, error) {
	l.once.Do(func() { l.s, l.err = l.p.open(ctx, l.ref) })
	return l.s, l.err
}

func (l *lazySession) close() {
	if l.s != nil {
		l.s.Close()
	}
}
