// SPDX-License-Identifier: Apache-2.0

package spank

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	imgspec "github.com/opencontainers/image-spec/specs-go/v1"

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
		if n := container.GCAfterProduce(cache, d.Config.RootfsCacheMaxMB, d.Config.RootfsCacheMaxDays, d.Logger); n > 0 {
			rep.Verbose(fmt.Sprintf("evicted %d cached image trees", n))
		}
	}
	return holdOverlay(ctx, so, j, d, name, entry.Rootfs, entry.Meta.Config, []*os.File{use})
}

// holdOverlay starts the step's container on an overlay of the tree lower
// (keep: files its holder keeps open). It returns the holder and the
// container's own directory (removed at the end of the step).
func holdOverlay(ctx context.Context, so container.StartOptions, j *job, d Deps, name, lower string, cfg imgspec.ImageConfig, keep []*os.File) (*container.Holding, string, error) {
	if err := (container.Store{Dir: d.Config.DataPath}).Ensure(); err != nil {
		return nil, "", err
	}
	dir := filepath.Join(d.Config.DataPath, ".overlay-"+name)
	h, err := container.HoldOverlay(ctx, container.OverlayRoot{Lower: lower, Dir: dir, Config: cfg},
		so, holderFile(j, name), keep)
	if err != nil {
		container.RemoveRootfs(dir)
		return nil, "", err
	}
	return h, dir, nil
}

// cachedTree finds or makes the cache entry of the step's image, with
// pyxis' messages.
func cachedTree(ctx context.Context, req *Request, rep *Reply, j *job, d Deps, cache *imagecache.Cache) (*imagecache.Entry, bool, error) {
	image := j.o.Image
	if image == "" {
		return nil, false, fmt.Errorf("--container-image is not set")
	}
	src := container.TreeSource{Name: image, Offline: d.Config.RootfsCacheOffline}
	failed := "failed to import docker image: " + image
	var p *registry.Puller
	if isPath(image) {
		src.Squashfs = image
		failed = "failed to create container filesystem for image: " + image
		src.OnProduce = func() { rep.Info("extracting squashfs image: " + image) }
	} else {
		ref, err := registry.ParseReference(image)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", failed, err)
		}
		if p, err = d.NewPuller(); err != nil {
			return nil, false, fmt.Errorf("%s: %w", failed, err)
		}
		src.Ref = ref
		src.OnProduce = func() {
			if total, _ := req.Int("total_tasks"); total <= 1 {
				rep.Log("importing docker image: " + image)
			}
		}
		src.OnOffline = func(e *imagecache.Entry, when time.Time, err error) {
			rep.Log(fmt.Sprintf("registry unreachable (%v): using the cached %s of %s, resolved %s",
				err, image, e.Meta.Digest, when.UTC().Format(time.RFC3339)))
		}
	}
	entry, produced, err := container.CachedTree(ctx, cache, p, src, d.Logger)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", failed, err)
	}
	if produced && p != nil {
		rep.Info("imported docker image: " + image)
	} else if !produced {
		rep.Verbose("using cached image tree " + entry.Meta.Key)
	}
	return entry, produced, nil
}
