// SPDX-License-Identifier: Apache-2.0

package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/pkg/namespaces"
)

func TestIDMaps(t *testing.T) {
	uid, gid := os.Geteuid(), os.Getegid()
	rootfs := newRootfs(t)
	for _, tc := range []struct {
		m          namespaces.IDMap
		inner      int
		innerG     int
		noCapsWant bool
	}{
		{namespaces.Identity{}, uid, gid, uid != 0},
		{namespaces.RemapRoot{}, 0, 0, false},
	} {
		t.Run(tc.m.String(), func(t *testing.T) {
			out := sh(t, StartConfig{Rootfs: Config{Rootfs: rootfs}, IDMap: tc.m},
				`id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; grep CapEff /proc/self/status`)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 5 {
				t.Fatalf("output:\n%s", out)
			}
			if lines[0] != strconv.Itoa(tc.inner) || lines[1] != strconv.Itoa(tc.innerG) {
				t.Errorf("id -u, -g = %s, %s; want %d, %d", lines[0], lines[1], tc.inner, tc.innerG)
			}
			if got, want := strings.Join(strings.Fields(lines[2]), " "), fmt.Sprintf("%d %d 1", tc.inner, uid); got != want {
				t.Errorf("uid_map = %q, want %q", got, want)
			}
			if got, want := strings.Join(strings.Fields(lines[3]), " "), fmt.Sprintf("%d %d 1", tc.innerG, gid); got != want {
				t.Errorf("gid_map = %q, want %q", got, want)
			}
			// The init's ambient capabilities must not reach the command.
			noCaps := strings.HasSuffix(lines[4], "0000000000000000")
			if noCaps != tc.noCapsWant {
				t.Errorf("%s; want no capabilities: %v", lines[4], tc.noCapsWant)
			}
		})
	}
}

func TestHostNamespacesShared(t *testing.T) {
	c := StartConfig{Rootfs: Config{Rootfs: newRootfs(t)}}
	out := sh(t, c, `echo $PPID; test -d /proc/$PPID && echo visible; cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' ' | sort`)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[0] != strconv.Itoa(os.Getpid()) || lines[1] != "visible" {
		t.Errorf("parent pid = %s (%s), want %d visible in /proc", lines[0], lines[1], os.Getpid())
	}
	host := hostInterfaces(t)
	if got := strings.Join(lines[2:], " "); got != host {
		t.Errorf("interfaces = %q, host has %q", got, host)
	}
}

func hostInterfaces(t *testing.T) string {
	b, err := os.ReadFile("/proc/net/dev")
	must(t, err)
	var names []string
	for _, l := range strings.Split(string(b), "\n")[2:] {
		if n, _, ok := strings.Cut(l, ":"); ok {
			names = append(names, strings.TrimSpace(n))
		}
	}
	return strings.Join(sortStrings(names), " ")
}

func sortStrings(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

func TestSystemMountsReadOnlyRootfs(t *testing.T) {
	rootfs := newRootfs(t)
	c := StartConfig{Rootfs: Config{Rootfs: rootfs}}
	out := sh(t, c, `
		touch /x 2>&1 && echo "/ writable";
		touch /sys/x 2>&1 && echo "/sys writable";
		touch /sys/fs/cgroup/x 2>&1 && echo "/sys/fs/cgroup writable";
		echo tmp > /tmp/f && cat /tmp/f;
		stat -f -c %T /tmp /run;
		test -d /var/lock && echo lock;
		echo null > /dev/null && echo devnull;
		test -e /etc/machine-id || echo no-machine-id;
		cat /etc/hosts`)
	for _, want := range []string{
		"touch: /x: Read-only file system",
		"touch: /sys/x: Read-only file system",
		"touch: /sys/fs/cgroup/x: Read-only file system",
		"tmp\ntmpfs\ntmpfs\nlock\ndevnull\nno-machine-id\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "writable") {
		t.Errorf("something is writable:\n%s", out)
	}
	hosts, err := os.ReadFile("/etc/hosts")
	must(t, err)
	if !strings.HasSuffix(out, "no-machine-id\n"+string(hosts)) {
		t.Errorf("/etc/hosts is not the host's:\n%s", out)
	}
	// Nothing was created in the read-only image.
	if _, err := os.Lstat(rootfs + "/etc/machine-id"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("machine-id created in a read-only rootfs: %v", err)
	}
}

func TestWritableRootfs(t *testing.T) {
	rootfs := newRootfs(t)
	must(t, os.Remove(rootfs+"/proc"))
	c := StartConfig{Rootfs: Config{Rootfs: rootfs, Writable: true}}
	out := sh(t, c, `touch /x && echo ok; cat /etc/machine-id; test -f /proc/self/status && echo proc`)
	mid, err := os.ReadFile("/etc/machine-id")
	if err != nil {
		mid = nil
	}
	if want := "ok\n" + string(mid) + "proc\n"; out != want {
		t.Errorf("output %q, want %q", out, want)
	}
	if _, err := os.Stat(rootfs + "/x"); err != nil {
		t.Errorf("file written in the container: %v", err)
	}
}

func TestBindMounts(t *testing.T) {
	host := t.TempDir()
	must(t, os.WriteFile(host+"/in", []byte("from host\n"), 0o644))
	rootfs := newRootfs(t)
	for _, tc := range []struct {
		name  string
		flags uintptr
		out   string
	}{
		{"rw", unix.MS_BIND, "from host\nwritten\n"},
		{"ro", unix.MS_BIND | unix.MS_RDONLY, "from host\nsh: can't create /data/out: Read-only file system\n"},
		{"rbind ro", unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY | unix.MS_NOSUID, "from host\nsh: can't create /data/out: Read-only file system\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(host + "/out")
			c := StartConfig{Rootfs: Config{Rootfs: rootfs, Mounts: []Mount{
				{Source: host, Target: "/data", Flags: tc.flags},
			}}}
			out := sh(t, c, `cat /data/in; echo written 2>&1 > /data/out && cat /data/out; true`)
			if out != tc.out {
				t.Errorf("output %q, want %q", out, tc.out)
			}
		})
	}
	t.Run("file", func(t *testing.T) {
		c := StartConfig{Rootfs: Config{Rootfs: rootfs, Writable: true, Mounts: []Mount{
			{Source: host + "/in", Target: "/new/dir/in", Flags: unix.MS_BIND | unix.MS_RDONLY, Create: CreateAuto},
		}}}
		if out := sh(t, c, `cat /new/dir/in`); out != "from host\n" {
			t.Errorf("output %q", out)
		}
		if fi, err := os.Stat(rootfs + "/new/dir/in"); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("created target: %v, %v", fi, err)
		}
	})
}

func TestTmpfsMount(t *testing.T) {
	c := StartConfig{Rootfs: Config{Rootfs: newRootfs(t), Writable: true, Mounts: []Mount{
		{Source: "tmpfs", Target: "/scratch", FSType: "tmpfs", Flags: unix.MS_NOEXEC, Data: "size=1m,mode=700", Create: CreateDir},
	}}}
	out := sh(t, c, `grep ' /scratch ' /proc/self/mountinfo; stat -c %a /scratch`)
	for _, want := range []string{" tmpfs tmpfs ", "size=1024k", "noexec", "\n700\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestTargetSymlinkContained(t *testing.T) {
	// Where the links point on the host; outside /tmp, which is a tmpfs in
	// the container, and never created on the host.
	outside := "/nonexistent-gpyxis-outside/dir"
	payload := t.TempDir()
	must(t, os.WriteFile(payload+"/marker", []byte("payload\n"), 0o644))
	rootfs := newRootfs(t)
	must(t, os.Symlink(outside, rootfs+"/abs"))                           // absolute link
	must(t, os.Symlink("../../../../../../../.."+outside, rootfs+"/rel")) // climbs above /
	for _, link := range []string{"/abs", "/rel"} {
		t.Run(link, func(t *testing.T) {
			c := StartConfig{Rootfs: Config{Rootfs: rootfs, Writable: true, Mounts: []Mount{
				{Source: payload, Target: link + "/sub", Flags: unix.MS_BIND, Create: CreateDir},
			}}}
			// Resolved in the rootfs, the link leads to <rootfs><outside>.
			out := sh(t, c, "cat "+outside+"/sub/marker")
			if out != "payload\n" {
				t.Errorf("output %q", out)
			}
			if _, err := os.Stat(outside + "/sub"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("host directory %s touched: %v", outside, err)
			}
			if _, err := os.Stat(rootfs + outside + "/sub"); err != nil {
				t.Errorf("target not created inside the rootfs: %v", err)
			}
		})
	}
}

func TestMountErrors(t *testing.T) {
	rootfs := newRootfs(t)
	for _, tc := range []struct {
		name  string
		m     Mount
		errno error
		msg   string
	}{
		{"missing source", Mount{Source: "/nonexistent-gpyxis", Target: "/data", Flags: unix.MS_BIND},
			fs.ErrNotExist, "mount /nonexistent-gpyxis on /data: source: no such file or directory"},
		{"missing target, read-only rootfs", Mount{Source: "tmpfs", Target: "/nope/deeper", FSType: "tmpfs", Create: CreateDir},
			nil, "mount tmpfs on /nope/deeper: target: create /nope: not allowed in a read-only rootfs"},
		{"missing target, no create", Mount{Source: "tmpfs", Target: "/nope", FSType: "tmpfs"},
			fs.ErrNotExist, "mount tmpfs on /nope: target: no such file or directory"},
		{"bad fstype", Mount{Source: "x", Target: "/data", FSType: "nosuchfs"},
			unix.ENODEV, "mount x on /data: no such device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(t, StartConfig{Rootfs: Config{Rootfs: rootfs, Mounts: []Mount{tc.m}}, Args: []string{"true"}})
			var ie *InitError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want an InitError", err)
			}
			if want := "container init: " + tc.msg; err.Error() != want {
				t.Errorf("err = %q\nwant  %q", err, want)
			}
			if tc.errno != nil && !errors.Is(err, tc.errno) {
				t.Errorf("err = %v, want errors.Is %v", err, tc.errno)
			}
		})
	}
	if _, err := os.Stat(rootfs + "/nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("read-only rootfs modified: %v", err)
	}
}

func TestOptionalMountSkipped(t *testing.T) {
	var stderr strings.Builder
	c := StartConfig{Rootfs: Config{Rootfs: newRootfs(t), Mounts: []Mount{
		{Source: "/nonexistent-gpyxis", Target: "/data", Flags: unix.MS_BIND, Optional: true},
		{Source: "tmpfs", Target: "/nope", FSType: "tmpfs", Create: CreateDir, Optional: true},
	}}, Debug: true, Args: []string{"true"}, Env: []string{"PATH=/bin"}, Stderr: &stderr}
	p, err := Start(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	must(t, p.Wait())
	for _, want := range []string{"no source", "source=/nonexistent-gpyxis", "no target", "target=/nope", "target=/etc/machine-id"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("debug log lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestCommandErrors(t *testing.T) {
	rootfs := newRootfs(t)
	_, err := run(t, StartConfig{Rootfs: Config{Rootfs: rootfs}, Args: []string{"nosuchcmd"}})
	if err == nil || !strings.Contains(err.Error(), `command "nosuchcmd" not found`) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v", err)
	}
	must(t, os.WriteFile(rootfs+"/etc/notexec", nil, 0o644))
	_, err = run(t, StartConfig{Rootfs: Config{Rootfs: rootfs}, Args: []string{"/etc/notexec"}})
	if err == nil || err.Error() != "container init: command /etc/notexec: permission denied" {
		t.Errorf("err = %v", err)
	}
	_, err = run(t, StartConfig{Rootfs: Config{Rootfs: rootfs}, Args: []string{"true"}, Dir: "/nowhere"})
	if err == nil || err.Error() != "container init: chdir /nowhere: no such file or directory" {
		t.Errorf("err = %v", err)
	}
	r, err := run(t, StartConfig{Rootfs: Config{Rootfs: rootfs}, Args: []string{"sh", "-c", "exit 3"}})
	if err != nil || r.code != 3 {
		t.Errorf("exit 3: %+v, %v", r, err)
	}
}

func TestDirAndEnv(t *testing.T) {
	c := StartConfig{Rootfs: Config{Rootfs: newRootfs(t)}, Dir: "/tmp", Env: []string{"PATH=/bin", "FOO=bar"}}
	if out := sh(t, c, `pwd; echo $FOO; env | sort`); out != "/tmp\nbar\nFOO=bar\nPATH=/bin\nPWD=/tmp\nSHLVL=1\n" {
		t.Errorf("output %q", out)
	}
}

func TestCgroupNamespace(t *testing.T) {
	host, err := os.ReadFile("/proc/self/cgroup")
	must(t, err)
	out := sh(t, StartConfig{Rootfs: Config{Rootfs: newRootfs(t)}}, `cat /proc/self/cgroup; readlink /proc/self/ns/cgroup`)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	nsLink := lines[len(lines)-1]
	hostLink, err := os.Readlink("/proc/self/ns/cgroup")
	must(t, err)
	if nsLink == hostLink {
		t.Errorf("cgroup namespace %s is the host's", nsLink)
	}
	// Every hierarchy, v1 ones of a hybrid host included, is rooted at the
	// cgroup the container was started in.
	cg := lines[:len(lines)-1]
	if len(cg) != len(strings.Split(strings.TrimSpace(string(host)), "\n")) {
		t.Errorf("container sees %d hierarchies, host:\n%s", len(cg), host)
	}
	for _, l := range cg {
		if !strings.HasSuffix(l, ":/") {
			t.Errorf("cgroup line %q not at the namespace root", l)
		}
	}
	if strings.Contains(string(host), "\n0::") || strings.HasPrefix(string(host), "0::") {
		if !strings.Contains(out, "0::/\n") {
			t.Errorf("no cgroup2 line 0::/ in\n%s", out)
		}
	}
}

func TestUnshare(t *testing.T) {
	rootfs := newRootfs(t)
	t.Run("pid", func(t *testing.T) {
		c := StartConfig{Rootfs: Config{Rootfs: rootfs, Unshare: namespaces.Unshare{PID: true}}}
		out := sh(t, c, fmt.Sprintf(`echo $$ $PPID; cat /proc/1/comm; test -e /proc/%d || echo hidden`, os.Getpid()))
		if out != "1 0\nsh\nhidden\n" {
			t.Errorf("output %q, want sh as pid 1 and the host pids hidden", out)
		}
	})
	t.Run("net", func(t *testing.T) {
		c := StartConfig{Rootfs: Config{Rootfs: rootfs, Unshare: namespaces.Unshare{Net: true}}}
		out := sh(t, c, `ls /sys/class/net; cat /sys/class/net/lo/flags; touch /sys/x 2>&1; true`)
		if want := "lo\n0x9\ntouch: /sys/x: Read-only file system\n"; out != want {
			t.Errorf("output %q, want %q", out, want)
		}
	})
	t.Run("uts ipc", func(t *testing.T) {
		c := StartConfig{Rootfs: Config{Rootfs: rootfs, Hostname: "box", Unshare: namespaces.Unshare{UTS: true, IPC: true}}}
		out := sh(t, c, `hostname; readlink /proc/self/ns/ipc`)
		host, _ := os.Readlink("/proc/self/ns/ipc")
		if !strings.HasPrefix(out, "box\nipc:") || strings.Contains(out, host) {
			t.Errorf("output %q (host ipc %s)", out, host)
		}
	})
}

func TestStartValidation(t *testing.T) {
	for _, c := range []StartConfig{
		{Rootfs: Config{Rootfs: "relative"}, Args: []string{"true"}},
		{Rootfs: Config{Rootfs: "/x"}},
		{Rootfs: Config{Rootfs: "/x", Hostname: "h"}, Args: []string{"true"}},
		{Rootfs: Config{Rootfs: "/x", Mounts: []Mount{{Target: "rel"}}}, Args: []string{"true"}},
	} {
		if _, err := Start(t.Context(), c); err == nil {
			t.Errorf("Start(%+v) succeeded", c)
		}
	}
}

// TestExtraFiles passes an open file to the command: it is readable through
// /proc/self/fd/FirstExtraFD inside, while the init's socket (fd 3) is not
// inherited.
func TestExtraFiles(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "extra")
	must(t, err)
	defer f.Close()
	_, err = f.WriteString("from-the-host\n")
	must(t, err)
	c := StartConfig{Rootfs: Config{Rootfs: newRootfs(t)}, ExtraFiles: []*os.File{f}}
	out := sh(t, c, fmt.Sprintf(`cat /proc/self/fd/%d; test -e /proc/self/fd/3 && echo fd3-open; true`, FirstExtraFD))
	if out != "from-the-host\n" {
		t.Errorf("output %q, want the extra file's content and no fd 3", out)
	}
}
