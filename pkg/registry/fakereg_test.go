// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// fakeRegistry is a minimal in-process distribution API server with fault
// injection: corrupt blobs, 503s, slow blobs, basic auth, request counting.
type fakeRegistry struct {
	mu        sync.Mutex
	manifests map[string]fakeManifest // "repo:tag" and "repo@digest"
	blobs     map[digest.Digest][]byte
	blobGets  map[digest.Digest]int
	fail      map[digest.Digest]int // 503s left to serve for a blob
	corrupt   map[digest.Digest]bool
	delay     time.Duration // before serving each blob body
	user      string        // basic auth when non-empty
	pass      string
	srv       *httptest.Server

	manifestHeads, manifestGets int
}

type fakeManifest struct {
	mediaType string
	body      []byte
}

// manifestRequests returns the manifest HEAD and GET requests served.
func (f *fakeRegistry) manifestRequests() (heads, gets int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.manifestHeads, f.manifestGets
}

func newFakeRegistry(t *testing.T) *fakeRegistry {
	t.Helper()
	f := &fakeRegistry{
		manifests: map[string]fakeManifest{}, blobs: map[digest.Digest][]byte{},
		blobGets: map[digest.Digest]int{}, fail: map[digest.Digest]int{}, corrupt: map[digest.Digest]bool{},
	}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeRegistry) host() string { return strings.TrimPrefix(f.srv.URL, "http://") }

func (f *fakeRegistry) ref(repo, tag string) Reference {
	return Reference{Registry: f.host(), Repository: repo, Tag: tag}
}

func (f *fakeRegistry) gets(d digest.Digest) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.blobGets[d]
}

func (f *fakeRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if f.user != "" {
		if u, p, ok := r.BasicAuth(); !ok || u != f.user || p != f.pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="fake"`)
			regError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
			return
		}
	}
	p := r.URL.Path
	switch {
	case p == "/v2/" || p == "/v2":
		w.WriteHeader(http.StatusOK)
	case strings.Contains(p, "/manifests/"):
		f.serveManifest(w, r)
	case strings.Contains(p, "/blobs/"):
		f.serveBlob(w, r)
	default:
		regError(w, http.StatusNotFound, "NOT_FOUND", "not found")
	}
}

func (f *fakeRegistry) serveManifest(w http.ResponseWriter, r *http.Request) {
	i := strings.LastIndex(r.URL.Path, "/manifests/")
	repo, ref := strings.TrimPrefix(r.URL.Path[:i], "/v2/"), r.URL.Path[i+len("/manifests/"):]
	key := repo + ":" + ref
	if strings.HasPrefix(ref, "sha256:") {
		key = repo + "@" + ref
	}
	f.mu.Lock()
	m, ok := f.manifests[key]
	if r.Method == http.MethodHead {
		f.manifestHeads++
	} else {
		f.manifestGets++
	}
	f.mu.Unlock()
	if !ok {
		regError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown")
		return
	}
	w.Header().Set("Content-Type", m.mediaType)
	w.Header().Set("Docker-Content-Digest", digest.FromBytes(m.body).String())
	if r.Method != http.MethodHead {
		w.Write(m.body)
	}
}

func (f *fakeRegistry) serveBlob(w http.ResponseWriter, r *http.Request) {
	d := digest.Digest(r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:])
	f.mu.Lock()
	b, ok := f.blobs[d]
	f.blobGets[d]++
	failing := f.fail[d] > 0
	if failing {
		f.fail[d]--
	}
	corrupt := f.corrupt[d]
	f.mu.Unlock()
	switch {
	case !ok:
		regError(w, http.StatusNotFound, "BLOB_UNKNOWN", "blob unknown")
		return
	case failing:
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	if corrupt {
		b = bytes.Clone(b)
		b[len(b)/2] ^= 0xff
	}
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(b)
}

func regError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}

// addBlob stores b and returns its descriptor.
func (f *fakeRegistry) addBlob(mediaType string, b []byte) imgspecv1.Descriptor {
	d := digest.FromBytes(b)
	f.mu.Lock()
	f.blobs[d] = b
	f.mu.Unlock()
	return imgspecv1.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

// addManifest stores a manifest under its digest and, if tag != "", the tag.
func (f *fakeRegistry) addManifest(repo, tag, mediaType string, body []byte) imgspecv1.Descriptor {
	d := digest.FromBytes(body)
	f.mu.Lock()
	f.manifests[repo+"@"+d.String()] = fakeManifest{mediaType, body}
	if tag != "" {
		f.manifests[repo+":"+tag] = fakeManifest{mediaType, body}
	}
	f.mu.Unlock()
	return imgspecv1.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(body))}
}

// testLayer is the content of one layer and how to store it.
type testLayer struct {
	files     map[string]string
	mediaType string
}

// pushImage stores an image made of layers under repo:tag (OCI or Docker
// media types for manifest and config) and returns the manifest descriptor.
func (f *fakeRegistry) pushImage(t *testing.T, repo, tag string, oci bool, plat Platform, layers ...testLayer) imgspecv1.Descriptor {
	t.Helper()
	mt, cmt := dockerManifest, dockerConfig
	if oci {
		mt, cmt = imgspecv1.MediaTypeImageManifest, imgspecv1.MediaTypeImageConfig
	}
	cfg := imgspecv1.Image{Platform: imgspecv1.Platform{OS: plat.OS, Architecture: plat.Architecture, Variant: plat.Variant}}
	cfg.Config.Env = []string{"PATH=/usr/bin:/bin", "FOO=bar"}
	cfg.Config.Cmd = []string{"/bin/sh"}
	cfg.Config.WorkingDir = "/work"
	cfg.RootFS.Type = "layers"
	m := imgspecv1.Manifest{MediaType: mt}
	m.SchemaVersion = 2
	for _, l := range layers {
		tarball := makeTar(t, l.files)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, digest.FromBytes(tarball))
		m.Layers = append(m.Layers, f.addBlob(l.mediaType, compress(t, tarball, l.mediaType)))
	}
	m.Config = f.addBlob(cmt, mustJSON(t, cfg))
	return f.addManifest(repo, tag, mt, mustJSON(t, m))
}

func makeTar(t *testing.T, files map[string]string) []byte {
	t.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(files[n]))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func compress(t *testing.T, b []byte, mediaType string) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch {
	case strings.HasSuffix(mediaType, "gzip"):
		z := gzip.NewWriter(&buf)
		z.Write(b)
		z.Close()
	case strings.HasSuffix(mediaType, "zstd"):
		z, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		z.Write(b)
		z.Close()
	default:
		return b
	}
	return buf.Bytes()
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hermetic returns options that keep a test Puller away from the host's
// configuration, plus a fresh cache directory.
func hermetic(t *testing.T, extra ...Option) []Option {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "registries.conf")
	if err := os.WriteFile(conf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	certs := filepath.Join(dir, "certs.d")
	os.Mkdir(certs, 0o755)
	opts := []Option{
		WithCacheDir(filepath.Join(dir, "cache")), WithInsecure(true), WithRegistriesConf(conf),
		WithAuthFile(filepath.Join(dir, "auth.json")), WithCertsDir(certs),
		WithCredentialsFile(filepath.Join(dir, "credentials")), WithRetries(3, 5*time.Millisecond),
		WithPlatform("linux", "amd64", ""),
	}
	return append(opts, extra...)
}

func newTestPuller(t *testing.T, opts ...Option) *Puller {
	t.Helper()
	p, err := NewPuller(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
