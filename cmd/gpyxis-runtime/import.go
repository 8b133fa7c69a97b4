// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/gpyxis/gpyxis/pkg/importer"
	"github.com/gpyxis/gpyxis/pkg/registry"
	"github.com/gpyxis/gpyxis/pkg/squashfs"
)

const importAbout = `Pull an image from a registry into the blob cache and write it as a squashfs file
that enroot and gpyxis start, as 'enroot import' does, without unpacking it on disk.
URI: docker://[USER@][REGISTRY#]IMAGE[:TAG][@sha256:DIGEST], REGISTRY/IMAGE[:TAG] or a
Docker Hub name. The default output is enroot's name (IMAGE+TAG.sqsh) in the current
directory. ENROOT_SQUASH_OPTIONS is read as --squash-options' default.`

// pullFlags are the registry options shared by import and digest.
type pullFlags struct {
	arch, platform, cacheDir, authFile, certsDir, creds, regConf string
	insecure, quiet, verbose                                     bool
	jobs                                                         int
	sharedDir                                                    string // GPYXIS_SHARED_CACHE_DIR, unless --cache-dir
}

func (f *pullFlags) register(fs *flag.FlagSet) {
	for _, n := range []string{"a", "arch"} {
		fs.StringVar(&f.arch, n, "", "CPU architecture to pick from a multi-platform image (amd64, arm64, x86_64, aarch64, ...)")
	}
	fs.StringVar(&f.platform, "platform", "", "OS/ARCH[/VARIANT] to pick, e.g. linux/arm64/v8 (default: this machine)")
	fs.StringVar(&f.cacheDir, "cache-dir", "", "blob cache (default $ENROOT_CACHE_PATH or ~/.cache/gpyxis); a node-wide directory can be shared")
	fs.StringVar(&f.authFile, "authfile", "", "containers auth.json (default: the usual auth.json and ~/.docker/config.json)")
	fs.StringVar(&f.certsDir, "certs-dir", "", "directory of HOST:PORT/ca.crt registry CAs (default /etc/containers/certs.d, /etc/docker/certs.d)")
	fs.StringVar(&f.creds, "credentials", "", "enroot netrc credentials (default $ENROOT_CONFIG_PATH/.credentials or ~/.config/enroot/.credentials)")
	fs.StringVar(&f.regConf, "registries-conf", "", "registries.conf for insecure registries and mirrors (default /etc/containers/registries.conf)")
	fs.BoolVar(&f.insecure, "insecure", false, "allow plain HTTP and unverified TLS for every registry (prefer registries.conf insecure entries)")
	fs.IntVar(&f.jobs, "jobs", 0, "parallel layer downloads (default 4, or the configured MAX_CONNECTIONS)")
	for _, n := range []string{"q", "quiet"} {
		fs.BoolVar(&f.quiet, n, false, "print errors only")
	}
	for _, n := range []string{"v", "verbose"} {
		fs.BoolVar(&f.verbose, n, false, "log each step")
	}
}

// logger writes warnings (debug with --verbose) to stderr: the command's voice.
func (f *pullFlags) logger() *slog.Logger {
	level := slog.LevelWarn
	// containers/image logs through the global logrus logger: keep it to errors unless asked.
	logrus.SetLevel(logrus.ErrorLevel)
	if f.verbose {
		level = slog.LevelDebug
		logrus.SetLevel(logrus.InfoLevel)
	} else if f.quiet {
		level = slog.LevelError
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func (f *pullFlags) options(log *slog.Logger) ([]registry.Option, error) {
	cfg, err := siteConfig()
	if err != nil {
		return nil, err
	}
	if f.cacheDir == "" {
		if f.cacheDir, err = userDir("cache directory", cfg.CachePath); err != nil {
			return nil, err
		}
		// A node-wide blob cache (an administrator's 1777 directory) next to
		// the user's own: blobs are copied from it verified, so users share
		// downloads without trusting each other.
		f.sharedDir = cfg.SharedCacheDir
	}
	if f.jobs == 0 {
		f.jobs = 4
		if explicit(cfg, "MAX_CONNECTIONS") && cfg.MaxConnections > 0 {
			f.jobs = cfg.MaxConnections
		}
	}
	// ENROOT_ALLOW_HTTP: plain HTTP for every registry, as enroot's all-or-nothing switch.
	insecure := f.insecure || cfg.AllowHTTP
	opts := []registry.Option{registry.WithLogger(log), registry.WithJobs(f.jobs), registry.WithInsecure(insecure)}
	// enroot's curl limits (--connect-timeout, --max-time, --retry), plus the
	// stall timer curl lacks. gpyxis retries 3 times unless TRANSFER_RETRIES is set.
	if cfg.StallTimeout < 1 {
		return nil, fmt.Errorf("configuration: GPYXIS_STALL_TIMEOUT is %d: set at least 1 (seconds without data before a download is given up)", cfg.StallTimeout)
	}
	sec := func(n int) time.Duration { return time.Duration(n) * time.Second }
	opts = append(opts, registry.WithTimeouts(sec(cfg.ConnectTimeout), sec(cfg.TransferTimeout), sec(cfg.StallTimeout)))
	if explicit(cfg, "TRANSFER_RETRIES") {
		opts = append(opts, registry.WithRetries(cfg.TransferRetries, time.Second))
	}
	if f.platform != "" || f.arch != "" {
		p, err := platformOf(f.platform, f.arch)
		if err != nil {
			return nil, err
		}
		opts = append(opts, registry.WithPlatform(p.OS, p.Architecture, p.Variant))
	}
	for _, o := range []struct {
		v   string
		opt func(string) registry.Option
	}{{f.cacheDir, registry.WithCacheDir}, {f.sharedDir, registry.WithSharedCacheDir}, {f.authFile, registry.WithAuthFile}, {f.certsDir, registry.WithCertsDir},
		{f.creds, registry.WithCredentialsFile}, {f.regConf, registry.WithRegistriesConf}} {
		if o.v != "" {
			opts = append(opts, o.opt(o.v))
		}
	}
	return opts, nil
}

// debArch maps the names enroot accepts (uname -m style) to OCI architectures.
var debArch = map[string]string{"x86_64": "amd64", "aarch64": "arm64", "ppc64le": "ppc64le", "armv7l": "arm"}

func platformOf(platform, arch string) (registry.Platform, error) {
	p := registry.DefaultPlatform()
	if platform != "" {
		parts := strings.Split(platform, "/")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
			return p, fmt.Errorf("%w: --platform %q is not OS/ARCH[/VARIANT]", errUsage, platform)
		}
		p = registry.Platform{OS: parts[0], Architecture: parts[1]}
		if len(parts) == 3 {
			p.Variant = parts[2]
		}
	}
	if arch != "" {
		if a, ok := debArch[arch]; ok {
			arch = a
		}
		p.Architecture, p.Variant = arch, ""
	}
	return p, nil
}

// signalContext is cancelled by SIGINT or SIGTERM, so that work in progress cleans up.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func runImport(stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	var pf pullFlags
	pf.register(fs)
	var output, compression, blockSize, squashOpts string
	var force bool
	var level, workers int
	for _, n := range []string{"o", "output"} {
		fs.StringVar(&output, n, "", "output file (default: enroot's IMAGE+TAG.sqsh in the current directory)")
	}
	for _, n := range []string{"f", "force"} {
		fs.BoolVar(&force, n, false, "replace the output file if it exists")
	}
	fs.StringVar(&squashOpts, "squash-options", "", "enroot-style mksquashfs options, e.g. '-comp zstd -Xcompression-level 3 -b 1M' (default: the configured SQUASH_OPTIONS)")
	fs.StringVar(&compression, "compression", "", "zstd or none (default zstd)")
	fs.IntVar(&level, "level", 0, "zstd level 1-22 (default 3)")
	fs.StringVar(&blockSize, "block-size", "", "squashfs block size, 4K to 1M (default 128K)")
	fs.IntVar(&workers, "processors", 0, "compression threads (default: all CPUs)")
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		usageFor(stdout, fs, "import [OPTIONS] URI", importAbout)
		return nil
	}
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: import takes one image URI (try 'gpyxis-runtime import --help')", errUsage)
	}
	ref, err := registry.ParseReference(pos[0])
	if err != nil {
		return fmt.Errorf("%w (forms: docker://[USER@][REGISTRY#]IMAGE[:TAG][@sha256:DIGEST] or REGISTRY/IMAGE[:TAG])", err)
	}
	log := pf.logger()
	if squashOpts == "" {
		if squashOpts, err = configuredSquashOptions(); err != nil {
			return err
		}
	}
	sq, warnings, err := importer.ParseSquashOptions(squashOpts, squashfs.Options{Workers: workers})
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	if err := squashFlags(&sq, compression, level, blockSize); err != nil {
		return err
	}
	if sq.ModTime == 0 {
		sq.ModTime = time.Now().Unix()
		if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" { // reproducible builds, as enroot
			if sq.ModTime, err = strconv.ParseInt(epoch, 10, 64); err != nil {
				return fmt.Errorf("%w: SOURCE_DATE_EPOCH=%q is not a number of seconds", errUsage, epoch)
			}
		}
	}
	if output == "" {
		output = ref.OutputName()
	}
	if output, err = filepath.Abs(output); err != nil {
		return fmt.Errorf("output path: %w", err)
	}
	return doImport(ref, output, force, sq, pf, log)
}

// configuredSquashOptions returns SQUASH_OPTIONS when the site or user set it
// (ENROOT_SQUASH_OPTIONS, a config file); enroot's own default (lzo, data uncompressed)
// is not taken over: gpyxis defaults to zstd level 3.
func configuredSquashOptions() (string, error) {
	cfg, err := siteConfig()
	if err != nil {
		return "", err
	}
	if explicit(cfg, "SQUASH_OPTIONS") {
		return cfg.SquashOptions, nil
	}
	return "", nil
}

// squashFlags applies --compression, --level and --block-size over the squash options.
func squashFlags(sq *squashfs.Options, compression string, level int, blockSize string) error {
	switch compression {
	case "":
	case "zstd":
		sq.Compression = squashfs.Zstd
	case "none":
		sq.Compression = squashfs.None
	default:
		return fmt.Errorf("%w: --compression %q: use zstd or none", errUsage, compression)
	}
	if level != 0 {
		sq.Level = level
	}
	if blockSize != "" {
		n, err := importer.ParseSize(blockSize)
		if err != nil {
			return fmt.Errorf("%w: --block-size: %w", errUsage, err)
		}
		sq.BlockSize = int(n)
	}
	return nil
}

func doImport(ref registry.Reference, output string, force bool, sq squashfs.Options, pf pullFlags, log *slog.Logger) error {
	ctx, stop := signalContext()
	defer stop()
	start := time.Now()
	bar := newProgress(os.Stderr, !pf.quiet)
	defer bar.done()
	opts, err := pf.options(log)
	if err != nil {
		return err
	}
	p, err := registry.NewPuller(append(opts, registry.WithProgress(bar.layer))...)
	if err != nil {
		return err
	}
	sq.Logger = log
	res, err := importer.Import(ctx, p, ref, importer.Options{Output: output, Force: force, Squash: sq, Logger: log, Progress: bar.squash})
	bar.done()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("import of %s interrupted: nothing was written", ref)
		}
		return fmt.Errorf("import %s: %w", ref, err)
	}
	if !pf.quiet {
		fmt.Fprintf(os.Stderr, "Wrote %s (%s, %d files) from %s in %s\n", res.Output, humanBytes(res.Size),
			res.Stats.Files, res.Image.Digest, time.Since(start).Round(100*time.Millisecond))
	}
	return nil
}

const digestAbout = `Print the digest of the image's manifest for the chosen platform, as 'enroot digest'.`

func runDigest(stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("digest", flag.ContinueOnError)
	var pf pullFlags
	pf.register(fs)
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		usageFor(stdout, fs, "digest [OPTIONS] URI", digestAbout)
		return nil
	}
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: digest takes one image URI", errUsage)
	}
	ref, err := registry.ParseReference(pos[0])
	if err != nil {
		return err
	}
	opts, err := pf.options(pf.logger())
	if err != nil {
		return err
	}
	p, err := registry.NewPuller(opts...)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	d, err := p.Digest(ctx, ref)
	if err != nil {
		return fmt.Errorf("digest %s: %w", ref, err)
	}
	_, err = fmt.Fprintln(stdout, d)
	return err
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
