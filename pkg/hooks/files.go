package hooks

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gpyxis/gpyxis/pkg/mountspec"
)

// inRoot returns the host path of p inside the rootfs, with the image's
// symlinks resolved inside it, so that writing there cannot escape to the
// host (mountspec.ResolveInRoot).
func (ctx *Context) inRoot(p string) (string, error) {
	return mountspec.ResolveInRoot(ctx.Rootfs, p)
}

// mkdirInRoot creates directory p of the rootfs and its parents with mode
// perm (before umask) and returns its host path.
func (ctx *Context) mkdirInRoot(p string, perm os.FileMode) (string, error) {
	hp, err := ctx.inRoot(p)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(hp, perm); err != nil {
		return "", err
	}
	return hp, nil
}

// exists reports whether p exists in the rootfs (resolved inside it).
func (ctx *Context) exists(p string) bool {
	hp, err := ctx.inRoot(p)
	if err != nil {
		return false
	}
	_, err = os.Lstat(hp)
	return err == nil
}

// writeAtomic replaces the host file path with data: a temporary file in
// the same directory, renamed over it, so that a reader never sees half a
// file. The mode is the old file's, or mode when there was none.
func writeAtomic(path string, data []byte, mode os.FileMode) (err error) {
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".gpyxis-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	return nil
}
