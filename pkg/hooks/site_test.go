// SPDX-License-Identifier: Apache-2.0

package hooks

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/pkg/rootfs"
)

func TestSiteHooks(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(t.TempDir(), "seen")
	// 10-env.sh checks the contract and appends to both files.
	writeFile(t, filepath.Join(dir, "10-env.sh"), `#!/bin/sh
set -e
[ -d "$ENROOT_ROOTFS" ] && [ "$ENROOT_ROOTFS" = "$GPYXIS_ROOTFS" ] || exit 11
[ "$ENROOT_PID" = "$GPYXIS_PID" ] && [ "$ENROOT_PID" = 4242 ] || exit 12
[ "$ENROOT_REMAP_ROOT" = y ] || exit 13
[ "$HOSTVAR" = hv ] || exit 14
grep -q '^FROM_IMAGE=img$' "$ENROOT_ENVIRON" || exit 15
touch "$ENROOT_ROOTFS/marker"
echo "10 $ENROOT_MOUNTS" >> `+out+`
printf 'HOOKVAR="hello world"\nFROM_IMAGE=changed\nENROOT_SECRET=x\nREF=${HOSTVAR}\n' >> "$ENROOT_ENVIRON"
echo "/opt/data /data none x-create=dir,bind,ro,nofail" >> "$GPYXIS_MOUNTS"
echo "tmpfs /scratch tmpfs x-create=dir,size=1m,mode=1777" >> "$ENROOT_MOUNTS"
echo "/ignored /ignored none bind 0 -1" >> "$ENROOT_MOUNTS"
echo hook-output
`, 0o755)
	// 20-next sees what 10 left in the environment.
	writeFile(t, filepath.Join(dir, "20-next"), `#!/bin/sh
grep -q '^HOOKVAR=hello world$' "$ENROOT_ENVIRON" || exit 21
echo "20" >> `+out+`
`, 0o755)
	writeFile(t, filepath.Join(dir, "15-disabled.sh"), "#!/bin/sh\nexit 1\n", 0o644)
	if err := os.Mkdir(filepath.Join(dir, "30-dir.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	hooks, err := Site(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range hooks {
		names = append(names, filepath.Base(h.Name()))
	}
	if !slices.Equal(names, []string{"10-env.sh", "20-next"}) {
		t.Fatalf("site hooks %v", names)
	}
	ctx := newCtx(t)
	ctx.RemapRoot, ctx.PID = true, 4242
	ctx.HostEnv = []string{"PATH=/usr/bin:/bin", "HOSTVAR=hv"}
	ctx.Env.Set("FROM_IMAGE", "img")
	var output strings.Builder
	ctx.Output = &output
	if err := RunAll(ctx, hooks); err != nil {
		t.Fatalf("%v (output %q)", err, output.String())
	}
	if _, err := os.Stat(ctx.Rootfs + "/marker"); err != nil {
		t.Error(err)
	}
	if output.String() != "hook-output\n" {
		t.Errorf("output %q", output.String())
	}
	for k, want := range map[string]string{"HOOKVAR": "hello world", "FROM_IMAGE": "changed", "REF": "${HOSTVAR}"} {
		if v, _ := ctx.Env.Get(k); v != want {
			t.Errorf("%s=%q, want %q", k, v, want)
		}
	}
	if _, ok := ctx.Env.Get("ENROOT_SECRET"); ok {
		t.Error("ENROOT_* kept")
	}
	want := []rootfs.Mount{
		{Source: "/opt/data", Target: "/data", Flags: unix.MS_BIND | unix.MS_RDONLY, Create: rootfs.CreateDir, Optional: true},
		{Source: "tmpfs", Target: "/scratch", FSType: "tmpfs", Data: "size=1m,mode=1777", Create: rootfs.CreateDir},
	}
	if len(ctx.Mounts) != len(want) {
		t.Fatalf("mounts %+v", ctx.Mounts)
	}
	for i := range want {
		if ctx.Mounts[i] != want[i] {
			t.Errorf("mount %d %+v, want %+v", i, ctx.Mounts[i], want[i])
		}
	}
	seen := lines(readFile(t, out))
	if len(seen) != 2 || seen[1] != "20" || !strings.HasPrefix(seen[0], "10 /") {
		t.Fatalf("order %q", seen)
	}
	if _, err := os.Stat(strings.TrimPrefix(seen[0], "10 ")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary mounts file left: %v", err)
	}
}

func TestSiteHookFailure(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "10-fail.sh"), "#!/bin/sh\necho oops >&2\nexit 3\n", 0o755)
	writeFile(t, filepath.Join(dir, "20-never.sh"), "#!/bin/sh\ntouch \"$ENROOT_ROOTFS/never\"\n", 0o755)
	hooks, err := Site(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := newCtx(t)
	var output strings.Builder
	ctx.Output = &output
	err = RunAll(ctx, hooks)
	want := filepath.Join(dir, "10-fail.sh") + " exited with return code 3"
	var ee *ExitError
	if err == nil || err.Error() != want || !errors.As(err, &ee) || ee.Code != 3 {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if _, err := os.Stat(ctx.Rootfs + "/never"); err == nil {
		t.Error("hook after the failure ran")
	}
	if output.String() != "oops\n" {
		t.Errorf("output %q", output.String())
	}
}

func TestSiteHookSignal(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "kill.sh"), "#!/bin/sh\nkill -TERM $$\n", 0o755)
	hooks, _ := Site(dir)
	err := RunAll(newCtx(t), hooks)
	if err == nil || !strings.HasSuffix(err.Error(), "exited with return code "+strconv.Itoa(128+15)) {
		t.Fatalf("err = %v", err)
	}
}

func TestSiteBadMounts(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "m.sh"), "#!/bin/sh\necho 'none /dev none x-detach' >> \"$ENROOT_MOUNTS\"\n", 0o755)
	hooks, _ := Site(dir)
	if err := RunAll(newCtx(t), hooks); err == nil || !strings.Contains(err.Error(), "x-detach") {
		t.Fatalf("err = %v", err)
	}
}

func TestSiteMissingDir(t *testing.T) {
	hooks, err := Site(filepath.Join(t.TempDir(), "nope"))
	if err != nil || len(hooks) != 0 {
		t.Fatalf("%v %v", hooks, err)
	}
}

// TestBuiltinThenSite runs the builtins and a site hook together, the way
// the runtime does, and checks that the site hook sees the builtins' work.
func TestBuiltinThenSite(t *testing.T) {
	fakeIDs(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "50-check.sh"), `#!/bin/sh
grep -q '^alice:x:1234:' "$ENROOT_ROOTFS/etc/passwd" || exit 7
grep -q '^HOME=/home/alice$' "$ENROOT_ENVIRON" || exit 8
`, 0o755)
	site, err := Site(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := newCtx(t)
	ctx.Config = map[string]string{"mount_home": "1", "cgroups": "0", "localtime": "0"}
	if err := RunAll(ctx, append(Builtin(), site...)); err != nil {
		t.Fatal(err)
	}
	if len(ctx.Mounts) != 1 || ctx.Mounts[0].Target != "/home/alice" {
		t.Fatalf("mounts %+v", ctx.Mounts)
	}
}

// TestExecHook runs a command (not a hooks.d file) with the site contract:
// its arguments reach it, its environ and mounts lines are read back, and a
// failure is reported under the hook's name.
func TestExecHook(t *testing.T) {
	ctx := newCtx(t)
	ctx.HostEnv = []string{"PATH=/usr/bin:/bin"}
	h := Exec("conf hooks()", "/bin/sh", "-c", `echo "X=$1" >> "$ENROOT_ENVIRON"; echo "tmpfs /t tmpfs x-create=dir" >> "$ENROOT_MOUNTS"`, "sh", "arg1")
	if err := RunAll(ctx, []Hook{h}); err != nil {
		t.Fatal(err)
	}
	if v, _ := ctx.Env.Get("X"); v != "arg1" {
		t.Errorf("X=%q, want arg1", v)
	}
	if len(ctx.Mounts) != 1 || ctx.Mounts[0].Target != "/t" {
		t.Errorf("mounts %+v, want tmpfs on /t", ctx.Mounts)
	}
	err := RunAll(newCtx(t), []Hook{Exec("conf hooks()", "/bin/sh", "-c", "exit 4")})
	if err == nil || err.Error() != "conf hooks() exited with return code 4" {
		t.Errorf("err = %v, want conf hooks() exited with return code 4", err)
	}
}
