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
