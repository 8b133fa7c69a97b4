// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gpyxis/gpyxis/pkg/container"
	"github.com/gpyxis/gpyxis/pkg/imagecache"
	"github.com/gpyxis/gpyxis/pkg/registry"
)

const cacheAbout = `Manage the node's cache of unpacked image trees ($ENROOT_CACHE_PATH/rootfs), from which
unnamed Slurm containers start on an overlay instead of unpacking their image:
  add    make sure the cache has the tree of each IMAGE (a registry reference as
         --container-image takes it, or a squashfs file path starting with / or .),
         pulling and unpacking it if this node has not seen it: run it once per node
         (srun --ntasks-per-node=1) before a large step, so that its ranks start together
  list   entries with their source, size, last use and whether a container uses one
  gc     evict least recently used entries that no container uses, down to the
         configured cap (GPYXIS_ROOTFS_CACHE_MAX_MB) and age (GPYXIS_ROOTFS_CACHE_MAX_DAYS),
         or to --max-mb/--max-days
  prune  evict every entry no container uses
gc and prune also remove what your killed gpyxis processes left: partial trees in the
data directory and the cache, partial downloads in the blob cache.`

func runCache(stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("cache", flag.ContinueOnError)
	maxMB := fs.Int("max-mb", -1, "gc: size cap in MiB (default: the configured one; 0: none)")
	maxDays := fs.Int("max-days", -1, "gc: evict entries unused for longer (default: the configured age; 0: none)")
	dir := fs.String("cache-dir", "", "the cache directory (default $ENROOT_CACHE_PATH/rootfs)")
	var verbose bool
	for _, n := range []string{"v", "verbose"} {
		fs.BoolVar(&verbose, n, false, "add: log each step")
	}
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		usageFor(stdout, fs, "cache list|gc|prune [OPTIONS]\n       gpyxis-runtime cache add [OPTIONS] IMAGE...", cacheAbout)
		return nil
	}
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return fmt.Errorf("%w: cache takes one of add, list, gc, prune (try 'gpyxis-runtime cache --help')", errUsage)
	}
	if pos[0] == "add" {
		if len(pos) == 1 {
			return fmt.Errorf("%w: cache add needs at least one image (try 'gpyxis-runtime cache --help')", errUsage)
		}
		return cacheAdd(stdout, *dir, pos[1:], verbose)
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: cache %s takes no arguments (try 'gpyxis-runtime cache --help')", errUsage, pos[0])
	}
	cfg, err := siteConfig()
	if err != nil {
		return err
	}
	if *dir == "" {
		*dir = filepath.Join(cfg.CachePath, "rootfs")
	}
	c := &imagecache.Cache{Dir: *dir}
	var evicted []imagecache.Info
	switch pos[0] {
	case "list", "ls":
		list, err := c.List()
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "KEY\tSIZE\tFILES\tLAST USED\tIN USE\tSOURCE")
		for _, i := range list {
			use := "no"
			if i.InUse {
				use = "yes"
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\n", i.Key[:12], humanBytes(i.Bytes), i.Files,
				i.LastUsed.Local().Format(time.DateTime), use, i.Source)
		}
		return w.Flush()
	case "gc":
		if *maxMB < 0 {
			*maxMB = cfg.RootfsCacheMaxMB
		}
		if *maxDays < 0 {
			*maxDays = cfg.RootfsCacheMaxDays
		}
		evicted, err = c.GC(int64(*maxMB)<<20, time.Duration(*maxDays)*24*time.Hour)
	case "prune":
		evicted, err = c.Prune()
	default:
		return fmt.Errorf("%w: cache %s: want add, list, gc or prune", errUsage, pos[0])
	}
	var freed int64
	for _, i := range evicted {
		freed += i.Bytes
		fmt.Fprintf(stdout, "evicted %s (%s, %s)\n", i.Key[:12], i.Source, humanBytes(i.Bytes))
	}
	fmt.Fprintf(stdout, "%d entries evicted, %s freed\n", len(evicted), humanBytes(freed))
	return errors.Join(err, collectLeftovers(stdout, cfg.DataPath, cfg.CachePath, cfg.SharedCacheDir))
}

// collectLeftovers removes what the caller's killed gpyxis processes left
// (partial rootfs trees and runs' directories in the data directory,
// partial downloads in the blob caches) and says what it removed.
func collectLeftovers(stdout io.Writer, dataDir string, blobCaches ...string) error {
	removed, err := container.CollectTemporaries(dataDir)
	for i, n := range removed {
		removed[i] = filepath.Join(dataDir, n)
	}
	errs := []error{err}
	for _, d := range blobCaches {
		if d == "" {
			continue
		}
		got, err := registry.CollectTemporaries(d)
		for _, n := range got {
			removed = append(removed, filepath.Join(d, "tmp", n))
		}
		errs = append(errs, err)
	}
	for _, p := range removed {
		fmt.Fprintf(stdout, "removed %s (left by a killed process)\n", p)
	}
	return errors.Join(errs...)
}

// cacheAdd makes sure the node image cache in dir (default: the one Slurm
// steps use, CACHE_PATH/rootfs) has the tree of each image, as the first
// unnamed step on the node would make it: the same keys, the same puller
// (configuration, credentials, blob cache), the same eviction pass after a
// new tree. Images are taken one after the other; every entry stays in use
// until the command ends, so that making a later one never evicts an
// earlier one. A failed image does not stop the others; the errors come
// back together.
func cacheAdd(stdout io.Writer, dir string, images []string, verbose bool) error {
	cfg, err := siteConfig()
	if err != nil {
		return err
	}
	if dir == "" {
		if !cfg.RootfsCache {
			return fmt.Errorf("cache add: the node image cache is off (GPYXIS_ROOTFS_CACHE=false): steps would not use the trees (--cache-dir fills a directory all the same)")
		}
		dir = filepath.Join(cfg.CachePath, "rootfs")
	}
	pf := pullFlags{verbose: verbose}
	log := pf.logger()
	c := &imagecache.Cache{Dir: dir, Logger: log}
	ctx, stop := signalContext()
	defer stop()
	var p *registry.Puller
	var errs []error
	for _, image := range images {
		src := container.TreeSource{Name: image}
		if strings.HasPrefix(image, "/") || strings.HasPrefix(image, ".") {
			// As the plugin tells a squashfs file from a registry image.
			src.Squashfs = image
		} else {
			if looksLikeFile(image) {
				errs = append(errs, fmt.Errorf("cache add %s: this is a registry image as written, as --container-image reads it; "+
					"a squashfs file is a path starting with / or . (./%s)", image, image))
				continue
			}
			ref, err := registry.ParseReference(image)
			if err != nil {
				errs = append(errs, fmt.Errorf("cache add %s: %w", image, err))
				continue
			}
			if p == nil {
				opts, err := pf.options(log)
				if err == nil {
					p, err = registry.NewPuller(opts...)
				}
				if err != nil {
					return errors.Join(append(errs, fmt.Errorf("cache add %s: %w", image, err))...)
				}
			}
			src.Ref = ref
		}
		src.OnProduce = func() { log.Info("not cached on this node: making the tree", "image", image) }
		start := time.Now()
		e, produced, err := container.CachedTree(ctx, c, p, src, log)
		if err != nil {
			if ctx.Err() != nil {
				return errors.Join(append(errs, fmt.Errorf("cache add %s: interrupted: %w", image, err))...)
			}
			errs = append(errs, fmt.Errorf("cache add %s: %w", image, err))
			continue
		}
		// Marks the entry used now (it is about to be) and keeps it from
		// eviction until the command ends.
		use, err := c.Use(e)
		if err != nil {
			errs = append(errs, fmt.Errorf("cache add %s: %w", image, err))
			continue
		}
		defer use.Close()
		if !produced {
			fmt.Fprintf(stdout, "%s: already cached %s\n", image, e.Meta.Key)
			continue
		}
		fmt.Fprintf(stdout, "%s: cached %s (produced in %.1fs)\n", image, e.Meta.Key, time.Since(start).Seconds())
		if n := container.GCAfterProduce(c, cfg.RootfsCacheMaxMB, cfg.RootfsCacheMaxDays, log); n > 0 {
			log.Info("cache over its cap or age: evicted unused entries", "evicted", n)
		}
	}
	return errors.Join(errs...)
}

// looksLikeFile reports whether image, which the plugin would read as a
// registry reference, names a squashfs file here: a mistake, not an image.
func looksLikeFile(image string) bool {
	if !strings.HasSuffix(image, ".sqsh") && !strings.HasSuffix(image, ".squashfs") {
		return false
	}
	fi, err := os.Stat(image)
	return err == nil && fi.Mode().IsRegular()
}
