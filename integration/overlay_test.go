// SPDX-License-Identifier: Apache-2.0

package integration

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gpyxis/gpyxis/integration/harness"
)

// TestOverlayHooks checks that the hooks reach an unnamed step's overlay
// rootfs (prepared through /proc/PID/root of an overlay-only holder): the
// shadow hook's passwd entry makes an unprivileged submitter's name resolve
// inside (root's would resolve anyway, so root submits as the test user).
func TestOverlayHooks(t *testing.T) {
	env := harness.Require(t)
	sl, _ := env.RequirePlugin(t)
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	d, jobEnv := pstackJob(t)
	var wrap []string
	if os.Geteuid() == 0 {
		if me, err = user.Lookup(sl.TestUser); err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.Atoi(me.Uid)
		gid, _ := strconv.Atoi(me.Gid)
		// The test user needs the job directory: a fresh one it owns.
		d, err = os.MkdirTemp("", "gpx-overlay-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		os.MkdirAll(filepath.Join(d, "cfg/gpyxis"), 0o755)
		conf := "ENROOT_ALLOW_HTTP y\nENROOT_DATA_PATH " + d + "/data\n"
		os.WriteFile(filepath.Join(d, "cfg/gpyxis/gpyxis.conf"), []byte(conf), 0o644)
		filepath.Walk(d, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, uid, gid) })
		jobEnv = append(os.Environ(), "XDG_CONFIG_HOME="+d+"/cfg", "XDG_CACHE_HOME="+d+"/cache", "HOME="+me.HomeDir)
		wrap = []string{"--reuid=" + me.Uid, "--regid=" + me.Gid, "--init-groups", "srun"}
	}
	for i := range 2 { // cold (the tree is produced), then warm
		args := []string{"-Q", "-N1", "-w", sl.Nodes[0], "--chdir=/tmp", "--container-image=127.0.0.1:5000#debian:bookworm",
			"sh", "-c", "echo name=$(id -un)"}
		var out string
		if wrap != nil {
			out, err = pstackRun(t, jobEnv, "setpriv", append(wrap, args...)...)
		} else {
			out, err = pstackSrun(t, jobEnv, args...)
		}
		if err != nil || !strings.Contains(out, "name="+me.Username+"\n") {
			t.Fatalf("step %d: %v\n%s\nwant name=%s (shadow hook on the overlay)", i, err, out, me.Username)
		}
	}
}

// TestSharedBlobCache has two users import the same image through one
// node-wide blob cache (GPYXIS_SHARED_CACHE_DIR, a 1777 directory): the
// layer is downloaded once, by the first. Root only: it needs two users.
func TestSharedBlobCache(t *testing.T) {
	env := harness.Require(t)
	sl := env.RequireSlurm(t) // for the test user's name
	env.RequireImage(t, "busybox", "latest")
	if os.Geteuid() != 0 {
		t.Skip("needs root to act as a second user: the root run of make test covers this")
	}
	bin, err := runtimeBin()
	if err != nil {
		t.Fatal(err)
	}
	u, err := user.Lookup(sl.TestUser)
	if err != nil {
		t.Fatal(err)
	}
	d, err := os.MkdirTemp("", "gpx-shared-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	os.Chmod(d, 0o777|os.ModeSticky) // both users write their output and own cache here
	// The binary under test may sit where the test user cannot reach it.
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(d, "gpyxis-runtime")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(d, "blobs")
	if err := os.Mkdir(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(shared, 0o777|os.ModeSticky)
	downloads := func(who []string, out string) int {
		args := append(who, "env", "GPYXIS_SHARED_CACHE_DIR="+shared, "HOME="+d, "XDG_CACHE_HOME="+d+"/own-"+strconv.Itoa(len(who)),
			bin, "import", "-v", "--insecure", "--force", "-o", filepath.Join(d, out), "docker://127.0.0.1:5000#busybox:latest")
		o, err := pstackRun(t, os.Environ(), args[0], args[1:]...)
		if err != nil {
			t.Fatalf("import as %v: %v\n%s", who, err, o)
		}
		return strings.Count(o, "downloading layer")
	}
	if n := downloads([]string{"setpriv", "--reuid=" + u.Uid, "--regid=" + u.Gid, "--init-groups"}, "a.sqsh"); n != 1 {
		t.Fatalf("first user: %d layer downloads, want 1", n)
	}
	if n := downloads([]string{"nice"}, "b.sqsh"); n != 0 {
		t.Errorf("second user: %d layer downloads, want 0 (the shared cache has the layer)", n)
	}
}
