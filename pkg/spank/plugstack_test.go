// SPDX-License-Identifier: Apache-2.0

package spank

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePlugstackDefaults(t *testing.T) {
	c, err := ParsePlugstack(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Plugstack{RuntimePath: "/run/gpyxis", ContainerScope: "global", SbatchSupport: true, SharedRootfsCacheMaxMB: 51200}
	if c != want {
		t.Errorf("got %+v, want %+v", c, want)
	}
}

func TestParsePlugstackValues(t *testing.T) {
	c, err := ParsePlugstack([]string{
		"runtime_path=/tmp/gpyxis",
		"execute_entrypoint=1",
		"container_scope=job",
		"sbatch_support=no",
		"use_enroot_load=yes",
		"importer=/usr/share/pyxis/importers/caching_importer.sh",
		"use_squashfuse=true",
		"runtime=/usr/libexec/gpyxis/gpyxis-runtime",
		"shared_rootfs_cache=/var/cache/gpyxis/rootfs",
		"shared_rootfs_cache_max_mb=100",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Plugstack{
		RuntimePath:            "/tmp/gpyxis",
		ExecuteEntrypoint:      true,
		ContainerScope:         "job",
		SbatchSupport:          false,
		UseEnrootLoad:          true,
		Importer:               "/usr/share/pyxis/importers/caching_importer.sh",
		UseSquashfuse:          true,
		Runtime:                "/usr/libexec/gpyxis/gpyxis-runtime",
		SharedRootfsCache:      "/var/cache/gpyxis/rootfs",
		SharedRootfsCacheMaxMB: 100,
	}
	if c != want {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
}

func TestParsePlugstackOverrides(t *testing.T) {
	c, err := ParsePlugstack([]string{
		"execute_entrypoint=y", "execute_entrypoint=n",
		"container_scope=job", "container_scope=global",
		"importer=/a", "importer=",
		"sbatch_support=0", "sbatch_support=1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.ExecuteEntrypoint || c.ContainerScope != ScopeGlobal || c.Importer != "" || !c.SbatchSupport {
		t.Errorf("later keys did not win: %+v", c)
	}
}

func TestParsePlugstackBooleans(t *testing.T) {
	for word, want := range map[string]bool{
		"1": true, "true": true, "yes": true, "y": true,
		"0": false, "false": false, "no": false, "n": false,
	} {
		c, err := ParsePlugstack([]string{"use_squashfuse=" + word, "sbatch_support=" + word})
		if err != nil {
			t.Errorf("%q: %v", word, err)
			continue
		}
		if c.UseSquashfuse != want || c.SbatchSupport != want {
			t.Errorf("%q: got %v/%v, want %v", word, c.UseSquashfuse, c.SbatchSupport, want)
		}
	}
}

func TestParsePlugstackErrors(t *testing.T) {
	tests := []struct {
		arg, key, msg string
	}{
		{"remap_root=1", "", "unknown configuration option: remap_root=1 (known options: runtime_path=, execute_entrypoint=, container_scope=, sbatch_support=, use_enroot_load=, importer=, use_squashfuse=, runtime=, shared_rootfs_cache=, shared_rootfs_cache_max_mb=)"},
		{"runtime_path", "", "unknown configuration option: runtime_path (known options: "},
		{"RUNTIME_PATH=/x", "", "unknown configuration option: RUNTIME_PATH=/x"},
		{"=x", "", "unknown configuration option: =x"},
		{"execute_entrypoint=maybe", "execute_entrypoint", "execute_entrypoint: invalid value: maybe (use 1, true, yes, y, 0, false, no or n)"},
		{"sbatch_support=", "sbatch_support", "sbatch_support: invalid value: "},
		{"use_enroot_load=TRUE", "use_enroot_load", "use_enroot_load: invalid value: TRUE"},
		{"use_squashfuse=on", "use_squashfuse", "use_squashfuse: invalid value: on"},
		{"container_scope=node", "container_scope", `container_scope: invalid value: node (use "global" or "job")`},
		{"container_scope=", "container_scope", "container_scope: invalid value: "},
		{"runtime_path=run/gpyxis", "runtime_path", "runtime_path: path must be absolute: run/gpyxis"},
		{"runtime_path=", "runtime_path", "runtime_path: path must be absolute: "},
		{"importer=./importer.sh", "importer", "importer: path must be absolute: ./importer.sh"},
		{"runtime=gpyxis-runtime", "runtime", "runtime: path must be absolute: gpyxis-runtime"},
		{"shared_rootfs_cache=cache", "shared_rootfs_cache", "shared_rootfs_cache: path must be absolute: cache"},
		{"shared_rootfs_cache_max_mb=-1", "shared_rootfs_cache_max_mb", "shared_rootfs_cache_max_mb: invalid value: -1"},
	}
	for _, tc := range tests {
		t.Run(tc.arg, func(t *testing.T) {
			c, err := ParsePlugstack([]string{"execute_entrypoint=1", tc.arg})
			if err == nil {
				t.Fatalf("no error, got %+v", c)
			}
			if !strings.HasPrefix(err.Error(), tc.msg) {
				t.Errorf("error %q, want prefix %q", err.Error(), tc.msg)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Error("error does not match ErrInvalidConfig")
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Arg != tc.arg || ce.Key != tc.key {
				t.Errorf("error %#v: want Arg %q, Key %q", err, tc.arg, tc.key)
			}
			if c != (Plugstack{}) {
				t.Errorf("configuration %+v returned with the error", c)
			}
		})
	}
}
