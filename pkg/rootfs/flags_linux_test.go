// SPDX-License-Identifier: Apache-2.0

package rootfs

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestStatfsToMS(t *testing.T) {
	for _, tc := range []struct {
		st    uint64
		atime bool
		want  uintptr
	}{
		{0, false, 0},
		{0, true, unix.MS_STRICTATIME},
		{unix.ST_RDONLY | unix.ST_NOSUID | unix.ST_NODEV | unix.ST_NOEXEC, false,
			unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{unix.ST_RELATIME, true, unix.MS_RELATIME},
		{unix.ST_RELATIME, false, 0},
		{unix.ST_NOATIME | unix.ST_NODIRATIME, true, unix.MS_NOATIME | unix.MS_NODIRATIME},
	} {
		if got := statfsToMS(tc.st, tc.atime); got != tc.want {
			t.Errorf("statfsToMS(%#x, %v) = %s, want %s", tc.st, tc.atime, flagString(got), flagString(tc.want))
		}
	}
}

func TestMountAttr(t *testing.T) {
	got := mountAttr(unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY | unix.MS_NOEXEC | unix.MS_RELATIME)
	if want := uint64(unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOEXEC); got != want {
		t.Errorf("mountAttr = %#x, want %#x", got, want)
	}
}

// TestLockedFlags binds a host mount whose ro, nosuid, nodev and noexec
// flags the kernel locks in the container's user namespace, asking for
// fewer flags than it has: the remount must keep them rather than fail
// with EPERM. It needs root to make that host mount.
func TestLockedFlags(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a host mount with locked flags")
	}
	src := t.TempDir()
	must(t, unix.Mount("tmpfs", src, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_NOATIME, "size=64k"))
	t.Cleanup(func() { unix.Unmount(src, unix.MNT_DETACH) })
	must(t, os.WriteFile(src+"/f", []byte("locked\n"), 0o644))
	must(t, unix.Mount("", src, "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|unix.MS_NOATIME, ""))

	rootfs := newRootfs(t)
	for _, flags := range []uintptr{
		unix.MS_BIND | unix.MS_NOSUID, // asks for rw and exec: cannot have them
		unix.MS_BIND | unix.MS_RDONLY | unix.MS_RELATIME,
	} {
		t.Run(flagString(flags), func(t *testing.T) {
			c := StartConfig{Rootfs: Config{Rootfs: rootfs, Mounts: []Mount{{Source: src, Target: "/data", Flags: flags}}}}
			out := sh(t, c, `cat /data/f; grep ' /data ' /proc/self/mountinfo`)
			if !strings.HasPrefix(out, "locked\n") {
				t.Errorf("output %q", out)
			}
			fields := strings.Fields(out)
			if len(fields) < 7 {
				t.Fatalf("mountinfo: %q", out)
			}
			opts := "," + fields[6] + ","
			for _, want := range []string{",ro,", ",nosuid,", ",nodev,", ",noexec,", ",noatime,"} {
				if !strings.Contains(opts, want) {
					t.Errorf("mount options %s lack %s", opts, want)
				}
			}
		})
	}
}
