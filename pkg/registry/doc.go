// SPDX-License-Identifier: Apache-2.0

// Package registry resolves image references and pulls OCI and Docker images
// (manifests, indexes and verified blobs) into a content-addressed cache.
//
// # Use
//
//	p, err := registry.NewPuller(registry.WithLogger(log))  // options: see Option
//	ref, err := registry.ParseReference("docker://nvcr.io#nvidia/pytorch:24.01-py3")
//	img, err := p.Resolve(ctx, ref)   // manifest (platform chosen from an index) + config
//	err = p.Fetch(ctx, img)           // every layer blob into the cache, in parallel
//	rc, err := p.OpenLayer(ctx, img, i) // decompressed tar of layer i; read to EOF, Close
//	d, err := p.Digest(ctx, ref)      // what `enroot digest` prints
//
// Registry access goes through containers/image (go.podman.io/image/v5, docker
// transport: GetManifest and GetBlob only), which brings bearer and basic auth,
// auth.json and docker config.json, credential helpers, certs.d trees,
// registries.conf mirrors, blocked and insecure registries, and HTTP 429
// back-off. This package adds platform selection, digest verification, the
// cache, retries of 5xx and broken connections, timeouts (WithTimeouts: a
// connect timeout, a stall timer that ends a request receiving nothing, a
// deadline per attempt, so that no registry can hang a pull), enroot's
// .credentials file, and classified errors. Importing it needs no build tags with CGO_ENABLED=0
// (it uses no signature or storage code, so gpgme is not linked).
//
// # Verification
//
// Every digest is checked: the manifest against a digest in the reference,
// the platform manifest against its index entry (digest and size), the config
// blob, each layer blob as it downloads, and when a layer is read, its blob
// digest again and the diff_id of the decompressed tar. A mismatch is an
// ErrDigestMismatch; nothing unverified enters the cache.
//
// # Cache
//
//	DIR/blobs/sha256/<hex>       layer blobs as served (compressed), mode 0644
//	DIR/locks/sha256/<hex>.lock  flock(2) per blob, never removed
//	DIR/tmp/                     downloads in progress
//
// DIR defaults to $ENROOT_CACHE_PATH, else $XDG_CACHE_HOME/gpyxis, else
// ~/.cache/gpyxis. Fetch handles each blob under its lock: concurrent pulls, in
// one process or many, download a blob once. Downloads are hashed as they
// arrive into a temporary file, fsynced, and renamed into place; failed or
// cancelled downloads leave nothing behind. A cached blob is re-hashed by
// Fetch before it is trusted (WithVerifyCached(false) checks only its size)
// and is re-verified while OpenLayer streams it; a corrupt entry is removed,
// so Fetch downloads it again. A missing DIR is created 0700; its
// subdirectories copy DIR's permission bits, so a group that trusts itself can
// share one DIR made 2775, but whoever can write DIR can plant files in it
// and hold its locks. Users who do not trust each other share downloads
// through a shared cache instead (WithSharedCacheDir, GPYXIS_SHARED_CACHE_DIR):
//
//	SHARED/sha256-<hex>   blobs published by the user who downloaded them
//	SHARED/.tmp-*         copies in progress
//
// A blob missing from DIR is copied from SHARED, hashed as it is copied, and
// only a verified copy is kept; anything else there is ignored and the blob
// downloaded. Locks stay in DIR, so nobody waits on another user. The rules
// are on the sharedCache type. Blobs are never removed by this package (no
// garbage collection yet).
//
// # Platforms
//
// An index entry is chosen when its OS and architecture equal the wanted ones
// and its variant is one the host can run (arm64: v8; arm v7: v7, v6, v5;
// amd64 v3: v3, v2, v1), the best first. Attestation manifests (buildkit's
// unknown/unknown entries) and non-image entries are never chosen. When
// nothing matches, ErrNoPlatform lists what the index offers.
//
// # Credentials
//
// Besides containers/image's sources (auth.json: WithAuthFile), enroot's
// netrc file is read (WithCredentialsFile, default
// $ENROOT_CONFIG_PATH/.credentials or ~/.config/enroot/.credentials):
//
//	machine nvcr.io login $oauthtoken password <API key>
//	machine 1234.dkr.ecr.us-east-1.amazonaws.com login AWS password $(aws ecr get-login-password)
//
// The entry for the registry (host:port, else host without port, else
// "default"; with docker://USER@..., only an entry with that login) overrides
// auth.json for that pull. A password starting with '$' is the rest of its
// line, run as `/bin/sh -c "echo PASSWORD"` like enroot does, so the file is
// refused unless the caller owns it and it is not group- or world-writable.
// Caveat: with a registries.conf mirror these credentials are also offered to
// the mirror.
//
// # Errors
//
// Errors match one of ErrNotFound, ErrUnauthorized, ErrTLS, ErrUnreachable,
// ErrRateLimited, ErrDigestMismatch, ErrUnsupported, ErrNoPlatform,
// ErrCredentials with errors.Is; they are *Error values whose message names
// the image and the fix, and the library's error stays reachable with
// errors.As (x509.UnknownAuthorityError, errcode.Error, ...).
//
// # Logging
//
// The package logs only through WithLogger's *slog.Logger. containers/image
// logs a few warnings through the global logrus logger; the program should
// route or silence logrus.
package registry
