// SPDX-License-Identifier: Apache-2.0

package hostile

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/gpyxis/gpyxis/integration/harness"
)

// sharedBase returns a 0755 directory both test users can reach, removed at
// the end.
func sharedBase(t *testing.T) string {
	t.Helper()
	base, err := os.MkdirTemp("", "gpx-hostile-shared-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	return base
}

// sharedEntry is where the shared blob cache keeps blob d.
func sharedEntry(dir string, d digest.Digest) string {
	return filepath.Join(dir, d.Algorithm().String()+"-"+d.Encoded())
}

// sharedHold runs `flock FILE sleep` as a in its own process group until
// the test ends: a lock held by another user for as long as it likes.
func sharedHold(t *testing.T, a *Account, file string) {
	t.Helper()
	c := a.Cmd("flock", file, "sleep", "600")
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		t.Fatalf("flock as %s: %v", a.Name, err)
	}
	t.Cleanup(func() {
		syscall.Kill(-c.Process.Pid, syscall.SIGKILL) // the group this test started: flock and its sleep
		c.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for exec.Command("flock", "-n", file, "true").Run() == nil {
		if time.Now().After(deadline) {
			t.Fatalf("%s's flock on %s never took the lock", a.Name, file)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sharedImport imports ref as a with GPYXIS_SHARED_CACHE_DIR=dir into a's
// home, within a deadline, and returns the output.
func sharedImport(t *testing.T, a *Account, dir, ref string) string {
	t.Helper()
	env := []string{"GPYXIS_SHARED_CACHE_DIR=" + dir, "ENROOT_ALLOW_HTTP=1"}
	out, err := a.Runtime(t, 60*time.Second, env, "import", "-v", "--force", "-o", filepath.Join(a.Home, "out.sqsh"), ref)
	if err != nil {
		t.Fatalf("import as %s with the shared cache: %v\n%s", a.Name, err, out)
	}
	return out
}

// TestHostileSharedCachePlanted: tester2 (the attacker) fills the node's
// shared blob cache before tester (the victim) pulls an image: for its
// layers, garbage of the right size under the right name, a FIFO, a
// symbolic link to a canary path, a directory; the old layout's lock files
// as links to canaries, and one of them held with flock. The victim's
// import succeeds within its deadline, no canary is touched, the planted
// entries stay the attacker's (nobody can replace them), the clean layer is
// published by the victim, and the attacker can neither remove nor replace
// it.
func TestHostileSharedCachePlanted(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	victim, attacker := AccountFor(t, Victim), AccountFor(t, Attacker)
	can := NewCanaries(t)
	var layers [][]byte
	for i := range 5 {
		layers = append(layers, Layer(t, Entry{Name: fmt.Sprintf("layer%d", i), Body: strings.Repeat(fmt.Sprint(i), 1000+i)}))
	}
	img := PushImage(t, reg, nil, layers...)
	shared := filepath.Join(sharedBase(t), "shared")
	if out, err := exec.Command("install", "-d", "-m", "1777", "-o", "root", shared).CombinedOutput(); err != nil {
		t.Fatalf("install -d: %v: %s", err, out)
	}

	created := filepath.Join(can.Dir, "created")
	garbage, fifo, link, dir, clean := img.Layers[0], img.Layers[1], img.Layers[2], img.Layers[3], img.Layers[4]
	locks := filepath.Join(shared, "locks", "sha256")
	script := strings.Join([]string{
		fmt.Sprintf("head -c %d /dev/zero > %s", len(Gzip(layers[0])), sharedEntry(shared, garbage)),
		"mkfifo " + sharedEntry(shared, fifo),
		"ln -s " + created + " " + sharedEntry(shared, link),
		"mkdir " + sharedEntry(shared, dir),
		"mkdir -p " + locks + " " + filepath.Join(shared, "blobs", "sha256") + " " + filepath.Join(shared, "tmp"),
		"ln -s " + created + " " + filepath.Join(locks, clean.Encoded()+".lock"),
		"touch " + filepath.Join(locks, garbage.Encoded()+".lock"),
	}, " && ")
	dirsMust(t, attacker, "sh", "-ec", script)
	sharedHold(t, attacker, filepath.Join(locks, garbage.Encoded()+".lock"))

	start := time.Now()
	out := sharedImport(t, victim, shared, img.Ref(reg))
	if d := time.Since(start); d > 45*time.Second {
		t.Errorf("the import took %s: something waited on the attacker", d)
	}
	can.Check(t)
	can.Leaked(t, out)
	if n := strings.Count(out, "downloading layer"); n != 5 {
		t.Errorf("%d layer downloads, want 5 (nothing usable in the shared cache)\n%s", n, out)
	}
	for _, d := range []digest.Digest{garbage, fifo, link, dir} {
		var st syscall.Stat_t
		if err := syscall.Lstat(sharedEntry(shared, d), &st); err != nil || int(st.Uid) != attacker.UID {
			t.Errorf("planted %s: %v, owner %d; want it left alone (only its owner may replace it)", d, err, st.Uid)
		}
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(sharedEntry(shared, clean), &st); err != nil || int(st.Uid) != victim.UID || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		t.Fatalf("the clean layer was not published by the victim: %v, owner %d, mode %o", err, st.Uid, st.Mode)
	}
	attacker.Cmd("sh", "-c", "rm -f "+sharedEntry(shared, clean)+"; printf x > $HOME/x; mv -f $HOME/x "+sharedEntry(shared, clean)).Run()
	if err := syscall.Lstat(sharedEntry(shared, clean), &st); err != nil || int(st.Uid) != victim.UID || st.Size == 1 {
		t.Errorf("the attacker removed or replaced the victim's published blob: %v, owner %d", err, st.Uid)
	}

	// The attacker now pulls the image itself: the victim's blob is used,
	// its own planted entries are replaced by verified ones.
	out = sharedImport(t, attacker, shared, img.Ref(reg))
	if !strings.Contains(out, "copied layer from the shared cache") {
		t.Errorf("the attacker's pull did not use the victim's published layer\n%s", out)
	}
	can.Check(t)
}

// TestHostileSharedCacheOwnedDir: the shared directory does not exist and
// tester2 creates it first (1777, in a 1777 parent) and fills it with
// garbage. tester ignores a directory another user owns, says so, and
// pulls without it.
func TestHostileSharedCacheOwnedDir(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	victim, attacker := AccountFor(t, Victim), AccountFor(t, Attacker)
	can := NewCanaries(t)
	layer := Layer(t, Entry{Name: "file", Body: "owned-dir"})
	img := PushImage(t, reg, nil, layer)
	parent := filepath.Join(sharedBase(t), "tmp")
	if err := os.Mkdir(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(parent, 0o777|os.ModeSticky)
	shared := filepath.Join(parent, "shared")
	dirsMust(t, attacker, "sh", "-ec", fmt.Sprintf("mkdir -m 1777 %s && head -c %d /dev/zero > %s",
		shared, len(Gzip(layer)), sharedEntry(shared, img.Layers[0])))

	out := sharedImport(t, victim, shared, img.Ref(reg))
	if !strings.Contains(out, "shared cache not used") || !strings.Contains(out, fmt.Sprintf("uid %d", attacker.UID)) {
		t.Errorf("no warning naming the directory's owner:\n%s", out)
	}
	if ents, _ := os.ReadDir(shared); len(ents) != 1 {
		t.Errorf("the victim wrote into the attacker's directory: %v", ents)
	}
	can.Check(t)
}
