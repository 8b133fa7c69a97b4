// SPDX-License-Identifier: Apache-2.0

package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	imgspec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/gpyxis/gpyxis/pkg/namespaces"
	"github.com/gpyxis/gpyxis/pkg/registry"
	"github.com/gpyxis/gpyxis/pkg/rootfs"
	"github.com/gpyxis/gpyxis/pkg/unpack"
)

// OverlayRoot is a container whose root filesystem is an overlay: a cached
// image tree below (pkg/imagecache, never written) and the container's own
// directory above.
type OverlayRoot struct {
	Lower  string              // the cached tree
	Dir    string              // the container's: upper/, work/ and root/ (the mount point)
	Config imgspec.ImageConfig // the image's entrypoint, command, workdir
}

// HoldOverlay starts a detached holder on an overlay root, as Hold does for
// a container in the store. The hooks must see (and may change) the merged
// tree, which exists only inside a mount namespace: a first, short-lived
// holder mounts the overlay alone, the hooks run on the host against
// /proc/PID/root/DIR/root (their writes land in upper/), then the container
// proper mounts the same overlay. keep are files the holder keeps open for
// its life (the cache entry's use lock). Remove the container with
// RemoveRootfs(r.Dir) once the holder has stopped.
func HoldOverlay(ctx context.Context, r OverlayRoot, o StartOptions, stateFile string, keep []*os.File) (*Holding, error) {
	if o.Conf != "" {
		var err error
		if o.Conf, err = CheckConf(o.Conf); err != nil {
			return nil, err
		}
	}
	if err := namespaces.Check(); err != nil {
		return nil, err
	}
	p, err := prepareOverlay(ctx, r, o)
	if err != nil {
		return nil, err
	}
	return holdPrepared(ctx, p, o, stateFile, keep)
}

// prepareOverlay makes r's directories, runs the hooks on the merged tree
// through a short-lived overlay-only holder, and returns the container's
// configuration with the overlay as its root.
func prepareOverlay(ctx context.Context, r OverlayRoot, o StartOptions) (*prepared, error) {
	mnt := filepath.Join(r.Dir, "root")
	ov := &rootfs.Overlay{Lower: r.Lower, Upper: filepath.Join(r.Dir, "upper"), Work: filepath.Join(r.Dir, "work")}
	for _, d := range []string{ov.Upper, ov.Work, mnt} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("overlay rootfs: %w", err)
		}
	}
	prep, err := rootfs.StartHolder(ctx, rootfs.HolderConfig{
		Rootfs: rootfs.Config{Rootfs: mnt, Overlay: ov, OverlayOnly: true}, IDMap: o.idMap(), Stderr: o.Stderr,
	})
	if err != nil {
		return nil, fmt.Errorf("overlay rootfs: %w", err)
	}
	merged := "/proc/" + strconv.Itoa(prep.Pid) + "/root" + mnt
	p, err := prepare(merged, r.Config, o)
	if serr := prep.Stop(5 * time.Second); err == nil && serr != nil {
		err = fmt.Errorf("overlay rootfs: stop preparation: %w", serr)
	}
	if err != nil {
		return nil, err
	}
	// What the hooks and fstabs named under the merged view is, in the
	// container's init (before pivot_root), under the mount point.
	at := func(s string) string {
		if s == merged || strings.HasPrefix(s, merged+"/") {
			return mnt + s[len(merged):]
		}
		return s
	}
	p.rootfs.Rootfs, p.rootfs.Overlay = mnt, ov
	for i := range p.rootfs.Mounts {
		p.rootfs.Mounts[i].Source = at(p.rootfs.Mounts[i].Source)
	}
	for i := range p.rootfs.Commands {
		for j := range p.rootfs.Commands[i].Args {
			p.rootfs.Commands[i].Args[j] = at(p.rootfs.Commands[i].Args[j])
		}
	}
	return p, nil
}

// Unpack fetches a resolved image's layers into the blob cache and writes
// its merged tree into dir: the producer of a pkg/imagecache entry.
func Unpack(ctx context.Context, p *registry.Puller, img *registry.Image, dir string, log *slog.Logger) error {
	if err := p.Fetch(ctx, img); err != nil {
		return err
	}
	return unpackImage(ctx, p, img, dir, log)
}

// ExtractSquashfs writes the tree of a squashfs file into dir, natively.
func ExtractSquashfs(ctx context.Context, image, dir string, log *slog.Logger) error {
	return extractSquashfs(ctx, image, dir, log)
}

// UnpackFiles writes a resolved image's merged tree into dir from its
// layer blobs as another process opened them (files[i] holds
// img.Layers[i]; registry.Puller.OpenBlob). Each stream is checked
// against its digests as it is read, and dir is only good once this
// returns nil. Root uses it to fill the shared node cache for a user who
// fetched the image, so only user.* extended attributes are kept: what
// the user's own unpack could have written, and b bounds what the image
// may make root write.
func UnpackFiles(ctx context.Context, img *registry.Image, files []*os.File, dir string, b Budget, log *slog.Logger) error {
	if len(files) != len(img.Layers) {
		return fmt.Errorf("unpack %s: %d layer files for %d layers", img.Ref, len(files), len(img.Layers))
	}
	return unpackLayers(ctx, blobFiles(files), img, dir, unpack.UserXattrs, b, log)
}

// Budget bounds an unpacked tree. A zero field leaves flatten's default
// (flatten.Options.MaxBytes, MaxEntries).
type Budget struct {
	Bytes   int64 // file content, sparse files at their apparent size
	Entries int64 // files, directories and links
}

// blobFiles serves an image's layers from open blob files.
type blobFiles []*os.File

func (blobFiles) Resolve(context.Context, registry.Reference) (*registry.Image, error) {
	return nil, errors.New("blob files resolve nothing")
}

func (blobFiles) Fetch(context.Context, *registry.Image) error { return nil }

func (b blobFiles) OpenLayer(ctx context.Context, img *registry.Image, i int) (io.ReadCloser, error) {
	if i < 0 || i >= len(b) {
		return nil, fmt.Errorf("layer %d: out of range (%d files)", i, len(b))
	}
	return registry.OpenLayerFile(ctx, b[i], img.Layers[i])
}
