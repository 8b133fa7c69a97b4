// SPDX-License-Identifier: Apache-2.0

package integration

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
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/gpyxis/gpyxis/integration/harness"
)

// TestImportConcurrent runs two imports of one image at once over one empty cache:
// both succeed and, with a fixed SOURCE_DATE_EPOCH, write identical files.
func TestImportConcurrent(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	env.RequireImage(t, "debian", "bookworm")
	cache, dir := t.TempDir(), t.TempDir()
	errs := make(chan error, 2)
	for _, name := range []string{"a.sqsh", "b.sqsh"} {
		go func() {
			out, err := gpyxis(t, []string{"SOURCE_DATE_EPOCH=1"}, "import", "--quiet", "--insecure", "--cache-dir", cache,
				"-o", filepath.Join(dir, name), "docker://"+reg.Host()+"#debian:bookworm")
			if err != nil {
				err = fmt.Errorf("%s: %w\n%s", name, err, out)
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	a, _ := os.ReadFile(filepath.Join(dir, "a.sqsh"))
	b, _ := os.ReadFile(filepath.Join(dir, "b.sqsh"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("concurrent imports wrote different files (%d and %d bytes)", len(a), len(b))
	}
	noLeftovers(t, dir, "a.sqsh", "b.sqsh")
}

// TestImportKilled stops imports mid-way, politely (SIGINT, SIGTERM) and not
// (SIGKILL): no output and no temporary file is left, and the next import from the
// same cache succeeds.
func TestImportKilled(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	env.RequireImage(t, "debian", "multilayer")
	bin, err := runtimeBin()
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "ml.sqsh")
			cmd := exec.Command(bin, "import", "--quiet", "--insecure", "--cache-dir", cache, "-o", out,
				"docker://"+reg.Host()+"#debian:multilayer")
			var msg bytes.Buffer
			cmd.Stdout, cmd.Stderr = &msg, &msg
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// The 4 GiB sparse file keeps the squash phase busy for seconds: wait until all
			// blobs are cached, then signal while it squashes.
			waitForBlobs(t, cache, 7) // 7 layers; the config blob is not cached
			time.Sleep(500 * time.Millisecond)
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			if err == nil {
				t.Fatalf("import survived %v:\n%s", sig, msg.String())
			}
			if sig != syscall.SIGKILL && !strings.Contains(msg.String(), "interrupted") {
				t.Errorf("after %v: output %q, want it to say the import was interrupted", sig, msg.String())
			}
			noLeftovers(t, dir)
		})
	}
	importImage(t, reg, cache, t.TempDir(), "debian", "multilayer")
}

// waitForBlobs waits until the cache holds n blobs (config and layers).
func waitForBlobs(t *testing.T, cache string, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		blobs, _ := filepath.Glob(filepath.Join(cache, "blobs", "sha256", "*"))
		if len(blobs) >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the cache never held %d blobs", n)
}

// TestImportNoSpace imports into a full filesystem: a clear error and nothing left.
func TestImportNoSpace(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	env.RequireImage(t, "debian", "bookworm")
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	run(t, "mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir)
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	msg, err := gpyxis(t, nil, "import", "--quiet", "--insecure", "--cache-dir", t.TempDir(), "-o", filepath.Join(dir, "d.sqsh"),
		"docker://"+reg.Host()+"#debian:bookworm")
	if err == nil || !strings.Contains(msg, "no space left on device") {
		t.Fatalf("import into a 4 MiB filesystem: %v, %q; want no space left on device", err, msg)
	}
	noLeftovers(t, dir)
}

// TestImportCorruptBlob serves a layer whose bytes no longer match its digest (the
// registry's storage is altered on disk): the import fails naming the mismatch, and
// neither the output nor the bad blob is kept.
func TestImportCorruptBlob(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	if os.Geteuid() != 0 {
		t.Skip("needs root to alter the registry's storage")
	}
	repo, layer := pushRandomImage(t, reg)
	data := filepath.Join(env.Dir, "registry", "docker", "registry", "v2", "blobs", "sha256", layer.Encoded()[:2], layer.Encoded(), "data")
	b, err := os.ReadFile(data)
	if err != nil {
		t.Fatalf("find the layer in the registry storage: %v", err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(data, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cache, dir := t.TempDir(), t.TempDir()
	msg, err := gpyxis(t, nil, "import", "--quiet", "--insecure", "--cache-dir", cache, "-o", filepath.Join(dir, "c.sqsh"),
		"docker://"+reg.Host()+"#"+repo)
	if err == nil || !strings.Contains(msg, "digest mismatch") {
		t.Fatalf("import of a corrupt blob: %v, %q; want digest mismatch", err, msg)
	}
	noLeftovers(t, dir)
	if _, err := os.Stat(filepath.Join(cache, "blobs", "sha256", layer.Encoded())); err == nil {
		t.Fatal("the corrupt blob was kept in the cache")
	}
}

// pushRandomImage pushes a one-layer image with random content (so no other image
// shares its layer) and returns its repository:tag and the layer digest.
func pushRandomImage(t *testing.T, reg harness.Registry) (string, digest.Digest) {
	t.Helper()
	rnd := make([]byte, 64<<10)
	if _, err := rand.Read(rnd); err != nil {
		t.Fatal(err)
	}
	var tarBuf, gz bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	_ = tw.WriteHeader(&tar.Header{Name: "random", Mode: 0o644, Size: int64(len(rnd)), Typeflag: tar.TypeReg})
	_, _ = tw.Write(rnd)
	_ = tw.Close()
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(tarBuf.Bytes())
	_ = zw.Close()
	cfg, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{digest.FromBytes(tarBuf.Bytes()).String()}}})
	repo := "corrupt/" + hex.EncodeToString(rnd[:6])
	base := "http://" + reg.Host() + "/v2/" + repo
	layer, config := putBlob(t, base, gz.Bytes()), putBlob(t, base, cfg)
	man, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": len(cfg)},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": gz.Len()}}})
	req, _ := http.NewRequest(http.MethodPut, base+"/manifests/v1", bytes.NewReader(man))
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	httpDo(t, req, http.StatusCreated)
	return repo + ":v1", layer
}

func putBlob(t *testing.T, base string, b []byte) digest.Digest {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/blobs/uploads/", nil)
	resp := httpDo(t, req, http.StatusAccepted)
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
	httpDo(t, req, http.StatusCreated)
	return d
}

func httpDo(t *testing.T, req *http.Request, want int) *http.Response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %s, want %d", req.Method, req.URL, resp.Status, want)
	}
	return resp
}
