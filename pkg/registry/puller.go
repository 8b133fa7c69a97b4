// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.podman.io/image/v5/types"
)

// Puller resolves images and keeps their layers in a blob cache. It is safe for
// concurrent use; several Pullers (and processes) may share one cache directory.
type Puller struct {
	opts  *options
	cache *cache

	credsMu sync.Mutex
	creds   map[string]*types.DockerAuthConfig // per registry, after evaluation

	progressMu sync.Mutex
}

// NewPuller returns a Puller configured by opts, creating the cache directory
// if needed.
func NewPuller(opts ...Option) (*Puller, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, fmt.Errorf("registry option: %w", err)
		}
	}
	if o.cacheDir == "" {
		d, err := defaultCacheDir()
		if err != nil {
			return nil, fmt.Errorf("cache directory: %w", err)
		}
		o.cacheDir = d
	}
	if o.credsFile == "" {
		o.credsFile = defaultCredentialsFile()
	}
	if err := checkConfigFiles(o); err != nil {
		return nil, err
	}
	c, err := openCache(o.cacheDir)
	if err != nil {
		return nil, err
	}
	return &Puller{opts: o, cache: c, creds: map[string]*types.DockerAuthConfig{}}, nil
}

// CacheDir returns the cache directory in use.
func (p *Puller) CacheDir() string { return p.cache.root }

// systemContext builds the containers/image configuration for ref. authed tells
// whether credentials came from the enroot credentials file.
func (p *Puller) systemContext(ctx context.Context, ref Reference) (*types.SystemContext, bool, error) {
	sys := &types.SystemContext{
		AuthFilePath:             p.opts.authFile,
		DockerPerHostCertDirPath: p.opts.certsDir,
		DockerRegistryUserAgent:  "gpyxis",
		BigFilesTemporaryDir:     p.cache.tmp,
		BlobInfoCacheDir:         p.cache.tmp,
	}
	if p.opts.registriesConf != "" {
		sys.SystemRegistriesConfPath = p.opts.registriesConf
		sys.SystemRegistriesConfDirPath = p.opts.registriesConf + ".d"
	}
	if p.opts.insecure {
		sys.DockerInsecureSkipTLSVerify = types.OptionalBoolTrue
	}
	auth, err := p.credentials(ctx, ref)
	if err != nil {
		return nil, false, err
	}
	sys.DockerAuthConfig = auth
	return sys, auth != nil, nil
}

// credentials returns the enroot .credentials entry for ref, evaluated once per
// registry and user, or nil.
func (p *Puller) credentials(ctx context.Context, ref Reference) (*types.DockerAuthConfig, error) {
	key := ref.User + "@" + ref.Registry
	p.credsMu.Lock()
	defer p.credsMu.Unlock()
	if a, ok := p.creds[key]; ok {
		return a, nil
	}
	e, err := loadCredentials(p.opts.credsFile, ref.Registry, ref.User)
	if err != nil {
		return nil, err
	}
	var a *types.DockerAuthConfig
	if e != nil {
		pass, err := e.evalPassword(ctx)
		if err != nil {
			return nil, err
		}
		p.opts.log.Debug("using credentials file", "file", p.opts.credsFile, "registry", ref.Registry, "user", e.login)
		a = &types.DockerAuthConfig{Username: e.login, Password: pass}
	}
	p.creds[key] = a
	return a, nil
}

// source opens an image source for ref, retrying transient failures.
func (p *Puller) source(ctx context.Context, ref Reference) (types.ImageSource, *types.SystemContext, bool, error) {
	sys, authed, err := p.systemContext(ctx, ref)
	if err != nil {
		return nil, nil, false, err
	}
	dref, err := ref.imageReference()
	if err != nil {
		return nil, nil, false, err
	}
	var src types.ImageSource
	err = p.retryTransfer(ctx, "manifest of "+imageName(ref), ref, p.metadataDeadline(), func(t *transfer) error {
		src, err = dref.NewImageSource(t.ctx, sys)
		return err
	})
	if err != nil {
		return nil, nil, false, p.classify(err, ref, authed)
	}
	return src, sys, authed, nil
}

// retry runs fn until it succeeds, fails permanently, or the retries are spent.
func (p *Puller) retry(ctx context.Context, what string, fn func() error) error {
	delay := p.opts.backoff
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil || attempt >= p.opts.retries || !retryable(err) {
			var te *TimeoutError
			if errors.As(err, &te) {
				te.Attempts = attempt + 1
			}
			return err
		}
		p.opts.log.Warn("retrying", "what", what, "attempt", attempt+1, "in", delay, "error", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay *= 2
	}
}
