// SPDX-License-Identifier: Apache-2.0

package spank

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRootTarget(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/data", "/data"}, {"./data", "/data"}, {"data/x/", "/data/x"}, {"./a/../b", "/b"}, {".", "/"},
	} {
		if got, err := rootTarget(c.in); err != nil || got != c.want {
			t.Errorf("rootTarget(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"../home", "./a/../../b", "../../../../tmp/x"} {
		if _, err := rootTarget(in); !errors.Is(err, unix.EXDEV) {
			t.Errorf("rootTarget(%q) = %v, want EXDEV", in, err)
		}
	}
}

func TestContainerName(t *testing.T) {
	for _, c := range []struct {
		name, scope, want string
	}{
		{"", ScopeGlobal, "pyxis_12.3"}, {"foo", ScopeGlobal, "pyxis_foo"},
		{"", ScopeJob, "pyxis_12_12.3"}, {"foo", ScopeJob, "pyxis_12_foo"},
	} {
		j := &job{jobID: "12", stepID: "3", ps: Plugstack{ContainerScope: c.scope}, o: Options{Name: c.name}}
		if got := j.name(); got != c.want {
			t.Errorf("name %q scope %s = %q, want %q", c.name, c.scope, got, c.want)
		}
	}
}
