// SPDX-License-Identifier: Apache-2.0

package container

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gpyxis/gpyxis/pkg/imagecache"
	"github.com/gpyxis/gpyxis/pkg/registry"
)

// A registry that stalls on the tag's HEAD is not asked again for the
// manifest: the step fails after one wait, not two.
func TestCachedTreeStalledRegistryWaitsOnce(t *testing.T) {
	var manifests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v2/":
			w.WriteHeader(http.StatusOK)
		case strings.Contains(r.URL.Path, "/manifests/"):
			manifests.Add(1)
			<-r.Context().Done()
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "registries.conf")
	if err := os.WriteFile(conf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := registry.NewPuller(registry.WithCacheDir(filepath.Join(dir, "blobs")), registry.WithInsecure(true),
		registry.WithRegistriesConf(conf), registry.WithAuthFile(filepath.Join(dir, "auth.json")),
		registry.WithCredentialsFile(filepath.Join(dir, "credentials")), registry.WithCertsDir(dir),
		registry.WithRetries(0, 0), registry.WithTimeouts(time.Second, 0, 200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := registry.ParseReference("docker://" + strings.TrimPrefix(srv.URL, "http://") + "#img:v1")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = CachedTree(context.Background(), &imagecache.Cache{Dir: filepath.Join(dir, "trees")}, p,
		TreeSource{Ref: ref, Name: ref.String()}, slog.New(slog.DiscardHandler))
	if !errors.Is(err, registry.ErrTimeout) || !strings.Contains(err.Error(), "registry stalled") {
		t.Fatalf("CachedTree on a stalled registry: %v, want ErrTimeout", err)
	}
	if n := manifests.Load(); n != 1 {
		t.Fatalf("%d manifest requests, want 1 (the HEAD)", n)
	}
}
