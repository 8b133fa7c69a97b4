package spank

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gpyxis/gpyxis/pkg/container"
	"github.com/gpyxis/gpyxis/pkg/imagecache"
	"github.com/gpyxis/gpyxis/pkg/registry"
)

// holdCached starts an unnamed step's container on an overlay of the
// node's cached tree of its image, producing the tree first if this node
// has not seen the image (or its squashfs file) yet. It returns the holder
// and the container's own directory (removed at the end of the step).
func holdCached(ctx context.Context, req *Request, rep *Reply, j *job, d Deps, name string) (*container.Holding, string, error) {
	so, err := startOptions(req, j, d)
	if err != nil {
		return nil, "", err
	}
	cache := &imagecache.Cache{Dir: filepath.Join(d.Config.CachePath, "rootfs"), Logger: d.Logger}
	entry, produced, err := cachedTree(ctx, req, rep, j, d, cache)
	if err != nil {
		return nil, "", err
	}
	use, err := cache.Use(entry)
	if err != nil {
		return nil, "", err
	}
	// The holder inherits the shared lock: the entry stays while it runs.
	defer use.Close()
	if produced {
		// A new tree may push the cache over its cap: evict old unused ones
		// (not this one: it is in use from here on).
		max := int64(d.Config.RootfsCacheMaxMB) << 20
		age := time.Duration(d.Config.RootfsCacheMaxDays) * 24 * time.Hour
		if evicted, err := cache.GC(max, age); err != nil {
			d.Logger.Warn("cache garbage collection", "err", err)
		} else if len(evicted) > 0 {
			rep.Verbose(fmt.Sprintf("evicted %d cached image trees", len(evicted)))
		}
	}
	dir := filepath.Join(d.Config.DataPath, ".overlay-"+name)
	h, err := container.HoldOverlay(ctx, container.OverlayRoot{Lower: entry.Rootfs, Dir: dir, Config: entry.Meta.Config},
		so, holderFile(j, name), []*os.File{use})
	if err != nil {
		container.RemoveRootfs(dir)
		return nil, "", err
	}
	return h, dir, nil
}

// cachedTree finds or makes the cache entry of the step's image. A registry
// image costs one manifest request to learn its digest; a squashfs file a
// stat and a 64 KiB read.
func cachedTree(ctx context.Context, req *Request, rep *Reply, j *job, d Deps, cache *imagecache.Cache) (*imagecache.Entry, bool, error) {
	image := j.o.Image
	if image == "" {
		return nil, false, fmt.Errorf("--container-image is not set")
	}
	var key string
	var fill func(string) (imagecache.Meta, error)
	if isPath(image) {
		k, err := imagecache.SquashfsKey(image)
		if err != nil {
			return nil, false, fmt.Errorf("failed to create container filesystem for image: %s: %w", image, err)
		}
		key = k
		fill = func(dir string) (imagecache.Meta, error) {
			rep.Info("extracting squashfs image: " + image)
			if err := container.ExtractSquashfs(ctx, image, dir, d.Logger); err != nil {
				return imagecache.Meta{}, fmt.Errorf("failed to create container filesystem for image: %s: %w", image, err)
			}
			return imagecache.Meta{Source: image}, nil
		}
	} else {
		ref, err := registry.ParseReference(image)
		if err != nil {
			return nil, false, fmt.Errorf("failed to import docker image: %s: %w", image, err)
		}
		p, err := d.NewPuller()
		if err != nil {
			return nil, false, fmt.Errorf("failed to import docker image: %s: %w", image, err)
		}
		img, err := p.Resolve(ctx, ref)
		if err != nil {
			if d.Config.RootfsCacheOffline {
				if e, when, rerr := cache.Recall(image); rerr == nil {
					rep.Log(fmt.Sprintf("registry unreachable (%v): using the cached %s of %s, resolved %s",
						err, image, e.Meta.Digest, when.UTC().Format(time.RFC3339)))
					return e, false, nil
				}
			}
			return nil, false, fmt.Errorf("failed to import docker image: %s: %w", image, err)
		}
		key = imagecache.Key("registry", img.Digest.String(), img.Platform.String())
		defer func() {
			if err := cache.Remember(image, key); err != nil {
				d.Logger.Warn("remember tag", "err", err)
			}
		}()
		fill = func(dir string) (imagecache.Meta, error) {
			if total, _ := req.Int("total_tasks"); total <= 1 {
				rep.Log("importing docker image: " + image)
			}
			if err := container.Unpack(ctx, p, img, dir, d.Logger); err != nil {
				return imagecache.Meta{}, fmt.Errorf("failed to import docker image: %s: %w", image, err)
			}
			rep.Info("imported docker image: " + image)
			return imagecache.Meta{Source: image, Digest: img.Digest.String(), Config: img.Config.Config}, nil
		}
	}
	produced := false
	entry, err := cache.Get(ctx, key, func(dir string) (imagecache.Meta, error) {
		produced = true
		return fill(dir)
	})
	if err != nil {
		return nil, false, err
	}
	if !produced {
		rep.Verbose("using cached image tree " + entry.Meta.Key)
	}
	return entry, produced, nil
}
