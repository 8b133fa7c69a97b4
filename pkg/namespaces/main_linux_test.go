// SPDX-License-Identifier: Apache-2.0

package namespaces

import (
	"io"
	"os"
	"testing"
)

// helperEnv makes the test binary a helper process that waits for its stdin
// to close, so that tests can inspect a live process in new namespaces.
const helperEnv = "GPYXIS_NAMESPACES_HELPER"

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == PauseArg {
		PauseMain()
	}
	if os.Getenv(helperEnv) == "wait" {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	os.Exit(m.Run())
}
