// SPDX-License-Identifier: Apache-2.0

package hooks

import (
	"os"

	"github.com/gpyxis/gpyxis/internal/inroot"
)

// fs returns the rootfs opened for in-root access (internal/inroot): every
// path the hooks read or write there is resolved by the kernel inside it,
// so an image's symlink never leads to a host file. It is opened on first
// use and closed by RunAll.
func (ctx *Context) fs() (*inroot.Root, error) {
	if ctx.root == nil {
		r, err := inroot.Open(ctx.Rootfs)
		if err != nil {
			return nil, err
		}
		ctx.root = r
	}
	return ctx.root, nil
}

// closeFS releases what fs opened.
func (ctx *Context) closeFS() {
	if ctx.root != nil {
		ctx.root.Close()
		ctx.root = nil
	}
}

// exists reports whether p exists in the rootfs (a symlink counts as
// itself).
func (ctx *Context) exists(p string) bool {
	r, err := ctx.fs()
	if err != nil {
		return false
	}
	_, err = r.Lstat(p)
	return err == nil
}

// readFile reads the regular file p of the rootfs, at most
// inroot.TextLimit bytes.
func (ctx *Context) readFile(p string) ([]byte, error) {
	r, err := ctx.fs()
	if err != nil {
		return nil, err
	}
	return r.ReadFile(p, inroot.TextLimit)
}

// writeFile replaces file p of the rootfs atomically, creating its parent
// directories (mode 0755) first; a new file gets mode perm, an old one
// keeps its own.
func (ctx *Context) writeFile(p string, data []byte, perm os.FileMode) error {
	r, err := ctx.fs()
	if err != nil {
		return err
	}
	if err := r.MkdirAll(parentDir(p), 0o755); err != nil {
		return err
	}
	return r.WriteFileAtomic(p, data, perm)
}

// parentDir is path.Dir without cleaning: ".." keeps its meaning after a
// symlink, which the kernel resolves.
func parentDir(p string) string {
	for len(p) > 1 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	for i := len(p) - 1; i > 0; i-- {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return "/"
}
