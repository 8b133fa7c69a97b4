// SPDX-License-Identifier: Apache-2.0

package integration

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSpankNamedJoinRace runs many overlapping steps of one job on the same
// --container-name, two tasks each: every step joins whichever instance is
// running, and instances end as their steps end, so a task regularly finds
// the holder it was told about gone. None may fail (was about 1 in 20:
// "container holder is not running", "open /proc/PID/ns/cgroup").
func TestSpankNamedJoinRace(t *testing.T) {
	s := newSpank(t)
	job := s.alloc()
	name := s.name("race")
	if _, stderr, err := s.srun(nil, spankStep(job, "--container-name="+name, s.busybox(), "true")...); err != nil {
		t.Fatalf("create %s: %v\n%s", name, err, stderr)
	}
	steps := 50
	if n, err := strconv.Atoi(os.Getenv("GPYXIS_JOIN_RACE_STEPS")); err == nil && n > 0 {
		steps = n
	}
	var mu sync.Mutex
	failed := 0
	spankParallel(steps, 60*time.Millisecond, func(i int) {
		// Steps of uneven length, so that holders come and go while others join.
		script := fmt.Sprintf("sleep 0.%d; echo step-%d", (i*37)%10, i)
		stdout, stderr, err := s.srun(nil, spankStep(job, "-n2", "--container-name="+name, "sh", "-c", script)...)
		if err != nil || strings.Count(stdout, fmt.Sprintf("step-%d\n", i)) != 2 {
			mu.Lock()
			defer mu.Unlock()
			failed++
			t.Errorf("step %d: %v\nstdout:\n%s\nstderr:\n%s", i, err, stdout, stderr)
		}
	})
	if failed > 0 {
		t.Errorf("%d of %d overlapping steps on one named container failed", failed, steps)
	}
}
