// SPDX-License-Identifier: Apache-2.0

package namespaces

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestIDMappedMount mounts a root-owned tree idmapped onto another uid,
// read-only: its files appear as that uid's and cannot be written.
func TestIDMappedMount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("an idmapped mount of a disk filesystem needs root: the root run of make test covers this")
	}
	src, dst := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "secret"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	ns, err := MapUserns(4242, 4343)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	tree, err := IDMappedMount(src, ns, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID)
	if err != nil {
		t.Fatal(err)
	}
	defer tree.Close()
	d, err := os.OpenFile(dst, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := AttachMount(tree, d); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(dst, unix.MNT_DETACH)
	fi, err := os.Stat(filepath.Join(dst, "secret"))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 4242 || st.Gid != 4343 {
		t.Errorf("through the mount the file is %d:%d, want 4242:4343", st.Uid, st.Gid)
	}
	if fi, _ := os.Stat(filepath.Join(src, "secret")); fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Error("the mount changed the file's owner on disk")
	}
	if err := os.WriteFile(filepath.Join(dst, "new"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("writing through the read-only mount: %v, want EROFS", err)
	}
}
