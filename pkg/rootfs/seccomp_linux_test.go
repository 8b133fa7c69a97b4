// SPDX-License-Identifier: Apache-2.0

package rootfs

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/gpyxis/gpyxis/pkg/filter"
	"github.com/gpyxis/gpyxis/pkg/namespaces"
)

// TestSeccompFakesChown checks that the filter given to Start is on the command and
// that chown, which fails in a single-ID user namespace, then reports success.
func TestSeccompFakesChown(t *testing.T) {
	prog, err := filter.BPF(filter.Options{})
	if err != nil {
		t.Skipf("seccomp filter unavailable in this build: %v", err)
	}
	rootfs := newRootfs(t)
	for _, m := range []namespaces.IDMap{namespaces.Identity{}, namespaces.RemapRoot{}} {
		t.Run(m.String(), func(t *testing.T) {
			script := `grep Seccomp: /proc/self/status; touch /tmp/f; chown 1234:1234 /tmp/f && echo chown-ok; stat -c %u /tmp/f`
			out := sh(t, StartConfig{Rootfs: Config{Rootfs: rootfs}, IDMap: m, Seccomp: prog}, script)
			lines := strings.Fields(out)
			inner := strconv.Itoa(m.Inside(os.Geteuid()))
			if len(lines) != 4 || lines[1] != "2" || lines[2] != "chown-ok" || lines[3] != inner {
				t.Fatalf("with the filter: %q; want Seccomp: 2, chown-ok, owner %s unchanged", out, inner)
			}
			r, err := run(t, StartConfig{Rootfs: Config{Rootfs: rootfs}, IDMap: m,
				Args: []string{"sh", "-c", "touch /tmp/f; chown 1234:1234 /tmp/f"}})
			if err != nil || r.code == 0 {
				t.Fatalf("without the filter chown of an unmapped id succeeded (%v, %+v)", err, r)
			}
		})
	}
}
