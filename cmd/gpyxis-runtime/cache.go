package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/gpyxis/gpyxis/pkg/imagecache"
)

const cacheAbout = `Manage the node's cache of unpacked image trees ($ENROOT_CACHE_PATH/rootfs), from which
unnamed Slurm containers start on an overlay instead of unpacking their image:
  list   entries with their source, size, last use and whether a container uses one
  gc     evict least recently used entries that no container uses, down to the
         configured cap (GPYXIS_ROOTFS_CACHE_MAX_MB) and age (GPYXIS_ROOTFS_CACHE_MAX_DAYS),
         or to --max-mb/--max-days
  prune  evict every entry no container uses`

func runCache(stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("cache", flag.ContinueOnError)
	maxMB := fs.Int("max-mb", -1, "gc: size cap in MiB (default: the configured one; 0: none)")
	maxDays := fs.Int("max-days", -1, "gc: evict entries unused for longer (default: the configured age; 0: none)")
	dir := fs.String("cache-dir", "", "the cache directory (default $ENROOT_CACHE_PATH/rootfs)")
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		usageFor(stdout, fs, "cache list|gc|prune [OPTIONS]", cacheAbout)
		return nil
	}
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: cache takes one of list, gc, prune (try 'gpyxis-runtime cache --help')", errUsage)
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
		return fmt.Errorf("%w: cache %s: want list, gc or prune", errUsage, pos[0])
	}
	var freed int64
	for _, i := range evicted {
		freed += i.Bytes
		fmt.Fprintf(stdout, "evicted %s (%s, %s)\n", i.Key[:12], i.Source, humanBytes(i.Bytes))
	}
	fmt.Fprintf(stdout, "%d entries evicted, %s freed\n", len(evicted), humanBytes(freed))
	return err
}
