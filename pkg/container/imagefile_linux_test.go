package container

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImageBindsConfined: a VOLUME directory that is a symlink out of the
// rootfs is bound from inside it, and an image fstab naming a host path is
// refused.
func TestImageBindsConfined(t *testing.T) {
	dir := t.TempDir()
	host := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "etc"), 0o755)
	os.MkdirAll(filepath.Join(dir, host), 0o755)
	if err := os.Symlink(host, filepath.Join(dir, "scratch")); err != nil {
		t.Fatal(err)
	}
	fstab := "${ENROOT_ROOTFS}/scratch /scratch none x-create=dir,bind,rw,nosuid,nodev\n"
	os.WriteFile(filepath.Join(dir, "etc/fstab"), []byte(fstab), 0o644)
	mounts, err := imageMounts(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 1 || mounts[0].Source != filepath.Join(dir, host) {
		t.Fatalf("mounts %+v, want the source %s inside the rootfs", mounts, filepath.Join(dir, host))
	}
	os.WriteFile(filepath.Join(dir, "etc/fstab"), []byte(host+" /x none bind\n"), 0o644)
	if _, err := imageMounts(dir); err == nil || !strings.Contains(err.Error(), "outside the container rootfs") {
		t.Fatalf("host bind source: %v, want a refusal", err)
	}
	// Only regular files: a directory as /etc/fstab is refused, not read.
	os.Remove(filepath.Join(dir, "etc/fstab"))
	os.Mkdir(filepath.Join(dir, "etc/fstab"), 0o755)
	if _, err := imageMounts(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("directory /etc/fstab: %v", err)
	}
}
