// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// hostileRegistry serves a fakeRegistry, except the GETs of one blob, which
// misbehave answers.
type hostileRegistry struct {
	reg       *fakeRegistry
	srv       *httptest.Server
	target    atomic.Value // digest.Digest
	misbehave func(w http.ResponseWriter, r *http.Request, blob []byte)
	manifests func(w http.ResponseWriter, r *http.Request) bool // true: answered
	attempts  atomic.Int32
}

func newHostileRegistry(t *testing.T, reg *fakeRegistry) *hostileRegistry {
	h := &hostileRegistry{reg: reg}
	h.target.Store(digest.Digest(""))
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/manifests/") && h.manifests != nil && h.manifests(w, r) {
			return
		}
		d := digest.Digest(r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:])
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") && d == h.target.Load() {
			h.attempts.Add(1)
			reg.mu.Lock()
			b := reg.blobs[d]
			reg.mu.Unlock()
			h.misbehave(w, r, b)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	// A handler blocked on r.Context() ends when the client gives up; Close
	// waits for it.
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hostileRegistry) ref(repo, tag string) Reference {
	return Reference{Registry: strings.TrimPrefix(h.srv.URL, "http://"), Repository: repo, Tag: tag}
}

// fastTimeouts: stall 0.2s, one retry.
func fastTimeouts(t *testing.T, extra ...Option) []Option {
	return hermetic(t, append([]Option{WithTimeouts(time.Second, 0, 200*time.Millisecond), WithRetries(1, 5*time.Millisecond)}, extra...)...)
}

func flush(w http.ResponseWriter) { w.(http.Flusher).Flush() }

func TestFetchHostileBlob(t *testing.T) {
	cases := []struct {
		name      string
		opts      []Option
		misbehave func(w http.ResponseWriter, r *http.Request, b []byte)
		is        error
		want      []string
		attempts  int32
	}{
		{name: "stall mid-body", is: ErrTimeout, attempts: 2,
			want: []string{"pulling layer sha256:", "no data for 0.2s (registry stalled), 2 attempts", "GPYXIS_STALL_TIMEOUT"},
			misbehave: func(w http.ResponseWriter, r *http.Request, b []byte) {
				w.Header().Set("Content-Length", strconv.Itoa(len(b)))
				w.Write(b[:len(b)/2])
				flush(w)
				<-r.Context().Done()
			}},
		{name: "stall before headers", is: ErrTimeout, attempts: 2, want: []string{"no data for 0.2s (registry stalled)"},
			misbehave: func(w http.ResponseWriter, r *http.Request, b []byte) { <-r.Context().Done() }},
		{name: "trickle past the transfer timeout", is: ErrTimeout, attempts: 2,
			opts: []Option{WithTimeouts(time.Second, 300*time.Millisecond, 200*time.Millisecond)},
			want: []string{"not done after 0.3s", "ENROOT_TRANSFER_TIMEOUT"},
			misbehave: func(w http.ResponseWriter, r *http.Request, b []byte) {
				w.Header().Set("Content-Length", strconv.Itoa(len(b)))
				for i := range b {
					if _, err := w.Write(b[i : i+1]); err != nil {
						return
					}
					flush(w)
					select {
					case <-r.Context().Done():
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			}},
		{name: "endless body", is: ErrDigestMismatch, attempts: 1, want: []string{"size mismatch: layer sha256:", "got more than"},
			misbehave: func(w http.ResponseWriter, r *http.Request, b []byte) {
				for {
					if _, err := w.Write(make([]byte, 32<<10)); err != nil {
						return
					}
				}
			}},
		{name: "short Content-Length", is: ErrDigestMismatch, attempts: 1, want: []string{"size mismatch", "the manifest says"},
			misbehave: func(w http.ResponseWriter, r *http.Request, b []byte) {
				w.Header().Set("Content-Length", strconv.Itoa(len(b)-10))
				w.Write(b[:len(b)-10])
			}},
		// containers/image reconnects after a truncated body, but only after
		// sleeping 1s, longer than the stall timeout here.
		{name: "long Content-Length, then closed", is: ErrTimeout, attempts: 2, want: []string{"registry stalled"},
			misbehave: func(w http.ResponseWriter, r *http.Request, b []byte) {
				w.Header().Set("Content-Length", strconv.Itoa(len(b)+100))
				w.Write(b)
			}},
		{name: "long Content-Length, then silent", is: ErrTimeout, attempts: 2, want: []string{"registry stalled"},
			misbehave: func(w http.ResponseWriter, r *http.Request, b []byte) {
				w.Header().Set("Content-Length", strconv.Itoa(len(b)+100))
				w.Write(b)
				flush(w)
				<-r.Context().Done()
			}},
		{name: "connection dropped", is: ErrTimeout, attempts: 2, want: []string{"registry stalled"},
			misbehave: func(w http.ResponseWriter, r *http.Request, b []byte) {
				conn, buf, err := w.(http.Hijacker).Hijack()
				if err != nil {
					return
				}
				fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(b))
				buf.Write(b[:len(b)/3])
				buf.Flush()
				conn.Close()
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reg := newFakeRegistry(t)
			reg.pushImage(t, "img", "v1", true, amd64, gzLayer(map[string]string{"a": strings.Repeat("x", 4000)}))
			h := newHostileRegistry(t, reg)
			h.misbehave = c.misbehave
			p := newTestPuller(t, fastTimeouts(t, c.opts...)...)
			ctx := context.Background()
			img, err := p.Resolve(ctx, h.ref("img", "v1"))
			if err != nil {
				t.Fatal(err)
			}
			h.target.Store(img.Layers[0].Digest)
			start := time.Now()
			err = p.Fetch(ctx, img)
			if err == nil {
				t.Fatal("fetch succeeded")
			}
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("took %s", el)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %q is not %v", err, c.is)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if n := h.attempts.Load(); n != c.attempts {
				t.Errorf("%d attempts, want %d", n, c.attempts)
			}
			if left := cacheFiles(t, p); len(left) != 0 {
				t.Errorf("left in the cache: %v", left)
			}
		})
	}
}

// A registry that stalls once, or drops the connection once, costs one
// retry: the blob starts again from its first byte and is committed whole.
func TestFetchRecoversAfterOneFailure(t *testing.T) {
	for name, fail := range map[string]func(w http.ResponseWriter, r *http.Request, b []byte){
		"stall": func(w http.ResponseWriter, r *http.Request, b []byte) {
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			w.Write(b[:len(b)/2])
			flush(w)
			<-r.Context().Done()
		},
		"drop": func(w http.ResponseWriter, r *http.Request, b []byte) {
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(b))
			buf.Write(b[:len(b)/2])
			buf.Flush()
			conn.Close()
		},
	} {
		t.Run(name, func(t *testing.T) {
			reg := newFakeRegistry(t)
			reg.pushImage(t, "img", "v1", true, amd64, gzLayer(map[string]string{"a": strings.Repeat("z", 4000)}))
			h := newHostileRegistry(t, reg)
			h.misbehave = func(w http.ResponseWriter, r *http.Request, b []byte) {
				if h.attempts.Load() == 1 {
					fail(w, r, b)
					return
				}
				w.Write(b) // whole, even when asked for a range: a fresh start
			}
			p := newTestPuller(t, fastTimeouts(t)...)
			ctx := context.Background()
			img, err := p.Resolve(ctx, h.ref("img", "v1"))
			if err != nil {
				t.Fatal(err)
			}
			h.target.Store(img.Layers[0].Digest)
			if err := p.Fetch(ctx, img); err != nil {
				t.Fatalf("fetch after one failure: %v", err)
			}
			rc, err := p.OpenLayer(ctx, img, 0)
			if err != nil {
				t.Fatal(err)
			}
			if files, err := readLayer(t, rc); err != nil || files["a"] != strings.Repeat("z", 4000) {
				t.Fatalf("layer after one failure: %v", err)
			}
		})
	}
}

// A registry that stalls on the manifest, or accepts connections and never
// answers, ends the Resolve too.
func TestResolveHostile(t *testing.T) {
	reg := newFakeRegistry(t)
	reg.pushImage(t, "img", "v1", true, amd64, gzLayer(map[string]string{"a": "1"}))
	h := newHostileRegistry(t, reg)
	h.manifests = func(w http.ResponseWriter, r *http.Request) bool { <-r.Context().Done(); return true }
	p := newTestPuller(t, fastTimeouts(t)...)
	start := time.Now()
	_, err := p.Resolve(context.Background(), h.ref("img", "v1"))
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "pulling manifest of img:v1 from 127.0.0.1:") || !strings.Contains(err.Error(), "registry stalled") {
		t.Errorf("stalled manifest: %v", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("stalled manifest took %s", el)
	}

	// TCP connects, the TLS handshake (tried first) never ends.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	p = newTestPuller(t, fastTimeouts(t, WithTimeouts(200*time.Millisecond, 0, 10*time.Second))...)
	start = time.Now()
	_, err = p.Resolve(context.Background(), Reference{Registry: ln.Addr().String(), Repository: "img", Tag: "v1"})
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "no connection after 0.2s, 2 attempts") || !strings.Contains(err.Error(), "ENROOT_CONNECT_TIMEOUT") {
		t.Errorf("silent listener: %v", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("silent listener took %s", el)
	}
}

func TestWithTimeoutsRefuses(t *testing.T) {
	for _, o := range []Option{WithTimeouts(-1, 0, time.Second), WithTimeouts(0, -1, time.Second), WithTimeouts(0, 0, 0)} {
		if _, err := NewPuller(hermetic(t, o)...); err == nil {
			t.Error("bad timeouts accepted")
		}
	}
}

// Messages name what is wrong: a size the manifest lies about, a layer
// broken as the registry serves it, a blob the registry lacks.
func TestContentMessages(t *testing.T) {
	ctx := context.Background()
	t.Run("size", func(t *testing.T) {
		reg := newFakeRegistry(t)
		reg.pushImage(t, "img", "v1", true, amd64, gzLayer(map[string]string{"a": "1"}))
		// The layer's size (the last one in the manifest) N becomes 1N: its
		// bytes match the digest, not the size.
		raw := string(reg.manifests["img:v1"].body)
		i := strings.LastIndex(raw, `"size":`) + len(`"size":`)
		reg.addManifest("img", "lie", reg.manifests["img:v1"].mediaType, []byte(raw[:i]+"1"+raw[i:]))
		p := newTestPuller(t, hermetic(t)...)
		img, err := p.Resolve(ctx, reg.ref("img", "lie"))
		if err != nil {
			t.Fatal(err)
		}
		err = p.Fetch(ctx, img)
		want := fmt.Sprintf("got %d bytes, the manifest says 1%d", len(reg.blobs[img.Layers[0].Digest]), len(reg.blobs[img.Layers[0].Digest]))
		if !errors.Is(err, ErrDigestMismatch) || !strings.HasPrefix(err.Error(), "size mismatch: layer sha256:") || !strings.Contains(err.Error(), want) {
			t.Errorf("size lie: %v, want %q", err, want)
		}
	})
	t.Run("truncated gzip", func(t *testing.T) {
		reg := newFakeRegistry(t)
		reg.pushImage(t, "img", "v1", true, amd64, gzLayer(map[string]string{"a": strings.Repeat("y", 5000)}))
		p := newTestPuller(t, hermetic(t)...)
		img, err := p.Resolve(ctx, reg.ref("img", "v1"))
		if err != nil {
			t.Fatal(err)
		}
		// The registry serves a cut layer under the cut layer's own digest.
		l := &img.Layers[0]
		cut := reg.blobs[l.Digest][:len(reg.blobs[l.Digest])-20]
		l.Digest, l.Size = reg.addBlob(l.MediaType, cut).Digest, int64(len(cut))
		if err := p.Fetch(ctx, img); err != nil {
			t.Fatal(err)
		}
		rc, err := p.OpenLayer(ctx, img, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = readLayer(t, rc)
		if !errors.Is(err, ErrDigestMismatch) || !strings.HasPrefix(err.Error(), "truncated or corrupt layer: layer sha256:") ||
			!strings.Contains(err.Error(), "unexpected EOF in its gzip data") || strings.Contains(err.Error(), "pull again") {
			t.Errorf("truncated gzip: %v", err)
		}
	})
	t.Run("missing blobs", func(t *testing.T) {
		reg := newFakeRegistry(t)
		reg.pushImage(t, "img", "v1", true, amd64, gzLayer(map[string]string{"a": "1"}))
		p := newTestPuller(t, hermetic(t)...)
		img, err := p.Resolve(ctx, reg.ref("img", "v1"))
		if err != nil {
			t.Fatal(err)
		}
		delete(reg.blobs, img.Layers[0].Digest)
		err = p.Fetch(ctx, img)
		if !errors.Is(err, ErrNotFound) || !strings.HasPrefix(err.Error(), "layer blob missing from the registry: layer sha256:") {
			t.Errorf("missing layer: %v", err)
		}
		delete(reg.blobs, img.ConfigDigest)
		_, err = newTestPuller(t, hermetic(t)...).Resolve(ctx, reg.ref("img", "v1"))
		if !errors.Is(err, ErrNotFound) || !strings.HasPrefix(err.Error(), "config blob missing from the registry: config sha256:") ||
			strings.Contains(err.Error(), "image not found") {
			t.Errorf("missing config: %v", err)
		}
	})
}
