// SPDX-License-Identifier: Apache-2.0

package rootfs

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/gpyxis/gpyxis/pkg/namespaces"
)

// A remapped root holds CAP_SYS_ADMIN in its namespaces, and still cannot
// make the read-only rootfs writable or remove the mounts set up for it; it
// can mount filesystems of its own.
func TestMountsLocked(t *testing.T) {
	if !canLockMounts {
		t.Skip("built without cgo: mounts are not locked")
	}
	uid := os.Geteuid()
	for _, writable := range []bool{false, true} {
		t.Run("writable="+strconv.FormatBool(writable), func(t *testing.T) {
			out := sh(t, StartConfig{Rootfs: Config{Rootfs: newRootfs(t), Writable: writable}, IDMap: namespaces.RemapRoot{}}, `
				id -u; cat /proc/self/uid_map
				mount -o remount,rw / 2>/dev/null; echo remount=$?
				mount -o remount,suid / 2>/dev/null; echo suid=$?
				touch /x 2>/dev/null; echo touch=$?
				umount /etc/hosts 2>/dev/null; echo umount=$?
				mount -o remount,rw /sys 2>/dev/null; echo sys=$?
				mount -t tmpfs t /data; echo tmpfs=$?`)
			got := map[string]string{}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 8 {
				t.Fatalf("output:\n%s", out)
			}
			if lines[0] != "0" || strings.Join(strings.Fields(lines[1]), " ") != "0 "+strconv.Itoa(uid)+" 1" {
				t.Errorf("id -u %s, uid_map %q; want 0 and 0 %d 1", lines[0], lines[1], uid)
			}
			for _, l := range lines[2:] {
				k, v, _ := strings.Cut(l, "=")
				got[k] = v
			}
			fail := []string{"suid", "umount", "sys"}
			if writable {
				if got["touch"] != "0" {
					t.Errorf("writable rootfs: touch /x = %s", got["touch"])
				}
			} else {
				fail = append(fail, "remount", "touch")
			}
			for _, k := range fail {
				if got[k] == "0" {
					t.Errorf("%s succeeded in the container:\n%s", k, out)
				}
			}
			if got["tmpfs"] != "0" {
				t.Errorf("root cannot mount a tmpfs of its own:\n%s", out)
			}
		})
	}
}

// A holder's namespaces, the ones joiners enter, are the locked ones: its
// user namespace is not the one whose mount namespace holds the setup.
func TestHolderMountsLocked(t *testing.T) {
	if !canLockMounts {
		t.Skip("built without cgo: mounts are not locked")
	}
	h := startHolder(t, HolderConfig{Rootfs: Config{Rootfs: newRootfs(t)}, IDMap: namespaces.RemapRoot{}})
	info, err := os.ReadFile("/proc/" + strconv.Itoa(h.Pid) + "/mountinfo")
	must(t, err)
	root := ""
	for _, l := range strings.Split(string(info), "\n") {
		if f := strings.Fields(l); len(f) > 5 && f[4] == "/" {
			root = f[5]
		}
	}
	if !strings.Contains(","+root+",", ",ro,") {
		t.Errorf("holder's / mount options %q, want ro", root)
	}
	// The uid_map seen from the host is the inner namespace's: relative to
	// the outer one, where the caller's uid maps to itself.
	m, err := os.ReadFile("/proc/" + strconv.Itoa(h.Pid) + "/uid_map")
	must(t, err)
	uid := strconv.Itoa(os.Geteuid())
	if got := strings.Join(strings.Fields(string(m)), " "); got != "0 "+uid+" 1" {
		t.Errorf("holder uid_map %q, want 0 %s 1", got, uid)
	}
}
