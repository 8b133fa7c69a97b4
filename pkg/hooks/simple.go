package hooks

import (
	"errors"
	"fmt"
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
	dir, err := ctx.mkdirInRoot("/etc/apt/apt.conf.d", 0o755)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, "enroot"), []byte("APT::Sandbox::User \"root\";\n"), 0o644)
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
	data, err := os.ReadFile(zone)
	if err != nil {
		return fmt.Errorf("localtime: %w", err)
	}
	etc, err := ctx.mkdirInRoot("/etc", 0o755)
	if err != nil {
		return err
	}
	dst := filepath.Join(etc, "localtime")
	if err := os.Remove(dst); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("localtime: %w", err)
	}
	if err := os.Symlink(link, dst); err != nil {
		return fmt.Errorf("localtime: %w", err)
	}
	zdir, err := ctx.mkdirInRoot(path.Dir(zone), 0o755)
	if err != nil {
		return fmt.Errorf("localtime: %w", err)
	}
	return writeAtomic(filepath.Join(zdir, path.Base(zone)), data, 0o644)
}
