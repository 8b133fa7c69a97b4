// SPDX-License-Identifier: Apache-2.0

package hooks

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/pkg/rootfs"
)

func TestAptfix(t *testing.T) {
	for _, tc := range []struct {
		name          string
		remap, debian bool
		want          bool
	}{
		{"remap debian", true, true, true},
		{"identity debian", false, true, false},
		{"remap non-debian", true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := newCtx(t)
			ctx.RemapRoot = tc.remap
			if tc.debian {
				writeFile(t, ctx.Rootfs+"/etc/debian_version", "12\n", 0o644)
			}
			if err := aptfix(ctx); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(ctx.Rootfs + "/etc/apt/apt.conf.d/enroot")
			if tc.want != (err == nil) {
				t.Fatalf("file present %v, want %v", err == nil, tc.want)
			}
			if tc.want && string(data) != "APT::Sandbox::User \"root\";\n" {
				t.Fatalf("content %q", data)
			}
		})
	}
}

func TestHome(t *testing.T) {
	ctx := newCtx(t)
	if err := home(ctx); err != nil || len(ctx.Mounts) != 0 {
		t.Fatalf("default off: %v %v", err, ctx.Mounts)
	}
	ctx.Config["mount_home"] = "1"
	if err := home(ctx); err != nil {
		t.Fatal(err)
	}
	want := rootfs.Mount{Source: "/home/alice", Target: "/home/alice", Flags: unix.MS_BIND | unix.MS_REC | unix.MS_NOSUID, Create: rootfs.CreateDir}
	if !reflect.DeepEqual(ctx.Mounts, []rootfs.Mount{want}) {
		t.Fatalf("mounts %+v", ctx.Mounts)
	}
	if v, _ := ctx.Env.Get("HOME"); v != "/home/alice" {
		t.Fatalf("HOME=%q", v)
	}

	ctx = newCtx(t)
	ctx.Config["mount_home"] = "1"
	ctx.RemapRoot = true
	if err := home(ctx); err != nil {
		t.Fatal(err)
	}
	if ctx.Mounts[0].Target != "/root" || ctx.Mounts[0].Source != "/home/alice" {
		t.Fatalf("remap-root mount %+v", ctx.Mounts[0])
	}
	if _, ok := ctx.Env.Get("HOME"); ok {
		t.Fatal("HOME set with remap-root")
	}
}

func TestLocaltime(t *testing.T) {
	host := t.TempDir()
	zone := filepath.Join(host, "zoneinfo", "Europe", "Paris")
	writeFile(t, zone, "TZif-data", 0o644)
	link := filepath.Join(host, "localtime")
	if err := os.Symlink(zone, link); err != nil {
		t.Fatal(err)
	}
	setVar(t, &hostLocaltime, link)
	ctx := newCtx(t)
	writeFile(t, ctx.Rootfs+"/etc/localtime", "old", 0o644)
	if err := localtime(ctx); err != nil {
		t.Fatal(err)
	}
	if l, err := os.Readlink(ctx.Rootfs + "/etc/localtime"); err != nil || l != zone {
		t.Fatalf("link %q %v, want %q", l, err, zone)
	}
	if got := readFile(t, ctx.Rootfs+zone); got != "TZif-data" {
		t.Fatalf("zone file %q", got)
	}
	if len(ctx.Mounts) != 0 {
		t.Fatalf("localtime mounts %v", ctx.Mounts)
	}

	// A regular host file (no link) changes nothing.
	plain := filepath.Join(host, "plain")
	writeFile(t, plain, "x", 0o644)
	setVar(t, &hostLocaltime, plain)
	ctx = newCtx(t)
	if err := localtime(ctx); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(ctx.Rootfs); len(ents) != 0 {
		t.Fatalf("rootfs changed: %v", ents)
	}
}

func TestDevices(t *testing.T) {
	setVar(t, &stdinTTY, func() (string, bool) { return "/dev/pts/7", true })
	ctx := newCtx(t)
	if err := devices(ctx); err != nil || len(ctx.Mounts) != 0 {
		t.Fatalf("default off: %v %v", err, ctx.Mounts)
	}
	ctx.Config["restrict_dev"] = "1"
	if err := devices(ctx); err != nil {
		t.Fatal(err)
	}
	var targets []string
	byTarget := map[string]rootfs.Mount{}
	for _, m := range ctx.Mounts {
		targets = append(targets, m.Target)
		byTarget[m.Target] = m
	}
	want := []string{"/dev", "/dev/zero", "/dev/null", "/dev/full", "/dev/urandom", "/dev/random", "/dev/tty",
		"/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/hugepages", "/dev/log", "/dev/console"}
	if !slices.Equal(targets, want) {
		t.Fatalf("targets %v\nwant %v", targets, want)
	}
	if m := byTarget["/dev"]; m.FSType != "tmpfs" || m.Data != "mode=755" || m.Flags != unix.MS_NOSUID|unix.MS_NOEXEC {
		t.Errorf("/dev %+v", m)
	}
	if m := byTarget["/dev/null"]; m.Source != "/dev/null" || m.Flags&unix.MS_BIND == 0 || m.Create != rootfs.CreateFile || m.Optional {
		t.Errorf("/dev/null %+v", m)
	}
	if m := byTarget["/dev/pts"]; m.FSType != "devpts" || m.Data != "newinstance,ptmxmode=0666,mode=620" {
		t.Errorf("/dev/pts %+v", m)
	}
	if m := byTarget["/dev/shm"]; m.FSType != "" || m.Source != "/dev/shm" {
		t.Errorf("/dev/shm %+v", m)
	}
	if m := byTarget["/dev/console"]; m.Source != "/dev/pts/7" || !m.Optional {
		t.Errorf("/dev/console %+v", m)
	}
	if !byTarget["/dev/hugepages"].Optional {
		t.Error("/dev/hugepages not optional")
	}
	if !slices.Contains(ctx.Links, Link{"/dev/ptmx", "pts/ptmx"}) || !slices.Contains(ctx.Links, Link{"/dev/fd", "/proc/self/fd"}) || len(ctx.Links) != 5 {
		t.Errorf("links %v", ctx.Links)
	}

	// unshare_ipc alone enables it, with private shm and mqueue.
	ctx = newCtx(t)
	ctx.Config["unshare_ipc"] = "1"
	if err := devices(ctx); err != nil {
		t.Fatal(err)
	}
	byTarget = map[string]rootfs.Mount{}
	for _, m := range ctx.Mounts {
		byTarget[m.Target] = m
	}
	if m := byTarget["/dev/shm"]; m.FSType != "tmpfs" || m.Data != "mode=1777" {
		t.Errorf("ipc /dev/shm %+v", m)
	}
	if m := byTarget["/dev/mqueue"]; m.FSType != "mqueue" || m.Source != "mqueue" {
		t.Errorf("ipc /dev/mqueue %+v", m)
	}
}
