// SPDX-License-Identifier: Apache-2.0

package rootfs

import (
	"testing"

	"github.com/gpyxis/gpyxis/internal/testutil"
)

// TestAsTester runs this package's tests again as the unprivileged user
// "tester", as the Makefile's test-rootless target does for integration
// tests: the test binary is copied where tester can read it and started
// through setpriv. The manual equivalent is
//
//	go test -c -o /tmp/t/rootfs.test ./pkg/rootfs && chmod 755 /tmp/t
//	cd /tmp/t && setpriv --reuid=tester --regid=tester --init-groups \
//		env HOME=/tmp ./rootfs.test -test.v
func TestAsTester(t *testing.T) {
	testutil.RerunAsTester(t, "TestAsTester")
}
