// SPDX-License-Identifier: Apache-2.0

package integration

// The SPANK plugin under the harness's real Slurm, following pyxis' own test
// suite (tests/*.bats, see docs of pyxis 0.24): every test submits steps with
// srun/salloc/sbatch --container-* as the user running the tests (root, or
// the unprivileged test user in `make test-rootless`).

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gpyxis/gpyxis/integration/harness"
)

// nsScript prints the identity, seccomp mode and namespaces a task sees.
const nsScript = `echo "uid=$(id -u)"; echo "map=$(cat /proc/self/uid_map)"; echo "seccomp=$(grep Seccomp: /proc/self/status)";
for n in net pid mnt; do echo "$n=$(readlink /proc/self/ns/$n)"; done`

// TestSpankBasic: a Debian image runs as the submitting user in the host's
// network and PID namespaces, in its own mount namespace, under the seccomp
// filter; with --container-remap-root the user is root inside (pyxis
// docker_image.bats, remap_root.bats).
func TestSpankBasic(t *testing.T) {
	s := newSpank(t)
	harness.Require(t).RequireImage(t, "debian", "bookworm")
	host := s.hostNS()
	uid := strconv.Itoa(s.Uid)
	for _, tc := range []struct {
		name, image, remap, os string
		inner                  string
	}{
		{"debian", s.image("debian:bookworm"), "--no-container-remap-root", "Debian GNU/Linux 12 (bookworm)", uid},
		{"remap-root", s.busybox(), "--container-remap-root", "", "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := s.in(t)
			out := s.ok(nil, "-N1", "-w", s.Node, tc.image, tc.remap, "sh", "-c",
				`if test -e /etc/os-release; then . /etc/os-release; echo "os=$PRETTY_NAME"; fi; `+nsScript)
			got := spankKV(out)
			if tc.os != "" && got["os"] != tc.os {
				t.Errorf("os-release PRETTY_NAME = %q, want %q", got["os"], tc.os)
			}
			if got["uid"] != tc.inner {
				t.Errorf("id -u = %q, want %s", got["uid"], tc.inner)
			}
			if m := spankFields(got["map"]); m != tc.inner+" "+uid+" 1" {
				t.Errorf("uid_map = %q, want %q", m, tc.inner+" "+uid+" 1")
			}
			if sc := spankFields(got["seccomp"]); sc != "Seccomp: 2" {
				t.Errorf("seccomp = %q, want Seccomp: 2", sc)
			}
			for _, n := range []string{"net", "pid"} {
				if got[n] != host[n] {
					t.Errorf("%s namespace %q, want the host's %q", n, got[n], host[n])
				}
			}
			if got["mnt"] == "" || got["mnt"] == host["mnt"] {
				t.Errorf("mount namespace %q, want one other than the host's %q", got["mnt"], host["mnt"])
			}
			if t.Failed() {
				t.Logf("output:\n%s", out)
			}
		})
	}
}

// TestSpankMultiTask: four tasks on one node share one container.
func TestSpankMultiTask(t *testing.T) {
	s := newSpank(t)
	host := s.hostNS()
	out := s.ok(nil, "-N1", "-w", s.Node, "-n4", "-O", s.busybox(), "sh", "-c", `echo "$SLURM_PROCID $(readlink /proc/self/ns/mnt)"`)
	l := spankLines(out)
	if len(l) != 4 {
		t.Fatalf("got %d lines, want 4:\n%s", len(l), out)
	}
	ranks := map[string]bool{}
	var mnt string
	for _, line := range l {
		rank, ns, _ := strings.Cut(line, " ")
		ranks[rank] = true
		if mnt == "" {
			mnt = ns
		}
		if ns != mnt {
			t.Errorf("tasks in different mount namespaces:\n%s", out)
			break
		}
	}
	if len(ranks) != 4 {
		t.Errorf("want 4 distinct SLURM_PROCID:\n%s", out)
	}
	if mnt == host["mnt"] {
		t.Errorf("tasks are in the host's mount namespace %s", mnt)
	}
}

// TestSpankPyTorch: a two-node, four-task step of an image with
// PYTORCH_VERSION gets torch.distributed's variables (pyxis pytorch.bats,
// enroot's 50-slurm-pytorch hook) and starts in the image's WORKDIR
// (workdir.bats "container image workdir").
func TestSpankPyTorch(t *testing.T) {
	s := newSpank(t)
	harness.Require(t).RequireImage(t, "pytorch-like", "latest")
	nodes := spankNodes(t, s.Slurm)
	if len(nodes) < 2 {
		spankRequire(t, errNeedTwoNodes)
	}
	out := s.ok(nil, "-N2", "-n4", "-O", "-w", nodes[0]+","+nodes[1], s.image("pytorch-like:latest"), "sh", "-c",
		`echo "procid=$SLURM_PROCID rank=$RANK localid=$SLURM_LOCALID local_rank=$LOCAL_RANK addr=$MASTER_ADDR port=$MASTER_PORT world=$WORLD_SIZE host=$(cat /proc/sys/kernel/hostname) pwd=$(pwd) job=$SLURM_JOB_ID torch=$PYTORCH_VERSION"`)
	l := spankLines(out)
	if len(l) != 4 {
		t.Fatalf("got %d lines, want 4:\n%s", len(l), out)
	}
	procs, hosts := map[string]bool{}, map[string]bool{}
	for _, line := range l {
		v := map[string]string{}
		for _, f := range strings.Fields(line) {
			k, val, _ := strings.Cut(f, "=")
			v[k] = val
		}
		procs[v["procid"]] = true
		hosts[v["host"]] = true
		job, err := strconv.Atoi(v["job"])
		if err != nil {
			t.Fatalf("SLURM_JOB_ID %q: %v", v["job"], err)
		}
		want := map[string]string{
			"rank": v["procid"], "local_rank": v["localid"], "addr": nodes[0],
			"port": strconv.Itoa(job%4536 + 61000), "world": "4", "pwd": "/workspace", "torch": "2.5.0",
		}
		for k, w := range want {
			if v[k] != w {
				t.Errorf("task %s: %s=%q, want %q (line %q)", v["procid"], k, v[k], w, line)
			}
		}
	}
	if len(procs) != 4 {
		t.Errorf("want 4 distinct ranks:\n%s", out)
	}
	if !hosts[nodes[0]] || !hosts[nodes[1]] {
		t.Errorf("want tasks on %s and %s:\n%s", nodes[0], nodes[1], out)
	}
}

// TestSpankWorkdir: --container-workdir (pyxis workdir.bats).
func TestSpankWorkdir(t *testing.T) {
	s := newSpank(t)
	for _, tc := range []struct{ name, dir, want string }{
		{"absolute", "/etc", "/etc"},
		{"dotdot stays at the root", "../", "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := s.in(t)
			if got := strings.TrimSpace(s.ok(nil, "-N1", s.busybox(), "--container-workdir="+tc.dir, "pwd")); got != tc.want {
				t.Errorf("pwd = %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		s := s.in(t)
		s.fails("No such file or directory", nil, "-N1", s.busybox(), "--container-workdir=/gpyxis-no-such-dir", "pwd")
	})
}

// TestSpankWritable: the root filesystem is read-only by default and with
// --container-readonly, writable with --container-writable (writable.bats).
func TestSpankWritable(t *testing.T) {
	s := newSpank(t)
	const script = `touch /newfile 2>&1 && echo touched`
	for _, tc := range []struct {
		name string
		flag []string
		want string
	}{
		{"default", nil, "Read-only file system"},
		{"readonly", []string{"--container-readonly"}, "Read-only file system"},
		{"writable", []string{"--container-writable"}, "touched"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := s.in(t)
			args := append(append([]string{"-N1", s.busybox()}, tc.flag...), "sh", "-c", script)
			stdout, stderr, _ := s.srun(nil, args...)
			if !strings.Contains(stdout, tc.want) {
				t.Errorf("touch /newfile: want %q\nstdout:\n%s\nstderr:\n%s", tc.want, stdout, stderr)
			}
		})
	}
}

// TestSpankMounts: --container-mounts (pyxis mounts.bats).
func TestSpankMounts(t *testing.T) {
	s := newSpank(t)
	src := s.mkdir("src", map[string]string{"marker": "dir-marker\n"})
	file := filepath.Join(s.Dir, "file.txt")
	if err := os.WriteFile(file, []byte("file-marker\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cwd := s.mkdir("cwd", map[string]string{"cwd-marker": "cwd-marker\n"})
	spaced := s.mkdir("with space", map[string]string{"marker": "space-marker\n"})
	bb := s.busybox()
	okCase := func(name string, want []string, args ...string) {
		t.Run(name, func(t *testing.T) {
			s := s.in(t)
			got := spankLines(s.ok(nil, append([]string{"-N1", bb}, args...)...))
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("output %q, want %q", got, want)
			}
		})
	}
	okCase("absolute directory", []string{"dir-marker", "touched"},
		"--container-mounts="+src+":/test-mnt", "sh", "-c", "cat /test-mnt/marker && touch /test-mnt/from-container && echo touched")
	if _, err := os.Stat(filepath.Join(src, "from-container")); err != nil {
		t.Errorf("a file written in the bind mount is not on the host: %v", err)
	}
	okCase("short form", []string{"dir-marker"}, "--container-mounts="+src, "cat", src+"/marker")
	okCase("regular file", []string{"file-marker"}, "--container-mounts="+file+":/test-file", "cat", "/test-file")
	okCase("relative file", []string{"cwd-marker"}, "--chdir="+cwd, "--container-mounts=./cwd-marker:/test-file", "cat", "/test-file")
	okCase("job directory", []string{"cwd-marker"}, "--chdir="+cwd, "--container-mounts=./:/test-mnt", "cat", "/test-mnt/cwd-marker")
	okCase("character device", []string{"chardev"}, "--container-mounts=/dev/null:/test-null", "sh", "-c", "test -c /test-null && echo chardev")
	okCase("read-only", []string{"dir-marker", "Read-only file system"},
		"--container-mounts="+src+":/test-mnt:ro", "sh", "-c", "cat /test-mnt/marker; touch /test-mnt/ro-attempt 2>&1 | grep -o 'Read-only file system'")
	if _, err := os.Stat(filepath.Join(src, "ro-attempt")); err == nil {
		t.Errorf("a file was written through a :ro mount")
	}
	okCase("multiple", []string{"dir-marker", "file-marker", "tmpfs"},
		"--container-mounts="+src+":/mnt-a,"+file+":/mnt-b,tmpfs:/mnt-c", "sh", "-c", `cat /mnt-a/marker /mnt-b; awk '$2=="/mnt-c" {print $3}' /proc/mounts`)
	okCase("relative target", []string{"dir-marker"}, "--container-mounts="+src+":./test-rel", "cat", "/test-rel/marker")
	okCase("unbindable+ro", []string{"Read-only file system", "unbindable"},
		"--container-mounts="+src+":/test-mnt:unbindable+ro", "sh", "-c",
		`touch /test-mnt/x 2>&1 | grep -o 'Read-only file system'; awk '$5=="/test-mnt" {for (i = 7; $i != "-"; i++) if ($i == "unbindable") print $i}' /proc/self/mountinfo`)
	okCase("tmpfs", []string{"tmpfs"}, "--container-mounts=tmpfs:/test-tmp", "awk", `$2=="/test-tmp" {print $3}`, "/proc/mounts")
	okCase("spaces", []string{"space-marker"}, "--container-mounts="+spaced+":/test mnt", "cat", "/test mnt/marker")

	t.Run("nonexistent source", func(t *testing.T) {
		s := s.in(t)
		s.fails("source path does not exist: /gpyxis-nonexistent", nil, "-N1", bb, "--container-mounts=/gpyxis-nonexistent:/x", "true")
		s.fails("source path does not exist: /gpyxis-nonexistent", nil, "-N1", bb, "--container-mounts="+src+":/test-mnt,/gpyxis-nonexistent:/x", "true")
	})
	t.Run("relative target", func(t *testing.T) {
		s := s.in(t)
		s.fails("mount target must be a relative path or an absolute path", nil, "-N1", bb, "--container-mounts="+src+":mnt", "true")
	})
	t.Run("devpts source", func(t *testing.T) {
		s := s.in(t)
		s.fails(`mount source must be a relative path, an absolute path, "tmpfs" or "umount"`, nil, "-N1", bb, "--container-mounts=devpts:/test-pts", "true")
	})
	t.Run("path escape", func(t *testing.T) {
		s := s.in(t)
		// pyxis mounts.bats: a relative target is resolved in the
		// container's root, and ".." out of it is EXDEV.
		s.fails("Cross-device link", nil, "-N1", bb, "--container-mounts="+src+":../home", "true")
		escape := "/tmp/gpyxis-escape-" + spankRand(4)
		s.fails("Cross-device link", nil, "-N1", bb, "--container-mounts="+src+":../../../../../../../.."+escape, "true")
		if _, err := os.Stat(escape); err == nil {
			os.Remove(escape)
			t.Errorf("the mount target escaped the container to %s", escape)
		}
	})
	t.Run("shadow", func(t *testing.T) {
		if s.Uid == 0 {
			t.Skip("pyxis mounts.bats: needs a non-root user")
		}
		s := s.in(t)
		// Mountable, not readable.
		stdout, stderr, err := s.srun(nil, "-N1", bb, "--container-mounts=/etc/shadow:/shadow", "sh", "-c", "test -f /shadow && echo mounted; cat /shadow")
		if err == nil || !strings.Contains(stdout, "mounted") || !strings.Contains(stderr, "Permission denied") {
			t.Errorf("/etc/shadow: %v; want it mounted and unreadable\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
		}
	})
}

// TestSpankEnv: the environment a task sees (pyxis env.bats): host variables
// pass through, image variables win unless named in --container-env, LANG &
// co. are dropped unless named, TERM is kept; and the image's ENTRYPOINT
// runs only with --container-entrypoint (entrypoint.bats).
func TestSpankEnv(t *testing.T) {
	s := newSpank(t)
	harness.Require(t).RequireImage(t, "pytorch-like", "latest")
	vars := []string{"FOO", "CUDA_VERSION", "LD_LIBRARY_PATH", "PATH", "LANG", "LC_ALL", "LANGUAGE", "TERM", "PYTORCH_VERSION"}
	var script strings.Builder
	for _, v := range vars {
		fmt.Fprintf(&script, "echo \"%s=${%s-unset}\"; ", v, v)
	}
	const hostPath = "/usr/local/bin:/usr/bin:/bin:/gpyxis-host-path"
	const imagePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	const imageLD = "/usr/local/nvidia/lib:/usr/local/nvidia/lib64"
	hostEnv := []string{"FOO=bar", "CUDA_VERSION=host-cuda", "LD_LIBRARY_PATH=/gpyxis-host-lib", "PATH=" + hostPath,
		"LANG=C.UTF-8", "LC_ALL=C.UTF-8", "LANGUAGE=en", "TERM=dumb"}
	name := s.name("env")
	// Named containers live in one allocation, as in pyxis' tests (with
	// container_scope=job they belong to the job).
	job := s.alloc()
	named := spankStep(job, "--container-name="+name)
	t.Run("create", func(t *testing.T) {
		s := s.in(t)
		s.ok(nil, append(named, s.image("pytorch-like:latest"), "true")...)
	})
	if t.Failed() {
		t.FailNow()
	}
	check := func(s *spankEnv, extra []string, args []string, want map[string]string) {
		t := s.t
		out := s.ok(extra, append(append(append([]string(nil), named...), args...), "sh", "-c", script.String())...)
		got := spankKV(out)
		for _, v := range vars {
			if w, ok := want[v]; ok && got[v] != w {
				t.Errorf("%s=%q, want %q", v, got[v], w)
			}
		}
		if t.Failed() {
			t.Logf("output:\n%s", out)
		}
	}
	t.Run("not listed", func(t *testing.T) {
		s := s.in(t)
		check(s, hostEnv, nil, map[string]string{
			"FOO": "bar", "CUDA_VERSION": "12.6.0", "LD_LIBRARY_PATH": imageLD, "PATH": imagePath,
			"LANG": "unset", "LC_ALL": "unset", "LANGUAGE": "unset", "TERM": "dumb", "PYTORCH_VERSION": "2.5.0",
		})
	})
	t.Run("listed", func(t *testing.T) {
		s := s.in(t)
		check(s, hostEnv, []string{"--container-env=LANG,CUDA_VERSION,LD_LIBRARY_PATH,PATH"}, map[string]string{
			"FOO": "bar", "CUDA_VERSION": "host-cuda", "LD_LIBRARY_PATH": "/gpyxis-host-lib", "PATH": hostPath,
			"LANG": "C.UTF-8", "LC_ALL": "unset", "LANGUAGE": "unset", "TERM": "dumb",
		})
	})
	t.Run("listed but not set", func(t *testing.T) {
		s := s.in(t)
		check(s, []string{"FOO=bar"}, []string{"--container-env=CUDA_VERSION,FOO"}, map[string]string{
			"FOO": "bar", "CUDA_VERSION": "12.6.0", "PYTORCH_VERSION": "2.5.0",
		})
	})
	const banner = "== PyTorch (gpyxis test image) =="
	t.Run("no entrypoint by default", func(t *testing.T) {
		s := s.in(t)
		for _, flags := range [][]string{{"--container-entrypoint-log"}, {"--no-container-entrypoint", "--container-entrypoint-log"}} {
			stdout, stderr, err := s.srun(nil, append(append(append([]string(nil), named...), flags...), "true")...)
			if err != nil || strings.Contains(stdout+stderr, banner) {
				t.Errorf("%v: %v; want success without the entrypoint's banner\nstdout:\n%s\nstderr:\n%s", flags, err, stdout, stderr)
			}
		}
	})
	t.Run("entrypoint", func(t *testing.T) {
		s := s.in(t)
		// A fresh container: pyxis' rc.local from a run without the
		// entrypoint stays in a named container's rootfs.
		stdout, stderr, err := s.srun(nil, spankStep(job, s.image("pytorch-like:latest"), "--container-entrypoint", "--container-entrypoint-log", "true")...)
		if err != nil || !strings.Contains(stdout+stderr, banner) {
			t.Errorf("--container-entrypoint --container-entrypoint-log: %v; want the entrypoint's banner %q\nstdout:\n%s\nstderr:\n%s", err, banner, stdout, stderr)
		}
	})
}

// TestSpankMountHome: --[no-]container-mount-home (pyxis mount_home.bats,
// env.bats "$HOME special case", mounts.bats umount:).
func TestSpankMountHome(t *testing.T) {
	s := newSpank(t)
	home := s.mkdir("home", map[string]string{"home-marker": "home\n"})
	extra := []string{"HOME=" + home}
	const script = `echo "HOME=$HOME"; cat /proc/self/mountinfo; cat /root/home-marker 2>/dev/null; true`
	for _, tc := range []struct {
		name       string
		flags      []string
		home       string // HOME inside, "" for any
		mounted    string // must be a mount point
		not        string // must not be a mount point
		rootMarker bool   // /root/home-marker readable
	}{
		{"mount-home", []string{"--container-mount-home"}, home, home, "", false},
		{"no-mount-home", []string{"--no-container-mount-home"}, "", "", home, false},
		{"mount-home remap-root", []string{"--container-mount-home", "--container-remap-root"}, "/root", "/root", "", true},
		{"no-mount-home remap-root", []string{"--no-container-mount-home", "--container-remap-root"}, "", "", "/root", false},
		{"umount", []string{"--container-mount-home", "--container-remap-root", "--container-mounts=umount:/root"}, "", "", "/root", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := s.in(t)
			out := s.ok(extra, append(append([]string{"-N1", s.busybox()}, tc.flags...), "sh", "-c", script)...)
			mp := spankMountPoints(out)
			gotHome := spankKV(out)["HOME"]
			if tc.home != "" && gotHome != tc.home {
				t.Errorf("HOME=%q, want %q", gotHome, tc.home)
			}
			if tc.mounted != "" && !mp[tc.mounted] {
				t.Errorf("%s is not a mount point", tc.mounted)
			}
			if tc.not != "" && mp[tc.not] {
				t.Errorf("%s is a mount point", tc.not)
			}
			has := false
			for _, l := range spankLines(out) {
				has = has || l == "home"
			}
			if has != tc.rootMarker {
				t.Errorf("/root/home-marker readable: %v, want %v", has, tc.rootMarker)
			}
			if t.Failed() {
				t.Logf("output:\n%s", out)
			}
		})
	}
}

// TestSpankInvalidArgs: bad options fail the step with pyxis' message
// (pyxis invalid_args.bats, docker_image.bats "image download must be
// attempted once").
func TestSpankInvalidArgs(t *testing.T) {
	s := newSpank(t)
	bb := s.busybox()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"empty image", []string{"--container-image="}, "--container-image: argument required"},
		{"random image", []string{"--container-image=" + spankRand(1024)}, ""},
		{"image ./", []string{"--container-image=./"}, ""},
		{"image /dev/urandom", []string{"--container-image=/dev/urandom"}, ""},
		{"empty mounts", []string{bb, "--container-mounts="}, "--container-mounts: argument required"},
		{"mounts colon", []string{bb, "--container-mounts=:"}, "--container-mounts: invalid format"},
		{"mounts empty target", []string{bb, "--container-mounts=/tmp:"}, "--container-mounts: invalid format"},
		{"empty workdir", []string{bb, "--container-workdir="}, "--container-workdir: argument required"},
		{"readonly and writable", []string{bb, "--container-readonly", "--container-writable"}, "both --container-writable and --container-readonly were specified"},
		{"empty env", []string{bb, "--container-env="}, "--container-env: argument required"},
		{"env trailing comma", []string{bb, "--container-env=FOO,"}, "--container-env: invalid format"},
		{"empty name", []string{bb, "--container-name=:exec"}, "--container-name: empty name"},
		{"bad name flag", []string{bb, "--container-name=" + s.name("flag") + ":attach"}, `flag must be "auto", "create", "exec" or "no_exec"`},
		{"name without image", []string{"--container-name=" + s.name("absent")}, "does not exist, and --container-image is not set"},
		{"name with slash", []string{bb, "--container-name=/tmp/foo"}, ""},
		{"long name", []string{bb, "--container-name=" + strings.Repeat("n", 300)}, ""},
		{"save to /tmp/", []string{bb, "--container-save=/tmp/"}, "--container-save: target is a directory"},
		{"save to /", []string{bb, "--container-save=/"}, "--container-save: target is a directory"},
		{"save to ./", []string{bb, "--container-save=./"}, "--container-save: target is a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := s.in(t)
			s.fails(tc.want, nil, append(append([]string{"-N1"}, tc.args...), "true")...)
		})
	}
	t.Run("import attempted once", func(t *testing.T) {
		s := s.in(t)
		stderr := s.fails("failed to import docker image", nil, "-N1", "-n2", "-O", s.image("gpyxis-no-such-image-"+spankRand(3)+":latest"), "true")
		if n := strings.Count(stderr, "failed to import docker image"); n != 1 {
			t.Errorf(`"failed to import docker image" printed %d times, want once:\n%s`, n, stderr)
		}
	})
	if c := s.containers(); len(c) != 0 {
		t.Errorf("failed steps left containers: %v", c)
	}
}

// TestSpankEnvFallbacks: PYXIS_CONTAINER_* variables stand in for the
// options, and the command line wins over them (pyxis env_vars.bats).
func TestSpankEnvFallbacks(t *testing.T) {
	s := newSpank(t)
	src := s.mkdir("src", map[string]string{"marker": "m\n"})
	uid := strconv.Itoa(s.Uid)
	const script = `echo "pwd=$(pwd)"; echo "map=$(cat /proc/self/uid_map)";
for d in /env-mnt /cli-mnt; do if test -e $d/marker; then echo "$d=yes"; else echo "$d=no"; fi; done
if touch /newfile 2>/dev/null; then echo writable=yes; else echo writable=no; fi
echo "image=$(` + inBusybox + `)"`
	check := func(t *testing.T, out string, want map[string]string) {
		got := spankKV(out)
		for k, w := range want {
			if v := got[k]; k == "map" && spankFields(v) != w || k != "map" && v != w {
				t.Errorf("%s=%q, want %q", k, v, w)
			}
		}
		if t.Failed() {
			t.Logf("output:\n%s", out)
		}
	}
	env := []string{
		"PYXIS_CONTAINER_IMAGE=" + s.Reg + "#busybox:latest", "PYXIS_CONTAINER_WORKDIR=/etc",
		"PYXIS_CONTAINER_MOUNTS=" + src + ":/env-mnt", "PYXIS_CONTAINER_REMAP_ROOT=1", "PYXIS_CONTAINER_WRITABLE=1",
	}
	t.Run("env", func(t *testing.T) {
		s := s.in(t)
		out := s.ok(env, "-N1", "sh", "-c", script)
		check(t, out, map[string]string{"image": "in-busybox", "pwd": "/etc", "map": "0 " + uid + " 1",
			"/env-mnt": "yes", "/cli-mnt": "no", "writable": "yes"})
	})
	t.Run("command line wins", func(t *testing.T) {
		s := s.in(t)
		env := append(append([]string(nil), env...), "PYXIS_CONTAINER_IMAGE="+s.Reg+"#gpyxis-no-such-image:latest")
		out := s.ok(env, "-N1", s.busybox(), "--container-workdir=/bin", "--container-mounts="+src+":/cli-mnt",
			"--no-container-remap-root", "--container-readonly", "sh", "-c", script)
		check(t, out, map[string]string{"image": "in-busybox", "pwd": "/bin", "map": uid + " " + uid + " 1",
			"/env-mnt": "no", "/cli-mnt": "yes", "writable": "no"})
	})
}

// TestSpankNamed: named containers persist across steps, :create and :exec
// check, a running container is joined (its mount namespace, without new
// mounts) unless :no_exec (pyxis name.bats, exec.bats).
func TestSpankNamed(t *testing.T) {
	s := newSpank(t)
	job := s.alloc()
	name := s.name("c")
	shared := s.mkdir("shared", nil)
	other := s.mkdir("other", map[string]string{"marker": "m\n"})
	bb := s.busybox()
	t.Run("create", func(t *testing.T) {
		s := s.in(t)
		s.ok(nil, spankStep(job, "--container-name="+name, bb, "--container-writable", "sh", "-c", "echo persisted > /persist")...)
		if _, err := os.Stat(s.storePath(job, name)); err != nil {
			t.Errorf("named container not in the store: %v (have %v)", err, s.containers())
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	t.Run("reuse", func(t *testing.T) {
		s := s.in(t)
		if got := strings.TrimSpace(s.ok(nil, spankStep(job, "--container-name="+name, "cat", "/persist")...)); got != "persisted" {
			t.Errorf("cat /persist = %q, want persisted", got)
		}
	})
	t.Run("create flag on existing", func(t *testing.T) {
		s := s.in(t)
		s.fails(`"create" flag was passed to --container-name but the container already exists`, nil,
			spankStep(job, "--container-name="+name+":create", bb, "true")...)
	})
	t.Run("exec flag when not running", func(t *testing.T) {
		s := s.in(t)
		s.fails(`"exec" flag was passed to --container-name but the container is not running`, nil,
			spankStep(job, "--container-name="+name+":exec", "true")...)
	})

	// A running instance: it mounts a tmpfs, leaves its mount namespace in
	// it, changes directory and waits.
	b := s.background(spankStep(job, "--container-name="+name, "--container-mounts=tmpfs:/run-tmp,"+shared+":/shared", "sh", "-c",
		`readlink /proc/self/ns/mnt > /run-tmp/ns && cd /tmp && echo "$SLURM_JOB_ID.$SLURM_STEP_ID $(readlink /proc/self/ns/mnt)" > /shared/named && exec sleep 300`)...)
	ready := strings.Fields(s.waitFile(b, filepath.Join(shared, "named")))
	if len(ready) != 2 {
		t.Fatalf("background step wrote %q", ready)
	}
	bgStep, bgNS := ready[0], ready[1]
	const probe = `echo "tmpfs=$(cat /run-tmp/ns 2>/dev/null)"; echo "ns=$(readlink /proc/self/ns/mnt)"; echo "pwd=$(pwd)"
echo "persist=$(cat /persist 2>/dev/null)"; if test -e /other/marker; then echo other=yes; else echo other=no; fi`
	for _, tc := range []struct {
		name, flag string
		same       bool
	}{{"attach", "", true}, {"attach with exec flag", ":exec", true}, {"no_exec", ":no_exec", false}} {
		t.Run(tc.name, func(t *testing.T) {
			s := s.in(t)
			got := spankKV(s.ok(nil, spankStep(job, "--container-name="+name+tc.flag, "sh", "-c", probe)...))
			if tc.same && (got["ns"] != bgNS || got["tmpfs"] != bgNS) {
				t.Errorf("mount namespace %q, tmpfs says %q; want the running container's %q", got["ns"], got["tmpfs"], bgNS)
			}
			if !tc.same && (got["ns"] == bgNS || got["tmpfs"] != "") {
				t.Errorf("mount namespace %q (tmpfs says %q), want a new one, not the running container's %q", got["ns"], got["tmpfs"], bgNS)
			}
			if got["pwd"] != "/" {
				t.Errorf("pwd = %q, want / (the image's, not the running task's)", got["pwd"])
			}
			if got["persist"] != "persisted" {
				t.Errorf("/persist = %q, want persisted", got["persist"])
			}
		})
	}
	t.Run("attach ignores mounts", func(t *testing.T) {
		s := s.in(t)
		stdout, stderr, err := s.srun(nil, spankStep(job, "--container-name="+name, "--container-mounts="+other+":/other", "sh", "-c", probe)...)
		got := spankKV(stdout)
		if err != nil || got["ns"] != bgNS || got["other"] != "no" {
			t.Errorf("attach with --container-mounts: %v; want the running namespace %s without /other\nstdout:\n%s\nstderr:\n%s", err, bgNS, stdout, stderr)
		}
		if !strings.Contains(stderr, "ignoring --container-mounts when attaching to a running container") {
			t.Errorf("no message about the ignored mounts:\n%s", stderr)
		}
	})
	t.Run("attach to unnamed", func(t *testing.T) {
		s := s.in(t)
		u := s.background(spankStep(job, bb, "--container-mounts=tmpfs:/run-tmp,"+shared+":/shared", "sh", "-c",
			`readlink /proc/self/ns/mnt > /run-tmp/ns && echo "$SLURM_JOB_ID.$SLURM_STEP_ID $(readlink /proc/self/ns/mnt)" > /shared/unnamed && exec sleep 300`)...)
		r := strings.Fields(s.waitFile(u, filepath.Join(shared, "unnamed")))
		if len(r) != 2 {
			t.Fatalf("background step wrote %q", r)
		}
		got := spankKV(s.ok(nil, spankStep(job, "--container-name="+r[0], "sh", "-c", probe)...))
		if got["ns"] != r[1] || got["tmpfs"] != r[1] {
			t.Errorf("--container-name=%s: mount namespace %q (tmpfs %q), want the unnamed step's %q", r[0], got["ns"], got["tmpfs"], r[1])
		}
		s.command(nil, "scancel", r[0])
		if !u.wait(60 * time.Second) {
			t.Errorf("unnamed step %s still running after scancel", r[0])
		}
	})
	t.Run("stays after the step", func(t *testing.T) {
		s := s.in(t)
		s.command(nil, "scancel", bgStep)
		if !b.wait(60 * time.Second) {
			t.Fatalf("step %s still running after scancel", bgStep)
		}
		if _, err := os.Stat(s.storePath(job, name)); err != nil {
			t.Errorf("named container removed with its step: %v", err)
		}
	})
}

// TestSpankUnnamedCleanup: an unnamed container is removed when its step
// ends, also when it is cancelled (pyxis name.bats).
func TestSpankUnnamedCleanup(t *testing.T) {
	s := newSpank(t)
	gone := func(t *testing.T) {
		deadline := time.Now().Add(10 * time.Second)
		for len(s.containers()) != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("containers left 10s after the step: %v", s.containers())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	t.Run("after the step", func(t *testing.T) {
		s := s.in(t)
		s.ok(nil, "-N1", "-w", s.Node, s.busybox(), "true")
		gone(t)
	})
	t.Run("after scancel", func(t *testing.T) {
		s := s.in(t)
		job := s.alloc()
		shared := s.mkdir("shared", nil)
		b := s.background(spankStep(job, s.busybox(), "--container-mounts="+shared+":/shared", "sh", "-c",
			`echo "$SLURM_JOB_ID.$SLURM_STEP_ID" > /shared/ready && exec sleep 300`)...)
		id := s.waitFile(b, filepath.Join(shared, "ready"))
		if c, want := s.containers(), "data-"+s.Node+"/"+s.stored(job, id); len(c) != 1 || c[0] != want {
			t.Errorf("while step %s runs the store holds %v, want %s", id, c, want)
		}
		if _, stderr, err := s.command(nil, "scancel", id); err != nil {
			t.Fatalf("scancel %s: %v %s", id, err, stderr)
		}
		if !b.wait(60 * time.Second) {
			t.Fatalf("step %s still running after scancel", id)
		}
		gone(t)
	})
}

// TestSpankSave: --container-save exports the container at the end of the
// step; the file runs as an image with the changes, relative paths are the
// job's working directory's (pyxis squashfs_image.bats).
func TestSpankSave(t *testing.T) {
	s := newSpank(t)
	t.Run("chain", func(t *testing.T) {
		s := s.in(t)
		// As pyxis' test: the saved file is the next step's image and is
		// overwritten by its save.
		out := filepath.Join(s.Dir, "chain.sqsh")
		image := s.busybox()
		for i := 1; i <= 3; i++ {
			s.ok(nil, "-N1", image, "--container-writable", "--container-save="+out, "sh", "-c", fmt.Sprintf("echo %d > /chain-%d", i, i))
			if _, err := os.Stat(out); err != nil {
				t.Fatalf("save %d: %v", i, err)
			}
			image = "--container-image=" + out
		}
		got := spankLines(s.ok(nil, "-N1", image, "cat", "/chain-1", "/chain-2", "/chain-3"))
		if strings.Join(got, " ") != "1 2 3" {
			t.Errorf("after three saves: %q, want 1 2 3", got)
		}
	})
	t.Run("relative", func(t *testing.T) {
		s := s.in(t)
		// pyxis squashfs_image.bats: srun in the directory of the file.
		s.ok(nil, "-N1", s.busybox(), "--container-writable", "--container-save=./here.sqsh", "sh", "-c", "echo here > /here-file")
		if got := strings.TrimSpace(s.ok(nil, "-N1", "--container-image=./here.sqsh", "cat", "/here-file")); got != "here" {
			t.Errorf("cat /here-file = %q, want here", got)
		}
	})
	t.Run("relative in another directory", func(t *testing.T) {
		s := s.in(t)
		// The job's working directory (PWD, as after cd DIR), not the
		// directory of the image.
		sub := s.mkdir("savedir", nil)
		s.ok([]string{"PWD=" + sub}, "-N1", "--chdir="+sub, s.busybox(), "--container-writable", "--container-save=rel.sqsh", "sh", "-c", "echo relative > /rel-file")
		if _, err := os.Stat(filepath.Join(sub, "rel.sqsh")); err != nil {
			found, _ := filepath.Glob(filepath.Join(s.Dir, "*", "rel.sqsh"))
			top, _ := filepath.Glob(filepath.Join(s.Dir, "rel.sqsh"))
			t.Fatalf("relative save not in the job's directory %s: %v (found: %v)", sub, err, append(top, found...))
		}
		if got := strings.TrimSpace(s.ok([]string{"PWD=" + sub}, "-N1", "--chdir="+sub, "--container-image=./rel.sqsh", "cat", "/rel-file")); got != "relative" {
			t.Errorf("cat /rel-file = %q, want relative", got)
		}
	})
	if c := s.containers(); len(c) != 0 {
		t.Errorf("containers left: %v", c)
	}
}

// TestSpankSquashfs: --container-image=PATH runs a squashfs file made by
// `gpyxis-runtime import` (pyxis squashfs_image.bats).
func TestSpankSquashfs(t *testing.T) {
	s := newSpank(t)
	sq := s.squashfs("busybox:latest", "busybox.sqsh")
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"absolute", []string{"--container-image=" + sq, "sh", "-c", inBusybox}, []string{"in-busybox"}},
		{"relative", []string{"--container-image=./busybox.sqsh", "sh", "-c", inBusybox}, []string{"in-busybox"}},
		{"four tasks", []string{"-n4", "-O", "--container-image=" + sq, "sh", "-c", inBusybox}, []string{"in-busybox", "in-busybox", "in-busybox", "in-busybox"}},
		{"writable", []string{"--container-image=" + sq, "--container-writable", "sh", "-c", "touch /newfile && echo touched"}, []string{"touched"}},
		{"workdir and mounts", []string{"--container-image=" + sq, "--container-workdir=/etc", "--container-mounts=tmpfs:/test-tmp", "sh", "-c", `pwd; awk '$2=="/test-tmp" {print $3}' /proc/mounts`}, []string{"/etc", "tmpfs"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := s.in(t)
			if got := spankLines(s.ok(nil, append([]string{"-N1"}, tc.args...)...)); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("output %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("concurrent steps", func(t *testing.T) {
		s := s.in(t)
		spankParallel(2, 0, func(i int) {
			stdout, stderr, err := s.srun(nil, "-N1", "--container-image="+sq, "sh", "-c", inBusybox)
			if err != nil || strings.TrimSpace(stdout) != "in-busybox" {
				t.Errorf("step %d: %v\nstdout:\n%s\nstderr:\n%s", i, err, stdout, stderr)
			}
		})
	})
	t.Run("nonexistent", func(t *testing.T) {
		s := s.in(t)
		s.fails("", nil, "-N1", "--container-image="+filepath.Join(s.Dir, "nonexistent.sqsh"), "true")
	})
	time.Sleep(time.Second)
	if c := s.containers(); len(c) != 0 {
		t.Errorf("containers left: %v", c)
	}
}

// TestSpankSbatch: the batch script runs in the container with sbatch
// --container-image and with #SBATCH --container-image (pyxis sbatch.bats).
func TestSpankSbatch(t *testing.T) {
	s := newSpank(t)
	host := s.hostNS()
	const body = "readlink /proc/self/ns/mnt\n" + inBusybox + "\n"
	script := filepath.Join(s.Dir, "job.sh")
	text := "#!/bin/sh\n#SBATCH --container-image=" + s.Reg + `\#busybox:latest` + "\n" + body
	if err := os.WriteFile(script, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	type result struct {
		name, out, stderr string
		err               error
	}
	cases := []struct {
		name string
		args []string
	}{
		{"option", []string{s.busybox(), "--wrap", body}},
		{"script", []string{script}},
	}
	results := make([]result, len(cases))
	spankParallel(len(cases), 0, func(i int) {
		out := filepath.Join(s.Dir, cases[i].name+".out")
		args := append([]string{"--wait", "-N1", "-w", s.Node, "--job-name=" + s.jobName, "-o", out}, cases[i].args...)
		_, stderr, err := s.command(nil, "sbatch", args...)
		b, _ := os.ReadFile(out)
		results[i] = result{cases[i].name, string(b), stderr, err}
	})
	for _, r := range results {
		t.Run(r.name, func(t *testing.T) {
			l := spankLines(r.out)
			var mnt string
			for _, line := range l {
				if strings.HasPrefix(line, "mnt:") {
					mnt = line
				}
			}
			if r.err != nil || mnt == "" || mnt == host["mnt"] || !strings.Contains(r.out, "in-busybox\n") {
				t.Errorf("sbatch: %v; want the batch script in the container (host mount namespace %s)\noutput:\n%s\nstderr:\n%s", r.err, host["mnt"], r.out, r.stderr)
			}
		})
	}
}

// TestSpankConcurrency: parallel creations of distinct containers, then
// staggered :no_exec steps sharing four containers (pyxis concurrency.bats,
// enroot#126).
func TestSpankConcurrency(t *testing.T) {
	s := newSpank(t)
	job := s.alloc()
	var names []string
	for i := 0; i < 5; i++ {
		names = append(names, s.name(strconv.Itoa(i)))
	}
	var mu sync.Mutex
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		t.Errorf(format, args...)
	}
	t.Run("create", func(t *testing.T) {
		spankParallel(len(names), 0, func(i int) {
			stdout, stderr, err := s.srun(nil, spankStep(job, "--container-name="+names[i], s.busybox(), "sh", "-c", "echo created")...)
			if err != nil || strings.TrimSpace(stdout) != "created" {
				fail("create %s: %v\nstdout:\n%s\nstderr:\n%s", names[i], err, stdout, stderr)
			}
		})
		for _, n := range names {
			if _, err := os.Stat(s.storePath(job, n)); err != nil {
				t.Errorf("container %s: %v", n, err)
			}
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	t.Run("no_exec reuse", func(t *testing.T) {
		spankParallel(20, 150*time.Millisecond, func(i int) {
			stdout, stderr, err := s.srun(nil, spankStep(job, "--container-name="+names[i%4]+":no_exec", "sh", "-c", fmt.Sprintf("sleep 1; echo reuse-%d", i))...)
			if err != nil || strings.TrimSpace(stdout) != fmt.Sprintf("reuse-%d", i) {
				fail("step %d on %s: %v\nstdout:\n%s\nstderr:\n%s", i, names[i%4], err, stdout, stderr)
			}
		})
	})
}

// TestSpankUnshare: --container-unshare gives new net, ipc and uts
// namespaces (pyxis unshare*.bats).
func TestSpankUnshare(t *testing.T) {
	s := newSpank(t)
	host := s.hostNS()
	t.Run("net ipc uts", func(t *testing.T) {
		s := s.in(t)
		out := s.ok(nil, "-N1", "-w", s.Node, "-n2", "-O", s.busybox(), "--container-unshare=net,ipc,uts", "sh", "-c",
			`echo "$(readlink /proc/self/ns/net) $(readlink /proc/self/ns/ipc) $(readlink /proc/self/ns/uts)"`)
		l := spankLines(out)
		if len(l) != 2 || l[0] != l[1] {
			t.Fatalf("want two tasks in the same namespaces:\n%s", out)
		}
		f := strings.Fields(l[0])
		for i, k := range []string{"net", "ipc", "uts"} {
			if i >= len(f) || f[i] == host[k] {
				t.Errorf("%s namespace is the host's %s:\n%s", k, host[k], out)
			}
		}
	})
	t.Run("env", func(t *testing.T) {
		s := s.in(t)
		l := spankLines(s.ok([]string{"PYXIS_CONTAINER_UNSHARE=net"}, "-N1", "-w", s.Node, s.busybox(), "sh", "-c",
			`readlink /proc/self/ns/net; grep -c : /proc/net/dev`))
		if len(l) != 2 || l[0] == host["net"] || l[1] != "1" {
			t.Errorf("PYXIS_CONTAINER_UNSHARE=net: %q, want a network namespace other than %s with only lo", l, host["net"])
		}
	})
	t.Run("unknown", func(t *testing.T) {
		s := s.in(t)
		s.fails("unknown namespace 'foo'", nil, "-N1", s.busybox(), "--container-unshare=foo", "true")
		s.fails("unknown namespace 'foo'", nil, "-N1", s.busybox(), "--container-unshare=net,foo", "true")
	})
}
