// SPDX-License-Identifier: Apache-2.0

package integration

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gpyxis/gpyxis/integration/harness"
)

// enrootFiles are what the import adds from the image config (enroot's layer 0).
var enrootFiles = []string{"/etc/environment", "/etc/fstab", "/etc/rc", "/etc/rc.local"}

// TestImportMultilayer imports debian:multilayer and compares the result with the
// expected merged tree: through the kernel's squashfs as root, through unsquashfs -lls
// (types, modes, sizes, link targets) as any user.
func TestImportMultilayer(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	env.RequireImage(t, "debian", "multilayer")
	expectedFile, err := harness.RepoFile("integration/infra/images/multilayer.expected")
	if err != nil {
		t.Fatal(err)
	}
	want, paths := readExpected(t, expectedFile)
	want = dropLines(want, "type=char", "type=block") // as enroot, no device nodes
	dir := t.TempDir()
	for _, comp := range []string{"zstd", "none"} {
		t.Run(comp, func(t *testing.T) {
			opts := "-comp zstd -b 1M"
			if comp == "none" {
				opts = "-noI -noD -noF -noX"
			}
			sqsh := importImage(t, reg, filepath.Join(dir, "cache"), t.TempDir(), "debian", "multilayer", "--squash-options", opts)
			t.Run("unsquashfs", func(t *testing.T) {
				if got := llsManifest(t, sqsh, paths); got != llsOf(want) {
					t.Errorf("unsquashfs -lls of the import differs from %s:\n%s", expectedFile, lineDiff(llsOf(want), got))
				}
			})
			t.Run("mount", func(t *testing.T) {
				if os.Geteuid() != 0 {
					t.Skip("kernel mount check needs root (squashfs does not mount in a user namespace)")
				}
				got, err := harness.Manifest(mountSquashfs(t, sqsh), paths...)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("mounted import differs from %s:\n%s", expectedFile, lineDiff(want, got))
				}
			})
		})
	}
}

// TestImportMatchesUmoci imports each image and compares the whole mounted tree with
// what umoci unpacks from the same image (minus /dev, devices and enroot's files).
func TestImportMatchesUmoci(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	if os.Geteuid() != 0 {
		t.Skip("needs root: the kernel squashfs mount and umoci's owners and devices")
	}
	cache := t.TempDir()
	for _, tc := range []struct{ repo, tag, ref string }{
		{"busybox", "latest", "busybox:latest"},
		{"busybox", "zstd", "busybox:oci"}, // umoci 0.4.7 cannot read zstd layers: same content as :oci
		{"debian", "bookworm", "debian:bookworm"},
		{"pytorch-like", "latest", "pytorch-like:latest"},
	} {
		t.Run(tc.repo+":"+tc.tag, func(t *testing.T) {
			env.RequireImage(t, tc.repo, tc.tag)
			sqsh := importImage(t, reg, cache, t.TempDir(), tc.repo, tc.tag)
			got, err := harness.Manifest(mountSquashfs(t, sqsh), "/")
			if err != nil {
				t.Fatal(err)
			}
			want, err := harness.Manifest(umociUnpack(t, reg, tc.ref), "/")
			if err != nil {
				t.Fatal(err)
			}
			got = dropPaths(got, append([]string{"/"}, enrootFiles...)...)
			// enroot's files replace the image's own (debian ships /etc/environment and /etc/fstab).
			want = dropLines(dropPaths(want, append([]string{"/"}, enrootFiles...)...), "type=char", "type=block")
			if got != want {
				t.Errorf("import of %s differs from umoci unpack:\n%s", tc.ref, lineDiff(want, got))
			}
		})
	}
}

// mountSquashfs mounts sqsh read-only with the kernel's squashfs and returns the mount point.
func mountSquashfs(t *testing.T, sqsh string) string {
	t.Helper()
	mnt := t.TempDir()
	run(t, "mount", "-t", "squashfs", "-o", "loop,ro", sqsh, mnt)
	t.Cleanup(func() { _ = exec.Command("umount", mnt).Run() })
	return mnt
}

// umociUnpack copies ref from the registry with skopeo and unpacks it with umoci.
func umociUnpack(t *testing.T, reg harness.Registry, ref string) string {
	t.Helper()
	dir := t.TempDir()
	run(t, "skopeo", "copy", "--quiet", "--src-tls-verify=false", "docker://"+reg.Host()+"/"+ref, "oci:"+filepath.Join(dir, "oci")+":img")
	run(t, "umoci", "unpack", "--image", filepath.Join(dir, "oci")+":img", filepath.Join(dir, "bundle"))
	return filepath.Join(dir, "bundle", "rootfs")
}

// dropLines removes manifest lines containing any of the substrings.
func dropLines(m string, subs ...string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(m, "\n") {
		keep := l != ""
		for _, s := range subs {
			keep = keep && !strings.Contains(l, " "+s)
		}
		if keep {
			b.WriteString(l)
		}
	}
	return b.String()
}

// dropPaths removes the manifest lines of exactly these paths, and everything under /dev/.
func dropPaths(m string, paths ...string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(m, "\n") {
		p, _, _ := strings.Cut(l, " ")
		if l == "" || strings.HasPrefix(p, "/dev/") || slices.Contains(paths, p) {
			continue
		}
		b.WriteString(l)
	}
	return b.String()
}

// llsOf reduces a manifest to what unsquashfs -lls shows: path, type, mode, size of
// files, symlink targets.
func llsOf(m string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(m, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		keep := []string{f[0]}
		for _, kv := range f[1:] {
			if k, _, _ := strings.Cut(kv, "="); k == "type" || k == "mode" || k == "size" || k == "target" {
				keep = append(keep, kv)
			}
		}
		b.WriteString(strings.Join(keep, " ") + "\n")
	}
	return b.String()
}

// llsManifest lists sqsh with unsquashfs -lls and writes the entries under paths in
// llsOf's form, sorted as harness.Manifest sorts; paths not in the image are absent.
func llsManifest(t *testing.T, sqsh string, paths []string) string {
	t.Helper()
	out, err := exec.Command("unsquashfs", "-lls", "-d", "", sqsh).Output()
	if err != nil {
		t.Fatalf("unsquashfs -lls %s: %v", sqsh, err)
	}
	lines := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		p, attrs, ok := parseLls(sc.Text())
		if ok {
			lines[p] = attrs
		}
	}
	var keys []string
	for _, root := range paths {
		if _, ok := lines[root]; !ok {
			keys = append(keys, root)
			lines[root] = "type=absent"
		}
		for p := range lines {
			if p == root || strings.HasPrefix(p, root+"/") {
				keys = append(keys, p)
			}
		}
	}
	escaped := map[string]string{}
	for _, k := range keys {
		escaped[harness.Escape(k)] = lines[k]
	}
	var sorted []string
	for k := range escaped {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var b strings.Builder
	for _, k := range sorted {
		b.WriteString(k + " " + escaped[k] + "\n")
	}
	return b.String()
}

// parseLls reads one unsquashfs -lls line: "PERMS OWNER SIZE DATE TIME PATH[ -> TARGET]".
func parseLls(line string) (string, string, bool) {
	f := strings.SplitN(line, " ", 2)
	if len(f) < 2 || len(f[0]) != 10 {
		return "", "", false
	}
	perms, rest := f[0], strings.TrimLeft(f[1], " ")
	var fields []string
	for i := 0; i < 4; i++ { // owner, size (or major,minor), date, time
		v, r, _ := strings.Cut(rest, " ")
		fields, rest = append(fields, v), strings.TrimLeft(r, " ")
	}
	name, target, isLink := strings.Cut(rest, " -> ")
	name = "/" + strings.TrimPrefix(strings.TrimPrefix(name, "squashfs-root"), "/")
	mode := permBits(perms)
	switch perms[0] {
	case 'd':
		return name, fmt.Sprintf("type=dir mode=%04o", mode), true
	case 'l':
		if !isLink {
			return "", "", false
		}
		return name, "type=symlink target=" + harness.Escape(target), true
	case '-':
		return name, fmt.Sprintf("type=file mode=%04o size=%s", mode, fields[1]), true
	case 'p':
		return name, fmt.Sprintf("type=fifo mode=%04o", mode), true
	case 'c', 'b':
		return name, fmt.Sprintf("type=%s mode=%04o", map[byte]string{'c': "char", 'b': "block"}[perms[0]], mode), true
	case 's':
		return name, fmt.Sprintf("type=socket mode=%04o", mode), true
	}
	return "", "", false
}

// permBits turns "-rwsr-xr-x" into 04755.
func permBits(p string) uint32 {
	var m uint32
	for i, c := range p[1:] {
		bit := uint32(1) << (8 - i)
		switch c {
		case 'r', 'w', 'x':
			m |= bit
		case 's', 't':
			m |= bit
			fallthrough
		case 'S', 'T':
			m |= [3]uint32{04000, 02000, 01000}[i/3]
		}
	}
	return m
}
