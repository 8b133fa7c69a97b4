// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/docker/distribution/registry/api/errcode"
	"go.podman.io/image/v5/docker"
)

// classify turns an error from containers/image into an *Error naming the problem
// and its fix. Errors it cannot place, context errors and errors that are already
// classified are returned as they are.
func (p *Puller) classify(err error, ref Reference, authed bool) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var done *Error
	if errors.As(err, &done) {
		return err
	}
	kind, hint := kindOf(err)
	if kind == nil {
		return err
	}
	switch kind {
	case ErrNotFound:
		hint = "check the name and tag"
	case ErrUnauthorized:
		hint = authHint(ref, authed)
	case ErrTLS:
		hint = tlsHint(err, ref, p.opts.certsDir)
	case ErrUnreachable:
		hint = "check the registry address, proxy settings and that it is up"
	}
	return &Error{Kind: kind, Ref: ref.String(), Hint: hint, Err: err}
}

// kindOf maps an error to its class, or nil.
func kindOf(err error) (error, string) {
	if code, ok := registryCode(err); ok {
		switch code {
		case "MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN", "NOT_FOUND":
			return ErrNotFound, ""
		case "UNAUTHORIZED", "DENIED":
			return ErrUnauthorized, ""
		case "TOOMANYREQUESTS":
			return ErrRateLimited, "use credentials or try again later"
		}
	}
	var status docker.UnexpectedHTTPStatusError
	if errors.As(err, &status) {
		switch status.StatusCode {
		case http.StatusNotFound:
			return ErrNotFound, ""
		case http.StatusUnauthorized, http.StatusForbidden:
			return ErrUnauthorized, ""
		}
	}
	var creds docker.ErrUnauthorizedForCredentials
	switch {
	case errors.As(err, &creds):
		return ErrUnauthorized, ""
	case errors.Is(err, docker.ErrTooManyRequests):
		return ErrRateLimited, "use credentials or try again later"
	case isTLS(err):
		return ErrTLS, ""
	case isUnreachable(err):
		return ErrUnreachable, ""
	}
	return nil, ""
}

// registryCode returns the distribution error code in err's chain.
func registryCode(err error) (string, bool) {
	var e errcode.Error
	if errors.As(err, &e) {
		return e.Code.String(), true
	}
	var c errcode.ErrorCode
	if errors.As(err, &c) {
		return c.String(), true
	}
	return "", false
}

func isTLS(err error) bool {
	var (
		ua  x509.UnknownAuthorityError
		hn  x509.HostnameError
		ci  x509.CertificateInvalidError
		cv  *tls.CertificateVerificationError
		rh  tls.RecordHeaderError
		alt tls.AlertError
	)
	return errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) || errors.As(err, &cv) ||
		errors.As(err, &rh) || errors.As(err, &alt) || errors.Is(err, http.ErrSchemeMismatch) ||
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

func isUnreachable(err error) bool {
	var dns *net.DNSError
	var op *net.OpError
	return errors.As(err, &dns) || (errors.As(err, &op) && op.Op == "dial") ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH)
}

// retryable reports whether a failed request may succeed if repeated: HTTP 5xx,
// connection resets, truncated bodies and timeouts. 429 is not in the list:
// containers/image already retried it (5 attempts, honouring Retry-After).
func retryable(err error) bool {
	if errors.Is(err, ErrTimeout) {
		return true
	}
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var status docker.UnexpectedHTTPStatusError
	if errors.As(err, &status) {
		return status.StatusCode >= 500
	}
	if code, ok := registryCode(err); ok {
		return code == "UNAVAILABLE"
	}
	var ne net.Error
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		(errors.As(err, &ne) && ne.Timeout())
}

func authHint(ref Reference, authed bool) string {
	if authed {
		return "the credentials for " + ref.Registry + " were rejected or do not grant access: check the user and password"
	}
	return "authentication required: add credentials for " + ref.Registry +
		" to the enroot .credentials file or to auth.json (podman/docker login)"
}

func tlsHint(err error, ref Reference, certsDir string) string {
	if errors.Is(err, http.ErrSchemeMismatch) || strings.Contains(err.Error(), "HTTP response to HTTPS client") {
		return "the registry speaks plain HTTP: mark it insecure in registries.conf or allow insecure registries"
	}
	if certsDir == "" {
		certsDir = "/etc/containers/certs.d"
	}
	return "the registry's certificate is not trusted: put its CA in " + certsDir + "/" + ref.Registry +
		"/ca.crt (--certs-dir), or set SSL_CERT_FILE/SSL_CERT_DIR"
}
