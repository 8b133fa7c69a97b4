// SPDX-License-Identifier: Apache-2.0

package hooks

import (
	"fmt"
	"io"
	"os"
	"os/user"
	"path"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/pkg/rootfs"
)

// aptfix is enroot's 10-aptfix.sh: in a Debian-family image started with
// remap-root, apt cannot drop privileges to _apt (setgroups is denied in
// the user namespace), so tell it to stay root.
func aptfix(ctx *Context) error {
	if !ctx.Enabled("aptfix") || !ctx.RemapRoot || !ctx.exists("/etc/debian_version") {
		return nil
	}
	return ctx.writeFile("/etc/apt/apt.conf.d/enroot", []byte("APT::Sandbox::User \"root\";\n"), 0o644)
}

// home is enroot's 10-home.sh (ENROOT_MOUNT_HOME): rbind the user's home
// rw,nosuid to the same path and set HOME, or to /root with remap-root
// (HOME is then left to the container's passwd).
func home(ctx *Context) error {
	if !ctx.Enabled("mount_home") {
		return nil
	}
	dir := ctx.Home
	if dir == "" {
		u, err := user.LookupId(fmt.Sprint(ctx.UID))
		if err != nil {
			return fmt.Errorf("home directory: %w", err)
		}
		dir = u.HomeDir
	}
	if !path.IsAbs(dir) {
		return fmt.Errorf("home directory %q is not absolute", dir)
	}
	target := dir
	if ctx.RemapRoot {
		target = "/root"
	}
	ctx.Mounts = append(ctx.Mounts, rootfs.Mount{
		Source: dir, Target: target,
		Flags:  unix.MS_BIND | unix.MS_REC | unix.MS_NOSUID,
		Create: rootfs.CreateDir,
	})
	if !ctx.RemapRoot {
		ctx.Env.Set("HOME", dir)
	}
	return nil
}

// hostLocaltime is the host file the localtime hook copies (a variable for
// tests).
var hostLocaltime = "/etc/localtime"

// localtime is enroot's 10-localtime.sh: when the host /etc/localtime is a
// symlink, copy the link and the zone file it points to into the rootfs.
// A copy, not a bind, so that a tzdata upgrade in the container still
// works (enroot PR#184). A host without the link changes nothing.
func localtime(ctx *Context) error {
	if !ctx.Enabled("localtime") {
		return nil
	}
	link, err := os.Readlink(hostLocaltime)
	if err != nil {
		return nil // missing or not a symlink
	}
	zone, err := filepath.EvalSymlinks(hostLocaltime)
	if err != nil {
		ctx.logger().Debug("localtime: dangling host link", "link", link)
		return nil
	}
	data, err := boundedRead(zone, maxZoneFile)
	if err != nil {
		return fmt.Errorf("localtime: %w", err)
	}
	r, err := ctx.fs()
	if err != nil {
		return err
	}
	// The link replaces the image's /etc/localtime entry itself, and the
	// zone file is written where the link leads inside the rootfs.
	if err := r.MkdirAll("/etc", 0o755); err != nil {
		return fmt.Errorf("localtime: %w", err)
	}
	if err := r.Symlink(link, "/etc/localtime"); err != nil {
		return fmt.Errorf("localtime: %w", err)
	}
	if err := ctx.writeFile(zone, data, 0o644); err != nil {
		return fmt.Errorf("localtime: %w", err)
	}
	return nil
}

// maxZoneFile bounds the host zone file the localtime hook copies (real
// ones are a few KiB).
const maxZoneFile = 1 << 20

// boundedRead reads the host file p, refusing one that is not regular or
// is larger than limit.
func boundedRead(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() || fi.Size() > limit {
		return nil, fmt.Errorf("%s: not a regular file of at most %d bytes", p, limit)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(data)) > limit {
		err = fmt.Errorf("%s: larger than %d bytes", p, limit)
	}
	return data, err
}
