// SPDX-License-Identifier: Apache-2.0

package integration

import (
	"strings"
	"testing"

	"github.com/gpyxis/gpyxis/integration/harness"
)

// TestPMI2InContainer checks that Slurm's PMI2 reaches containerised tasks
// (pyxis mpi.bats): PMI_FD is still an open socket after the join, and
// PMI_RANK and PMI_SIZE are each task's.
func TestPMI2InContainer(t *testing.T) {
	env := harness.Require(t)
	sl, _ := env.RequirePlugin(t)
	_, jobEnv := pstackJob(t)
	out, err := pstackSrun(t, jobEnv, "-N1", "-w", sl.Nodes[0], "-n2", "--mpi=pmi2",
		"--container-image=127.0.0.1:5000#busybox:latest",
		"sh", "-c", `echo "pmi $PMI_RANK $PMI_SIZE $(readlink /proc/self/fd/$PMI_FD)"`)
	if err != nil {
		t.Fatalf("srun --mpi=pmi2: %v\n%s", err, out)
	}
	ranks := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) != 4 || f[0] != "pmi" {
			continue
		}
		if f[2] != "2" || !strings.HasPrefix(f[3], "socket:[") {
			t.Errorf("task line %q: want PMI_SIZE 2 and PMI_FD a socket", l)
		}
		ranks[f[1]] = true
	}
	if !ranks["0"] || !ranks["1"] {
		t.Errorf("PMI ranks %v, want 0 and 1; output:\n%s", ranks, out)
	}
}
