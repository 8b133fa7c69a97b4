// SPDX-License-Identifier: Apache-2.0

package testutil

import (
	"flag"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"testing"
)

// AsTesterEnv marks the run of a test binary as the unprivileged user.
const AsTesterEnv = "GPYXIS_TEST_AS_TESTER"

// RerunAsTester runs the calling package's tests again as the unprivileged user
// "tester", as the Makefile's test-rootless target does for integration tests: the
// test binary is copied where tester can read it and started through setpriv,
// skipping the test named self (the one calling this). It skips when the current run
// is that rerun, when not root, or when tester or setpriv is missing.
func RerunAsTester(t *testing.T, self string) {
	t.Helper()
	if os.Getenv(AsTesterEnv) != "" {
		t.Skip("this is the unprivileged run")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch to tester; this run is unprivileged already")
	}
	if _, err := user.Lookup("tester"); err != nil {
		t.Skip("no user tester (integration/infra/user-up.sh creates it)")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("no setpriv (util-linux)")
	}
	dir, err := os.MkdirTemp("", "gpyxis-tester-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "x.test")
	if err := CopyExecutable(exe, "/proc/self/exe"); err != nil {
		t.Fatal(err)
	}
	args := []string{"--reuid=tester", "--regid=tester", "--init-groups",
		"env", "HOME=/tmp", AsTesterEnv + "=1", exe, "-test.count=1", "-test.skip=^" + self + "$"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	if f := flag.Lookup("test.run"); f != nil && f.Value.String() != "" {
		if !regexp.MustCompile(f.Value.String()).MatchString(self) {
			args = append(args, "-test.run="+f.Value.String())
		}
	}
	cmd := exec.Command(setpriv, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	t.Logf("as tester:\n%s", out)
	if err != nil {
		t.Fatalf("tests as tester: %v", err)
	}
}

// CopyExecutable copies src to dst with mode 0755.
func CopyExecutable(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
