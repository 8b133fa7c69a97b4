// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// RuntimeEnv names the gpyxis-runtime under test (make sets it to bin/gpyxis-runtime).
const RuntimeEnv = "GPYXIS_RUNTIME"

// Runtime returns the gpyxis-runtime under test: $GPYXIS_RUNTIME, else one built
// from this checkout once per test binary, in a directory every user can enter.
var Runtime = sync.OnceValues(func() (string, error) {
	if p := os.Getenv(RuntimeEnv); p != "" {
		return p, nil
	}
	root, err := RepoFile(".")
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "gpyxis-bin")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "gpyxis-runtime")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/gpyxis-runtime")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
})
