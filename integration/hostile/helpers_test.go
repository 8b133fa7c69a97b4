// SPDX-License-Identifier: Apache-2.0

package hostile

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/gpyxis/gpyxis/integration/harness"
)

// Victim and Attacker are the two unprivileged accounts infra-up.sh makes.
const (
	Victim   = "tester"
	Attacker = "tester2"
)

// runtimeBin is the gpyxis-runtime under test.
var runtimeBin = harness.Runtime

// publicRuntime returns a copy of the runtime that every user can execute
// (the one under test may sit in root's 0700 checkout).
var publicRuntime = sync.OnceValues(func() (string, error) {
	bin, err := runtimeBin()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "gpyxis-hostile-pub")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	dst := filepath.Join(dir, "gpyxis-runtime")
	if out, err := exec.Command("install", "-m", "0755", bin, dst).CombinedOutput(); err != nil {
		return "", fmt.Errorf("install: %w: %s", err, out)
	}
	return dst, nil
})

// Account is a user the suite acts as: the current one (Name == "") or a named
// unprivileged account reached through setpriv (root only).
type Account struct {
	Name     string
	UID, GID int
	Home     string // a private directory for HOME and XDG_*; created by AccountFor
}

// Self is the account running the tests.
func Self(t *testing.T) *Account {
	t.Helper()
	home := t.TempDir()
	return &Account{UID: os.Getuid(), GID: os.Getgid(), Home: home}
}

// AccountFor returns the named unprivileged account with a fresh private home;
// it skips (or fails under GPYXIS_INFRA_REQUIRED=1) when the suite does not run
// as root, since only root can act as two users.
func AccountFor(t *testing.T, name string) *Account {
	t.Helper()
	if os.Geteuid() != 0 {
		// The unprivileged pass of make test lands here; its root pass runs the case.
		t.Skipf("acting as %s needs root (the root pass of make test runs this case)", name)
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("no user %s: integration/infra/user-up.sh %s (run by infra-up.sh) creates it: %v", name, name, err)
	}
	a := &Account{Name: name}
	fmt.Sscan(u.Uid, &a.UID)
	fmt.Sscan(u.Gid, &a.GID)
	d, err := os.MkdirTemp("", "gpx-hostile-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chown(d, a.UID, a.GID); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o700); err != nil {
		t.Fatal(err)
	}
	a.Home = d
	return a
}

// Cmd returns argv run as the account, with HOME and XDG_* in its home.
func (a *Account) Cmd(argv ...string) *exec.Cmd {
	var c *exec.Cmd
	if a.Name == "" {
		c = exec.Command(argv[0], argv[1:]...)
	} else {
		c = exec.Command("setpriv", append([]string{
			fmt.Sprintf("--reuid=%d", a.UID), fmt.Sprintf("--regid=%d", a.GID), "--init-groups"}, argv...)...)
	}
	c.Dir = "/"
	c.Env = append(os.Environ(), "HOME="+a.Home, "XDG_CONFIG_HOME="+a.Home+"/.config",
		"XDG_CACHE_HOME="+a.Home+"/.cache", "XDG_DATA_HOME="+a.Home+"/.local/share")
	return c
}

// Runtime runs gpyxis-runtime as the account with extra environment, under
// a deadline (a hang is a failure, never a stuck suite); it returns
// stdout+stderr.
func (a *Account) Runtime(t *testing.T, timeout time.Duration, env []string, args ...string) (string, error) {
	t.Helper()
	bin, err := publicRuntime()
	if err != nil {
		t.Fatalf("gpyxis-runtime: %v", err)
	}
	c := a.Cmd(append([]string{"timeout", "-s", "KILL", fmt.Sprint(int(timeout.Seconds())), bin}, args...)...)
	c.Env = append(c.Env, env...)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	err = c.Run()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 137 {
		t.Errorf("gpyxis-runtime %s: still running after %s (hang)", strings.Join(args, " "), timeout)
	}
	return out.String(), err
}

// Entry is one member of a crafted layer.
type Entry struct {
	Name     string
	Type     byte // tar.TypeReg, TypeDir, TypeSymlink, TypeLink, TypeChar, ...
	Mode     int64
	Body     string
	Linkname string
	Size     int64 // for TypeReg with no Body: the declared size (sparse or lying)
	Xattrs   map[string]string
	Uid, Gid int
}

// Layer builds an uncompressed tar from entries.
func Layer(t *testing.T, entries ...Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Typeflag: e.Type, Mode: e.Mode, Linkname: e.Linkname,
			Uid: e.Uid, Gid: e.Gid, ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		if len(e.Xattrs) > 0 {
			h.PAXRecords = map[string]string{}
			for k, v := range e.Xattrs {
				h.PAXRecords["SCHILY.xattr."+k] = v
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("tar header %s: %v", e.Name, err)
		}
		if e.Body != "" {
			if _, err := tw.Write([]byte(e.Body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Gzip compresses b.
func Gzip(b []byte) []byte {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return gz.Bytes()
}

// Image is a crafted image pushed to a registry.
type Image struct {
	Repo, Tag string
	Manifest  digest.Digest
	Layers    []digest.Digest
}

// Ref is the image as gpyxis-runtime takes it: docker://HOST#REPO:TAG.
func (i Image) Ref(reg harness.Registry) string {
	return "docker://" + reg.Host() + "#" + i.Repo + ":" + i.Tag
}

// PushImage pushes an image with the given uncompressed layer tars (gzipped on
// the wire) and config (nil: a minimal linux/amd64 config with the right
// diff_ids) to the anonymous registry under a random repository name, and
// returns it.
func PushImage(t *testing.T, reg harness.Registry, config map[string]any, layers ...[]byte) Image {
	t.Helper()
	rnd := make([]byte, 6)
	_, _ = rand.Read(rnd)
	img := Image{Repo: "hostile/" + hex.EncodeToString(rnd), Tag: "v1"}
	base := "http://" + reg.Host() + "/v2/" + img.Repo
	var diffIDs []string
	var descs []any
	for _, l := range layers {
		diffIDs = append(diffIDs, digest.FromBytes(l).String())
		gz := Gzip(l)
		d := PutBlob(t, base, gz)
		img.Layers = append(img.Layers, d)
		descs = append(descs, map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": len(gz)})
	}
	if config == nil {
		config = map[string]any{"architecture": "amd64", "os": "linux",
			"config": map[string]any{"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}}}
	}
	if _, ok := config["rootfs"]; !ok {
		config["rootfs"] = map[string]any{"type": "layers", "diff_ids": diffIDs}
	}
	cfg, _ := json.Marshal(config)
	cd := PutBlob(t, base, cfg)
	man, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(cfg)},
		"layers": descs})
	img.Manifest = digest.FromBytes(man)
	req, _ := http.NewRequest(http.MethodPut, base+"/manifests/"+img.Tag, bytes.NewReader(man))
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	httpDo(t, req, http.StatusCreated).Body.Close()
	return img
}

// PutBlob uploads b to the repository at base (http://HOST/v2/REPO).
func PutBlob(t *testing.T, base string, b []byte) digest.Digest {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/blobs/uploads/", nil)
	resp := httpDo(t, req, http.StatusAccepted)
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes(b)
	q := loc.Query()
	q.Set("digest", d.String())
	loc.RawQuery = q.Encode()
	req, _ = http.NewRequest(http.MethodPut, loc.String(), bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/octet-stream")
	httpDo(t, req, http.StatusCreated).Body.Close()
	return d
}

func httpDo(t *testing.T, req *http.Request, want int) *http.Response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		resp.Body.Close()
		t.Fatalf("%s %s: %s, want %d", req.Method, req.URL, resp.Status, want)
	}
	return resp
}

// Canaries are host files an attack must not read, create or change.
type Canaries struct {
	Dir   string            // a directory the attack may aim at (mode 0777 so any user could be tricked into writing there)
	files map[string]string // path -> content ("" for must-not-exist)
}

// NewCanaries makes a canary directory with a secret file and records which
// paths must stay absent; Check fails the test if any changed.
func NewCanaries(t *testing.T) *Canaries {
	t.Helper()
	d, err := os.MkdirTemp("", "gpx-canary-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chmod(d, 0o777); err != nil {
		t.Fatal(err)
	}
	c := &Canaries{Dir: d, files: map[string]string{}}
	c.Secret(t, "secret", "CANARY-SECRET-"+filepath.Base(d))
	c.Absent(filepath.Join(d, "created"))
	return c
}

// Secret writes a 0644 file with content and records it.
func (c *Canaries) Secret(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(c.Dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	c.files[p] = content
	return p
}

// Absent records a path that must not come to exist.
func (c *Canaries) Absent(p string) { c.files[p] = "" }

// Check fails the test for every canary read-modified, created or removed.
func (c *Canaries) Check(t *testing.T) {
	t.Helper()
	for p, want := range c.files {
		got, err := os.ReadFile(p)
		switch {
		case want == "" && err == nil:
			t.Errorf("canary %s was created (%d bytes)", p, len(got))
		case want != "" && err != nil:
			t.Errorf("canary %s: %v", p, err)
		case want != "" && string(got) != want:
			t.Errorf("canary %s changed: %q", p, got)
		}
	}
}

// Leaked fails the test if out contains a canary secret.
func (c *Canaries) Leaked(t *testing.T, out string) {
	t.Helper()
	for p, want := range c.files {
		if want != "" && strings.Contains(out, want) {
			t.Errorf("canary %s leaked into the output", p)
		}
	}
}
