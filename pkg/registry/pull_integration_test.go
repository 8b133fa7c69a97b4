// SPDX-License-Identifier: Apache-2.0

package registry_test

import (
	"archive/tar"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gpyxis/gpyxis/integration/harness"
	"github.com/gpyxis/gpyxis/pkg/registry"
)

// These tests pull from the real registries of integration/infra; they skip
// when the harness is not up (and fail with GPYXIS_INFRA_REQUIRED=1).

// puller returns a Puller isolated from the host's configuration that talks to
// reg as user:pass (anonymous when user is ""), trusting certsDir.
func puller(t *testing.T, reg harness.Registry, user, pass, certsDir string, extra ...registry.Option) *registry.Puller {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "registries.conf")
	if err := os.WriteFile(conf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(dir, "credentials")
	if user != "" {
		line := fmt.Sprintf("machine %s login %s password %s\n", reg.Host(), user, pass)
		if err := os.WriteFile(creds, []byte(line), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if certsDir == "" {
		certsDir = filepath.Join(dir, "no-certs")
	}
	opts := []registry.Option{
		registry.WithCacheDir(filepath.Join(dir, "cache")), registry.WithRegistriesConf(conf),
		registry.WithAuthFile(filepath.Join(dir, "auth.json")), registry.WithCredentialsFile(creds),
		registry.WithCertsDir(certsDir), registry.WithInsecure(!reg.Secure()),
		registry.WithRetries(1, 10*time.Millisecond), registry.WithPlatform("linux", "amd64", ""),
	}
	p, err := registry.NewPuller(append(opts, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func refFor(reg harness.Registry, repo, tag string) registry.Reference {
	return registry.Reference{Registry: reg.Host(), Repository: repo, Tag: tag}
}

// pullAll resolves and fetches ref, then reads every layer to the end (which
// verifies digest and diff_id) and returns the image and the top layer's files.
func pullAll(t *testing.T, p *registry.Puller, ref registry.Reference) (*registry.Image, map[string]string) {
	t.Helper()
	ctx := context.Background()
	img, err := p.Resolve(ctx, ref)
	if err != nil {
		t.Fatalf("resolve %s: %v", ref, err)
	}
	if err := p.Fetch(ctx, img); err != nil {
		t.Fatalf("fetch %s: %v", ref, err)
	}
	var top map[string]string
	for i := range img.Layers {
		rc, err := p.OpenLayer(ctx, img, i)
		if err != nil {
			t.Fatalf("open layer %d of %s: %v", i, ref, err)
		}
		top, err = tarFiles(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read layer %d of %s: %v", i, ref, err)
		}
	}
	return img, top
}

// tarFiles returns the small regular files of a tar stream, drained to EOF.
func tarFiles(r io.Reader) (map[string]string, error) {
	files := map[string]string{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg && h.Size < 4096 {
			b, err := io.ReadAll(tr)
			if err != nil {
				return nil, err
			}
			files[strings.TrimPrefix(h.Name, "./")] = string(b)
		}
	}
	_, err := io.Copy(io.Discard, r)
	return files, err
}

func TestIntegrationPullEveryVariant(t *testing.T) {
	env := harness.Require(t)
	for _, name := range []string{"plain", "basic", "token", "tls"} {
		t.Run(name, func(t *testing.T) {
			reg := env.RequireRegistry(t, name)
			user, pass, certs := "", "", ""
			if reg.Auth != "none" {
				user, pass = reg.Username, reg.Password
			}
			if reg.Secure() {
				certs = reg.CertsDir
			}
			for _, ref := range []string{"busybox:latest", "busybox:oci", "busybox:zstd", "busybox:multiarch", "busybox:multiarch-v2", "private/busybox:latest", "debian:bookworm", "debian:multilayer"} {
				repo, tag, _ := strings.Cut(ref, ":")
				want := env.RequireImage(t, repo, tag)
				t.Run(ref, func(t *testing.T) {
					img, _ := pullAll(t, puller(t, reg, user, pass, certs), refFor(reg, repo, tag))
					top := img.Digest
					if img.IndexDigest != "" {
						top = img.IndexDigest
					}
					if top.String() != want.Digest {
						t.Fatalf("%s: digest %s, harness pushed %s", ref, top, want.Digest)
					}
				})
			}
		})
	}
}

func TestIntegrationMultiarch(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	for _, tag := range []string{"multiarch", "multiarch-v2"} {
		env.RequireImage(t, "busybox", tag)
		for _, arch := range []string{"amd64", "arm64"} {
			t.Run(tag+"/"+arch, func(t *testing.T) {
				variant := ""
				if arch == "arm64" {
					variant = "v8"
				}
				p := puller(t, reg, "", "", "", registry.WithPlatform("linux", arch, variant))
				img, top := pullAll(t, p, refFor(reg, "busybox", tag))
				if top["ARCH"] != arch+"\n" || img.Platform.Architecture != arch || img.Config.Architecture != arch {
					t.Fatalf("/ARCH = %q, platform %s, config %s; want %s", top["ARCH"], img.Platform, img.Config.Architecture, arch)
				}
				d, err := p.Digest(context.Background(), refFor(reg, "busybox", tag))
				if err != nil || d != img.Digest.String() {
					t.Fatalf("Digest = %s, %v; want %s", d, err, img.Digest)
				}
			})
		}
	}
}

func TestIntegrationWrongPassword(t *testing.T) {
	env := harness.Require(t)
	for _, name := range []string{"basic", "token", "tls"} {
		t.Run(name, func(t *testing.T) {
			reg := env.RequireRegistry(t, name)
			certs := ""
			if reg.Secure() {
				certs = reg.CertsDir
			}
			p := puller(t, reg, reg.Username, "wrong-"+reg.Password, certs)
			_, err := p.Resolve(context.Background(), refFor(reg, "busybox", "latest"))
			if !errors.Is(err, registry.ErrUnauthorized) || !strings.Contains(err.Error(), "rejected") {
				t.Fatalf("wrong password: %v, want ErrUnauthorized naming rejected credentials", err)
			}
		})
	}
}

func TestIntegrationNoCA(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "tls")
	p := puller(t, reg, reg.Username, reg.Password, "")
	_, err := p.Resolve(context.Background(), refFor(reg, "busybox", "latest"))
	var unknown x509.UnknownAuthorityError
	if !errors.Is(err, registry.ErrTLS) || !errors.As(err, &unknown) || !strings.Contains(err.Error(), "certs-dir") {
		t.Fatalf("pull without the CA: %v, want ErrTLS with x509.UnknownAuthorityError and a --certs-dir hint", err)
	}
}

func TestIntegrationAnonymousPrivateDenied(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "token")
	p := puller(t, reg, "", "", "")
	_, err := p.Resolve(context.Background(), refFor(reg, env.PrivatePrefix+"busybox", "latest"))
	if !errors.Is(err, registry.ErrUnauthorized) || !strings.Contains(err.Error(), "authentication required") {
		t.Fatalf("anonymous pull of a private repository: %v, want ErrUnauthorized", err)
	}
}

func TestIntegrationNotFound(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	p := puller(t, reg, "", "", "")
	_, err := p.Resolve(context.Background(), refFor(reg, "busybox", "no-such-tag"))
	if !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("missing tag: %v, want ErrNotFound", err)
	}
}

func TestIntegrationUnreachable(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	reg.URL = "http://127.0.0.1:1" // nothing listens there
	p := puller(t, reg, "", "", "")
	_, err := p.Resolve(context.Background(), refFor(reg, "busybox", "latest"))
	if !errors.Is(err, registry.ErrUnreachable) {
		t.Fatalf("closed port: %v, want ErrUnreachable", err)
	}
}

func TestIntegrationConfig(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	env.RequireImage(t, "pytorch-like", "latest")
	img, err := puller(t, reg, "", "", "").Resolve(context.Background(), refFor(reg, "pytorch-like", "latest"))
	if err != nil {
		t.Fatal(err)
	}
	c := img.Config.Config
	if !slices.Contains(c.Env, "PYTORCH_VERSION=2.5.0") || !slices.Equal(c.Entrypoint, []string{"/opt/nvidia/nvidia_entrypoint.sh"}) ||
		!slices.Equal(c.Cmd, []string{"/bin/bash"}) || c.WorkingDir != "/workspace" || len(c.Volumes) == 0 || len(c.Labels) == 0 {
		t.Fatalf("config %+v: want the NGC-style fields", c)
	}
	if len(img.Layers) == 0 || img.Layers[0].DiffID == "" {
		t.Fatalf("layers %+v: want diff_ids", img.Layers)
	}
}
