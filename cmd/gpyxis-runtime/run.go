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
	var remap, rw, noEntrypoint bool
	var envs, mounts stringList
	var workdir, dataDir, rc, conf string
	for _, n := range []string{"r", "remap-root"} {
		fs.BoolVar(&remap, n, false, "appear as root (uid 0) inside the container")
	}
	for _, n := range []string{"w", "rw"} {
		fs.BoolVar(&rw, n, false, "make the root filesystem writable")
	}
	for _, n := range []string{"e", "env"} {
		fs.Var(&envs, n, "set NAME=VALUE, or pass the host's NAME (repeatable)")
	}
	for _, n := range []string{"m", "mount"} {
		fs.Var(&mounts, n, "mount as enroot's --mount: SRC:DST[:TYPE[:OPTIONS]] fstab fields separated by ':' (repeatable)")
	}
	fs.BoolVar(&noEntrypoint, "no-entrypoint", false, "run the command alone, without the image's ENTRYPOINT and /etc/rc")
	fs.StringVar(&workdir, "workdir", "", "working directory inside the container (default: the image's WORKDIR)")
	fs.StringVar(&rc, "rc", "", "run this host `FILE` instead of the image's /etc/rc (enroot --rc; see start --help)")
	for _, n := range []string{"c", "conf"} {
		fs.StringVar(&conf, n, "", "enroot configuration script `FILE` (bash: environ, mounts, hooks, rc functions; see start --help)")
	}
	fs.StringVar(&dataDir, "data-dir", "", "where container root filesystems go (default $ENROOT_DATA_PATH or ~/.local/share/gpyxis)")
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
	if err := checkScriptFlags(rc, noEntrypoint); err != nil {
		return err
	}
	var superuser bool
	if err := containerDefaults(fs, &remap, &rw, &superuser); err != nil {
		return err
	}
	hookConfig, hookDirs, err := hookSettings()
	if err != nil {
		return err
	}
	if err := applyDirectives(fs, conf, &remap, &rw, hookConfig); err != nil {
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
	var specs []mountspec.Mount
	for _, m := range mounts {
		spec, err := mountspec.ParseEnrootFlag(m, nil)
		if err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		specs = append(specs, spec)
	}
	if dataDir == "" {
		if dataDir, err = defaultDataDir(); err != nil {
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
	ctx, stop := signalContext()
	defer stop()
	code, err := container.Run(ctx, p, container.RunOptions{
		Cache: cache, CacheMaxMB: cfg.RootfsCacheMaxMB, CacheMaxDays: cfg.RootfsCacheMaxDays,
		Ref: ref, Squashfs: sqsh, Args: pos[1:], RemapRoot: remap, Writable: rw, NoEntrypoint: noEntrypoint, Env: envs,
		Workdir: workdir, DataDir: dataDir, HookConfig: hookConfig, ConfDirs: hookDirs, Mounts: container.Mounts(specs),
		RC: rc, Conf: conf, Superuser: superuser, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Logger: log,
	})
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
