// SPDX-License-Identifier: Apache-2.0

package container

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/internal/inroot"
	"github.com/gpyxis/gpyxis/pkg/mountspec"
	"github.com/gpyxis/gpyxis/pkg/rootfs"
)

// readImageFile reads the text file p of the rootfs dir, resolved inside
// it (an image symlink never leads to a host file), at most
// inroot.TextLimit bytes and only a regular file. A missing file is nil
// data and no error.
func readImageFile(dir, p string) ([]byte, error) {
	r, err := inroot.Open(dir)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := r.ReadFile(p, inroot.TextLimit)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("image file: %w", err)
	}
	return data, nil
}

// imageHas reports whether p exists in the rootfs dir, resolved inside it;
// follow says whether a symlink in the last component is followed.
func imageHas(dir, p string, follow bool) bool {
	r, err := inroot.Open(dir)
	if err != nil {
		return false
	}
	defer r.Close()
	if follow {
		_, err = r.Stat(p)
	} else {
		_, err = r.Lstat(p)
	}
	return err == nil
}

// confineImageBinds resolves the bind sources of the image's /etc/fstab
// inside the rootfs dir: the importer writes ${ENROOT_ROOTFS}/DIR for each
// VOLUME, and a DIR that is a symlink in the image would otherwise be
// followed by the kernel on the host (a VOLUME /scratch linking to
// /home/USER/.ssh bound the user's keys into the container). A bind source
// outside the rootfs is refused: an image names only its own directories;
// host paths come from the caller's --mount.
func confineImageBinds(dir string, mounts []rootfs.Mount) error {
	root := filepath.Clean(dir)
	for i, m := range mounts {
		if m.Flags&unix.MS_BIND == 0 {
			continue
		}
		src := filepath.Clean(m.Source)
		rel, ok := strings.CutPrefix(src, root+"/")
		if !ok && src != root {
			return fmt.Errorf("image /etc/fstab: bind source %s is outside the container rootfs: an image may only bind its own directories (${ENROOT_ROOTFS}/...); bind host paths with --mount", m.Source)
		}
		p, err := mountspec.ResolveInRoot(dir, "/"+rel)
		if err != nil {
			return fmt.Errorf("image /etc/fstab: bind source %s: %w", m.Source, err)
		}
		mounts[i].Source = p
	}
	return nil
}
