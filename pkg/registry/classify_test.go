// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/docker/distribution/registry/api/errcode"
	v2 "github.com/docker/distribution/registry/api/v2"
	"go.podman.io/image/v5/docker"
)

func TestClassify(t *testing.T) {
	p := &Puller{opts: defaultOptions()}
	ref := Reference{Registry: "reg.example", Repository: "a/b", Tag: "v1"}
	cases := []struct {
		name string
		err  error
		kind error
	}{
		{"manifest unknown", fmt.Errorf("reading manifest: %w", v2.ErrorCodeManifestUnknown.WithMessage("manifest unknown")), ErrNotFound},
		{"unauthorized", errcode.ErrorCodeUnauthorized.WithMessage("authentication required"), ErrUnauthorized},
		{"denied", errcode.ErrorCodeDenied.WithMessage("denied"), ErrUnauthorized},
		{"bad token credentials", docker.ErrUnauthorizedForCredentials{Err: errors.New("unauthorized")}, ErrUnauthorized},
		{"429", fmt.Errorf("x: %w", docker.ErrTooManyRequests), ErrRateLimited},
		{"unknown CA", fmt.Errorf("ping: %w", x509.UnknownAuthorityError{}), ErrTLS},
		{"refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, ErrUnreachable},
		{"dns", &net.DNSError{Name: "x", IsNotFound: true}, ErrUnreachable},
	}
	for _, c := range cases {
		got := p.classify(c.err, ref, false)
		if !errors.Is(got, c.kind) || !errors.Is(got, c.err) {
			t.Errorf("%s: classify = %v, want %v wrapping the cause", c.name, got, c.kind)
		}
	}
	for _, err := range []error{context.Canceled, errors.New("something else")} {
		if got := p.classify(err, ref, false); got != err {
			t.Errorf("classify(%v) = %v, want it unchanged", err, got)
		}
	}
}

func TestRetryable(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("fetch: %w", docker.UnexpectedHTTPStatusError{StatusCode: 503}), true},
		{docker.UnexpectedHTTPStatusError{StatusCode: 400}, false},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{io.ErrUnexpectedEOF, true},
		{errcode.ErrorCodeUnavailable.WithMessage("x"), true},
		{errcode.ErrorCodeUnauthorized.WithMessage("x"), false},
		{context.Canceled, false},
		{mismatch("x", "a", "b"), false},
		{docker.ErrTooManyRequests, false}, // containers/image already retried
	}
	for _, c := range cases {
		if got := retryable(c.err); got != c.want {
			t.Errorf("retryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
