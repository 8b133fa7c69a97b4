// SPDX-License-Identifier: Apache-2.0

package spank

// The shared node cache (plugstack shared_rootfs_cache=DIR): one tree per
// image for every user of a node, so that two users of one image cost one
// download and one unpack. Users do not trust each other, so no user
// writes a shared tree: root does, in slurmstepd, from what the user's
// own process fetched, and verifies every byte against the digests.
//
// For an unnamed read-only step (the steps the per-user cache serves):
//
//  1. setup (root) runs `gpyxis-runtime spank resolve` as the user: the
//     user's credentials fetch the manifest and the config. Root rebuilds
//     the image from those bytes (registry.ImageFromParts): the key is the
//     manifest digest root computes, so a user can only reach the tree of
//     a manifest they hold.
//  2. Under the key's lock (imagecache.Get: concurrent steps of any user
//     wait for one producer), a missing tree is made: `spank fetch`, as
//     the user, downloads the layers and hands root the open blob files
//     (root never opens a file on the user's behalf); root unpacks them
//     into its 0700 directory, checking each blob's digest and diff_id as
//     it streams, keeping only user.* xattrs, and publishes by rename.
//  3. A shared flock on the entry goes back to the plugin, which keeps it
//     open in slurmstepd until the step ends: GC spares the entry.
//  4. The tree is mounted on RUNTIME_PATH/UID/tree.J.S.N (in the user's
//     private runtime directory) idmapped, so that its files, owned by
//     root on disk, appear as the user's, and read-only, nosuid, nodev.
//     The user cannot change that mount: it belongs to the initial mount
//     namespace, and in the container's namespaces, copies of it are
//     locked read-only by the kernel.
//  5. join (the user) mounts the container's overlay on it; slurmstepd
//     (the plugin, as root, in slurm_spank_exit) unmounts it.
//
// Anything that fails on the way leaves the step to the per-user cache,
// which reports the error in the user's terms if it fails too.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	imgspec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/internal/boundedio"
	"github.com/gpyxis/gpyxis/pkg/container"
	"github.com/gpyxis/gpyxis/pkg/flatten"
	"github.com/gpyxis/gpyxis/pkg/imagecache"
	"github.com/gpyxis/gpyxis/pkg/namespaces"
	"github.com/gpyxis/gpyxis/pkg/registry"
)

// sharedTree is what setup tells join about the step's shared tree
// (RUNTIME_PATH/UID/tree.J.S.N.json).
type sharedTree struct {
	Mount  string              `json:"mount"`
	Key    string              `json:"key"`
	Digest string              `json:"digest"`
	Config imgspec.ImageConfig `json:"config"`
}

// resolved is resolve's answer: the bytes the user's process fetched.
type resolved struct {
	Eligible  bool              `json:"eligible"`
	Manifest  []byte            `json:"manifest,omitempty"`
	MediaType string            `json:"media_type,omitempty"`
	Config    []byte            `json:"config,omitempty"`
	Platform  registry.Platform `json:"platform"`
}

// sharedPath is the step's tree mount point on this node, ext appended.
func (j *job) sharedPath(ext string) string {
	return filepath.Join(j.dir, fmt.Sprintf("tree.%s.%s.%d%s", j.jobID, j.stepID, j.nodeID, ext))
}

// sharedEligible says whether a step may use the shared cache, as far as
// root can tell from the options (resolve adds the user's configuration).
func sharedEligible(j *job) bool {
	o := j.o
	return j.ps.SharedRootfsCache != "" && o.Name == "" && o.Save == "" && j.ps.Importer == "" &&
		o.Image != "" && !isPath(o.Image) && o.Writable != On
}

// shareTree is setup's part (root): find or make the step's tree in the
// shared cache and mount it for the user, unless the user's configuration
// keeps the step off the cache.
func shareTree(ctx context.Context, req *Request, rep *Reply, j *job, d Deps) error {
	ref, err := registry.ParseReference(j.o.Image)
	if err != nil {
		return err // join reports it
	}
	if err := checkRootDir(j.ps.SharedRootfsCache); err != nil {
		return err
	}
	b, _, err := callAsUser(ctx, req, j, OpResolve, nil)
	if err != nil {
		return err
	}
	var res resolved
	if err := json.Unmarshal(b, &res); err != nil {
		return fmt.Errorf("resolve: %w", err)
	}
	if !res.Eligible {
		return nil
	}
	img, err := registry.ImageFromParts(ref, res.Manifest, res.MediaType, res.Config, res.Platform)
	if err != nil {
		return err
	}
	cache := &imagecache.Cache{Dir: j.ps.SharedRootfsCache, Logger: d.Logger}
	// The same key as the per-user cache's (container.CachedTree).
	key := imagecache.Key("registry", img.Digest.String(), img.Platform.String())
	produced := false
	start := time.Now()
	e, err := cache.Get(ctx, key, func(dir string) (imagecache.Meta, error) {
		produced = true
		_, files, err := callAsUser(ctx, req, j, OpFetch, map[string]string{"digest": img.Digest.String()})
		defer func() {
			for _, f := range files {
				f.Close()
			}
		}()
		if err != nil {
			return imagecache.Meta{}, err
		}
		if err := container.UnpackFiles(ctx, img, files, dir, sharedBudget(j.ps.SharedRootfsCacheMaxMB), d.Logger); err != nil {
			if errors.Is(err, flatten.ErrTooLarge) {
				err = fmt.Errorf("%w (the shared node cache takes images of at most shared_rootfs_cache_max_mb=%d MiB and %d files; the tree made so far is removed)", err, j.ps.SharedRootfsCacheMaxMB, sharedMaxEntries)
			}
			return imagecache.Meta{}, err
		}
		return imagecache.Meta{Source: j.o.Image, Digest: img.Digest.String(), Config: img.Config.Config}, nil
	})
	if err != nil {
		return err
	}
	use, err := cache.Use(e)
	if err != nil {
		return err
	}
	if produced {
		rep.Verbose(fmt.Sprintf("imported %s into the shared node cache in %.1f s", j.o.Image, time.Since(start).Seconds()))
		if n := container.GCAfterProduce(cache, j.ps.SharedRootfsCacheMaxMB, 0, d.Logger); n > 0 {
			rep.Verbose(fmt.Sprintf("evicted %d shared image trees", n))
		}
	}
	if err := mountShared(j, e); err != nil {
		use.Close()
		return err
	}
	// slurmstepd unmounts at the end of the step, whatever happens to it,
	// and holds the lock until then.
	rep.Unmount(j.sharedPath(""))
	rep.Remove(j.sharedPath(".json"))
	rep.Files = append(rep.Files, use)
	return nil
}

// sharedMaxEntries bounds the files, directories and links of one shared
// tree: root makes them for whoever names the image, and large CUDA images
// hold a few hundred thousand.
const sharedMaxEntries = 4 << 20

// sharedBudget bounds what root unpacks into the shared cache for a user's
// image: no more content than the whole cache may hold (0: no cap, then
// flatten's default) and sharedMaxEntries inodes.
func sharedBudget(maxMB int) container.Budget {
	return container.Budget{Bytes: int64(maxMB) << 20, Entries: sharedMaxEntries}
}

// checkRootDir makes the shared cache directory if it is missing, and
// refuses one that anyone but root could write into (its entries would not
// be root's alone) or a symlink.
func checkRootDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("shared cache directory: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		var st unix.Stat_t
		if err := unix.Lstat(d, &st); err != nil {
			return fmt.Errorf("shared cache directory: %w", err)
		}
		if st.Uid != 0 || st.Mode&unix.S_IFMT != unix.S_IFDIR || (st.Mode&0o022 != 0 && st.Mode&unix.S_ISVTX == 0) ||
			(d == dir && st.Mode&0o077 != 0) {
			return fmt.Errorf("shared cache directory %s: %s must be a directory that only root can write to (and %s mode 0700)", dir, d, dir)
		}
		if d == "/" {
			return nil
		}
	}
}

// mountShared mounts e's tree on the step's mount point and records it for
// join.
func mountShared(j *job, e *imagecache.Entry) error {
	mnt := j.sharedPath("")
	if err := os.Mkdir(mnt, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("shared tree: %w", err)
	}
	// O_NOFOLLOW: the user owns the parent and could have put a symlink
	// there; the mount goes on exactly the directory opened.
	fd, err := unix.Open(mnt, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("shared tree mount point %s: %w", mnt, err)
	}
	target := os.NewFile(uintptr(fd), mnt)
	defer target.Close()
	userns, err := namespaces.MapUserns(j.uid, j.gid)
	if err != nil {
		return err
	}
	defer userns.Close()
	tree, err := namespaces.IDMappedMount(e.Rootfs, userns,
		unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV)
	if err != nil {
		return err
	}
	defer tree.Close()
	if err := namespaces.AttachMount(tree, target); err != nil {
		return err
	}
	b, err := json.Marshal(sharedTree{Mount: mnt, Key: e.Meta.Key, Digest: e.Meta.Digest, Config: e.Meta.Config})
	if err == nil {
		err = writeNoFollow(j.sharedPath(".json"), b)
	}
	if err != nil {
		unix.Unmount(mnt, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
		return fmt.Errorf("shared tree: %w", err)
	}
	return nil
}

// writeNoFollow writes a file into a directory its user controls, as
// root: a fresh name that cannot be a planted symlink, renamed into place.
func writeNoFollow(path string, b []byte) error {
	tmp := path + ".tmp" + strconv.Itoa(os.Getpid())
	fd, err := unix.Open(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// readShared returns the step's shared tree, if setup mounted one.
func readShared(j *job) (*sharedTree, error) {
	b, err := boundedio.ReadFile(j.sharedPath(".json"), boundedio.Config)
	if err != nil {
		return nil, err
	}
	var t sharedTree
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("shared tree: %w", err)
	}
	if t.Mount != j.sharedPath("") {
		return nil, fmt.Errorf("shared tree: unexpected mount point %s", t.Mount)
	}
	return &t, nil
}

// callAsUser runs `gpyxis-runtime spank OP` as the job's user with req's
// context (plus extra), and returns its result record and the files it
// passed.
func callAsUser(ctx context.Context, req *Request, j *job, op Op, extra map[string]string) ([]byte, []*os.File, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	conn, child := os.NewFile(uintptr(sp[0]), "spank"), os.NewFile(uintptr(sp[1]), "spank")
	defer conn.Close()
	groups, err := jobGroups(req, j)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.CommandContext(ctx, self, "spank", string(op))
	cmd.ExtraFiles = []*os.File{child} // fd 3, as from the shim
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	log := &cappedBuffer{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: uint32(j.uid), Gid: uint32(j.gid), Groups: groups},
		Pdeathsig:  syscall.SIGKILL,
	}
	err = cmd.Start()
	child.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	r := *req
	r.Op, r.Context = op, map[string]string{}
	for k, v := range req.Context {
		r.Context[k] = v
	}
	for k, v := range extra {
		r.Context[k] = v
	}
	_, werr := conn.Write(r.Bytes())
	unix.Shutdown(int(conn.Fd()), unix.SHUT_WR)
	data, files, rerr := readReply(conn)
	if rerr != nil {
		cmd.Process.Kill() // it may be blocked writing the rest
	}
	if err := cmd.Wait(); err != nil || werr != nil || rerr != nil {
		for _, f := range files {
			f.Close()
		}
		msg := strings.TrimSpace(log.String())
		for _, rec := range Records(data) {
			if rec[0] == "error" {
				msg = rec[1]
			}
		}
		return nil, nil, fmt.Errorf("%s as uid %d: %w: %s", op, j.uid, errors.Join(err, werr, rerr), msg)
	}
	for _, rec := range Records(data) {
		if rec[0] == "result" {
			return []byte(rec[1]), files, nil
		}
	}
	return nil, files, nil
}

// readReply reads records and SCM_RIGHTS fds to EOF, as the shim does.
func readReply(conn *os.File) ([]byte, []*os.File, error) {
	var data []byte
	var files []*os.File
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4*250))
	for {
		n, oobn, flags, _, err := unix.Recvmsg(int(conn.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return data, files, err
		}
		// MSG_CTRUNC: the kernel dropped descriptors that did not fit
		// (more than one message's worth): the reply is not whole.
		if flags&unix.MSG_CTRUNC != 0 {
			return data, files, fmt.Errorf("reply: more file descriptors in one message than the %d expected", (len(oob)-unix.CmsgSpace(0))/4)
		}
		if oobn > 0 {
			msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
			if err != nil {
				return data, files, err
			}
			for _, m := range msgs {
				fds, err := unix.ParseUnixRights(&m)
				if err != nil {
					continue
				}
				for _, fd := range fds {
					files = append(files, os.NewFile(uintptr(fd), "blob"))
				}
			}
		}
		if n == 0 {
			return data, files, nil
		}
		data = append(data, buf[:n]...)
		// The other end is the user's process: root keeps no more of it
		// than a reply can need.
		if len(data) > maxUserReply || len(files) > maxUserFiles {
			return data, files, fmt.Errorf("reply larger than %d bytes or %d files", maxUserReply, maxUserFiles)
		}
	}
}

// cappedBuffer keeps the first max bytes written to it and drops the rest:
// the user's process's output, for an error message.
type cappedBuffer struct {
	bytes.Buffer
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// Bounds of a reply from the user's side of the shared cache: manifest and
// config (containers/image takes at most 4 MiB of each) and one blob file
// per layer.
const (
	maxUserReply = 16 << 20
	maxUserFiles = 1024
)

// jobGroups is the job's supplementary groups (ctx.gids).
func jobGroups(req *Request, j *job) ([]uint32, error) {
	out := []uint32{uint32(j.gid)}
	for _, s := range strings.Split(req.Context["gids"], ",") {
		if s == "" {
			continue
		}
		g, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("job context: gids: %w", err)
		}
		out = append(out, uint32(g))
	}
	return out, nil
}

// opResolve (the user, for setup) resolves the step's image with the
// user's credentials and configuration.
func opResolve(ctx context.Context, req *Request, rep *Reply, d Deps) error {
	j, _, err := loadJob(req)
	if err != nil {
		return err
	}
	res := resolved{Eligible: d.Config.RootfsCache && !j.o.Writable.Bool(d.Config.RootfsWritable)}
	if res.Eligible {
		_, img, err := resolveImage(ctx, j, d)
		if err != nil {
			return err
		}
		res.Manifest, res.MediaType, res.Config, res.Platform = img.Manifest, img.MediaType, img.ConfigJSON, img.Platform
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	rep.Result(b)
	return nil
}

// opFetch (the user, for setup) downloads the step's image layers into the
// user's blob cache and passes them, open, to root.
func opFetch(ctx context.Context, req *Request, rep *Reply, d Deps) error {
	j, _, err := loadJob(req)
	if err != nil {
		return err
	}
	p, img, err := resolveImage(ctx, j, d)
	if err != nil {
		return err
	}
	if img.Digest.String() != req.Context["digest"] {
		return fmt.Errorf("%s changed while it was being imported (now %s)", j.o.Image, img.Digest)
	}
	if err := p.Fetch(ctx, img); err != nil {
		return err
	}
	for _, l := range img.Layers {
		f, err := p.OpenBlob(l)
		if err != nil {
			return err
		}
		rep.Files = append(rep.Files, f)
	}
	return nil
}

func resolveImage(ctx context.Context, j *job, d Deps) (*registry.Puller, *registry.Image, error) {
	ref, err := registry.ParseReference(j.o.Image)
	if err != nil {
		return nil, nil, err
	}
	p, err := d.NewPuller()
	if err != nil {
		return nil, nil, err
	}
	img, err := p.Resolve(ctx, ref)
	return p, img, err
}

// holdShared starts the step's container on an overlay of the shared tree
// setup mounted.
func holdShared(ctx context.Context, req *Request, rep *Reply, j *job, d Deps, name string, t *sharedTree) (*container.Holding, string, error) {
	so, err := startOptions(req, j, d)
	if err != nil {
		return nil, "", err
	}
	rep.Verbose("using shared cached image tree " + t.Key)
	return holdOverlay(ctx, so, j, d, name, t.Mount, t.Config, nil)
}
