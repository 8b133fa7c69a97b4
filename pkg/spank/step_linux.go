// SPDX-License-Identifier: Apache-2.0

package spank

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/internal/boundedio"
	"github.com/gpyxis/gpyxis/internal/inroot"
	"github.com/gpyxis/gpyxis/internal/lockfile"
	"github.com/gpyxis/gpyxis/internal/pathtrust"
	"github.com/gpyxis/gpyxis/pkg/config"
	"github.com/gpyxis/gpyxis/pkg/container"
	"github.com/gpyxis/gpyxis/pkg/mountspec"
	"github.com/gpyxis/gpyxis/pkg/namespaces"
	"github.com/gpyxis/gpyxis/pkg/registry"
	"github.com/gpyxis/gpyxis/pkg/rootfs"
	"github.com/gpyxis/gpyxis/pkg/squashfs"
)

// Deps is what the operations need from the command: configuration loaded
// from the job's environment, and a way to reach registries.
type Deps struct {
	Config     *config.Config
	HookConfig map[string]string // hook switches, as for `start`
	ConfDirs   []string          // environ.d, mounts.d, hooks.d directories
	Squash     squashfs.Options  // for --container-save
	NewPuller  func() (*registry.Puller, error)
	Logger     *slog.Logger // the runtime's log, replayed to the user on failure
	Log        io.Writer    // the same log as a writer, for the container's init
}

// Handle runs one operation and fills rep. A returned error has already been
// added to rep as an error record.
func Handle(ctx context.Context, req *Request, rep *Reply, d Deps) error {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Log == nil {
		d.Log = io.Discard
	}
	var err error
	switch req.Op {
	case OpInit:
		err = opInit(req)
	case OpCheck:
		err = opCheck(req, rep)
	case OpSetup:
		err = opSetup(ctx, req, rep, d)
	case OpResolve:
		err = opResolve(ctx, req, rep, d)
	case OpFetch:
		err = opFetch(ctx, req, rep, d)
	case OpJoin:
		err = opJoin(ctx, req, rep, d)
	case OpExit:
		err = opExit(req, rep, d)
	case OpEpilog:
		err = opEpilog(req, rep, d)
	default:
		err = fmt.Errorf("unknown operation %q", req.Op)
	}
	if err != nil {
		rep.Error(err.Error())
	}
	return err
}

// parseAll reads the plugstack arguments and the options (with their
// PYXIS_CONTAINER_* fallbacks from the request's environment).
func parseAll(req *Request) (Plugstack, Options, []string, error) {
	ps, err := ParsePlugstack(req.Args)
	if err != nil {
		return ps, Options{}, nil, err
	}
	o, warnings, err := ParseOptions(req.Options, req.Getenv)
	return ps, o, warnings, err
}

func opInit(req *Request) error {
	ps, err := ParsePlugstack(req.Args)
	if err != nil {
		return err
	}
	// The parent of the per-user directories; slurmd runs as root.
	if err := pathtrust.MkdirAll(ps.RuntimePath, 0o755, os.Geteuid()); err != nil {
		return fmt.Errorf("runtime_path: %w", err)
	}
	return nil
}

func opCheck(req *Request, rep *Reply) error {
	_, _, warnings, err := parseAll(req)
	for _, w := range warnings {
		rep.Warning(w)
	}
	return err
}

// opSetup runs as root in slurmstepd: it says whether the step needs the
// plugin, makes the user's runtime directory, which only root can, and
// readies the step's tree when the site has a shared cache.
func opSetup(ctx context.Context, req *Request, rep *Reply, d Deps) error {
	_, o, _, err := parseAll(req)
	if err != nil {
		// Reported by every task's join, where it fails the step.
		rep.Enabled(true)
		return nil
	}
	rep.Enabled(o.Enabled())
	if !o.Enabled() {
		return nil
	}
	j, _, err := loadJob(req)
	if err != nil {
		return err
	}
	if sharedEligible(j) {
		if err := shareTree(ctx, req, rep, j, d); err != nil {
			// The step falls back to the user's own cache.
			d.Logger.Warn("shared image cache not used", "err", err)
			rep.Verbose("shared image cache not used: " + err.Error())
		}
	}
	return nil
}

// userRuntimeDir makes RUNTIME_PATH/UID (0700, owned by the user) and checks
// it for uid (internal/pathtrust), so that no other user can plant state
// there; root (slurmstepd) checks it against the user's uid.
func userRuntimeDir(ps Plugstack, uid, gid int) (string, error) {
	dir := filepath.Join(ps.RuntimePath, strconv.Itoa(uid))
	if os.Geteuid() == 0 {
		if err := pathtrust.MkdirAll(ps.RuntimePath, 0o755, 0); err != nil {
			return "", fmt.Errorf("runtime_path: %w", err)
		}
		if err := os.Mkdir(dir, 0o700); err == nil {
			if err := os.Chown(dir, uid, gid); err != nil {
				return "", fmt.Errorf("runtime directory: %w", err)
			}
		} else if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("runtime directory: %w", err)
		}
	} else if err := pathtrust.MkdirAll(dir, 0o700, uid); err != nil {
		if errors.Is(err, pathtrust.ErrUntrusted) {
			return "", fmt.Errorf("runtime directory: %w", err)
		}
		return "", fmt.Errorf("runtime directory: %w (an administrator must create %s)", err, ps.RuntimePath)
	}
	if err := pathtrust.CheckDir(dir, uid); err != nil {
		return "", fmt.Errorf("runtime directory: %w", err)
	}
	return dir, nil
}

// job is the part of the request every operation uses.
type job struct {
	uid, gid      int
	jobID, stepID string
	nodeID        int64
	ps            Plugstack
	o             Options
	dir           string // the user's runtime directory
}

const batchStep = 0xfffffffb // SLURM_BATCH_SCRIPT

func loadJob(req *Request) (*job, []string, error) {
	ps, o, warnings, err := parseAll(req)
	if err != nil {
		return nil, nil, err
	}
	j := &job{ps: ps, o: o}
	var v [4]int64
	for i, k := range []string{"uid", "gid", "jobid", "stepid"} {
		if v[i], err = req.Int(k); err != nil {
			return nil, nil, err
		}
	}
	j.uid, j.gid, j.jobID, j.stepID = int(v[0]), int(v[1]), strconv.FormatInt(v[2], 10), strconv.FormatInt(v[3], 10)
	if v[3] == batchStep {
		j.stepID = "batch"
	}
	j.nodeID, _ = req.Int("nodeid")
	if o.Enabled() {
		if j.dir, err = userRuntimeDir(ps, j.uid, j.gid); err != nil {
			return nil, nil, err
		}
	}
	return j, warnings, nil
}

// name is the container's name in the store: pyxis_NAME, or
// pyxis_JOBID.STEPID for an unnamed step; with container_scope=job the job
// ID follows the prefix (pyxis 3.8).
func (j *job) name() string {
	n := j.o.Name
	if n == "" {
		n = j.jobID + "." + j.stepID
	}
	if j.ps.ContainerScope == "job" {
		return "pyxis_" + j.jobID + "_" + n
	}
	return "pyxis_" + n
}

func (j *job) stepFile(ext string) string {
	// The node ID keeps nodes apart where the runtime directory is shared
	// (the harness's second node is a namespace of the same machine).
	return filepath.Join(j.dir, fmt.Sprintf("step.%s.%s.%d%s", j.jobID, j.stepID, j.nodeID, ext))
}

// stepState is what the first task records for the others and for exit.
type stepState struct {
	Name      string             `json:"name"`
	Failed    string             `json:"failed,omitempty"`
	Temporary bool               `json:"temporary,omitempty"` // remove at the end of the step
	OwnHolder bool               `json:"own_holder,omitempty"`
	Holder    rootfs.HolderState `json:"holder"`
	Save      string             `json:"save,omitempty"`
	// Overlay is the container's own directory (upper, work, mount point)
	// when its rootfs is an overlay of a cached tree; removed at the end.
	Overlay string `json:"overlay,omitempty"`
	// Superuser: the container has no user namespace (ALLOW_SUPERUSER);
	// tasks get no seccomp filter.
	Superuser bool `json:"superuser,omitempty"`
}

// flock takes an exclusive lock on path, waiting for as long as ctx allows.
func flock(ctx context.Context, path string) (func(), error) {
	return lockfile.Lock(ctx, path, unix.LOCK_EX)
}

func readStep(path string) (*stepState, error) {
	b, err := boundedio.ReadFile(path, boundedio.Config)
	if err != nil {
		return nil, err
	}
	var s stepState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("step state %s: %w", path, err)
	}
	return &s, nil
}

func writeStep(path string, s *stepState) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("step state: %w", err)
	}
	return os.Rename(tmp, path)
}

// errOtherTask is what the tasks after a failed first one report (pyxis'
// words): the first one already printed why.
var errOtherTask = errors.New("container was not started successfully by another task")

func opJoin(ctx context.Context, req *Request, rep *Reply, d Deps) error {
	j, warnings, err := loadJob(req)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		d.Logger.Warn(w)
	}
	if !j.o.Enabled() {
		return nil
	}
	unlock, err := flock(ctx, j.stepFile(".lock"))
	if err != nil {
		return err
	}
	st, err := readStep(j.stepFile(".json"))
	if errors.Is(err, fs.ErrNotExist) {
		start := time.Now()
		st, err = setUp(ctx, req, rep, j, d)
		if err != nil {
			// The other tasks must not try again (one import per node).
			writeStep(j.stepFile(".json"), &stepState{Name: j.name(), Failed: err.Error()})
		} else {
			rep.Info(fmt.Sprintf("completed container setup in %d ms", time.Since(start).Milliseconds()))
			err = writeStep(j.stepFile(".json"), st)
		}
	} else if err == nil && st.Failed != "" {
		err = errOtherTask
	}
	unlock()
	if err != nil {
		return err
	}
	return joinStep(ctx, req, rep, j, d, st)
}

// setUp is the first task's work: find or create the container, start its
// holder (or find the running one to attach to).
func setUp(ctx context.Context, req *Request, rep *Reply, j *job, d Deps) (*stepState, error) {
	o := j.o
	store := container.Store{Dir: d.Config.DataPath}
	name := j.name()
	st := &stepState{Name: name, Temporary: o.Name == "", Superuser: superuser(j, d)}
	if j.ps.ContainerScope == ScopeJob && !st.Temporary {
		if err := recordJobStore(j, store.Dir); err != nil {
			return nil, err
		}
	}
	if o.Save != "" {
		save, err := savePath(o.Save, req)
		if err != nil {
			return nil, err
		}
		st.Save = save
	}
	if !st.Temporary {
		// Steps of other jobs may want the same name at the same time. (An
		// unnamed step's name is its own.) The lock file stays: removing a
		// lock file races with the next locker.
		unlock, err := flock(ctx, filepath.Join(j.dir, "name."+name+".lock"))
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	_, lookErr := store.Lookup(name)
	if errors.Is(lookErr, pathtrust.ErrUntrusted) {
		return nil, lookErr // nothing of that data directory may be used, not even beside a container
	}
	exists := lookErr == nil
	holder := runningHolder(store, name, j.dir)
	switch o.NameFlag {
	case "create":
		if exists {
			return nil, errors.New(`"create" flag was passed to --container-name but the container already exists`)
		}
	case "exec":
		if holder == nil {
			return nil, errors.New(`"exec" flag was passed to --container-name but the container is not running`)
		}
	case "no_exec":
		holder = nil
	}
	if holder != nil {
		rep.Info("reusing existing container namespaces")
		if len(o.Mounts) > 0 {
			rep.Log("ignoring --container-mounts when attaching to a running container")
		}
		st.Holder = *holder
		if st.Holder.Dir == "" {
			st.Holder.Dir = store.Workdir(name)
		}
		return st, nil
	}
	var h *container.Holding
	var discard func() // undoes what a failed start leaves
	if st.Temporary && st.Save == "" && d.Config.RootfsCache && j.ps.Importer == "" && !exists &&
		!o.Writable.Bool(d.Config.RootfsWritable) {
		// An unnamed read-only step starts on an overlay of the node's
		// cached tree (pkg/imagecache): no unpacking once the image was
		// seen. Not a writable one: an unprivileged overlay cannot rename
		// a directory of the lower layer (EXDEV; redirect_dir needs
		// privilege), and dpkg, for one, does not cope.
		var err error
		if t, serr := readShared(j); serr == nil {
			h, st.Overlay, err = holdShared(ctx, req, rep, j, d, name, t)
		} else {
			h, st.Overlay, err = holdCached(ctx, req, rep, j, d, name)
		}
		if err != nil {
			return nil, err
		}
		discard = func() { container.RemoveRootfs(st.Overlay) }
	} else {
		if exists {
			rep.Info("reusing existing container filesystem")
		} else if err := create(ctx, req, rep, j, d, store, name); err != nil {
			return nil, err
		}
		discard = func() {
			if st.Temporary {
				store.Remove(name)
			}
		}
		var err error
		if h, err = hold(ctx, req, j, d, store, name); err != nil {
			discard()
			return nil, err
		}
	}
	st.Holder, st.OwnHolder = h.State, true
	if o.Entrypoint.Bool(j.ps.ExecuteEntrypoint) {
		if err := runEntrypoint(ctx, rep, j, &st.Holder); err != nil {
			stopHolder(&st.Holder)
			discard()
			return nil, err
		}
	}
	return st, nil
}

// entrypointProbe runs as the image's command under /etc/rc: what the
// ENTRYPOINT exported and where it left the working directory become every
// task's environment and directory, as pyxis gets them from the stopped
// `enroot start ... sh -c 'kill -STOP $$'` helper. Its report goes to fd 3 so
// that the entrypoint's own output stays apart.
const entrypointProbe = `pwd >&3 && cat /proc/$$/environ >&3`

// hasRC reports whether the container of holder pid has an /etc/rc.
func hasRC(pid int) bool {
	r, err := inroot.Open(fmt.Sprintf("/proc/%d/root", pid))
	if err != nil {
		return false
	}
	defer r.Close()
	_, err = r.Lstat("/etc/rc")
	return err == nil
}

// runEntrypoint runs /etc/rc (cd WORKDIR, then ENTRYPOINT + the probe) in the
// holder's namespaces and records the environment and directory it ends
// with in h. Images without /etc/rc have no entrypoint to run.
func runEntrypoint(ctx context.Context, rep *Reply, j *job, h *rootfs.HolderState) error {
	// The holder's root is the container's: /etc/rc as the container sees
	// it, resolved inside that root (an image's /etc linking to an absolute
	// path would otherwise be looked up on the host).
	if !hasRC(h.Pid) {
		return nil
	}
	stateFile, err := os.CreateTemp(j.dir, ".probe-*.json")
	if err != nil {
		return fmt.Errorf("entrypoint: %w", err)
	}
	defer os.Remove(stateFile.Name())
	stateFile.Close()
	if err := h.Write(stateFile.Name()); err != nil {
		return fmt.Errorf("entrypoint: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("entrypoint: %w", err)
	}
	var out strings.Builder
	cmd := exec.CommandContext(ctx, "/proc/self/exe", "exec", stateFile.Name(), "--", "/bin/sh", "/etc/rc", "/bin/sh", "-c", entrypointProbe)
	cmd.ExtraFiles = []*os.File{w}
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		return fmt.Errorf("entrypoint: %w", err)
	}
	report, rerr := boundedio.Read(r, "entrypoint report", boundedio.Config)
	r.Close()
	err = cmd.Wait()
	logLines := func(f func(string)) {
		for _, l := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
			if l != "" {
				f(l)
			}
		}
	}
	pwd, environ, ok := strings.Cut(string(report), "\n")
	if err != nil || rerr != nil || !ok {
		msg := "container start failed"
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() > 0 {
			msg = fmt.Sprintf("container start failed with error code: %d", exit.ExitCode())
		} else if err == nil {
			msg = "container exited too soon"
		}
		logLines(func(l string) { rep.Error("    " + l) })
		return fmt.Errorf("%s (if the image has an unusual entrypoint, try using --no-container-entrypoint)", msg)
	}
	if j.o.EntrypointLog {
		logLines(rep.Log)
	}
	h.Dir = pwd
	h.Env = nil
	for _, kv := range strings.Split(environ, "\x00") {
		if kv != "" && !strings.HasPrefix(kv, "_GPYXIS_") {
			h.Env = append(h.Env, kv)
		}
	}
	return nil
}

// create makes the container's rootfs from the image: a registry reference
// (pulled once per node: only the first task gets here) or a squashfs path.
func create(ctx context.Context, req *Request, rep *Reply, j *job, d Deps, store container.Store, name string) error {
	image := j.o.Image
	if image == "" {
		return fmt.Errorf("a container with name %q does not exist, and --container-image is not set", name)
	}
	if isPath(image) {
		rep.Info("creating container filesystem: " + name)
		if err := store.CreateFromSquashfs(ctx, image, name, false, d.Logger); err != nil {
			return fmt.Errorf("failed to create container filesystem for image: %s: %w", image, err)
		}
		return nil
	}
	ref, err := registry.ParseReference(image)
	if err != nil {
		return fmt.Errorf("failed to import docker image: %s: %w", image, err)
	}
	if total, _ := req.Int("total_tasks"); total <= 1 {
		rep.Log("importing docker image: " + image)
	}
	if j.ps.Importer != "" {
		return createWithImporter(ctx, rep, req, j, d, store, name, image)
	}
	p, err := d.NewPuller()
	if err == nil {
		err = store.Create(ctx, p, ref, name, false, d.Logger)
	}
	if err != nil {
		return fmt.Errorf("failed to import docker image: %s: %w", image, err)
	}
	rep.Info("imported docker image: " + image)
	return nil
}

// createWithImporter uses the site's importer program (pyxis' importer=
// protocol): `IMPORTER get URI` prints a squashfs path on its first line of
// output, the container is created from it, and `IMPORTER release` (which
// must be idempotent) runs right after and again at the end of the step.
func createWithImporter(ctx context.Context, rep *Reply, req *Request, j *job, d Deps, store container.Store, name, image string) error {
	uri := image
	if !strings.HasPrefix(uri, "docker://") && !strings.HasPrefix(uri, "dockerd://") {
		uri = "docker://" + uri
	}
	out, err := runImporter(ctx, req, j, d, "get", uri)
	if err != nil {
		return fmt.Errorf("failed to import docker image: %s: %w", image, err)
	}
	path, _, _ := strings.Cut(out, "\n")
	if path = strings.TrimSpace(path); path == "" {
		return fmt.Errorf("failed to import docker image: %s: importer did not return a squashfs path", image)
	}
	rep.Verbose("importer squashfs path: " + path)
	err = store.CreateFromSquashfs(ctx, path, name, false, d.Logger)
	if _, rerr := runImporter(ctx, req, j, d, "release"); rerr != nil {
		d.Logger.Warn("importer release", "err", rerr)
	}
	if err != nil {
		return fmt.Errorf("failed to create container filesystem for image: %s: %w", image, err)
	}
	rep.Info("imported docker image: " + image)
	return nil
}

// runImporter runs the importer as pyxis does: no PATH search, stdin
// /dev/null, the job's environment (less the deny list) plus
// PYXIS_RUNTIME_PATH and PYXIS_VERSION, stdout returned; stderr goes to the
// runtime's log, replayed on failure.
func runImporter(ctx context.Context, req *Request, j *job, d Deps, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, j.ps.Importer, args...)
	cmd.Env = append(RuntimeEnv(req, os.Getenv("PATH")), "PYXIS_RUNTIME_PATH="+j.ps.RuntimePath,
		"PYXIS_VERSION=0.24.0", "SLURM_JOB_UID="+strconv.Itoa(j.uid), "SLURM_JOB_GID="+strconv.Itoa(j.gid))
	cmd.Stderr = d.Log
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("importer %s: %w", args[0], err)
	}
	return string(out), nil
}

// isPath tells a squashfs path from a registry reference as pyxis does: it
// starts with '.' or '/'.
func isPath(image string) bool { return strings.HasPrefix(image, ".") || strings.HasPrefix(image, "/") }

// hold starts the step's holder on the container's rootfs.
func hold(ctx context.Context, req *Request, j *job, d Deps, store container.Store, name string) (*container.Holding, error) {
	so, err := startOptions(req, j, d)
	if err != nil {
		return nil, err
	}
	return store.Hold(ctx, name, so, holderFile(j, name))
}

func holderFile(j *job, name string) string {
	return filepath.Join(j.dir, "holder."+name+"."+j.jobID+"."+j.stepID+".json")
}

// startOptions turns the step's options into the container's.
func startOptions(req *Request, j *job, d Deps) (container.StartOptions, error) {
	o, cfg := j.o, d.Config
	hookCfg := map[string]string{}
	for k, v := range d.HookConfig {
		hookCfg[k] = v
	}
	if o.MountHome != Unset {
		hookCfg["mount_home"] = map[bool]string{true: "1", false: "0"}[o.MountHome == On]
	}
	mounts := append([]mountspec.Mount(nil), o.Mounts...)
	for i, m := range mounts {
		// Absolute sources only, as pyxis (relative ones are left to the mount).
		if err := mountspec.CheckSource(m, ""); err != nil {
			return container.StartOptions{}, err
		}
		t, err := rootTarget(m.Target)
		if err != nil {
			return container.StartOptions{}, err
		}
		mounts[i].Target = t
	}
	extra, err := stepMounts(req)
	if err != nil {
		return container.StartOptions{}, err
	}
	mounts = append(mounts, extra...)
	var env []string
	for _, n := range o.Env { // pyxis' environ(): the host value, when set and not empty
		if v, ok := req.Getenv(n); ok && v != "" && !denied(n) {
			env = append(env, n+"="+v)
		}
	}
	var unshare namespaces.Unshare
	for _, n := range o.Unshare {
		switch n {
		case "net":
			unshare.Net = true
		case "ipc":
			unshare.IPC = true
		case "uts":
			unshare.UTS = true
		}
	}
	pick := func(t Tri, def bool) bool {
		if t == Unset {
			return def
		}
		return t == On
	}
	return container.StartOptions{
		RemapRoot: pick(o.RemapRoot, cfg.RemapRoot), Writable: pick(o.Writable, cfg.RootfsWritable),
		Superuser:    superuser(j, d),
		NoEntrypoint: true, Env: env, Mounts: container.Mounts(mounts), Unshare: unshare,
		HookConfig: hookCfg, ConfDirs: d.ConfDirs, Logger: d.Logger, Stderr: d.Log,
	}, nil
}

// superuser reports whether the job's tasks stay real root: a root job with
// ALLOW_SUPERUSER, from the job's environment or the node's configuration
// (pyxis reads only the job's ENROOT_ALLOW_SUPERUSER). They then join no
// user namespace and get no seccomp filter.
func superuser(j *job, d Deps) bool { return j.uid == 0 && d.Config.AllowSuperuser }

// rootTarget makes a --container-mounts target absolute: a relative one
// ("./data", "../x") is taken from the container's root, as enroot resolves
// it, and one that climbs above the root is refused with EXDEV, enroot's
// "Cross-device link".
func rootTarget(target string) (string, error) {
	if strings.HasPrefix(target, "/") {
		return target, nil
	}
	depth := 0
	for _, c := range strings.Split(target, "/") {
		switch c {
		case "", ".":
		case "..":
			if depth--; depth < 0 {
				return "", fmt.Errorf("--container-mounts: mount target %s is outside the container: %w", target, unix.EXDEV)
			}
		default:
			depth++
		}
	}
	return filepath.Join("/", target), nil
}

// stepMounts are the mounts Slurm itself needs in the container: the batch
// script (so that it runs inside) and PMIx's server directory (enroot's
// 50-slurm-pmi hook).
func stepMounts(req *Request) ([]mountspec.Mount, error) {
	var lines []string
	if step, _ := req.Int("stepid"); step == batchStep {
		if s := req.Context["argv0"]; filepath.IsAbs(s) {
			lines = append(lines, mountspec.Escape(s)+" "+mountspec.Escape(s)+" none x-create=file,bind,ro,nosuid,nodev,private")
		}
	}
	if s, ok := req.Getenv("PMIX_SERVER_TMPDIR"); ok && filepath.IsAbs(s) {
		lines = append(lines, mountspec.Escape(s)+" "+mountspec.Escape(s)+" none x-create=dir,rbind,nofail")
	}
	var out []mountspec.Mount
	for _, l := range lines {
		m, _, err := mountspec.Parse(l, nil)
		if err != nil {
			return nil, fmt.Errorf("step mount: %w", err)
		}
		out = append(out, m)
	}
	return out, nil
}

// runningHolder finds a running instance of container NAME whose
// namespaces a step can join: one of its processes (pyxis takes the first
// PID `enroot list -f` shows), preferring a holder.
func runningHolder(store container.Store, name, runtimeDir string) *rootfs.HolderState {
	// An exiting process loses its namespace links first: it cannot be
	// joined, so it does not count as running.
	pids := slices.DeleteFunc(store.Pids(name), func(p int) bool {
		_, err := os.Readlink("/proc/" + strconv.Itoa(p) + "/ns/mnt")
		return err != nil
	})
	if len(pids) == 0 {
		// An unnamed step's container lives on an overlay, outside the
		// store: its holder's state file names it (pyxis lets a step attach
		// to a running unnamed container by JOBID.STEPID).
		files, _ := filepath.Glob(filepath.Join(runtimeDir, "holder."+name+".*.json"))
		for _, f := range files {
			if s, err := rootfs.ReadState(f); err == nil && s.Check() == nil {
				return s
			}
		}
		return nil
	}
	pid := pids[0]
	for _, p := range pids {
		if strings.HasSuffix(container.ProcCommand(p), " "+rootfs.InitArg) {
			pid = p
			break
		}
	}
	start, err := rootfs.ProcStartTime(pid)
	if err != nil {
		return nil
	}
	env, _ := rootfs.ProcEnv(pid)
	return &rootfs.HolderState{Pid: pid, StartTime: start, Env: env}
}

// savePath makes a --container-save path absolute against the job's
// working directory (PWD), as pyxis does.
func savePath(p string, req *Request) (string, error) {
	if filepath.IsAbs(p) {
		return filepath.Clean(p), nil
	}
	pwd, ok := req.Getenv("PWD")
	if !ok || !filepath.IsAbs(pwd) {
		return "", fmt.Errorf("--container-save: relative path %s needs the job's working directory, and PWD is not set", p)
	}
	return filepath.Join(pwd, p), nil
}

// denyEnv are the job variables the runtime itself never sees (pyxis'
// deny list for enroot): they describe one task, or would redirect the
// runtime's own paths and libraries.
var denyEnv = map[string]bool{
	"PATH": true, "LD_LIBRARY_PATH": true, "LD_PRELOAD": true, "SLURM_PROCID": true, "SLURM_LOCALID": true,
	"SLURM_TASK_PID": true, "PMIX_RANK": true, "PMI_FD": true, "ENROOT_LIBRARY_PATH": true,
	"ENROOT_SYSCONF_PATH": true, "ENROOT_RUNTIME_PATH": true, "ENROOT_CACHE_PATH": true, "ENROOT_DATA_PATH": true,
	"ENROOT_TEMP_PATH": true, "ENROOT_ZSTD_OPTIONS": true, "ENROOT_TRANSFER_RETRIES": true,
	"ENROOT_CONNECT_TIMEOUT": true, "ENROOT_MAX_CONNECTIONS": true, "ENROOT_ALLOW_HTTP": true,
}

func denied(name string) bool { return denyEnv[name] }

// RuntimeEnv returns the environment the runtime runs with for a request:
// PATH (the caller's) plus the job's variables without the deny list, so
// that configuration variables (ENROOT_*, GPYXIS_*, XDG_*, HOME) set by the
// user apply as they do under pyxis and enroot.
func RuntimeEnv(req *Request, path string) []string {
	env := []string{"PATH=" + path}
	for _, kv := range req.Env {
		if n, _, ok := strings.Cut(kv, "="); ok && !denied(n) {
			env = append(env, kv)
		}
	}
	return env
}
