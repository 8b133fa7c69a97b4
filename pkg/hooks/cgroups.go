// SPDX-License-Identifier: Apache-2.0

package hooks

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/pkg/mountspec"
	"github.com/gpyxis/gpyxis/pkg/rootfs"
)

// Files the cgroups hook reads (variables for tests). The container init
// is a child of the runtime and starts in the runtime's cgroups, so the
// runtime's own view is the container's.
var (
	procSelfCgroup    = "/proc/self/cgroup"
	procSelfMountinfo = "/proc/self/mountinfo"
)

// cgroups is enroot's 10-cgroups.sh: for each line of /proc/self/cgroup
// (v1 "N:ctrl,ctrl:/path", v2 "0::/path"), find the hierarchy's mount in
// mountinfo (cgroup with those controllers in its super options, or
// cgroup2) and bind the caller's subtree read-only,nosuid,nodev,noexec
// over that mountpoint, so that the container (which gets its own cgroup
// namespace) sees its own, Slurm-limited, cgroup. Under a Slurm step
// (SLURM_STEP_ID set) the parent is bound, so that the whole step, not
// only the first task's cgroup, is visible. Works on v1, v2 and hybrid
// hosts (cgroup2 on /sys/fs/cgroup/unified).
//
// enroot's final "remount /sys/fs/cgroup ro" is not needed: the init's
// system mounts already bind /sys read-only recursively.
func cgroups(ctx *Context) error {
	if !ctx.Enabled("cgroups") {
		return nil
	}
	lines, err := readCgroups(procSelfCgroup)
	if err != nil {
		return err
	}
	mounts, err := readCgroupMounts(procSelfMountinfo)
	if err != nil {
		return err
	}
	_, step := ctx.lookup("SLURM_STEP_ID")
	for _, l := range lines {
		m, ok := findCgroupMount(mounts, l.ctrl)
		if !ok {
			ctx.logger().Debug("cgroups: hierarchy not mounted", "controllers", l.ctrl)
			continue
		}
		rel, ok := relCgroup(m.root, l.path)
		if !ok {
			ctx.logger().Debug("cgroups: cgroup outside the mount", "path", l.path, "root", m.root)
			continue
		}
		if step && rel != "/" {
			rel = path.Dir(rel)
		}
		ctx.Mounts = append(ctx.Mounts, rootfs.Mount{
			Source: path.Join(m.point, rel), Target: m.point,
			Flags:  unix.MS_BIND | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC,
			Create: rootfs.CreateDir,
		})
	}
	return nil
}

type cgroupLine struct{ ctrl, path string }

func readCgroups(file string) ([]cgroupLine, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	var out []cgroupLine
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		out = append(out, cgroupLine{ctrl: f[1], path: f[2]})
	}
	return out, nil
}

type cgroupMount struct{ root, point, fstype, super string }

func readCgroupMounts(file string) ([]cgroupMount, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	defer f.Close()
	var out []cgroupMount
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		a, b := strings.Fields(pre), strings.Fields(post)
		if len(a) < 5 || len(b) < 3 || (b[0] != "cgroup" && b[0] != "cgroup2") {
			continue
		}
		out = append(out, cgroupMount{root: mountspec.UnescapeMountinfo(a[3]), point: mountspec.UnescapeMountinfo(a[4]), fstype: b[0], super: b[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	return out, nil
}

// findCgroupMount finds the first mount of the hierarchy: cgroup2 for an
// empty controller list, else a cgroup mount whose super options hold
// every controller (named hierarchies appear as name=systemd in both).
func findCgroupMount(mounts []cgroupMount, ctrl string) (cgroupMount, bool) {
	for _, m := range mounts {
		if ctrl == "" {
			if m.fstype == "cgroup2" {
				return m, true
			}
			continue
		}
		if m.fstype != "cgroup" {
			continue
		}
		opts := map[string]bool{}
		for _, o := range strings.Split(m.super, ",") {
			opts[o] = true
		}
		all := true
		for _, c := range strings.Split(ctrl, ",") {
			all = all && opts[c]
		}
		if all {
			return m, true
		}
	}
	return cgroupMount{}, false
}

// relCgroup is the cgroup path relative to the mount's root (enroot's
// ${path#${root}}), as an absolute path.
func relCgroup(root, p string) (string, bool) {
	if strings.Contains("/"+p+"/", "/../") {
		return "", false // outside our cgroup namespace
	}
	if root == "/" {
		return path.Clean(p), true
	}
	if p != root && !strings.HasPrefix(p, root+"/") {
		return "", false
	}
	return path.Clean("/" + strings.TrimPrefix(p, root)), true
}
