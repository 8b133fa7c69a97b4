// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/pkg/blobinfocache/none"
	"go.podman.io/image/v5/types"
)

// maxConfigSize bounds the config blob read into memory.
const maxConfigSize = 64 << 20

// session is one open connection to an image's repository.
type session struct {
	p      *Puller
	src    types.ImageSource
	ref    Reference
	authed bool
}

func (p *Puller) open(ctx context.Context, ref Reference) (*session, error) {
	src, _, authed, err := p.source(ctx, ref)
	if err != nil {
		return nil, err
	}
	return &session{p: p, src: src, ref: ref, authed: authed}, nil
}

func (s *session) Close() error { return s.src.Close() }

// Resolve fetches and verifies the manifest (choosing the platform from an
// index) and the config of ref, and returns the image description. It
// downloads no layers.
func (p *Puller) Resolve(ctx context.Context, ref Reference) (*Image, error) {
	s, err := p.open(ctx, ref)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	img, err := s.platformManifest(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.parseManifest(ctx, img); err != nil {
		return nil, err
	}
	p.opts.log.Debug("resolved image", "ref", ref.String(), "digest", img.Digest, "platform", img.Platform.String(), "layers", len(img.Layers))
	return img, nil
}

// Digest returns the digest of ref's manifest for the Puller's platform (the
// platform-specific manifest when ref names an index), as `enroot digest` does.
func (p *Puller) Digest(ctx context.Context, ref Reference) (string, error) {
	s, err := p.open(ctx, ref)
	if err != nil {
		return "", err
	}
	defer s.Close()
	img, err := s.platformManifest(ctx)
	if err != nil {
		return "", err
	}
	return img.Digest.String(), nil
}

// HeadDigest asks the registry for the digest of what ref names (an index
// or a manifest) with one HEAD request, after the usual ping and token
// exchange; it downloads nothing. A digest-pinned ref costs no request.
// It is the cheap check of whether a tag still names what a cache holds:
// the digest is that of the index for a multi-platform tag, not Resolve's
// platform manifest digest (Image.IndexDigest, else Image.Digest).
func (p *Puller) HeadDigest(ctx context.Context, ref Reference) (digest.Digest, error) {
	if ref.Digest != "" {
		return digest.Parse(ref.Digest)
	}
	sys, authed, err := p.systemContext(ctx, ref)
	if err != nil {
		return "", err
	}
	dref, err := ref.imageReference()
	if err != nil {
		return "", err
	}
	var d digest.Digest
	err = p.retryTransfer(ctx, "digest of "+imageName(ref), ref, p.metadataDeadline(), func(t *transfer) (err error) {
		d, err = docker.GetDigest(t.ctx, sys, dref)
		return err
	})
	if err != nil {
		return "", p.classify(fmt.Errorf("head manifest: %w", err), ref, authed)
	}
	return d, nil
}

// Platform returns the platform the Puller chooses from indexes.
func (p *Puller) Platform() Platform { return p.opts.platform }

// platformManifest fetches ref's manifest, and through an index the one for
// the platform, verifying digests. It fills the manifest fields of an Image.
func (s *session) platformManifest(ctx context.Context) (*Image, error) {
	raw, mt, err := s.manifest(ctx, nil)
	if err != nil {
		return nil, err
	}
	top := digest.FromBytes(raw)
	if s.ref.Digest != "" && top.String() != s.ref.Digest {
		return nil, mismatch("manifest of "+s.ref.String(), s.ref.Digest, top.String())
	}
	img := &Image{Ref: s.ref, Digest: top, MediaType: mt, Manifest: raw}
	if !isIndex(mt) {
		return img, nil
	}
	var idx imgspecv1.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("parse index of %s: %w", s.ref, err)
	}
	d, err := choosePlatform(&idx, s.p.opts.platform, s.ref.String())
	if err != nil {
		return nil, err
	}
	if err := d.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("index of %s: %w", s.ref, err)
	}
	if img.Manifest, img.MediaType, err = s.manifest(ctx, &d.Digest); err != nil {
		return nil, err
	}
	if err := contentMismatch("manifest "+d.Digest.String()+" of "+s.ref.String(), "the index", d.Digest, d.Size,
		digest.FromBytes(img.Manifest), int64(len(img.Manifest)), false); err != nil {
		return nil, err
	}
	img.IndexDigest, img.Digest, img.Platform = top, d.Digest, descPlatform(d)
	return img, nil
}

// manifest fetches the manifest of the reference, or instance, with retries,
// and rejects schema 1.
func (s *session) manifest(ctx context.Context, instance *digest.Digest) ([]byte, string, error) {
	var raw []byte
	var mt string
	err := s.p.retryTransfer(ctx, "manifest of "+imageName(s.ref), s.ref, s.p.metadataDeadline(), func(t *transfer) (err error) {
		raw, mt, err = s.src.GetManifest(t.ctx, instance)
		return err
	})
	if err != nil {
		return nil, "", s.p.classify(fmt.Errorf("fetch manifest: %w", err), s.ref, s.authed)
	}
	mt = manifestType(mt, raw)
	switch {
	case mt == dockerSchema1 || mt == dockerSchema1Signed:
		return nil, "", &Error{Kind: ErrUnsupported, Ref: s.ref.String(),
			Hint: "Docker schema 1 manifests are not supported: push the image again with a current docker, podman or buildah"}
	case !isIndex(mt) && !isImageManifest(mt):
		return nil, "", &Error{Kind: ErrUnsupported, Ref: s.ref.String(), Hint: "manifest media type " + quote(mt) + " is not an image"}
	}
	return raw, mt, nil
}

// parseManifest reads the image manifest in img, fetches and verifies the
// config, and fills the config and layer fields.
func (s *session) parseManifest(ctx context.Context, img *Image) error {
	m, err := configDescriptor(img, s.ref)
	if err != nil {
		return err
	}
	cfg, err := s.blob(ctx, m.Config)
	if err != nil {
		return err
	}
	if err := fillImage(img, m, cfg, s.ref); err != nil {
		return err
	}
	if msg := platformMismatch(img.Config, s.p.opts.platform); msg != "" {
		s.p.opts.log.Warn("image architecture does not match", "ref", s.ref.String(), "detail", msg)
	}
	return nil
}

// configDescriptor parses img's manifest and checks its config is an
// image's.
func configDescriptor(img *Image, ref Reference) (*imgspecv1.Manifest, error) {
	var m imgspecv1.Manifest
	if err := json.Unmarshal(img.Manifest, &m); err != nil {
		return nil, fmt.Errorf("parse manifest of %s: %w", ref, err)
	}
	if m.Config.MediaType != imgspecv1.MediaTypeImageConfig && m.Config.MediaType != dockerConfig {
		return nil, &Error{Kind: ErrUnsupported, Ref: ref.String(), Hint: "config media type " + quote(m.Config.MediaType) + " is not an image (an artifact?)"}
	}
	return &m, nil
}

// fillImage sets img's config (cfg, already verified against m) and layers.
func fillImage(img *Image, m *imgspecv1.Manifest, cfg []byte, ref Reference) error {
	img.ConfigDigest, img.ConfigJSON = m.Config.Digest, cfg
	if err := json.Unmarshal(cfg, &img.Config); err != nil {
		return fmt.Errorf("parse config of %s: %w", ref, err)
	}
	if img.Platform.OS == "" {
		img.Platform = Platform{OS: img.Config.OS, Architecture: img.Config.Architecture, Variant: img.Config.Variant}
	}
	return layers(img, m.Layers, ref)
}

// ImageFromParts rebuilds the Image that Resolve returned from what it
// fetched (Manifest, MediaType, ConfigJSON, Platform), trusting nothing:
// the Digest is computed from the manifest and the config is checked
// against the manifest's descriptor. A process that did not fetch the
// image itself (root, unpacking for a user) uses it on what the user's
// process hands over.
func ImageFromParts(ref Reference, manifest []byte, mediaType string, config []byte, platform Platform) (*Image, error) {
	if !isImageManifest(mediaType) {
		return nil, &Error{Kind: ErrUnsupported, Ref: ref.String(), Hint: "manifest media type " + quote(mediaType) + " is not an image"}
	}
	img := &Image{Ref: ref, Digest: digest.FromBytes(manifest), MediaType: mediaType, Manifest: manifest, Platform: platform}
	m, err := configDescriptor(img, ref)
	if err != nil {
		return nil, err
	}
	if err := checkDigest(m.Config.Digest); err != nil {
		return nil, fmt.Errorf("%s config: %w", ref, err)
	}
	if err := contentMismatch("config "+m.Config.Digest.String(), "the manifest", m.Config.Digest, m.Config.Size,
		digest.FromBytes(config), int64(len(config)), false); err != nil {
		return nil, err
	}
	if err := fillImage(img, m, config, ref); err != nil {
		return nil, err
	}
	return img, nil
}

// layers validates the layer descriptors and pairs them with the diff_ids.
func layers(img *Image, descs []imgspecv1.Descriptor, ref Reference) error {
	diffIDs := img.Config.RootFS.DiffIDs
	if len(diffIDs) != len(descs) {
		return &Error{Kind: ErrUnsupported, Ref: ref.String(),
			Hint: fmt.Sprintf("malformed image: %d layers but %d diff_ids in the config", len(descs), len(diffIDs))}
	}
	for i, d := range descs {
		if _, err := layerCompression(d.MediaType); err != nil {
			return fmt.Errorf("%s: %w", ref, err)
		}
		if err := checkDigest(d.Digest); err != nil {
			return fmt.Errorf("%s layer %d: %w", ref, i, err)
		}
		img.Layers = append(img.Layers, Layer{Digest: d.Digest, Size: d.Size, MediaType: d.MediaType, DiffID: diffIDs[i]})
	}
	return nil
}

// checkDigest accepts only valid sha256 digests (they name cache files).
func checkDigest(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return err
	}
	if d.Algorithm() != digest.SHA256 {
		return &Error{Kind: ErrUnsupported, Ref: d.String(), Hint: "only sha256 digests are supported"}
	}
	return nil
}

// blob reads a small blob (the config) into memory and verifies it.
func (s *session) blob(ctx context.Context, d imgspecv1.Descriptor) ([]byte, error) {
	if err := checkDigest(d.Digest); err != nil {
		return nil, fmt.Errorf("%s config: %w", s.ref, err)
	}
	if d.Size > maxConfigSize {
		return nil, &Error{Kind: ErrUnsupported, Ref: d.Digest.String(), Hint: "config blob too large"}
	}
	var b []byte
	err := s.p.retryTransfer(ctx, "config "+d.Digest.String(), s.ref, s.p.metadataDeadline(), func(t *transfer) error {
		rc, _, err := s.src.GetBlob(t.ctx, types.BlobInfo{Digest: d.Digest, Size: d.Size, MediaType: d.MediaType}, none.NoCache)
		if err != nil {
			return err
		}
		defer rc.Close()
		b, err = io.ReadAll(io.LimitReader(t.body(rc), d.Size+1))
		return err
	})
	if err != nil {
		return nil, missingBlob(s.p.classify(fmt.Errorf("fetch config: %w", err), s.ref, s.authed), "config", d.Digest, s.ref)
	}
	if err := contentMismatch("config "+d.Digest.String()+" of "+s.ref.String(), "the manifest", d.Digest, d.Size,
		digest.FromBytes(b), int64(len(b)), true); err != nil {
		return nil, err
	}
	return b, nil
}
