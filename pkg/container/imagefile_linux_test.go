// SPDX-License-Identifier: Apache-2.0

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

// TestEnvironmentStaysInRoot: an image whose /etc/environment and
// login.defs link to host files gets neither's settings.
func TestEnvironmentStaysInRoot(t *testing.T) {
	dir, host := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(dir, "etc"), 0o755)
	os.WriteFile(filepath.Join(host, "env"), []byte("LEAK=secret\n"), 0o644)
	os.WriteFile(filepath.Join(host, "defs"), []byte("ENV_PATH PATH=/leak\nENV_SUPATH PATH=/leak\n"), 0o644)
	os.Symlink(filepath.Join(host, "env"), filepath.Join(dir, "etc/environment"))
	os.Symlink("../../../../../../../../.."+filepath.Join(host, "defs"), filepath.Join(dir, "etc/login.defs"))
	env, err := environment(dir, nil, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range env.List() {
		if strings.Contains(kv, "secret") || strings.Contains(kv, "/leak") {
			t.Errorf("a host file's setting reached the container: %s", kv)
		}
	}
}
