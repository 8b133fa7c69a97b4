// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestImageFromParts rebuilds what Resolve returned from its bytes alone,
// and refuses a config that is not the manifest's or a manifest that is
// not an image's.
func TestImageFromParts(t *testing.T) {
	reg := newFakeRegistry(t)
	reg.pushImage(t, "img", "v1", true, amd64, gzLayer(map[string]string{"a": "hello"}), gzLayer(map[string]string{"b": "world"}))
	p := newTestPuller(t, hermetic(t)...)
	img, err := p.Resolve(context.Background(), reg.ref("img", "v1"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ImageFromParts(img.Ref, img.Manifest, img.MediaType, img.ConfigJSON, img.Platform)
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != img.Digest || got.ConfigDigest != img.ConfigDigest || len(got.Layers) != 2 ||
		got.Layers[1] != img.Layers[1] || got.Platform != img.Platform {
		t.Errorf("rebuilt image differs:\n got %+v\nwant %+v", got, img)
	}
	cfg := bytes.Replace(img.ConfigJSON, []byte("amd64"), []byte("arm64"), 1)
	if _, err := ImageFromParts(img.Ref, img.Manifest, img.MediaType, cfg, img.Platform); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("a config that is not the manifest's: %v, want ErrDigestMismatch", err)
	}
	if _, err := ImageFromParts(img.Ref, img.Manifest, imgspecv1.MediaTypeImageIndex, img.ConfigJSON, img.Platform); !errors.Is(err, ErrUnsupported) {
		t.Errorf("an index media type: %v, want ErrUnsupported", err)
	}
}

// TestOpenLayerFile reads a layer from a blob file opened elsewhere, twice,
// and reports a corrupt one without removing it.
func TestOpenLayerFile(t *testing.T) {
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
	f, err := p.OpenBlob(img.Layers[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := 0; i < 2; i++ {
		rc, err := OpenLayerFile(ctx, f, img.Layers[0])
		if err != nil {
			t.Fatal(err)
		}
		if files, err := readLayer(t, rc); err != nil || files["a"] != "hello" {
			t.Fatalf("read %d: %v, %v", i, files, err)
		}
	}
	name := p.cache.path(img.Layers[0].Digest)
	corruptFile(t, name)
	c, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, err := OpenLayerFile(ctx, c, img.Layers[0])
	if err == nil {
		_, err = readLayer(t, rc)
	}
	if !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("corrupt blob file: %v, want ErrDigestMismatch", err)
	}
	if _, err := os.Stat(name); err != nil {
		t.Errorf("a blob file opened by another process was removed: %v", err)
	}
}

// TestOpenLayerFileNotRegular: a pipe handed over as a blob is refused
// before anything reads from it.
func TestOpenLayerFileNotRegular(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	l := Layer{Digest: digest.Digest("sha256:" + strings.Repeat("0", 64)), Size: 10, MediaType: imgspecv1.MediaTypeImageLayerGzip}
	if _, err := OpenLayerFile(context.Background(), r, l); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a pipe as a layer file: %v, want an error", err)
	}
}

// TestHeadDigest: one HEAD request, no manifest download, and the digest
// Resolve reports for the tag (the index's for a multi-platform tag).
func TestHeadDigest(t *testing.T) {
	reg := newFakeRegistry(t)
	reg.pushImage(t, "img", "v1", true, amd64, gzLayer(map[string]string{"a": "hello"}))
	p := newTestPuller(t, hermetic(t)...)
	ctx := context.Background()
	d, err := p.HeadDigest(ctx, reg.ref("img", "v1"))
	if err != nil {
		t.Fatal(err)
	}
	if heads, gets := reg.manifestRequests(); heads != 1 || gets != 0 {
		t.Errorf("HeadDigest made %d HEAD and %d GET manifest requests, want 1 and 0", heads, gets)
	}
	img, err := p.Resolve(ctx, reg.ref("img", "v1"))
	if err != nil {
		t.Fatal(err)
	}
	want := img.Digest
	if img.IndexDigest != "" {
		want = img.IndexDigest
	}
	if d != want {
		t.Errorf("HeadDigest %s, Resolve says %s", d, want)
	}
	// A HEAD 404 has no body to classify: callers fall back to Resolve.
	if _, err := p.HeadDigest(ctx, reg.ref("img", "nope")); err == nil {
		t.Error("missing tag: no error")
	}
}
