// SPDX-License-Identifier: Apache-2.0

package integration

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/docker/distribution/registry/api/errcode"
	"go.podman.io/image/v5/docker"

	"github.com/gpyxis/gpyxis/integration/harness"
)

// allImages are the tags `make test` builds; every one must pull from every variant.
var allImages = []string{
	"busybox:latest", "busybox:oci", "busybox:zstd", "busybox:multiarch", "busybox:multiarch-v2",
	"private/busybox:latest", "debian:bookworm", "debian:multilayer", "pytorch-like:latest",
}

// clientFor returns a client that is allowed to pull img from the variant reg.
func clientFor(env *harness.Env, reg harness.Registry, img harness.Image) client {
	c := client{reg: reg}
	switch reg.Auth {
	case "basic":
		c.user, c.pass = reg.Username, reg.Password
	case "bearer":
		// Anonymous pulls get a token too; only private/ needs the account.
		if strings.HasPrefix(img.Repository, env.PrivatePrefix) {
			c.user, c.pass = reg.Username, reg.Password
		}
	}
	if reg.Secure() {
		c.certsDir = reg.CertsDir
	}
	return c
}

// TestPullEveryImageFromEveryRegistry pulls the manifest(s), config and layers of every
// test image from the anonymous, basic, bearer and TLS registries and checks each digest.
func TestPullEveryImageFromEveryRegistry(t *testing.T) {
	env := harness.Require(t)
	for _, name := range []string{"plain", "basic", "token", "tls"} {
		t.Run(name, func(t *testing.T) {
			reg := env.RequireRegistry(t, name)
			for _, ref := range allImages {
				repo, tag, _ := strings.Cut(ref, ":")
				img := env.RequireImage(t, repo, tag)
				t.Run(ref, func(t *testing.T) { verifyPull(t, clientFor(env, reg, img), img) })
			}
		})
	}
}

func TestBasicAuthWrongPassword(t *testing.T) {
	env := harness.Require(t)
	for _, name := range []string{"basic", "tls"} {
		t.Run(name, func(t *testing.T) {
			reg := env.RequireRegistry(t, name)
			c := client{reg: reg, user: reg.Username, pass: "wrong-" + reg.Password}
			if reg.Secure() {
				c.certsDir = reg.CertsDir
			}
			err := manifestErr(t, c, "busybox", "latest")
			if code := errorCode(err); code != errcode.ErrorCodeUnauthorized || !strings.Contains(err.Error(), "authentication required") {
				t.Fatalf("pull with a wrong password: error %v (code %v), want UNAUTHORIZED authentication required", err, code)
			}
		})
	}
}

func TestBearerWrongPassword(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "token")
	err := manifestErr(t, client{reg: reg, user: reg.Username, pass: "wrong"}, "busybox", "latest")
	var unauth docker.ErrUnauthorizedForCredentials
	if !errors.As(err, &unauth) {
		t.Fatalf("pull with a wrong password from the token server: error %v, want ErrUnauthorizedForCredentials", err)
	}
}

func TestBearerAnonymousPrivateDenied(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "token")
	err := manifestErr(t, client{reg: reg}, env.PrivatePrefix+"busybox", "latest")
	if code := errorCode(err); code != errcode.ErrorCodeDenied {
		t.Fatalf("anonymous pull of a private repository: error %v (code %v), want DENIED", err, code)
	}
}

func TestTLSWithoutCA(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "tls")
	err := manifestErr(t, client{reg: reg, user: reg.Username, pass: reg.Password}, "busybox", "latest")
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Fatalf("pull without the test CA: error %v, want x509: certificate signed by unknown authority", err)
	}
}

// errorCode returns the registry error code in err's chain, or ErrorCodeUnknown.
func errorCode(err error) errcode.ErrorCode {
	var e errcode.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return errcode.ErrorCodeUnknown
}

// manifestErr returns the error of fetching a manifest (nil if it worked).
func manifestErr(t *testing.T, c client, repository, tag string) error {
	t.Helper()
	src, err := c.open(t, repository, tag)
	if err != nil {
		return err
	}
	defer src.Close()
	_, _, err = src.GetManifest(context.Background(), nil)
	return err
}
