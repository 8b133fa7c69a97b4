// SPDX-License-Identifier: Apache-2.0

package hooks

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeBin makes a directory with a fake ldconfig and returns it.
func fakeBin(t *testing.T) string {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ldconfig.real"), "#!/bin/sh\n", 0o755)
	return dir
}

func TestNvidiaArgs(t *testing.T) {
	bin := fakeBin(t)
	ld := "--ldconfig=@" + filepath.Join(bin, "ldconfig.real")
	for _, tc := range []struct {
		name     string
		host     []string
		env      map[string]string
		want     []string // between "configure --no-cgroups LD" and ROOTFS
		debug    bool
		wantNone bool
		wantErr  string
	}{
		{name: "unset", wantNone: true},
		{name: "void", env: map[string]string{"NVIDIA_VISIBLE_DEVICES": "void"}, wantNone: true},
		{name: "empty", env: map[string]string{"NVIDIA_VISIBLE_DEVICES": ""}, wantNone: true},
		{name: "all, default utility", env: map[string]string{"NVIDIA_VISIBLE_DEVICES": "all"},
			want: []string{"--device=all", "--utility"}},
		{name: "none: libraries only", env: map[string]string{"NVIDIA_VISIBLE_DEVICES": "none", "NVIDIA_DRIVER_CAPABILITIES": "compute,utility"},
			want: []string{"--compute", "--utility"}},
		{name: "caps all", env: map[string]string{"NVIDIA_VISIBLE_DEVICES": "0,1", "NVIDIA_DRIVER_CAPABILITIES": "utility,all"},
			want: []string{"--device=0,1", "--utility", "--compute", "--compat32", "--display", "--graphics", "--utility", "--video"}},
		{name: "unknown cap", env: map[string]string{"NVIDIA_VISIBLE_DEVICES": "0", "NVIDIA_DRIVER_CAPABILITIES": "compute,bogus"},
			wantErr: "unknown NVIDIA driver capability: bogus"},
		{name: "requires sorted", env: map[string]string{"NVIDIA_VISIBLE_DEVICES": "all", "NVIDIA_REQUIRE_CUDA": "cuda>=12.0", "NVIDIA_REQUIRE_ARCH": "arch=x86_64"},
			want: []string{"--device=all", "--utility", "--require=arch=x86_64", "--require=cuda>=12.0"}},
		{name: "requires disabled", env: map[string]string{"NVIDIA_VISIBLE_DEVICES": "all", "NVIDIA_REQUIRE_CUDA": "cuda>=12.0", "NVIDIA_DISABLE_REQUIRE": "1"},
			want: []string{"--device=all", "--utility"}},
		{name: "host env wins", host: []string{"NVIDIA_VISIBLE_DEVICES=GPU-abc", "NVIDIA_REQUIRE_CUDA=cuda>=11"},
			env:  map[string]string{"NVIDIA_VISIBLE_DEVICES": "all", "NVIDIA_REQUIRE_CUDA": "cuda>=12.0"},
			want: []string{"--device=GPU-abc", "--utility", "--require=cuda>=11"}},
		{name: "mig and debug", env: map[string]string{"NVIDIA_VISIBLE_DEVICES": "0", "NVIDIA_MIG_CONFIG_DEVICES": "all", "NVIDIA_MIG_MONITOR_DEVICES": "0", "NVIDIA_DEBUG_LOG": ""},
			debug: true, want: []string{"--device=0", "--mig-config=all", "--mig-monitor=0", "--utility"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := newCtx(t)
			ctx.HostEnv = append([]string{"PATH=" + bin}, tc.host...)
			for k, v := range tc.env {
				ctx.Env.Set(k, v)
			}
			got, err := NvidiaArgs(ctx)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantNone {
				if got != nil {
					t.Fatalf("args %q, want none", got)
				}
				return
			}
			want := []string{"--user"}
			if tc.debug {
				want = append(want, "--debug=/dev/stderr")
			}
			want = append(append(append(want, "configure", "--no-cgroups", ld), tc.want...), ctx.Rootfs)
			if !slices.Equal(got, want) {
				t.Fatalf("args\n%q\nwant\n%q", got, want)
			}
		})
	}
}

func TestNvidiaRunsCLI(t *testing.T) {
	bin := fakeBin(t)
	record := filepath.Join(t.TempDir(), "args")
	writeFile(t, filepath.Join(bin, "nvidia-container-cli"), "#!/bin/sh\nprintf '%s\\n' \"$@\" > "+record+"\n", 0o755)
	setVar(t, &procModules, filepath.Join(t.TempDir(), "absent"))
	ctx := newCtx(t)
	ctx.HostEnv = []string{"PATH=" + bin}
	ctx.Env.Set("NVIDIA_VISIBLE_DEVICES", "all")
	ctx.Env.Set("NVIDIA_DRIVER_CAPABILITIES", "compute,utility")
	if err := RunAll(ctx, Builtin()[6:]); err != nil {
		t.Fatal(err)
	}
	got := lines(readFile(t, record))
	want := []string{"--user", "configure", "--no-cgroups", "--ldconfig=@" + bin + "/ldconfig.real",
		"--device=all", "--compute", "--utility", ctx.Rootfs}
	if !slices.Equal(got, want) {
		t.Fatalf("cli args\n%q\nwant\n%q", got, want)
	}
	if len(ctx.Mounts) != 2 || ctx.Mounts[0].Target != "/dev/gdrdrv" || !ctx.Mounts[0].Optional ||
		ctx.Mounts[1].Target != "/dev/nvidia-caps-imex-channels" {
		t.Fatalf("compute mounts %+v", ctx.Mounts)
	}

	// A failing CLI is fatal with enroot's message.
	writeFile(t, filepath.Join(bin, "nvidia-container-cli"), "#!/bin/sh\nexit 4\n", 0o755)
	err := RunAll(ctx, Builtin()[6:])
	var ee *ExitError
	if !errors.As(err, &ee) || err.Error() != "nvidia-container-cli exited with return code 4" {
		t.Fatalf("err = %v", err)
	}
}

func TestNvidiaNotInstalled(t *testing.T) {
	bin := fakeBin(t)
	ctx := newCtx(t)
	ctx.HostEnv = []string{"PATH=" + bin}
	ctx.Env.Set("NVIDIA_VISIBLE_DEVICES", "all")
	if _, err := os.Stat("/usr/sbin/nvidia-container-cli"); err == nil {
		t.Skip("nvidia-container-cli installed in /usr/sbin")
	}
	if _, err := os.Stat("/sbin/nvidia-container-cli"); err == nil {
		t.Skip("nvidia-container-cli installed in /sbin")
	}
	var log strings.Builder
	ctx.Output = &log
	if err := nvidia(ctx); err != nil {
		t.Fatal(err)
	}
	if len(ctx.Mounts) != 0 || log.Len() != 0 {
		t.Fatalf("skipped hook produced %v %q", ctx.Mounts, log.String())
	}
	// Switched off: not even the arguments are checked.
	ctx.Config["nvidia"] = "0"
	ctx.Env.Set("NVIDIA_DRIVER_CAPABILITIES", "bogus")
	if err := nvidia(ctx); err != nil {
		t.Fatal(err)
	}
}
