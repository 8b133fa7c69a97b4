// SPDX-License-Identifier: Apache-2.0

package integration

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSpankKillStepStart kills -9 the runtime the plugin runs for a step's
// setup or join, at a random point, for named and unnamed steps: the step
// may fail, but the next step on the same container must start, and once
// the job's steps are over nothing may be left: no step state in the
// runtime directory, no temporaries in the data directory, no process of
// the job.
func TestSpankKillStepStart(t *testing.T) {
	s := newSpank(t)
	job := s.alloc()
	name := s.name("kill")
	trials := 8
	if n, err := strconv.Atoi(os.Getenv("GPYXIS_HOSTILE_TRIALS")); err == nil && n > 0 {
		trials = n
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 1))
	killed := 0
	for i := 0; i < trials; i++ {
		opt := "--container-name=" + name
		if i%2 == 1 {
			opt = "--container-remap-root" // an unnamed step, on the node cache
		}
		bg := s.background(spankStep(job, "-n2", s.busybox(), opt, "sh", "-c", "echo started")...)
		delay := time.Duration(rnd.IntN(400)) * time.Millisecond
		time.Sleep(delay)
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
			if pid := spankRuntimeOf(job); pid > 0 {
				syscall.Kill(pid, syscall.SIGKILL)
				killed++
				break
			}
			if bg.cmd.ProcessState != nil {
				break
			}
		}
		<-bg.done
		stdout, stderr, err := s.srun(nil, spankStep(job, "-n2", s.busybox(), opt, "sh", "-c", "echo again")...)
		if err != nil || strings.Count(stdout, "again\n") != 2 {
			t.Fatalf("trial %d (kill after %s): the next step failed: %v\nstdout:\n%s\nstderr:\n%s\nkilled step's stderr:\n%s",
				i, delay, err, stdout, stderr, bg.stderr.String())
		}
	}
	t.Logf("%d trials, %d runtime processes killed mid-start", trials, killed)
	if killed == 0 {
		t.Errorf("no trial caught the runtime at work: the delays are too long for this machine")
	}
	// The steps are over: their holders stop and their state goes.
	deadline := time.Now().Add(20 * time.Second)
	var left []string
	for {
		left = spankLeftovers(s, job)
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("left behind after the steps ended:\n  %s", strings.Join(left, "\n  "))
	}
}

// spankRuntimeOf returns the PID of a gpyxis-runtime spank setup or join
// that a slurmstepd of job runs, or 0.
func spankRuntimeOf(job string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		args := bytes.Split(cmd, []byte{0})
		if len(args) < 3 || filepath.Base(string(args[0])) != "gpyxis-runtime" || string(args[1]) != "spank" ||
			(string(args[2]) != "setup" && string(args[2]) != "join") {
			continue
		}
		// The runtime's environment is only PATH: its parent, the step's
		// slurmstepd ("slurmstepd: [JOB.STEP]"), names the job.
		stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 2 {
			continue
		}
		parent, _ := os.ReadFile("/proc/" + f[1] + "/cmdline")
		if bytes.Contains(parent, []byte("["+job+".")) {
			return pid
		}
	}
	return 0
}

// spankLeftovers lists what the job's finished steps left: step state and
// holder files in the user's runtime directory, temporaries in the data
// directories, and processes still running in a container of the job.
func spankLeftovers(s *spankEnv, job string) []string {
	var left []string
	rt := filepath.Join(s.Plugin.RuntimePath, strconv.Itoa(s.Uid))
	for _, pat := range []string{"step." + job + ".*", "holder.*" + job + ".*"} {
		m, _ := filepath.Glob(filepath.Join(rt, pat))
		left = append(left, m...)
	}
	for _, pat := range []string{".create-*", ".run-*", ".remove-*"} {
		m, _ := filepath.Glob(filepath.Join(s.Dir, "data-*", pat))
		left = append(left, m...)
	}
	// A container's processes (its holder above all) see the job's data
	// directory in their mounts: the rootfs bind, or the overlay's upper.
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		env, _ := os.ReadFile("/proc/" + e.Name() + "/environ")
		mounts, _ := os.ReadFile("/proc/" + e.Name() + "/mountinfo")
		if bytes.Contains(env, []byte("\x00SLURM_JOB_ID="+job+"\x00")) || bytes.Contains(mounts, []byte(s.Dir+"/")) {
			cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			left = append(left, fmt.Sprintf("pid %s: %s", e.Name(), bytes.ReplaceAll(cmd, []byte{0}, []byte{' '})))
		}
	}
	return left
}
