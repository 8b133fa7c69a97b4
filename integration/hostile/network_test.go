// SPDX-License-Identifier: Apache-2.0

package hostile

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/gpyxis/gpyxis/integration/harness"
)

// netProxy is a misbehaving registry on loopback: it passes everything to
// the harness registry except the GETs of one blob, which misbehave answers
// (with the real blob in hand).
type netProxy struct {
	host string
}

func netStartProxy(t *testing.T, reg harness.Registry, blob digest.Digest, misbehave func(w http.ResponseWriter, r *http.Request, b []byte)) *netProxy {
	t.Helper()
	u, err := url.Parse(reg.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	mux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+blob.String()) {
			resp, err := http.Get(reg.URL + r.URL.Path)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			defer resp.Body.Close()
			b := make([]byte, 0, 1<<20)
			for buf := make([]byte, 32<<10); ; {
				n, err := resp.Body.Read(buf)
				b = append(b, buf[:n]...)
				if err != nil {
					break
				}
			}
			misbehave(w, r, b)
			return
		}
		rp.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &netProxy{host: ln.Addr().String()}
}

// TestHostileStalledRegistry imports through a registry that stalls, trickles
// or sends an endless layer: the import ends within seconds with a message
// naming the problem and the setting to change, and leaves no output file,
// temporary or partial blob.
func TestHostileStalledRegistry(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	rnd := make([]byte, 48<<10)
	_, _ = rand.Read(rnd)
	img := PushImage(t, reg, nil, Layer(t, Entry{Name: "random", Body: hex.EncodeToString(rnd)}))
	if _, err := publicRuntime(); err != nil { // built before the clock starts
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		env       []string
		misbehave func(w http.ResponseWriter, r *http.Request, b []byte)
		want      string
	}{
		{"stall mid-body", []string{"GPYXIS_STALL_TIMEOUT=1", "ENROOT_TRANSFER_RETRIES=1"},
			func(w http.ResponseWriter, r *http.Request, b []byte) {
				w.Header().Set("Content-Length", strconv.Itoa(len(b)))
				w.Write(b[:len(b)/2])
				w.(http.Flusher).Flush()
				<-r.Context().Done()
			}, "no data for 1s (registry stalled), 2 attempts; retry later, or raise GPYXIS_STALL_TIMEOUT"},
		{"trickle past the transfer timeout", []string{"GPYXIS_STALL_TIMEOUT=1", "ENROOT_TRANSFER_TIMEOUT=2", "ENROOT_TRANSFER_RETRIES=0"},
			func(w http.ResponseWriter, r *http.Request, b []byte) {
				w.Header().Set("Content-Length", strconv.Itoa(len(b)))
				for i := 0; i < len(b); i += 64 {
					if _, err := w.Write(b[i:min(i+64, len(b))]); err != nil {
						return
					}
					w.(http.Flusher).Flush()
					select {
					case <-r.Context().Done():
						return
					case <-time.After(100 * time.Millisecond):
					}
				}
			}, "not done after 2s; raise ENROOT_TRANSFER_TIMEOUT"},
		{"endless layer", []string{"ENROOT_TRANSFER_RETRIES=0"},
			func(w http.ResponseWriter, r *http.Request, b []byte) {
				w.Write(b)
				for {
					if _, err := w.Write(make([]byte, 32<<10)); err != nil {
						return
					}
				}
			}, "size mismatch: layer " + img.Layers[0].String()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			canaries := NewCanaries(t)
			a := Self(t)
			p := netStartProxy(t, reg, img.Layers[0], c.misbehave)
			cache, outDir := filepath.Join(a.Home, "cache"), filepath.Join(a.Home, "out")
			if err := os.Mkdir(outDir, 0o700); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			msg, err := a.Runtime(t, 30*time.Second, c.env, "import", "--insecure", "--cache-dir", cache,
				"-o", filepath.Join(outDir, "x.sqsh"), "docker://"+p.host+"#"+img.Repo+":"+img.Tag)
			if err == nil {
				t.Fatalf("import succeeded: %s", msg)
			}
			if el := time.Since(start); el > 15*time.Second {
				t.Errorf("import took %s", el)
			}
			t.Logf("import said: %s", strings.TrimSpace(msg))
			if !strings.Contains(msg, c.want) {
				t.Errorf("import said %q, want %q", msg, c.want)
			}
			if ents, _ := os.ReadDir(outDir); len(ents) != 0 {
				t.Errorf("left in the output directory: %v", ents)
			}
			if ents, _ := os.ReadDir(filepath.Join(cache, "tmp")); len(ents) != 0 {
				t.Errorf("left in the cache's tmp: %v", ents)
			}
			if _, err := os.Stat(filepath.Join(cache, "blobs", "sha256", img.Layers[0].Encoded())); err == nil {
				t.Error("the layer was kept in the cache")
			}
			canaries.Check(t)
		})
	}
}
