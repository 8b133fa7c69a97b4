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

	"github.com/gpyxis/gpyxis/pkg/container"
	"github.com/gpyxis/gpyxis/pkg/imagecache"
	"github.com/gpyxis/gpyxis/pkg/mountspec"
	"github.com/gpyxis/gpyxis/pkg/registry"
)

const runAbout = `Run a command in a temporary container of a registry image: the image is pulled into
the blob cache, unpacked into a node-local rootfs that is removed afterwards, and the
command runs as you (or as root with --remap-root) in new user, mount and cgroup
namespaces, sharing the host's network, PIDs and IPC. Without a command the image's
ENTRYPOINT and CMD run. The rootfs is read-only unless --rw. --rc and --conf are
enroot's (see 'gpyxis-runtime start --help').`

// stringList is a repeatable string option.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runRun(stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var pf pullFlags
	pf.register(fs)
	var cf containerFlags
	cf.register(fs)
	// Options end at the image: what follows is the command and its own options.
	pos, err := parseUntilPositional(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		usageFor(stdout, fs, "run [OPTIONS] IMAGE [COMMAND [ARG...]]", runAbout)
		return nil
	}
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return fmt.Errorf("%w: run needs an image (try 'gpyxis-runtime run --help')", errUsage)
	}
	if err := cf.complete(fs); err != nil {
		return err
	}
	var ref registry.Reference
	sqsh := ""
	if container.IsSquashfs(pos[0]) {
		sqsh = pos[0]
	} else if ref, err = registry.ParseReference(pos[0]); err != nil {
		if strings.HasSuffix(pos[0], ".sqsh") {
			return fmt.Errorf("%s: no such squashfs file", pos[0])
		}
		return err
	}
	if cf.dataDir == "" {
		if cf.dataDir, err = defaultDataDir(); err != nil {
			return err
		}
	}
	log := pf.logger()
	opts, err := pf.options(log)
	if err != nil {
		return err
	}
	p, err := registry.NewPuller(opts...)
	if err != nil {
		return err
	}
	cfg, err := siteConfig()
	if err != nil {
		return err
	}
	var cache *imagecache.Cache
	if cfg.RootfsCache {
		// The image is unpacked once per node; each run is an overlay of it.
		cache = &imagecache.Cache{Dir: filepath.Join(cfg.CachePath, "rootfs"), Logger: log}
	}
	o := cf.o
	o.Cache, o.CacheMaxMB, o.CacheMaxDays = cache, cfg.RootfsCacheMaxMB, cfg.RootfsCacheMaxDays
	o.Ref, o.Squashfs, o.Args, o.DataDir, o.Logger = ref, sqsh, pos[1:], cf.dataDir, log
	ctx, stop := signalContext()
	defer stop()
	code, err := container.Run(ctx, p, o)
	if err != nil {
		return fmt.Errorf("run %s: %w", pos[0], err)
	}
	if code != 0 {
		return exitCode(code)
	}
	return nil
}

// checkScriptFlags refuses --rc with --no-entrypoint: the rc script is what
// runs the command.
func checkScriptFlags(rc string, noEntrypoint bool) error {
	if rc != "" && noEntrypoint {
		return fmt.Errorf("%w: --rc and --no-entrypoint exclude each other: the rc script runs the command", errUsage)
	}
	return nil
}

// applyDirectives applies the #ENROOT_NAME=VALUE directives of a --conf script
// that gpyxis honours (REMAP_ROOT, ROOTFS_WRITABLE, MOUNT_HOME, RESTRICT_DEV):
// as in enroot they override the configuration, and the command line overrides
// them. Other directives are ignored.
func applyDirectives(fs *flag.FlagSet, conf string, remap, rw *bool, hookConfig map[string]string) error {
	if conf == "" {
		return nil
	}
	d, err := container.ConfDirectives(conf)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if v, ok := d["REMAP_ROOT"]; ok && !set["r"] && !set["remap-root"] {
		*remap = container.DirectiveBool(v)
	}
	if v, ok := d["ROOTFS_WRITABLE"]; ok && !set["w"] && !set["rw"] {
		*rw = container.DirectiveBool(v)
	}
	for key, sw := range map[string]string{"MOUNT_HOME": "mount_home", "RESTRICT_DEV": "restrict_dev"} {
		if v, ok := d[key]; ok {
			hookConfig[sw] = map[bool]string{true: "1", false: "0"}[container.DirectiveBool(v)]
		}
	}
	return nil
}

// parseUntilPositional parses options up to the first positional argument and returns
// it with everything after it untouched, as a container command's own options must be.
func parseUntilPositional(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s: %v (try 'gpyxis-runtime %s --help')", errUsage, fs.Name(), err, fs.Name())
	}
	return fs.Args(), nil
}

// defaultDataDir is the configured DATA_PATH ($ENROOT_DATA_PATH or $GPYXIS_DATA_PATH,
// a config file, else $XDG_DATA_HOME/gpyxis or ~/.local/share/gpyxis).
func defaultDataDir() (string, error) {
	cfg, err := siteConfig()
	if err != nil {
		return "", err
	}
	return cfg.DataPath, nil
}

// containerDefaults applies REMAP_ROOT and ROOTFS_WRITABLE from the configuration
// unless the command line set them.
// containerFlags are the options run and start share, as enroot's.
type containerFlags struct {
	o            container.RunOptions
	envs, mounts stringList
	dataDir      string
}

func (c *containerFlags) register(fs *flag.FlagSet) {
	for _, n := range []string{"r", "remap-root"} {
		fs.BoolVar(&c.o.RemapRoot, n, false, "appear as root (uid 0) inside the container")
	}
	for _, n := range []string{"w", "rw"} {
		fs.BoolVar(&c.o.Writable, n, false, "make the root filesystem writable")
	}
	for _, n := range []string{"e", "env"} {
		fs.Var(&c.envs, n, "set NAME=VALUE, or pass the host's NAME (repeatable)")
	}
	for _, n := range []string{"m", "mount"} {
		fs.Var(&c.mounts, n, "mount as enroot's --mount: SRC:DST[:TYPE[:OPTIONS]] fstab fields separated by ':' (repeatable)")
	}
	fs.BoolVar(&c.o.NoEntrypoint, "no-entrypoint", false, "run the command alone, without the image's ENTRYPOINT and /etc/rc")
	fs.StringVar(&c.o.Workdir, "workdir", "", "working directory inside the container (default: the image's WORKDIR)")
	fs.StringVar(&c.o.RC, "rc", "", "run this host `FILE` instead of the image's /etc/rc (enroot --rc)")
	for _, n := range []string{"c", "conf"} {
		fs.StringVar(&c.o.Conf, n, "", "enroot configuration script `FILE` (bash: environ, mounts, hooks, rc functions)")
	}
	fs.StringVar(&c.dataDir, "data-dir", "", "where container root filesystems live (default $ENROOT_DATA_PATH or ~/.local/share/gpyxis)")
}

// complete checks the flags after parsing and fills what they leave to the
// configuration: defaults, hook switches, the --conf directives; it parses
// the mounts.
func (c *containerFlags) complete(fs *flag.FlagSet) error {
	if err := checkScriptFlags(c.o.RC, c.o.NoEntrypoint); err != nil {
		return err
	}
	if err := containerDefaults(fs, &c.o.RemapRoot, &c.o.Writable, &c.o.Superuser); err != nil {
		return err
	}
	var err error
	if c.o.HookConfig, c.o.ConfDirs, err = hookSettings(); err != nil {
		return err
	}
	if err := applyDirectives(fs, c.o.Conf, &c.o.RemapRoot, &c.o.Writable, c.o.HookConfig); err != nil {
		return err
	}
	for _, m := range c.mounts {
		spec, err := mountspec.ParseEnrootFlag(m, nil)
		if err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		c.o.Mounts = append(c.o.Mounts, container.Mounts([]mountspec.Mount{spec})...)
	}
	c.o.Env = c.envs
	c.o.Stdin, c.o.Stdout, c.o.Stderr = os.Stdin, os.Stdout, os.Stderr
	return nil
}

// containerDefaults fills the options the command line left unset from the
// configuration (REMAP_ROOT, ROOTFS_WRITABLE) and says whether root stays
// real root (ALLOW_SUPERUSER).
func containerDefaults(fs *flag.FlagSet, remap, rw, superuser *bool) error {
	cfg, err := siteConfig()
	if err != nil {
		return err
	}
	*superuser = cfg.AllowSuperuser
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["r"] && !set["remap-root"] {
		*remap = cfg.RemapRoot
	}
	if !set["w"] && !set["rw"] {
		*rw = cfg.RootfsWritable
	}
	return nil
}

// exitCode carries a container command's non-zero exit status to main.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("command exited with status %d", int(e)) }
