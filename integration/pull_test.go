// SPDX-License-Identifier: Apache-2.0

package integration

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/pkg/blobinfocache/none"
	"go.podman.io/image/v5/types"

	"github.com/gpyxis/gpyxis/integration/harness"
)

// client says how a test talks to a registry variant.
type client struct {
	reg      harness.Registry
	user     string // empty: anonymous
	pass     string
	certsDir string // certs.d tree for TLS; empty: none at all
}

// sys builds a SystemContext that reads nothing from the host's configuration, so
// that only what the test says (credentials, CA) is in play.
func (c client) sys(t testing.TB) *types.SystemContext {
	t.Helper()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(filepath.Join(dir, "registries.conf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &types.SystemContext{
		AuthFilePath:                filepath.Join(dir, "auth.json"),
		SystemRegistriesConfPath:    filepath.Join(dir, "registries.conf"),
		SystemRegistriesConfDirPath: empty,
		RegistriesDirPath:           empty,
		DockerPerHostCertDirPath:    empty,
		BigFilesTemporaryDir:        dir,
	}
	if !c.reg.Secure() {
		s.DockerInsecureSkipTLSVerify = types.OptionalBoolTrue // plain HTTP, loopback only
	}
	if c.certsDir != "" {
		s.DockerPerHostCertDirPath = c.certsDir
	}
	if c.user != "" {
		s.DockerAuthConfig = &types.DockerAuthConfig{Username: c.user, Password: c.pass}
	}
	return s
}

// open starts a pull of repository:ref (a tag) from the client's registry.
func (c client) open(t testing.TB, repository, ref string) (types.ImageSource, error) {
	t.Helper()
	r, err := docker.ParseReference("//" + c.reg.Host() + "/" + repository + ":" + ref)
	if err != nil {
		t.Fatalf("parse reference: %v", err)
	}
	return r.NewImageSource(context.Background(), c.sys(t))
}

// fetchManifest opens repository:tag and returns its manifest, failing the test on error.
func (c client) fetchManifest(t *testing.T, repository, tag string) (types.ImageSource, []byte, string) {
	t.Helper()
	src, err := c.open(t, repository, tag)
	if err != nil {
		t.Fatalf("open %s:%s on %s: %v", repository, tag, c.reg.Name, err)
	}
	raw, mt, err := src.GetManifest(context.Background(), nil)
	if err != nil {
		src.Close()
		t.Fatalf("get manifest %s:%s on %s: %v", repository, tag, c.reg.Name, err)
	}
	return src, raw, mt
}

// verifyPull pulls img from c and checks every digest on the way: the manifest (or
// index and each of its manifests), the config, and every layer, compressed (digest)
// and uncompressed (diff_id from the config).
func verifyPull(t *testing.T, c client, img harness.Image) {
	t.Helper()
	src, raw, mt := c.fetchManifest(t, img.Repository, img.Tag)
	defer src.Close()
	if got := digest.FromBytes(raw).String(); got != img.Digest || mt != img.MediaType {
		t.Fatalf("%s: manifest %s (%s), want %s (%s)", img.Name(), got, mt, img.Digest, img.MediaType)
	}
	if !manifest.MIMETypeIsMultiImage(mt) {
		verifyImage(t, src, raw, mt)
		return
	}
	list, err := manifest.ListFromBlob(raw, mt)
	if err != nil {
		t.Fatalf("%s: parse index: %v", img.Name(), err)
	}
	for _, d := range list.Instances() {
		child, cmt, err := src.GetManifest(context.Background(), &d)
		if err != nil {
			t.Fatalf("%s: get manifest %s: %v", img.Name(), d, err)
		}
		if got := digest.FromBytes(child); got != d {
			t.Fatalf("%s: manifest %s has digest %s", img.Name(), d, got)
		}
		verifyImage(t, src, child, cmt)
	}
}

func verifyImage(t *testing.T, src types.ImageSource, raw []byte, mt string) {
	t.Helper()
	m, err := manifest.FromBlob(raw, mt)
	if err != nil {
		t.Fatalf("parse manifest: %v", err)
	}
	cfgBlob := fetchBlob(t, src, m.ConfigInfo())
	var cfg struct {
		RootFS struct {
			DiffIDs []digest.Digest `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(cfgBlob, &cfg); err != nil {
		t.Fatalf("parse config %s: %v", m.ConfigInfo().Digest, err)
	}
	layers := m.LayerInfos()
	if len(layers) != len(cfg.RootFS.DiffIDs) {
		t.Fatalf("%d layers but %d diff_ids", len(layers), len(cfg.RootFS.DiffIDs))
	}
	for i, l := range layers {
		rc, _, err := src.GetBlob(context.Background(), l.BlobInfo, none.NoCache)
		if err != nil {
			t.Fatalf("get layer %s: %v", l.Digest, err)
		}
		compressed, uncompressed := sha256.New(), sha256.New()
		n, err := uncompress(io.TeeReader(rc, compressed), l.MediaType, uncompressed)
		rc.Close()
		if err != nil {
			t.Fatalf("read layer %s (%s): %v", l.Digest, l.MediaType, err)
		}
		if got := digest.NewDigest(digest.SHA256, compressed); got != l.Digest || n != l.Size {
			t.Fatalf("layer %s: got digest %s, %d bytes; want %d bytes", l.Digest, got, n, l.Size)
		}
		if got := digest.NewDigest(digest.SHA256, uncompressed); got != cfg.RootFS.DiffIDs[i] {
			t.Fatalf("layer %s: diff_id %s, config says %s", l.Digest, got, cfg.RootFS.DiffIDs[i])
		}
	}
}

// uncompress copies the layer from r, decompressed according to its media type, into
// w and returns how many compressed bytes it read (all of r, to finish the digest).
func uncompress(r io.Reader, mediaType string, w io.Writer) (int64, error) {
	cr := &countingReader{r: r}
	var err error
	switch {
	case strings.HasSuffix(mediaType, "gzip"):
		var z *gzip.Reader
		if z, err = gzip.NewReader(cr); err == nil {
			_, err = io.Copy(w, z)
		}
	case strings.HasSuffix(mediaType, "zstd"):
		var z *zstd.Decoder
		if z, err = zstd.NewReader(cr); err == nil {
			_, err = io.Copy(w, z)
			z.Close()
		}
	default: // uncompressed tar, or a non-layer artifact such as an in-toto statement
		_, err = io.Copy(w, cr)
	}
	if err != nil {
		return cr.n, err
	}
	_, err = io.Copy(io.Discard, cr)
	return cr.n, err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func fetchBlob(t *testing.T, src types.ImageSource, bi types.BlobInfo) []byte {
	t.Helper()
	rc, _, err := src.GetBlob(context.Background(), bi, none.NoCache)
	if err != nil {
		t.Fatalf("get blob %s: %v", bi.Digest, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read blob %s: %v", bi.Digest, err)
	}
	if got := digest.FromBytes(b); got != bi.Digest {
		t.Fatalf("blob %s has digest %s", bi.Digest, got)
	}
	return b
}

// tarFile returns the content of name inside an uncompressed or gzip layer.
func tarFile(t *testing.T, layer io.Reader, mediaType, name string) (string, error) {
	t.Helper()
	pr, pw := io.Pipe()
	go func() { _, err := uncompress(layer, mediaType, pw); pw.CloseWithError(err) }()
	defer pr.Close()
	tr := tar.NewReader(pr)
	for {
		h, err := tr.Next()
		if err != nil {
			return "", fmt.Errorf("%s not in layer: %w", name, err)
		}
		if strings.TrimPrefix(h.Name, "./") == name {
			b, err := io.ReadAll(tr)
			return string(b), err
		}
	}
}
