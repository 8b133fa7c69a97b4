// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

var amd64 = Platform{OS: "linux", Architecture: "amd64"}

// readLayer returns the files of a decompressed layer stream, drained to EOF.
func readLayer(t *testing.T, rc io.ReadCloser) (map[string]string, error) {
	t.Helper()
	defer rc.Close()
	files := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return files, err
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return files, err
		}
		files[h.Name] = string(b)
	}
	_, err := io.Copy(io.Discard, rc)
	return files, err
}

func TestPullFormats(t *testing.T) {
	base := map[string]string{"etc/os-release": "ID=test\n", "bin/sh": "#!fake"}
	top := map[string]string{"ARCH": "amd64\n"}
	cases := []struct {
		name   string
		oci    bool
		layers []testLayer
	}{
		{"docker-v2s2-gzip", false, []testLayer{{base, dockerLayerGzip}, {top, dockerLayerGzip}}},
		{"oci-gzip", true, []testLayer{{base, imgspecv1.MediaTypeImageLayerGzip}, {top, imgspecv1.MediaTypeImageLayerGzip}}},
		{"oci-zstd", true, []testLayer{{base, imgspecv1.MediaTypeImageLayerZstd}, {top, imgspecv1.MediaTypeImageLayerZstd}}},
		{"oci-uncompressed", true, []testLayer{{base, imgspecv1.MediaTypeImageLayer}, {top, imgspecv1.MediaTypeImageLayer}}},
		{"docker-tar-and-zstd", false, []testLayer{{base, dockerLayerTar}, {top, imgspecv1.MediaTypeImageLayerZstd}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reg := newFakeRegistry(t)
			desc := reg.pushImage(t, "test/img", "v1", c.oci, amd64, c.layers...)
			var mu sync.Mutex
			var events []ProgressEvent
			p := newTestPuller(t, hermetic(t, WithProgress(func(e ProgressEvent) {
				mu.Lock()
				events = append(events, e)
				mu.Unlock()
			}))...)
			ctx := context.Background()
			img, err := p.Resolve(ctx, reg.ref("test/img", "v1"))
			if err != nil {
				t.Fatal(err)
			}
			if img.Digest != desc.Digest || img.IndexDigest != "" || len(img.Layers) != 2 {
				t.Fatalf("image %s (index %q), %d layers; want %s, 2 layers", img.Digest, img.IndexDigest, len(img.Layers), desc.Digest)
			}
			if c := img.Config.Config; c.WorkingDir != "/work" || !slices.Equal(c.Cmd, []string{"/bin/sh"}) || !slices.Contains(c.Env, "FOO=bar") {
				t.Fatalf("config %+v", c)
			}
			if img.Platform != amd64 {
				t.Fatalf("platform %v", img.Platform)
			}
			if err := p.Fetch(ctx, img); err != nil {
				t.Fatal(err)
			}
			for i, want := range []map[string]string{base, top} {
				rc, err := p.OpenLayer(ctx, img, i)
				if err != nil {
					t.Fatal(err)
				}
				got, err := readLayer(t, rc)
				if err != nil {
					t.Fatalf("layer %d: %v", i, err)
				}
				if len(got) != len(want) || got["ARCH"] != want["ARCH"] || got["bin/sh"] != want["bin/sh"] {
					t.Fatalf("layer %d files %v, want %v", i, got, want)
				}
			}
			completed := 0
			for _, e := range events {
				if e.Completed && !e.Cached && e.Done == e.Total {
					completed++
				}
			}
			if completed != 2 {
				t.Fatalf("progress events %+v: want 2 completed downloads", events)
			}
			// A second Fetch finds everything cached and downloads nothing.
			before := reg.gets(img.Layers[0].Digest)
			if err := p.Fetch(ctx, img); err != nil || reg.gets(img.Layers[0].Digest) != before {
				t.Fatalf("second fetch: %v, %d requests", err, reg.gets(img.Layers[0].Digest)-before)
			}
		})
	}
}

// pushMultiarch stores an index with several platforms and an attestation and
// returns the descriptors by platform string.
func pushMultiarch(t *testing.T, reg *fakeRegistry, oci bool) map[string]imgspecv1.Descriptor {
	t.Helper()
	plats := []Platform{
		{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"},
		{OS: "linux", Architecture: "arm", Variant: "v7"}, {OS: "linux", Architecture: "arm", Variant: "v6"},
		{OS: "windows", Architecture: "amd64"},
	}
	out := map[string]imgspecv1.Descriptor{}
	idx := imgspecv1.Index{MediaType: dockerManifestList}
	if oci {
		idx.MediaType = imgspecv1.MediaTypeImageIndex
	}
	idx.SchemaVersion = 2
	for _, pl := range plats {
		d := reg.pushImage(t, "multi", "", oci, pl, testLayer{map[string]string{"ARCH": pl.String()}, imgspecv1.MediaTypeImageLayerGzip})
		d.Platform = &imgspecv1.Platform{OS: pl.OS, Architecture: pl.Architecture, Variant: pl.Variant}
		out[pl.String()] = d
		idx.Manifests = append(idx.Manifests, d)
	}
	att := reg.pushImage(t, "multi", "", true, Platform{OS: "unknown", Architecture: "unknown"},
		testLayer{map[string]string{"x": "y"}, imgspecv1.MediaTypeImageLayer})
	att.Platform = &imgspecv1.Platform{OS: "unknown", Architecture: "unknown"}
	att.Annotations = map[string]string{"vnd.docker.reference.type": "attestation-manifest"}
	idx.Manifests = append([]imgspecv1.Descriptor{att}, idx.Manifests...)
	reg.addManifest("multi", "latest", idx.MediaType, mustJSON(t, idx))
	return out
}

func TestIndexPlatformSelection(t *testing.T) {
	for _, oci := range []bool{true, false} {
		reg := newFakeRegistry(t)
		descs := pushMultiarch(t, reg, oci)
		cases := []struct{ os, arch, variant, want string }{
			{"linux", "amd64", "", "linux/amd64"},
			{"linux", "amd64", "v3", "linux/amd64"}, // v3 hosts run v1 images
			{"linux", "arm64", "v8", "linux/arm64/v8"},
			{"linux", "arm64", "", "linux/arm64/v8"},
			{"linux", "arm", "v7", "linux/arm/v7"},
			{"linux", "arm", "v6", "linux/arm/v6"},
			{"linux", "arm", "v8", "linux/arm/v7"}, // best variant the host can run
			{"windows", "amd64", "", "windows/amd64"},
		}
		for _, c := range cases {
			p := newTestPuller(t, hermetic(t, WithPlatform(c.os, c.arch, c.variant))...)
			ref := reg.ref("multi", "latest")
			img, err := p.Resolve(context.Background(), ref)
			if err != nil {
				t.Fatalf("%s/%s/%s: %v", c.os, c.arch, c.variant, err)
			}
			want := descs[c.want]
			if img.Digest != want.Digest || img.IndexDigest == "" || img.Platform.String() != c.want {
				t.Fatalf("%s/%s/%s: got %s (%s), want %s (%s)", c.os, c.arch, c.variant, img.Digest, img.Platform, want.Digest, c.want)
			}
			if d, err := p.Digest(context.Background(), ref); err != nil || d != want.Digest.String() {
				t.Fatalf("Digest = %s, %v; want %s", d, err, want.Digest)
			}
		}
		for _, bad := range [][3]string{{"linux", "s390x", ""}, {"linux", "arm", "v5"}, {"unknown", "unknown", ""}} {
			p := newTestPuller(t, hermetic(t, WithPlatform(bad[0], bad[1], bad[2]))...)
			_, err := p.Resolve(context.Background(), reg.ref("multi", "latest"))
			if !errors.Is(err, ErrNoPlatform) {
				t.Fatalf("%v: error %v, want ErrNoPlatform", bad, err)
			}
			if _, avail, _ := strings.Cut(err.Error(), "offers"); !strings.Contains(avail, "linux/arm64/v8") || strings.Contains(avail, "unknown") {
				t.Fatalf("error %q should list the platforms, without the attestation", err)
			}
		}
	}
}

// cacheFiles lists the files under the cache's blobs and tmp directories.
func cacheFiles(t *testing.T, p *Puller) []string {
	t.Helper()
	var out []string
	for _, d := range []string{p.cache.blobs, p.cache.tmp} {
		ents, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			out = append(out, filepath.Join(d, e.Name()))
		}
	}
	return out
}

func gzLayer(files map[string]string) testLayer {
	return testLayer{files, imgspecv1.MediaTypeImageLayerGzip}
}

func TestDigestMismatchLeavesNothing(t *testing.T) {
	reg := newFakeRegistry(t)
	reg.pushImage(t, "img", "v1", true, amd64, gzLayer(map[string]string{"a": "1"}), gzLayer(map[string]string{"b": "2"}))
	p := newTestPuller(t, hermetic(t, WithJobs(1))...)
	ctx := context.Background()
	img, err := p.Resolve(ctx, reg.ref("img", "v1"))
	if err != nil {
		t.Fatal(err)
	}
	reg.corrupt[img.Layers[0].Digest] = true
	err = p.Fetch(ctx, img)
	if !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("fetch of a corrupted blob: %v, want ErrDigestMismatch", err)
	}
	for _, f := range cacheFiles(t, p) {
		if filepath.Base(f) == img.Layers[0].Digest.Encoded() || filepath.Dir(f) == p.cache.tmp {
			t.Fatalf("left in the cache: %s", f)
		}
	}
	if n := reg.gets(img.Layers[0].Digest); n != 1 {
		t.Fatalf("corrupt blob fetched %d times, want 1 (a mismatch is not retried)", n)
	}
}

func TestRetryOn503(t *testing.T) {
	reg := newFakeRegistry(t)
	reg.pushImage(t, "img", "v1", true, amd64, gzLayer(map[string]string{"a": "1"}))
	p := newTestPuller(t, hermetic(t)...)
	ctx := context.Background()
	img, err := p.Resolve(ctx, reg.ref("img", "v1"))
	if err != nil {
		t.Fatal(err)
	}
	d := img.Layers[0].Digest
	reg.fail[d] = 2
	if err := p.Fetch(ctx, img); err != nil {
		t.Fatalf("fetch after two 503s: %v", err)
	}
	if n := reg.gets(d); n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
	// More failures than retries: the error is reported.
	p2 := newTestPuller(t, hermetic(t, WithRetries(1, time.Millisecond))...)
	reg.fail[d] = 5
	if err := p2.Fetch(ctx, img); err == nil {
		t.Fatal("fetch with 5 503s and 1 retry succeeded")
	}
}

func TestNotFound(t *testing.T) {
	reg := newFakeRegistry(t)
	reg.pushImage(t, "img", "v1", true, amd64, gzLayer(map[string]string{"a": "1"}))
	p := newTestPuller(t, hermetic(t)...)
	for _, ref := range []Reference{reg.ref("img", "nope"), reg.ref("other/repo", "v1")} {
		_, err := p.Resolve(context.Background(), ref)
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "check the name and tag") {
			t.Fatalf("%s: %v, want ErrNotFound", ref, err)
		}
	}
}

func TestConcurrentFetchDownloadsOnce(t *testing.T) {
	reg := newFakeRegistry(t)
	reg.delay = 50 * time.Millisecond
	reg.pushImage(t, "img", "v1", true, amd64,
		gzLayer(map[string]string{"a": "1"}), gzLayer(map[string]string{"b": "2"}), gzLayer(map[string]string{"c": "3"}))
	opts := hermetic(t)
	p1, p2 := newTestPuller(t, opts...), newTestPuller(t, opts...)
	ctx := context.Background()
	img, err := p1.Resolve(ctx, reg.ref("img", "v1"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, p := range []*Puller{p1, p2} {
		wg.Go(func() { errs[i] = p.Fetch(ctx, img) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for _, l := range img.Layers {
		if n := reg.gets(l.Digest); n != 1 {
			t.Fatalf("layer %s downloaded %d times, want once", l.Digest, n)
		}
	}
}

func TestCorruptCacheEntryRefetched(t *testing.T) {
	reg := newFakeRegistry(t)
	reg.pushImage(t, "img", "v1", true, amd64, gzLayer(map[string]string{"a": "hello"}))
	p := newTestPuller(t, hermetic(t)...)
	ctx := context.Background()
	img, err := p.Resolve(ctx, reg.ref("img", "v1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Fetch(ctx, img); err != nil {
		t.Fatal(err)
	}
	d := img.Layers[0].Digest
	corruptFile(t, p.cache.path(d))
	if err := p.Fetch(ctx, img); err != nil {
		t.Fatal(err)
	}
	if n := reg.gets(d); n != 2 {
		t.Fatalf("%d downloads, want 2 (the corrupt entry refetched)", n)
	}
	rc, err := p.OpenLayer(ctx, img, 0)
	if err != nil {
		t.Fatal(err)
	}
	if files, err := readLayer(t, rc); err != nil || files["a"] != "hello" {
		t.Fatalf("layer after refetch: %v, %v", files, err)
	}
}

func corruptFile(t *testing.T, name string) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-5] ^= 0xff // the gzip trailer: the stream still decodes up to its CRC
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOpenLayerVerifies(t *testing.T) {
	reg := newFakeRegistry(t)
	reg.pushImage(t, "img", "v1", true, amd64, testLayer{map[string]string{"a": "hello"}, imgspecv1.MediaTypeImageLayer})
	p := newTestPuller(t, hermetic(t, WithVerifyCached(false))...)
	ctx := context.Background()
	img, err := p.Resolve(ctx, reg.ref("img", "v1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Fetch(ctx, img); err != nil {
		t.Fatal(err)
	}
	name := p.cache.path(img.Layers[0].Digest)
	b, _ := os.ReadFile(name)
	b[bytes.Index(b, []byte("hello"))] = 'j' // file content: tar.Reader does not notice
	os.WriteFile(name, b, 0o644)
	if err := p.Fetch(ctx, img); err != nil { // size matches: trusted without rehash
		t.Fatal(err)
	}
	rc, err := p.OpenLayer(ctx, img, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readLayer(t, rc); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("reading a corrupt cached layer: %v, want ErrDigestMismatch", err)
	}
	if _, err := os.Stat(name); !os.IsNotExist(err) {
		t.Fatalf("corrupt entry not removed: %v", err)
	}
}

func TestCancelRemovesTemporaries(t *testing.T) {
	reg := newFakeRegistry(t)
	reg.pushImage(t, "img", "v1", true, amd64, gzLayer(map[string]string{"a": "1"}))
	p := newTestPuller(t, hermetic(t)...)
	img, err := p.Resolve(context.Background(), reg.ref("img", "v1"))
	if err != nil {
		t.Fatal(err)
	}
	reg.delay = 5 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := p.Fetch(ctx, img); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("fetch: %v, want deadline exceeded", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatal("cancellation did not stop the download")
	}
	if files := cacheFiles(t, p); len(files) != 0 {
		t.Fatalf("left in the cache: %v", files)
	}
}

func TestUnsupported(t *testing.T) {
	reg := newFakeRegistry(t)
	reg.pushImage(t, "enc", "v1", true, amd64, testLayer{map[string]string{"a": "1"}, "application/vnd.oci.image.layer.v1.tar+gzip+encrypted"})
	reg.addManifest("old", "v1", dockerSchema1Signed, []byte(`{"schemaVersion":1,"name":"old","tag":"v1"}`))
	p := newTestPuller(t, hermetic(t)...)
	for _, c := range []struct{ repo, msg string }{{"enc", "encrypted"}, {"old", "schema 1"}} {
		_, err := p.Resolve(context.Background(), reg.ref(c.repo, "v1"))
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), c.msg) {
			t.Fatalf("%s: %v, want ErrUnsupported mentioning %q", c.repo, err, c.msg)
		}
	}
}

func TestDigestPinnedReference(t *testing.T) {
	reg := newFakeRegistry(t)
	d := reg.pushImage(t, "img", "v1", true, amd64, gzLayer(map[string]string{"a": "1"}))
	p := newTestPuller(t, hermetic(t)...)
	ref := Reference{Registry: reg.host(), Repository: "img", Digest: d.Digest.String()}
	img, err := p.Resolve(context.Background(), ref)
	if err != nil || img.Digest != d.Digest {
		t.Fatalf("resolve by digest: %v", err)
	}
	// REG#IMG:TAG@DIGEST: the digest wins, even over a tag that names
	// another image by now.
	reg.pushImage(t, "img", "v1", true, amd64, gzLayer(map[string]string{"b": "2"}))
	ref, err = ParseReference("docker://" + reg.host() + "#img:v1@" + d.Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	img, err = p.Resolve(context.Background(), ref)
	if err != nil || img.Digest != d.Digest {
		t.Fatalf("resolve by tag and digest: %v (digest %v, want %s)", err, img, d.Digest)
	}
	if ref.Tag != "v1" || ref.OutputName() != "img+v1.sqsh" {
		t.Errorf("tag and digest: tag %q, output %q", ref.Tag, ref.OutputName())
	}
}
