// SPDX-License-Identifier: Apache-2.0

package hooks

import (
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/pkg/rootfs"
)

const hybridMountinfo = `25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
32 31 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
33 31 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
36 31 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
37 31 0:32 /slurm /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
38 31 0:33 / /sys/fs/cgroup/with\040space rw - cgroup cgroup rw,pids
`

const hybridCgroup = `12:pids:/user.slice
5:memory:/slurm/uid_1234/job_1/step_0/task_0
4:cpu,cpuacct:/slurm/uid_1234/job_1/step_0/task_0
3:blkio:/user.slice
1:name=systemd:/user.slice/session-1.scope
0::/user.slice/session-1.scope
`

func fakeCgroups(t *testing.T, cgroup, mountinfo string) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "cgroup"), cgroup, 0o644)
	writeFile(t, filepath.Join(dir, "mountinfo"), mountinfo, 0o644)
	setVar(t, &procSelfCgroup, filepath.Join(dir, "cgroup"))
	setVar(t, &procSelfMountinfo, filepath.Join(dir, "mountinfo"))
}

func cgMount(src, dst string) rootfs.Mount {
	return rootfs.Mount{Source: src, Target: dst,
		Flags:  unix.MS_BIND | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC,
		Create: rootfs.CreateDir}
}

func TestCgroupsHybrid(t *testing.T) {
	fakeCgroups(t, hybridCgroup, hybridMountinfo)
	for _, tc := range []struct {
		name string
		step bool
		want []rootfs.Mount
	}{
		{"task", false, []rootfs.Mount{
			cgMount("/sys/fs/cgroup/with space/user.slice", "/sys/fs/cgroup/with space"),
			cgMount("/sys/fs/cgroup/memory/uid_1234/job_1/step_0/task_0", "/sys/fs/cgroup/memory"),
			cgMount("/sys/fs/cgroup/cpu,cpuacct/slurm/uid_1234/job_1/step_0/task_0", "/sys/fs/cgroup/cpu,cpuacct"),
			// blkio is not mounted: skipped
			cgMount("/sys/fs/cgroup/systemd/user.slice/session-1.scope", "/sys/fs/cgroup/systemd"),
			cgMount("/sys/fs/cgroup/unified/user.slice/session-1.scope", "/sys/fs/cgroup/unified"),
		}},
		{"slurm step: the parent", true, []rootfs.Mount{
			cgMount("/sys/fs/cgroup/with space", "/sys/fs/cgroup/with space"),
			cgMount("/sys/fs/cgroup/memory/uid_1234/job_1/step_0", "/sys/fs/cgroup/memory"),
			cgMount("/sys/fs/cgroup/cpu,cpuacct/slurm/uid_1234/job_1/step_0", "/sys/fs/cgroup/cpu,cpuacct"),
			cgMount("/sys/fs/cgroup/systemd/user.slice", "/sys/fs/cgroup/systemd"),
			cgMount("/sys/fs/cgroup/unified/user.slice", "/sys/fs/cgroup/unified"),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := newCtx(t)
			if tc.step {
				ctx.HostEnv = []string{"SLURM_STEP_ID=0"}
			}
			if err := cgroups(ctx); err != nil {
				t.Fatal(err)
			}
			if len(ctx.Mounts) != len(tc.want) {
				t.Fatalf("got %d mounts %+v", len(ctx.Mounts), ctx.Mounts)
			}
			for i := range tc.want {
				if ctx.Mounts[i] != tc.want[i] {
					t.Errorf("mount %d: %+v\nwant %+v", i, ctx.Mounts[i], tc.want[i])
				}
			}
		})
	}
}

func TestCgroupsV2AndNamespaced(t *testing.T) {
	fakeCgroups(t, "0::/\n", "40 30 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
	ctx := newCtx(t)
	if err := cgroups(ctx); err != nil {
		t.Fatal(err)
	}
	if len(ctx.Mounts) != 1 || ctx.Mounts[0] != cgMount("/sys/fs/cgroup", "/sys/fs/cgroup") {
		t.Fatalf("mounts %+v", ctx.Mounts)
	}
	// A cgroup outside our cgroup namespace ("/..") is not bound.
	fakeCgroups(t, "0::/../other\n", "40 30 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
	ctx = newCtx(t)
	if err := cgroups(ctx); err != nil || len(ctx.Mounts) != 0 {
		t.Fatalf("outside: %v %+v", err, ctx.Mounts)
	}
}

// TestCgroupsHost runs the hook on this host's real files.
func TestCgroupsHost(t *testing.T) {
	ctx := newCtx(t)
	if err := cgroups(ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range ctx.Mounts {
		if _, err := filepath.EvalSymlinks(m.Source); err != nil {
			t.Errorf("source of %+v: %v", m, err)
		}
	}
	t.Logf("mounts: %+v", ctx.Mounts)
}
