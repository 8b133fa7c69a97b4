// SPDX-License-Identifier: Apache-2.0

package spank

import (
	"errors"
	"strings"
	"testing"
)

// Run longer with `go test -run '^$' -fuzz FuzzParseOptions ./pkg/spank`.

var fuzzOptionNames = []string{
	"container-image", "container-mounts", "container-workdir", "container-name", "container-save",
	"container-mount-home", "no-container-mount-home", "container-remap-root", "no-container-remap-root",
	"container-entrypoint", "no-container-entrypoint", "container-writable", "container-readonly",
	"container-entrypoint-log", "container-env", "container-unshare", "container-bogus",
}

// FuzzParseOptions applies up to three options picked by the first bytes
// and one PYXIS_CONTAINER_* variable: never a panic, an error of the
// option's own type, and an accepted result that is consistent.
func FuzzParseOptions(f *testing.F) {
	for _, s := range []struct {
		sel        []byte
		a, b, c, e string
	}{
		{[]byte{0, 1, 3}, "nvcr.io#nvidia/pytorch:25.09-py3", "/home:/test-mnt,/tmp:/mnt:ro", "name:exec", "1"},
		{[]byte{0, 0, 2}, "ubuntu", "ubuntu", "/work", "yes"},
		{[]byte{0, 0, 0}, "a", "b", "c", ""},
		{[]byte{3, 3, 4}, "x:create", "x:no_exec", "./out.sqsh", "maybe"},
		{[]byte{14, 15, 15}, "PATH,HOME", "net,ipc", "uts,pid", "net"},
		{[]byte{11, 12, 5}, "", "", "", "0"},
		{[]byte{1, 1, 16}, ":", "/a:/b,,", "z", "/x:/y:bad"},
	} {
		f.Add(s.sel, s.a, s.b, s.c, s.e)
	}
	f.Fuzz(func(t *testing.T, sel []byte, a, b, c, env string) {
		var opts []Opt
		for i, v := range []string{a, b, c} {
			if i < len(sel) {
				opts = append(opts, Opt{Name: fuzzOptionNames[int(sel[i])%len(fuzzOptionNames)], Value: v})
			}
		}
		getenv := func(name string) (string, bool) {
			if len(sel) > 3 && name == []string{"PYXIS_CONTAINER_IMAGE", "PYXIS_CONTAINER_MOUNTS", "PYXIS_CONTAINER_NAME", "PYXIS_CONTAINER_WRITABLE", "PYXIS_CONTAINER_ENV"}[int(sel[3])%5] {
				return env, true
			}
			return "", false
		}
		o, warnings, err := ParseOptions(opts, getenv)
		if err != nil {
			var oe *OptionError
			if !errors.As(err, &oe) || err.Error() == "" {
				t.Fatalf("error %T %q is not an OptionError", err, err)
			}
			return
		}
		if (o.Name == "") != (o.NameFlag == "") {
			t.Fatalf("name %q with flag %q", o.Name, o.NameFlag)
		}
		if !o.Enabled() && len(warnings) == 0 && len(opts) > 0 && o.Workdir+o.Save != "" {
			t.Fatalf("options %v ignored without a warning", opts)
		}
		seen := map[string]bool{}
		for _, n := range o.Unshare {
			if seen[n] || !contains(unshareOrder, n) {
				t.Fatalf("unshare %v", o.Unshare)
			}
			seen[n] = true
		}
		for _, m := range o.Mounts {
			if m.Target == "" {
				t.Fatalf("mount without a target: %+v", m)
			}
		}
	})
}

// FuzzParsePlugstack parses plugstack.conf arguments: never a panic, a
// ConfigError for what it refuses, absolute paths for what it accepts.
func FuzzParsePlugstack(f *testing.F) {
	for _, s := range []string{
		"runtime_path=/run/pyxis\ncontainer_scope=job", "sbatch_support=0\nexecute_entrypoint=yes",
		"shared_rootfs_cache=/var/cache/gpyxis\nshared_rootfs_cache_max_mb=1024", "runtime=relative",
		"container_scope=node", "unknown=1", "=", "importer=/usr/bin/x\nimporter=", "shared_rootfs_cache_max_mb=-1",
		"remap_root=maybe", "runtime_path=/a b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParsePlugstack(strings.Split(s, "\n"))
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) || err.Error() == "" {
				t.Fatalf("error %T %q is not a configuration error", err, err)
			}
			return
		}
		if c.ContainerScope != ScopeGlobal && c.ContainerScope != ScopeJob {
			t.Fatalf("scope %q", c.ContainerScope)
		}
		if !strings.HasPrefix(c.RuntimePath, "/") {
			t.Fatalf("runtime_path %q is not absolute", c.RuntimePath)
		}
		if c.SharedRootfsCacheMaxMB < 0 {
			t.Fatalf("negative cache cap %d", c.SharedRootfsCacheMaxMB)
		}
	})
}
