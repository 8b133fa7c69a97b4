// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// Option configures a Puller. Each option documents its default.
type Option func(*options) error

type options struct {
	cacheDir        string
	platform        Platform
	jobs            int
	retries         int
	backoff         time.Duration
	insecure        bool
	authFile        string
	certsDir        string
	credsFile       string
	registriesConf  string
	verifyCached    bool
	connectTimeout  time.Duration
	transferTimeout time.Duration
	stallTimeout    time.Duration
	log             *slog.Logger
	progress        func(ProgressEvent)

	sharedDir string // WithSharedCacheDir
}

func defaultOptions() *options {
	return &options{
		platform:       DefaultPlatform(),
		jobs:           4,
		retries:        3,
		backoff:        time.Second,
		authFile:       os.Getenv("REGISTRY_AUTH_FILE"),
		verifyCached:   true,
		connectTimeout: defaultConnectTimeout,
		stallTimeout:   defaultStallTimeout,
		log:            slog.New(slog.DiscardHandler),
	}
}

// WithCacheDir sets the blob cache directory. Default: $ENROOT_CACHE_PATH, else
// $XDG_CACHE_HOME/gpyxis, else ~/.cache/gpyxis. See the package documentation
// for the layout and for sharing one directory between users.
func WithCacheDir(dir string) Option {
	return func(o *options) error {
		if dir == "" {
			return errors.New("empty cache directory")
		}
		o.cacheDir = dir
		return nil
	}
}

// WithPlatform sets the platform chosen from image indexes. Default:
// DefaultPlatform() (runtime.GOOS, runtime.GOARCH, and "v8" on arm64).
// An empty variant accepts any variant of os/arch, preferring the baseline.
func WithPlatform(os, arch, variant string) Option {
	return func(o *options) error {
		if os == "" || arch == "" {
			return errors.New("platform needs an os and an architecture")
		}
		o.platform = Platform{OS: os, Architecture: arch, Variant: variant}
		return nil
	}
}

// WithJobs sets how many layers Fetch downloads in parallel. Default 4
// (enroot's ENROOT_MAX_CONNECTIONS defaults to 10, containers/image to 6).
func WithJobs(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return errors.New("jobs must be at least 1")
		}
		o.jobs = n
		return nil
	}
}

// WithRetries sets how often a request that failed with HTTP 5xx, a connection
// reset, a truncated body or a timeout (WithTimeouts) is repeated, waiting backoff, then twice
// as long each time. Default 3 retries from 1s. (HTTP 429 is retried by
// containers/image itself, 5 times from 2s, honouring Retry-After.)
func WithRetries(n int, backoff time.Duration) Option {
	return func(o *options) error {
		if n < 0 || backoff < 0 {
			return errors.New("retries and backoff must not be negative")
		}
		o.retries, o.backoff = n, backoff
		return nil
	}
}

// WithTimeouts sets how long a registry request may take. connect bounds
// opening a connection, TLS handshake included (curl's --connect-timeout,
// enroot's ENROOT_CONNECT_TIMEOUT); default 30s; containers/image's own
// dialer gives up after 30s whatever is set; 0 leaves only that limit.
// transfer bounds one attempt at one download, from the request to its last
// byte (curl's --max-time, ENROOT_TRANSFER_TIMEOUT); default 0: none for
// layers, 5 minutes for manifests, configs and digests. stall ends an
// attempt that receives nothing for that long, before the response or in
// the middle of a body; default 60s; it must be positive. An attempt that
// runs out is retried (WithRetries) from the start, then fails with a
// *TimeoutError (ErrTimeout).
func WithTimeouts(connect, transfer, stall time.Duration) Option {
	return func(o *options) error {
		if connect < 0 || transfer < 0 {
			return errors.New("connect and transfer timeouts must not be negative")
		}
		if stall <= 0 {
			return errors.New("the stall timeout must be positive")
		}
		o.connectTimeout, o.transferTimeout, o.stallTimeout = connect, transfer, stall
		return nil
	}
}

// WithInsecure allows plain HTTP and unverified TLS for every registry. Default
// false: only registries marked insecure in registries.conf may use them.
func WithInsecure(insecure bool) Option {
	return func(o *options) error { o.insecure = insecure; return nil }
}

// WithAuthFile sets the containers auth.json to read. Default:
// $REGISTRY_AUTH_FILE, else containers/image's lookup
// ($XDG_RUNTIME_DIR/containers/auth.json, $XDG_CONFIG_HOME/containers/auth.json,
// ~/.docker/config.json, ~/.dockercfg).
func WithAuthFile(path string) Option {
	return func(o *options) error { o.authFile = path; return nil }
}

// WithCertsDir sets the certs.d tree holding per-registry CAs and client
// certificates (DIR/HOST:PORT/ca.crt, *.cert, *.key). Default:
// /etc/containers/certs.d and /etc/docker/certs.d. The system pool (honouring
// SSL_CERT_FILE and SSL_CERT_DIR) is always trusted too.
func WithCertsDir(dir string) Option {
	return func(o *options) error { o.certsDir = dir; return nil }
}

// WithCredentialsFile sets the enroot netrc credentials file. Default:
// $ENROOT_CONFIG_PATH/.credentials, else $XDG_CONFIG_HOME/enroot/.credentials,
// else ~/.config/enroot/.credentials. A missing file means no credentials.
func WithCredentialsFile(path string) Option {
	return func(o *options) error { o.credsFile = path; return nil }
}

// WithRegistriesConf sets the registries.conf (mirrors, insecure and blocked
// registries) and reads drop-ins from PATH.d instead of the system ones.
// Default: /etc/containers/registries.conf and registries.conf.d/.
func WithRegistriesConf(path string) Option {
	return func(o *options) error { o.registriesConf = path; return nil }
}

// WithVerifyCached sets whether Fetch re-hashes blobs it finds in the cache.
// Default true. With false Fetch trusts an entry of the right size; OpenLayer
// still verifies digest and diff_id while streaming.
func WithVerifyCached(verify bool) Option {
	return func(o *options) error { o.verifyCached = verify; return nil }
}

// WithLogger sets the logger for progress messages. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("nil logger")
		}
		o.log = l
		return nil
	}
}

// WithProgress sets a callback receiving per-layer download progress. Calls are
// serialized, so fn needs no locking, but it must return quickly. Default: none.
func WithProgress(fn func(ProgressEvent)) Option {
	return func(o *options) error { o.progress = fn; return nil }
}

// defaultCacheDir implements WithCacheDir's default.
func defaultCacheDir() (string, error) {
	if d := os.Getenv("ENROOT_CACHE_PATH"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "gpyxis"), nil
}

// defaultCredentialsFile implements WithCredentialsFile's default.
func defaultCredentialsFile() string {
	if d := os.Getenv("ENROOT_CONFIG_PATH"); d != "" {
		return filepath.Join(d, ".credentials")
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "enroot", ".credentials")
}

// DefaultPlatform is the platform of the running program: runtime.GOOS and
// runtime.GOARCH, with variant "v8" on arm64 and "v7" on arm.
func DefaultPlatform() Platform {
	p := Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	switch p.Architecture {
	case "arm64":
		p.Variant = "v8"
	case "arm":
		p.Variant = "v7"
	}
	return p
}
