// SPDX-License-Identifier: Apache-2.0

package nodecheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// byName runs every probe once and indexes the results.
func byName(t *testing.T, opts Options) map[string]Result {
	t.Helper()
	rs := Run(opts)
	m := map[string]Result{}
	for _, r := range rs {
		if _, dup := m[r.Name]; dup {
			t.Fatalf("probe %q reported twice", r.Name)
		}
		if r.Status != OK && r.Status != Missing && r.Status != Warn {
			t.Errorf("%s: status %q", r.Name, r.Status)
		}
		if r.Detail == "" {
			t.Errorf("%s: no detail", r.Name)
		}
		if r.Status != OK && r.Fix == "" && r.Name != "slurm plugin" {
			t.Errorf("%s: %s without a fix: %s", r.Name, r.Status, r.Detail)
		}
		m[r.Name] = r
	}
	return m
}

// TestThisNode asserts what the test machines have: Debian 12's userland on
// a kernel of 6.1 or later, unprivileged user namespaces allowed, overlay,
// FUSE and squashfs in the kernel, a cgroup hierarchy, seccomp.
func TestThisNode(t *testing.T) {
	m := byName(t, Options{PlugstackConf: filepath.Join(t.TempDir(), "none.conf")})
	for _, name := range []string{"kernel", "user namespaces", "openat2", "close_range",
		"unprivileged overlay", "idmapped mounts", "squashfs", "cgroup", "seccomp"} {
		r, ok := m[name]
		if !ok {
			t.Errorf("no %s probe", name)
			continue
		}
		if r.Status != OK {
			t.Errorf("%s: %s: %s (fix: %s)", name, r.Status, r.Detail, r.Fix)
		}
	}
	for _, name := range []string{"user namespaces", "openat2", "close_range"} {
		if !m[name].Required {
			t.Errorf("%s is not marked required", name)
		}
	}
	if f := Failures(Run(Options{PlugstackConf: "/nonexistent"})); len(f) != 0 {
		t.Errorf("required features missing on this node: %+v", f)
	}
	// The version follows what /proc/self/mounts has on /sys/fs/cgroup
	// (cgroup2 on a stock Debian 12, tmpfs of v1 controllers in some VMs).
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	want := ""
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[1] == "/sys/fs/cgroup" {
			want = map[string]string{"cgroup2": "v2", "tmpfs": "v1"}[f[2]]
		}
	}
	if d := m["cgroup"].Detail; want == "" || !strings.HasPrefix(d, want) {
		t.Errorf("cgroup: %q, want %q from /proc/self/mounts", d, want)
	}
	// FUSE is present; its mode differs between machines (0666 on Debian,
	// 0600 in some VMs), and the verdict must follow it.
	st, err := os.Stat("/dev/fuse")
	if err != nil {
		t.Fatalf("/dev/fuse: %v", err)
	}
	fuse := m["fuse"]
	if want := st.Mode().Perm()&0o666 == 0o666; (fuse.Status == OK) != want {
		t.Errorf("fuse: %s (%s) for /dev/fuse mode %04o", fuse.Status, fuse.Detail, st.Mode().Perm())
	}
	if pl := m["slurm plugin"]; pl.Status != Warn || !strings.Contains(pl.Detail, "none.conf") {
		t.Errorf("slurm plugin without a plugstack.conf: %+v", pl)
	}
}

func TestFindPlugin(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "plugstack.conf")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Mkdir(filepath.Join(dir, "plugstack.conf.d"), 0o755))
	must(os.WriteFile(conf, []byte("# site\noptional /usr/lib/other.so\ninclude plugstack.conf.d/*.conf\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "plugstack.conf.d", "a.conf"), []byte("required /opt/x/other.so\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "plugstack.conf.d", "b.conf"),
		[]byte("# required /wrong/spank_gpyxis.so\nrequired /opt/gpyxis/lib/spank_gpyxis.so runtime=/opt/gpyxis/bin/gpyxis-runtime\n"), 0o644))
	got, err := FindPlugin(conf)
	if err != nil || got != "/opt/gpyxis/lib/spank_gpyxis.so" {
		t.Errorf("FindPlugin = %q, %v; want /opt/gpyxis/lib/spank_gpyxis.so", got, err)
	}
	// A conf that includes itself stops at the bound instead of looping.
	loop := filepath.Join(dir, "loop.conf")
	must(os.WriteFile(loop, []byte("include "+loop+"\n"), 0o644))
	if _, err := FindPlugin(loop); err == nil || !strings.Contains(err.Error(), "included") {
		t.Errorf("self-including plugstack.conf: %v", err)
	}
	// A plugin that is not an ELF file is reported, not trusted.
	notELF := filepath.Join(dir, "spank_gpyxis.so")
	must(os.WriteFile(notELF, []byte("not elf"), 0o644))
	r := probePlugin(Options{Plugin: notELF})
	if r.Status != Warn || r.Fix == "" {
		t.Errorf("probePlugin(not an ELF file) = %+v", r)
	}
}

// TestInstalledPlugin reads the harness' plugin where it is installed: it is
// built against Debian 12's libslurm-dev (22.05).
func TestInstalledPlugin(t *testing.T) {
	p, err := FindPlugin("/etc/slurm/plugstack.conf")
	if err != nil || p == "" {
		t.Skipf("no gpyxis plugin in /etc/slurm/plugstack.conf (%v)", err)
	}
	v, err := PluginSlurmVersion(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v, "22.05.") {
		t.Errorf("%s built for Slurm %s, want 22.05.x", p, v)
	}
	r := probePlugin(Options{})
	if r.Status != OK || !strings.Contains(r.Detail, v) {
		t.Errorf("probePlugin = %+v", r)
	}
}
