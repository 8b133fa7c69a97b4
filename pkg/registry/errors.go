package registry

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by a Puller that falls in one of these
// classes matches it with errors.Is; the underlying library error (for example an
// x509.UnknownAuthorityError or a registry errcode.Error) stays reachable with
// errors.As.
var (
	// ErrNotFound: the repository, tag, digest or blob does not exist (HTTP 404).
	ErrNotFound = errors.New("image not found")
	// ErrUnauthorized: credentials are missing, wrong, or do not grant access.
	ErrUnauthorized = errors.New("access denied")
	// ErrTLS: the TLS handshake or certificate verification failed, or the
	// registry speaks plain HTTP to an HTTPS client.
	ErrTLS = errors.New("tls failure")
	// ErrUnreachable: the registry could not be contacted at all.
	ErrUnreachable = errors.New("registry unreachable")
	// ErrRateLimited: the registry still answered 429 after containers/image's
	// own retries.
	ErrRateLimited = errors.New("rate limited by the registry")
	// ErrDigestMismatch: content does not match its digest or size.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrUnsupported: a manifest schema, media type or layer type this package
	// cannot handle (schema 1 manifests, encrypted or foreign layers, artifacts).
	ErrUnsupported = errors.New("unsupported")
	// ErrNoPlatform: an image index has no manifest for the requested platform.
	ErrNoPlatform = errors.New("no manifest for the platform")
	// ErrCredentials: the enroot credentials file cannot be used.
	ErrCredentials = errors.New("credentials file")
)

// Error is a classified pull failure: Kind is one of the sentinel errors above,
// Ref the image (or blob) concerned, Hint what the user can do about it, and Err
// the underlying error. errors.Is(err, Kind) and errors.As on Err both work.
type Error struct {
	Kind error
	Ref  string
	Hint string
	Err  error
}

func (e *Error) Error() string {
	s := e.Kind.Error()
	if e.Ref != "" {
		s += ": " + e.Ref
	}
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap exposes both the class and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// mismatch builds an ErrDigestMismatch for what (a manifest, config or blob).
func mismatch(what, want string, got string) error {
	return &Error{Kind: ErrDigestMismatch, Ref: what, Err: fmt.Errorf("expected %s, got %s", want, got)}
}
