// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
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
	// ErrTimeout: the registry did not connect, went silent, or did not finish
	// a transfer in time (see WithTimeouts and TimeoutError).
	ErrTimeout = errors.New("registry timed out")
	// ErrCredentials: the enroot credentials file cannot be used.
	ErrCredentials = errors.New("credentials file")
)

// Error is a classified pull failure: Kind is one of the sentinel errors above,
// Ref the image (or blob) concerned, Hint what the user can do about it, and Err
// the underlying error. errors.Is(err, Kind) and errors.As on Err both work.
type Error struct {
	Kind error
	// Summary, when set, opens the message instead of Kind's text, where
	// the class alone would mislead ("size mismatch" is an ErrDigestMismatch).
	Summary string
	Ref     string
	Hint    string
	Err     error
}

func (e *Error) Error() string {
	s := e.Kind.Error()
	if e.Summary != "" {
		s = e.Summary
	}
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

// contentMismatch is the ErrDigestMismatch for what, whose n bytes hash to
// got where by (the manifest, the index) says size bytes hashing to want. A
// wrong size is named as such: the digest of a short or long read tells
// nothing. capped: the read stopped at size+1 bytes, so n > size means more.
func contentMismatch(what, by string, want digest.Digest, size int64, got digest.Digest, n int64, capped bool) error {
	switch {
	case n > size && capped:
		return &Error{Kind: ErrDigestMismatch, Summary: "size mismatch", Ref: what,
			Err: fmt.Errorf("got more than %d bytes, %s says %d", size, by, size)}
	case n != size:
		return &Error{Kind: ErrDigestMismatch, Summary: "size mismatch", Ref: what,
			Err: fmt.Errorf("got %d bytes, %s says %d", n, by, size)}
	case got != want:
		return mismatch(what, want.String(), fmt.Sprintf("%s (%d bytes)", got, n))
	}
	return nil
}

// missingBlob turns the ErrNotFound of a blob that ref's manifest names
// (what: "config", "layer") into one that says so: the image was found,
// the registry lacks a part of it. Other errors are returned as they are.
func missingBlob(err error, what string, d digest.Digest, ref Reference) error {
	var e *Error
	if !errors.As(err, &e) || e.Kind != ErrNotFound {
		return err
	}
	return &Error{Kind: ErrNotFound, Summary: what + " blob missing from the registry", Ref: what + " " + d.String() + " of " + ref.String(),
		Hint: "the registry has the manifest but not the " + what + " it names: push the image again", Err: e.Err}
}
