package container

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/gpyxis/gpyxis/internal/inroot"
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
