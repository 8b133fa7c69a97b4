package namespaces

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

// asTesterEnv marks the run of this test binary as the unprivileged user.
const asTesterEnv = "GPYXIS_TEST_AS_TESTER"

// TestAsTester runs this package's tests again as the unprivileged user
// "tester", as the Makefile's test-rootless target does for integration
// tests: the test binary is copied where tester can read it and started
// through setpriv. The manual equivalent is
//
//	go test -c -o /tmp/t/ns.test ./pkg/namespaces && chmod 755 /tmp/t
//	cd /tmp/t && setpriv --reuid=tester --regid=tester --init-groups \
//		env HOME=/tmp ./ns.test -test.v
func TestAsTester(t *testing.T) {
	runAsTester(t)
}

func runAsTester(t *testing.T) {
	if os.Getenv(asTesterEnv) != "" {
		t.Skip("this is the unprivileged run")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch to tester; this run is unprivileged already")
	}
	if _, err := user.Lookup("tester"); err != nil {
		t.Skip("no user tester")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("no setpriv")
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
	if err := copyFile(exe, "/proc/self/exe"); err != nil {
		t.Fatal(err)
	}
	args := []string{"--reuid=tester", "--regid=tester", "--init-groups",
		"env", "HOME=/tmp", asTesterEnv + "=1", exe, "-test.count=1", "-test.skip=^TestAsTester$"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	if f := flag.Lookup("test.run"); f != nil && f.Value.String() != "" {
		if !regexp.MustCompile(f.Value.String()).MatchString("TestAsTester") {
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

func copyFile(dst, src string) error {
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
