// SPDX-License-Identifier: Apache-2.0

package container

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/gpyxis/gpyxis/pkg/imagecache"
	"github.com/gpyxis/gpyxis/pkg/registry"
)

// TreeSource says which image a node cache entry holds and how to report on
// making it.
type TreeSource struct {
	Ref      registry.Reference // a registry image, unless Squashfs is set
	Squashfs string             // a squashfs file
	Name     string             // as the user gave it, for messages and Remember
	// Offline allows the last tree Ref resolved to on this node when the
	// registry cannot be reached; OnOffline is told why (ROOTFS_CACHE_OFFLINE).
	Offline   bool
	OnOffline func(e *imagecache.Entry, when time.Time, err error)
	// OnProduce is called before the tree is made (the slow path).
	OnProduce func()
}

// CachedTree returns the cache's tree of s, making it when the node has not
// seen the image (or the squashfs file) yet; produced says whether it did.
// A warm registry image costs one HEAD request (its tag's digest, mapped
// to the entry the last time it was resolved); a new digest, a full
// resolve (manifest and config).
func CachedTree(ctx context.Context, c *imagecache.Cache, p *registry.Puller, s TreeSource, log *slog.Logger) (*imagecache.Entry, bool, error) {
	var key string
	var fill func(string) (imagecache.Meta, error)
	if s.Squashfs != "" {
		k, err := imagecache.SquashfsKey(s.Squashfs)
		if err != nil {
			return nil, false, err
		}
		key = k
		fill = func(dir string) (imagecache.Meta, error) {
			return imagecache.Meta{Source: s.Squashfs}, extractSquashfs(ctx, s.Squashfs, dir, log)
		}
	} else {
		// One HEAD request: a tag that still names what this cache holds
		// needs nothing more (the tags map records the digest it had).
		var head string
		d, err := p.HeadDigest(ctx, s.Ref)
		if err == nil {
			head = headName(d, p)
			if e, _, rerr := c.Recall(head); rerr == nil {
				if err := c.Remember(s.Name, e.Meta.Key); err != nil {
					log.Warn("remember tag", "err", err)
				}
				return e, false, nil
			}
		}
		var img *registry.Image
		// No second wait for a dead or stalled registry.
		if !errors.Is(err, registry.ErrUnreachable) && !errors.Is(err, registry.ErrTimeout) {
			img, err = p.Resolve(ctx, s.Ref)
		}
		if err != nil {
			if s.Offline {
				if e, when, rerr := c.Recall(s.Name); rerr == nil {
					if s.OnOffline != nil {
						s.OnOffline(e, when, err)
					}
					return e, false, nil
				}
			}
			return nil, false, err
		}
		key = imagecache.Key("registry", img.Digest.String(), img.Platform.String())
		top := img.Digest
		if img.IndexDigest != "" {
			top = img.IndexDigest // what HeadDigest sees for a multi-platform tag
		}
		head = headName(top, p)
		defer func() {
			for _, name := range []string{s.Name, head} {
				if err := c.Remember(name, key); err != nil {
					log.Warn("remember tag", "err", err)
				}
			}
		}()
		fill = func(dir string) (imagecache.Meta, error) {
			if err := p.Fetch(ctx, img); err != nil {
				return imagecache.Meta{}, err
			}
			if err := unpackImage(ctx, p, img, dir, log); err != nil {
				return imagecache.Meta{}, err
			}
			return imagecache.Meta{Source: s.Name, Digest: img.Digest.String(), Config: img.Config.Config}, nil
		}
	}
	produced := false
	e, err := c.Get(ctx, key, func(dir string) (imagecache.Meta, error) {
		produced = true
		if s.OnProduce != nil {
			s.OnProduce()
		}
		return fill(dir)
	})
	if err != nil {
		return nil, false, fmt.Errorf("node image cache: %w", err)
	}
	return e, produced, nil
}

// headName is the tags-map name under which a tag's digest (HeadDigest)
// and the platform p chooses record the entry they resolved to.
func headName(d digest.Digest, p *registry.Puller) string {
	return "head\x00" + d.String() + "\x00" + p.Platform().String()
}

// GCAfterProduce runs the cache's eviction pass after an entry was added
// (the caller holds the new entry's use lock, so it stays).
func GCAfterProduce(c *imagecache.Cache, maxMB, maxDays int, log *slog.Logger) int {
	evicted, err := c.GC(int64(maxMB)<<20, time.Duration(maxDays)*24*time.Hour)
	if err != nil {
		log.Warn("cache garbage collection", "err", err)
	}
	return len(evicted)
}
