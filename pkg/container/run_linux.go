// SPDX-License-Identifier: Apache-2.0

package container

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	imgspec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/gpyxis/gpyxis/internal/fsutil"
	"github.com/gpyxis/gpyxis/internal/tempname"
	"github.com/gpyxis/gpyxis/pkg/environ"
	"github.com/gpyxis/gpyxis/pkg/filter"
	"github.com/gpyxis/gpyxis/pkg/flatten"
	"github.com/gpyxis/gpyxis/pkg/hooks"
	"github.com/gpyxis/gpyxis/pkg/imagecache"
	"github.com/gpyxis/gpyxis/pkg/importer"
	"github.com/gpyxis/gpyxis/pkg/mountspec"
	"github.com/gpyxis/gpyxis/pkg/namespaces"
	"github.com/gpyxis/gpyxis/pkg/registry"
	"github.com/gpyxis/gpyxis/pkg/rootfs"
	"github.com/gpyxis/gpyxis/pkg/unpack"
)

// RunOptions describe one `run`: a temporary container from a registry image or a
// squashfs file.
type RunOptions struct {
	Ref          registry.Reference
	Squashfs     string   // a .sqsh file to run instead of Ref
	Args         []string // command and arguments; empty: the image's entrypoint and command
	RemapRoot    bool     // the caller appears as root (0) inside; default: as themselves
	Writable     bool     // rootfs writable; default read-only, as enroot
	NoEntrypoint bool     // run Args alone, without /etc/rc and the image's ENTRYPOINT
	Env          []string // --env arguments: NAME=VALUE, or NAME for the host's value
	Workdir      string   // working directory; default the image's WORKDIR
	DataDir      string   // where the temporary rootfs goes; required
	Mounts       []rootfs.Mount
	Unshare      namespaces.Unshare // namespaces not shared with the host (net, ipc, uts)
	// Cache, if set, makes a read-only Run start on an overlay of the node
	// cache's tree of the image (pkg/imagecache) instead of unpacking it;
	// CacheMaxMB and CacheMaxDays bound the cache after a tree is added.
	Cache                    *imagecache.Cache
	CacheMaxMB, CacheMaxDays int
	// Superuser keeps a root caller real root: no user namespace, no seccomp
	// filter (enroot's ENROOT_ALLOW_SUPERUSER). Ignored for other callers.
	Superuser bool
	Stdin     io.Reader
	Stdout    io.Writer
	Stderr    io.Writer
	Logger    *slog.Logger

	HookConfig map[string]string // hook switches (see pkg/hooks): mount_home, restrict_dev, ...
	// ConfDirs are the site and user configuration directories, in order (as enroot's
	// sysconf then config path): each may hold environ.d/*.env, mounts.d/*.fstab and
	// hooks.d/ executables.
	ConfDirs []string

	// RC is a host file run instead of the image's /etc/rc (enroot start --rc):
	// a regular file or a pipe, read before anything starts and handed to the
	// container as /proc/self/fd/4, so that the command is
	// `/bin/sh /proc/self/fd/4 ARGS`, as enroot-switchroot runs its copy. The
	// image is not modified. Hold ignores it.
	RC string
	// Conf is an enroot configuration script (enroot start --conf), run by
	// bash: what its environ() prints is added to the environment after the
	// environ.d files and before Env; its hooks() runs after the site hooks with
	// their contract; the mounts its mounts() prints come after the image's and
	// the site's and before Mounts; its rc() body replaces /etc/rc unless RC is
	// set.
	Conf string

	rc      []byte // RC's content, or conf's rc(); nil: the image's /etc/rc
	started func() // called once the container process runs (or failed to)
}

// loadScripts reads the --rc file and checks the --conf script: both fail
// before any work, as enroot's start checks them first.
func (o *RunOptions) loadScripts() error {
	if o.RC != "" {
		b, err := ReadRC(o.RC)
		if err != nil {
			return err
		}
		o.rc = b
	}
	if o.Conf != "" {
		p, err := CheckConf(o.Conf)
		if err != nil {
			return err
		}
		o.Conf = p
	}
	return nil
}

// Run pulls o.Ref (or reads o.Squashfs), unpacks it into a temporary rootfs under o.DataDir, runs the
// command in new user, mount and cgroup namespaces (host network, PIDs and IPC), and
// removes the rootfs. It returns the command's exit code.
func Run(ctx context.Context, p *registry.Puller, o RunOptions) (int, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	for _, e := range o.Env { // fail before any work
		if err := environ.New().SetFlag(e, os.LookupEnv); err != nil {
			return 0, err
		}
	}
	if err := o.loadScripts(); err != nil {
		return 0, err
	}
	if err := namespaces.Check(); err != nil {
		return 0, err
	}
	if o.Cache != nil && !o.Writable {
		// Read-only runs only: an unprivileged overlay cannot rename a
		// directory of its lower layer (EXDEV), which dpkg needs.
		return runCached(ctx, p, o)
	}
	var img *registry.Image
	if o.Squashfs == "" {
		var err error
		if img, err = pull(ctx, p, o.Ref); err != nil {
			return 0, err
		}
	}
	dir, err := runDir(o.DataDir)
	if err != nil {
		return 0, err
	}
	defer RemoveRootfs(dir)
	if img == nil {
		if err := extractSquashfs(ctx, o.Squashfs, dir, o.Logger); err != nil {
			return 0, err
		}
		return launch(ctx, dir, imgspec.ImageConfig{}, o)
	}
	if err := unpackImage(ctx, p, img, dir, o.Logger); err != nil {
		return 0, err
	}
	return launch(ctx, dir, img.Config.Config, o)
}

// runCached is Run on an overlay of the node cache's tree of the image: the
// image is unpacked once per node, and each run writes only its own layer.
func runCached(ctx context.Context, p *registry.Puller, o RunOptions) (int, error) {
	src := TreeSource{Ref: o.Ref, Squashfs: o.Squashfs, Name: o.Squashfs}
	if o.Squashfs == "" {
		src.Name = o.Ref.String()
	}
	entry, produced, err := CachedTree(ctx, o.Cache, p, src, o.Logger)
	if err != nil {
		return 0, err
	}
	use, err := o.Cache.Use(entry)
	if err != nil {
		return 0, err
	}
	defer use.Close()
	if produced {
		GCAfterProduce(o.Cache, o.CacheMaxMB, o.CacheMaxDays, o.Logger)
	}
	dir, err := runDir(o.DataDir)
	if err != nil {
		return 0, err
	}
	defer RemoveRootfs(dir)
	pp, err := prepareOverlay(ctx, OverlayRoot{Lower: entry.Rootfs, Dir: dir, Config: entry.Meta.Config}, o)
	if err != nil {
		return 0, err
	}
	return startPrepared(ctx, pp, o)
}

// runDir makes a run's private directory under the data directory.
func runDir(dataDir string) (string, error) {
	if err := (Store{Dir: dataDir}).Ensure(); err != nil {
		return "", err
	}
	CollectTemporaries(dataDir) // what killed runs left; never this run's concern
	dir, err := tempname.Mkdir(dataDir, runPrefix)
	if err != nil {
		return "", fmt.Errorf("rootfs: %w", err)
	}
	return dir, nil
}

// pull resolves ref and makes sure its layers are in the cache.
func pull(ctx context.Context, p *registry.Puller, ref registry.Reference) (*registry.Image, error) {
	img, err := p.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := p.Fetch(ctx, img); err != nil {
		return nil, err
	}
	return img, nil
}

// unpackImage writes img's merged tree (with enroot's config files) into dir.
func unpackImage(ctx context.Context, p *registry.Puller, img *registry.Image, dir string, log *slog.Logger) error {
	return unpackLayers(ctx, p, img, dir, nil, Budget{}, log)
}

// unpackLayers writes img's merged tree into dir, with the layers p opens,
// keeping the extended attributes xattr accepts (nil: all).
func unpackLayers(ctx context.Context, p importer.Puller, img *registry.Image, dir string, xattr func(string) bool, b Budget, log *slog.Logger) error {
	layers, err := importer.Layers(ctx, p, img)
	if err != nil {
		return err
	}
	w, err := unpack.NewWriter(dir, log)
	if err != nil {
		return err
	}
	w.Xattr = xattr
	// Every attribute reaches the writer, which applies xattr, and the kernel
	// what the caller may set: flatten's default (user.* only) would lose
	// the file capabilities root can keep.
	all := func(string) bool { return true }
	_, err = flatten.Flatten(ctx, layers, w, flatten.Options{SkipDevices: true, ExcludeDevDir: true, Logger: log,
		MaxBytes: b.Bytes, MaxEntries: b.Entries, XattrFilter: all})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("unpack %s: %w", img.Ref, err)
	}
	return nil
}

// launch runs o's command in the container whose rootfs is dir, with cfg the image
// config (entrypoint, command, workdir), and waits for it. The rootfs is the
// container's own, so missing mount points may be created in it.
func launch(ctx context.Context, dir string, cfg imgspec.ImageConfig, o RunOptions) (int, error) {
	p, err := prepare(dir, cfg, o)
	if err != nil {
		return 0, err
	}
	return startPrepared(ctx, p, o)
}

// startPrepared runs o's command in a prepared container and waits for it.
func startPrepared(ctx context.Context, p *prepared, o RunOptions) (int, error) {
	var extra []*os.File
	if p.rc != nil {
		f, err := rcFile(p.rc)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		extra = append(extra, f)
	}
	proc, err := rootfs.Start(ctx, rootfs.StartConfig{
		Rootfs: p.rootfs, IDMap: p.idmap, Args: p.args, Env: p.env, Dir: p.dir, Seccomp: p.seccomp,
		Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr, ExtraFiles: extra,
	})
	if o.started != nil {
		o.started()
	}
	if err != nil {
		return 0, err
	}
	err = proc.Wait()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return 0, fmt.Errorf("wait: %w", err)
	}
	return proc.ExitCode(), nil
}

// prepared is a container ready to start: its mounts, identity, command and
// environment, computed on the host.
type prepared struct {
	rootfs  rootfs.Config
	idmap   namespaces.IDMap
	args    []string
	env     []string
	dir     string
	seccomp []byte
	rc      []byte // the rc script to hand in as rcPath; nil: none
}

// rcPath is where the command finds an --rc script or a --conf rc(): the
// first of rootfs.StartConfig.ExtraFiles.
var rcPath = "/proc/self/fd/" + strconv.Itoa(rootfs.FirstExtraFD)

// rcFile puts an rc script in a sealed memfd, as enroot-switchroot does.
func rcFile(rc []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate("gpyxis-rc", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("rc script: memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "gpyxis-rc")
	if _, err := f.Write(rc); err != nil {
		f.Close()
		return nil, fmt.Errorf("rc script: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("rc script: seal: %w", err)
	}
	return f, nil
}

// prepare runs the hooks and computes what starting the container whose rootfs
// is dir takes: enroot's mount order, the environment, the command and its
// working directory (/etc/rc semantics), and the seccomp filter.
func prepare(dir string, cfg imgspec.ImageConfig, o RunOptions) (*prepared, error) {
	idmap := o.idMap()
	conf := newConf(o.Conf, dir, o.Args, o.Stderr)
	env, err := environment(dir, o.Env, o.RemapRoot, conf, o.ConfDirs...)
	if err != nil {
		return nil, err
	}
	site, err := siteMounts(dir, o.ConfDirs)
	if err != nil {
		return nil, err
	}
	hookMounts, links, cmds, err := runHooks(dir, env, o, conf.hook())
	if err != nil {
		return nil, err
	}
	confMounts, err := conf.mounts()
	if err != nil {
		return nil, err
	}
	if o.rc == nil {
		if o.rc, err = conf.rc(); err != nil {
			return nil, err
		}
	}
	volumes, err := imageMounts(dir)
	if err != nil {
		return nil, err
	}
	args, wd := Command(dir, cfg.Entrypoint, cfg.Cmd, cfg.WorkingDir, o)
	var prog []byte
	if _, real := idmap.(namespaces.HostRoot); !real {
		// Real root needs no faked chown; everyone else gets the filter.
		if prog, err = filter.BPF(filter.Options{}); err != nil {
			o.Logger.Warn("running without the seccomp filter: chown and setuid will fail inside", "err", err)
		}
	}
	return &prepared{
		rootfs: rootfs.Config{Rootfs: dir, Writable: o.Writable, CreateMountpoints: true, Unshare: o.Unshare,
			// enroot's order: mounts.d pass -1, hooks' mounts, the image's VOLUMEs,
			// mounts.d pass 0, the --conf mounts(), then the user's.
			Mounts: concat(Mounts(mountspec.FilterPass(site, mountspec.PassSystem)), hookMounts, volumes,
				Mounts(mountspec.FilterPass(site, mountspec.PassDefault)), Mounts(confMounts), o.Mounts),
			Links: links, Commands: cmds, Logger: o.Logger},
		idmap: idmap, args: args, env: env.List(), dir: wd, seccomp: prog, rc: o.rc,
	}, nil
}

// siteMounts reads the mounts.d/*.fstab files of the configuration directories, with
// ${ENROOT_ROOTFS} (and the host environment) substituted, as enroot does.
func siteMounts(dir string, confDirs []string) ([]mountspec.Mount, error) {
	vars := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	vars["ENROOT_ROOTFS"], vars["GPYXIS_ROOTFS"] = dir, dir
	var out []mountspec.Mount
	for _, d := range confDirs {
		files, _ := filepath.Glob(filepath.Join(d, "mounts.d", "*.fstab"))
		for _, f := range files {
			m, err := mountspec.ParseFstabFile(f, vars)
			if err != nil {
				return nil, err
			}
			out = append(out, m...)
		}
	}
	return out, nil
}

func concat(lists ...[]rootfs.Mount) []rootfs.Mount {
	var out []rootfs.Mount
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// imageMounts reads the image's /etc/fstab, where the import wrote one bind per
// VOLUME (${ENROOT_ROOTFS}/DIR onto DIR, read-write), as enroot mounts it before the
// user's mounts. A volume directory the image lacks is skipped; sources are resolved
// inside the rootfs (confineImageBinds).
func imageMounts(dir string) ([]rootfs.Mount, error) {
	data, err := readImageFile(dir, "/etc/fstab")
	if err != nil || data == nil {
		return nil, err
	}
	specs, err := mountspec.ParseFstab(bytes.NewReader(data), map[string]string{"ENROOT_ROOTFS": dir})
	if err != nil {
		return nil, fmt.Errorf("image /etc/fstab: %w", err)
	}
	mounts := Mounts(specs)
	for i := range mounts {
		mounts[i].Optional = true
	}
	if err := confineImageBinds(dir, mounts); err != nil {
		return nil, err
	}
	return mounts, nil
}

// runHooks runs the builtin hooks and the site hook directories in enroot's order, on
// the container's own rootfs, and returns the mounts and links they ask for, and the
// commands the container init must run in the namespaces before pivot_root (the
// nvidia hook's nvidia-container-cli, which cannot run from the host unprivileged).
func runHooks(dir string, env *environ.Env, o RunOptions, conf hooks.Hook) ([]rootfs.Mount, []rootfs.Link, []rootfs.Command, error) {
	var list []hooks.Hook
	for _, h := range hooks.Builtin() {
		if h.Name() != "nvidia" {
			list = append(list, h)
		}
	}
	for _, d := range o.ConfDirs {
		site, err := hooks.Site(filepath.Join(d, "hooks.d"))
		if err != nil {
			return nil, nil, nil, err
		}
		list = append(list, site...)
	}
	if conf != nil { // enroot runs the --conf hooks() after hooks.d
		list = append(list, conf)
	}
	ctx := &hooks.Context{Rootfs: dir, UID: os.Getuid(), GID: os.Getgid(), RemapRoot: o.RemapRoot, Home: os.Getenv("HOME"),
		Env: env, HostEnv: os.Environ(), Config: o.HookConfig, Logger: o.Logger, Output: o.Stderr}
	if err := hooks.RunAll(ctx, list); err != nil {
		return nil, nil, nil, err
	}
	var cmds []rootfs.Command
	nv, err := hooks.NvidiaCommand(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	if nv != nil {
		cmds = append(cmds, rootfs.Command{Path: nv.Path, Args: nv.Args, Env: nv.Env})
	}
	links := make([]rootfs.Link, len(ctx.Links))
	for i, l := range ctx.Links {
		links[i] = rootfs.Link{Path: l.Path, Target: l.Target}
	}
	return ctx.Mounts, links, cmds, nil
}

// Environment computes the command's environment as enroot does: the image's
// /etc/environment, TERM from the host, the --env arguments, then login defaults.
func Environment(dir string, flags []string, remapRoot bool) ([]string, error) {
	env, err := environment(dir, flags, remapRoot, nil)
	if err != nil {
		return nil, err
	}
	return env.List(), nil
}

func environment(dir string, flags []string, remapRoot bool, conf *confScript, confDirs ...string) (*environ.Env, error) {
	env := environ.New()
	imageEnv, err := readImageFile(dir, "/etc/environment")
	if err != nil {
		return nil, err
	}
	if err := env.Load(bytes.NewReader(imageEnv), os.LookupEnv); err != nil {
		return nil, fmt.Errorf("image /etc/environment: %w", err)
	}
	if err := env.SetFlag("TERM", os.LookupEnv); err != nil { // enroot's 10-terminal.env
		return nil, err
	}
	for _, d := range confDirs { // environ.d files, system then user, each in glob order
		files, _ := filepath.Glob(filepath.Join(d, "environ.d", "*.env"))
		for _, f := range files {
			if err := env.LoadFile(f, os.LookupEnv); err != nil {
				return nil, err
			}
		}
	}
	if err := conf.environ(env); err != nil { // the --conf environ(), then --env
		return nil, err
	}
	for _, f := range flags {
		if err := env.SetFlag(f, os.LookupEnv); err != nil {
			return nil, err
		}
	}
	u := environ.User{Root: remapRoot, Home: os.Getenv("HOME"), Shell: "/bin/sh"}
	if cur, err := user.Current(); err == nil {
		u.Name, u.Logname = cur.Username, cur.Username
	}
	if remapRoot {
		u.Name, u.Home = "root", "/root"
	}
	defs, err := readImageFile(dir, "/etc/login.defs")
	if err != nil {
		return nil, err
	}
	env.SetLoginDefaults(u, defs)
	return env, nil
}

// Command returns what to exec and where, with enroot's /etc/rc semantics: with an
// rc script given (RC, or a --conf rc()), `/bin/sh /proc/self/fd/4 ARGS`; when the
// image has /etc/rc and a shell, `sh /etc/rc ARGS` (cd WORKDIR, then ENTRYPOINT + ARGS,
// or ENTRYPOINT + CMD without ARGS); otherwise, and with NoEntrypoint, the command
// itself (the image's ENTRYPOINT + CMD when none is given), so that images without
// /bin/sh still run.
func Command(dir string, entrypoint, cmd []string, workdir string, o RunOptions) ([]string, string) {
	wd := o.Workdir
	if wd == "" {
		wd = workdir
	}
	if wd == "" {
		wd = rcWorkdir(dir)
	}
	if wd == "" {
		wd = "/"
	}
	if o.RC != "" || o.rc != nil {
		return append([]string{"/bin/sh", rcPath}, o.Args...), wd
	}
	if !o.NoEntrypoint && imageHas(dir, "/etc/rc", false) && imageHas(dir, "/bin/sh", true) && o.Workdir == "" {
		return append([]string{"/bin/sh", "/etc/rc"}, o.Args...), wd
	}
	if len(o.Args) > 0 {
		if o.NoEntrypoint {
			return o.Args, wd
		}
		return append(append([]string{}, entrypoint...), o.Args...), wd
	}
	if !o.NoEntrypoint && len(entrypoint)+len(cmd) > 0 {
		return append(append([]string{}, entrypoint...), cmd...), wd
	}
	return []string{"/bin/sh"}, wd
}

// RemoveRootfs deletes a container rootfs, first making every directory writable and
// searchable (images hold 0555 and 0000 directories).
func RemoveRootfs(dir string) error { return fsutil.RemoveTree(dir) }

// idMap is how the caller appears in the container.
func (o RunOptions) idMap() namespaces.IDMap {
	switch {
	case o.Superuser && os.Geteuid() == 0:
		return namespaces.HostRoot{}
	case o.RemapRoot:
		return namespaces.RemapRoot{}
	}
	return namespaces.Identity{}
}
