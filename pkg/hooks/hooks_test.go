// SPDX-License-Identifier: Apache-2.0

package hooks

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestBuiltinOrder(t *testing.T) {
	var names []string
	for _, h := range Builtin() {
		names = append(names, h.Name())
	}
	want := []string{"aptfix", "cgroups", "devices", "home", "localtime", "shadow", "nvidia"}
	if !slices.Equal(names, want) {
		t.Fatalf("Builtin() = %v, want %v", names, want)
	}
}

func TestEnabled(t *testing.T) {
	ctx := newCtx(t)
	for key, want := range map[string]bool{
		"aptfix": true, "cgroups": true, "localtime": true, "shadow": true, "nvidia": true,
		"mount_home": false, "restrict_dev": false, "unshare_ipc": false, "unknown": false,
	} {
		if got := ctx.Enabled(key); got != want {
			t.Errorf("default %s = %v, want %v", key, got, want)
		}
	}
	for v, want := range map[string]bool{"1": true, "y": true, "yes": true, "TRUE": true, "": false, "0": false, "no": false, "off": false, "false": false} {
		ctx.Config["mount_home"] = v
		if got := ctx.Enabled("mount_home"); got != want {
			t.Errorf("mount_home=%q: %v, want %v", v, got, want)
		}
	}
}

type fakeHook struct {
	name string
	log  *[]string
	err  error
}

func (f fakeHook) Name() string { return f.name }
func (f fakeHook) Run(*Context) error {
	*f.log = append(*f.log, f.name)
	return f.err
}

func TestRunAllOrderAndStop(t *testing.T) {
	var log []string
	boom := errors.New("boom")
	err := RunAll(newCtx(t), []Hook{fakeHook{"a", &log, nil}, fakeHook{"b", &log, boom}, fakeHook{"c", &log, nil}})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "hook b: boom") {
		t.Fatalf("err = %v", err)
	}
	if !slices.Equal(log, []string{"a", "b"}) {
		t.Fatalf("ran %v", log)
	}
	log = nil
	ee := &ExitError{Hook: "/x/10-a.sh", Code: 3}
	err = RunAll(newCtx(t), []Hook{fakeHook{"a", &log, ee}})
	if err.Error() != "/x/10-a.sh exited with return code 3" {
		t.Fatalf("err = %v", err)
	}
}

// TestBuiltinSwitchedOff runs every builtin with its switch off and checks
// that nothing is produced.
func TestBuiltinSwitchedOff(t *testing.T) {
	ctx := newCtx(t)
	for _, k := range []string{"aptfix", "cgroups", "restrict_dev", "unshare_ipc", "mount_home", "localtime", "shadow", "nvidia"} {
		ctx.Config[k] = "0"
	}
	ctx.RemapRoot = true
	ctx.Env.Set("NVIDIA_VISIBLE_DEVICES", "all")
	if err := RunAll(ctx, Builtin()); err != nil {
		t.Fatal(err)
	}
	if len(ctx.Mounts) != 0 || len(ctx.Links) != 0 || len(ctx.Env.List()) != 1 {
		t.Fatalf("produced %v %v %v", ctx.Mounts, ctx.Links, ctx.Env.List())
	}
	if ents, _ := os.ReadDir(ctx.Rootfs); len(ents) != 0 {
		t.Fatalf("rootfs changed: %v", ents)
	}
}
