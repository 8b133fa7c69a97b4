// SPDX-License-Identifier: Apache-2.0

package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gpyxis/gpyxis/integration/harness"
)

// pstackEnable re-enables the harness plugin with extra plugstack arguments
// (root only: it rewrites /etc/slurm/plugstack.conf.d/gpyxis.conf), and puts
// the previous ones back when t ends.
func pstackEnable(t *testing.T, p *harness.Plugin, args string) {
	t.Helper()
	script, err := harness.RepoFile("integration/infra/plugin-up.sh")
	if err != nil {
		t.Fatal(err)
	}
	run := func(a string) error {
		cmd := exec.Command(script, p.Runtime, p.Plugin)
		cmd.Env = append(os.Environ(), "PLUGSTACK_ARGS="+a)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Logf("plugin-up.sh: %s", out)
		}
		return err
	}
	prev := p.Args
	t.Cleanup(func() {
		if err := run(prev); err != nil {
			t.Errorf("restore plugstack arguments %q: %v", prev, err)
		}
	})
	if err := run(args); err != nil {
		t.Fatalf("plugin-up.sh with %q: %v", args, err)
	}
}

// pstackJob makes a job directory with a gpyxis.conf (plain HTTP for the
// loopback registry, a node-local data path) and returns it with the job's
// environment.
func pstackJob(t *testing.T) (string, []string) {
	d := t.TempDir()
	if err := os.MkdirAll(filepath.Join(d, "cfg/gpyxis"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := "ENROOT_ALLOW_HTTP y\nENROOT_DATA_PATH " + d + "/data-$(hostname)\n"
	if err := os.WriteFile(filepath.Join(d, "cfg/gpyxis/gpyxis.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o755)
	return d, append(os.Environ(), "XDG_CONFIG_HOME="+d+"/cfg", "XDG_CACHE_HOME="+d+"/cache")
}

func pstackSrun(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	return pstackRun(t, env, "srun", args...)
}

// pstackRun runs a command (srun, or setpriv ... srun) with a time limit.
func pstackRun(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestPlugstackImporterAndJobScope drives pyxis' importer= protocol and
// container_scope=job: the importer's squashfs makes the container, release
// runs, and the job epilog removes the job's named containers.
func TestPlugstackImporterAndJobScope(t *testing.T) {
	env := harness.Require(t)
	sl, p := env.RequirePlugin(t)
	if os.Geteuid() != 0 {
		t.Skip("rewriting plugstack.conf needs root: the root run of make test covers this")
	}
	d, jobEnv := pstackJob(t)
	calls := filepath.Join(d, "importer.log")
	importer := filepath.Join(d, "importer.sh")
	script := `#!/bin/sh
set -e
echo "$1 ${2:-} uid=$SLURM_JOB_UID rt=$PYXIS_RUNTIME_PATH" >> ` + calls + `
case "$1" in
get) out=` + d + `/imported.$SLURM_JOB_ID.sqsh
     ` + p.Runtime + ` import --quiet --insecure --force -o "$out" "$2" >&2
     echo "$out" ;;
release) rm -f ` + d + `/imported.*.sqsh ;;
esac
`
	if err := os.WriteFile(importer, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	pstackEnable(t, p, "importer="+importer+" container_scope=job")
	node := sl.Nodes[0]
	out, err := pstackSrun(t, jobEnv, "-N1", "-w", node, "--container-image=127.0.0.1:5000#busybox:latest",
		"--container-name=scoped", "sh", "-c", "test -x /bin/busybox && echo in-busybox")
	if err != nil || !strings.Contains(out, "in-busybox") {
		t.Fatalf("srun with the importer: %v\n%s", err, out)
	}
	log, _ := os.ReadFile(calls)
	if !strings.Contains(string(log), "get docker://127.0.0.1:5000#busybox:latest uid=0") ||
		strings.Count(string(log), "release") < 1 {
		t.Errorf("importer calls:\n%s\nwant get docker://... then release", log)
	}
	if m, _ := filepath.Glob(d + "/imported.*.sqsh"); len(m) != 0 {
		t.Errorf("release left %v", m)
	}
	// The srun was its own job: its epilog removes pyxis_JOBID_scoped.
	data := filepath.Join(d, "data-"+node)
	deadline := time.Now().Add(15 * time.Second)
	for {
		m, _ := filepath.Glob(filepath.Join(data, "pyxis_*_scoped"))
		if len(m) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container_scope=job: %v still there 15 s after the job", m)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
