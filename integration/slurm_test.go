// SPDX-License-Identifier: Apache-2.0

package integration

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpyxis/gpyxis/integration/harness"
)

// TestSlurmSmoke checks the real Slurm the shim will be tested on: a two-task step,
// a batch job, and a step as the unprivileged user.
func TestSlurmSmoke(t *testing.T) {
	env := harness.Require(t)
	s := env.RequireSlurm(t)
	out, err := exec.Command("srun", "-N1", "-w", s.Nodes[0], "-n2", "hostname").CombinedOutput()
	if err != nil || strings.Count(string(out), s.Nodes[0]+"\n") != 2 {
		t.Fatalf("srun -N1 -n2 hostname: %v %q; want %s twice", err, out, s.Nodes[0])
	}
	u, err := user.Lookup(s.TestUser)
	if err != nil {
		t.Fatalf("test user: %v", err)
	}
	if os.Geteuid() == 0 {
		out, err = exec.Command("setpriv", "--reuid="+s.TestUser, "--regid="+s.TestUser, "--init-groups", "srun", "-n1", "id", "-u").CombinedOutput()
	} else {
		out, err = exec.Command("srun", "-n1", "id", "-u").CombinedOutput()
		u.Uid = strings.TrimSpace(string(mustOutput(t, "id", "-u")))
	}
	if err != nil || strings.TrimSpace(string(out)) != u.Uid {
		t.Fatalf("srun id -u as the test user: %v %q; want %s", err, out, u.Uid)
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "job.out")
	out, err = exec.Command("sbatch", "--wait", "-o", log, "--wrap", "echo batch-ran").CombinedOutput()
	if b, _ := os.ReadFile(log); err != nil || string(b) != "batch-ran\n" {
		t.Fatalf("sbatch --wait: %v %q; output %q", err, out, b)
	}
}

func mustOutput(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}
