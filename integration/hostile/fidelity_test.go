// SPDX-License-Identifier: Apache-2.0

package hostile

import (
	"archive/tar"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/integration/harness"
	"github.com/gpyxis/gpyxis/internal/xattr"
)

// Fidelity and small escapes: what an unpacked container keeps of its
// image (extended attributes, file capabilities), trees an unprivileged
// user cannot read in full, and a remapped root's hold on its read-only
// rootfs.

// fidelityBusybox is a busybox image's entries with the applets these tests use.
func fidelityBusybox(t *testing.T) []Entry {
	t.Helper()
	e := hooksBusybox(t)
	for _, a := range []string{"mount", "umount", "touch", "echo"} {
		e = append(e, Entry{Name: "bin/" + a, Type: tar.TypeSymlink, Linkname: "busybox"})
	}
	return e
}

// fidelityCap is a version 2 security.capability value: cap_net_raw+ep.
func fidelityCap() string {
	b := make([]byte, 20)
	binary.LittleEndian.PutUint32(b[0:], 0x02000001) // VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE
	binary.LittleEndian.PutUint32(b[4:], 1<<unix.CAP_NET_RAW)
	return string(b)
}

// fidelityEnv is the runtime's environment for a, everything under its home.
func fidelityEnv(a *Account) []string {
	return []string{"ENROOT_DATA_PATH=" + a.Home + "/data", "ENROOT_CACHE_PATH=" + a.Home + "/cache", "ENROOT_ALLOW_HTTP=1"}
}

// TestHostileFidelityXattrs: a file's extended attributes in an image
// survive the unpack of a writable container: user.* for anyone, and the
// file capability too when root unpacks, as an import to squashfs keeps
// them. Overlay's own attributes never reach the tree.
func TestHostileFidelityXattrs(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	c := NewCanaries(t)
	img := PushImage(t, reg, nil, Layer(t, append(fidelityBusybox(t),
		Entry{Name: "opt/", Type: tar.TypeDir, Xattrs: map[string]string{"user.dir": "d"}},
		Entry{Name: "opt/pinger", Body: "#!/bin/sh\n", Mode: 0o555, Xattrs: map[string]string{
			"security.capability": fidelityCap(), "user.test": "hello", "trusted.overlay.opaque": "y"}})...))
	accounts := []*Account{Self(t)}
	if os.Geteuid() == 0 {
		accounts = append(accounts, AccountFor(t, Victim))
	}
	for _, a := range accounts {
		who := a.Name
		if who == "" {
			who = "self"
		}
		t.Run(who, func(t *testing.T) {
			out, err := a.Runtime(t, 60*time.Second, fidelityEnv(a), "create", "--insecure", "--name", "fid", img.Ref(reg))
			if err != nil {
				t.Fatalf("create: %v\n%s", err, out)
			}
			// The writable container's tree, read from the host.
			root := filepath.Join(a.Home, "data", "fid")
			t.Cleanup(func() { a.Runtime(t, 30*time.Second, fidelityEnv(a), "remove", "-f", "fid") })
			got, err := xattr.List(filepath.Join(root, "opt/pinger"), "")
			if err != nil {
				t.Fatal(err)
			}
			if string(got["user.test"]) != "hello" {
				t.Errorf("opt/pinger user.test = %q, want hello (all: %q)", got["user.test"], got)
			}
			if _, ok := got["trusted.overlay.opaque"]; ok {
				t.Errorf("opt/pinger carries the image's trusted.overlay.opaque")
			}
			if d, _ := xattr.List(filepath.Join(root, "opt"), "user."); string(d["user.dir"]) != "d" {
				t.Errorf("opt user.dir = %q, want d", d["user.dir"])
			}
			wantCap := a.Name == "" && os.Geteuid() == 0
			if capv, ok := got["security.capability"]; ok != wantCap || (ok && string(capv) != fidelityCap()) {
				t.Errorf("opt/pinger security.capability %x (present %v), want present: %v", capv, ok, wantCap)
			}
			// The same unpack serves run --rw: the container starts on it.
			if out, err := a.Runtime(t, 60*time.Second, fidelityEnv(a), "start", "--rw", "fid", "cat", "/opt/pinger"); err != nil || !strings.Contains(out, "#!/bin/sh") {
				t.Errorf("start --rw: %v\n%s", err, out)
			}
			c.Check(t)
		})
	}
}

// TestHostileRemapRootRemount: root in a --remap-root container holds
// CAP_SYS_ADMIN in its namespaces; it must still not make the read-only
// rootfs writable, drop its nosuid, or unmount what the runtime mounted.
func TestHostileRemapRootRemount(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	c := NewCanaries(t)
	img := PushImage(t, reg, nil, Layer(t, append(fidelityBusybox(t),
		Entry{Name: "etc/", Type: tar.TypeDir}, Entry{Name: "etc/hosts", Body: "image\n"})...))
	accounts := []*Account{Self(t)}
	if os.Geteuid() == 0 {
		accounts = append(accounts, AccountFor(t, Victim))
	}
	const script = `mount -o remount,rw / 2>&1; echo "remount=$?"
		mount -o remount,suid / 2>&1; echo "suid=$?"
		touch /escape 2>&1; echo "touch=$?"
		umount /etc/hosts 2>&1; echo "umount=$?"
		id -u`
	for _, a := range accounts {
		who := a.Name
		if who == "" {
			who = "self"
		}
		t.Run(who, func(t *testing.T) {
			out, err := a.Runtime(t, 60*time.Second, fidelityEnv(a), "run", "--insecure", "-r", img.Ref(reg), "sh", "-c", script)
			if err != nil {
				t.Fatalf("run -r: %v\n%s", err, out)
			}
			if !strings.Contains(out, "\n0\n") && !strings.HasSuffix(strings.TrimSpace(out), "\n0") {
				t.Errorf("not root in the container:\n%s", out)
			}
			for _, k := range []string{"remount", "suid", "touch", "umount"} {
				if strings.Contains(out, k+"=0\n") {
					t.Errorf("%s succeeded as the container's root:\n%s", k, out)
				}
			}
			if !strings.Contains(out, "Read-only file system") {
				t.Errorf("touch / did not fail with EROFS:\n%s", out)
			}
			c.Check(t)
		})
	}
}

// TestHostileMultilayerNodeCache: debian:multilayer has a mode-0000
// directory, which the node cache's tree digest cannot list as an
// unprivileged user: two runs from the cache (the second looks the tree
// up again) work, and the directory is there with its mode.
func TestHostileMultilayerNodeCache(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	env.RequireImage(t, "debian", "multilayer")
	a := AccountFor(t, Victim)
	runEnv := append(fidelityEnv(a), "GPYXIS_ROOTFS_CACHE=true")
	ref := "docker://" + reg.Host() + "#debian:multilayer"
	for i := range 2 {
		out, err := a.Runtime(t, 120*time.Second, runEnv, "run", "--insecure", ref, "stat", "-c", "%a %F", "/opt/ml/no-access")
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i+1, err, out)
		}
		if !strings.Contains(out, "0 directory") {
			t.Errorf("run %d: /opt/ml/no-access: %s; want mode 0, a directory", i+1, out)
		}
		if strings.Contains(out, "rebuilding cache entry") {
			t.Errorf("run %d rebuilt the cache entry:\n%s", i+1, out)
		}
	}
	if entries, _ := filepath.Glob(filepath.Join(a.Home, "cache", "rootfs", "*", "meta.json")); len(entries) != 1 {
		t.Errorf("node cache entries %q, want one", entries)
	}
}
