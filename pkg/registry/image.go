// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Platform identifies an operating system and CPU, as in image indexes.
type Platform struct {
	OS           string
	Architecture string
	Variant      string // "" when unspecified
}

// String is OS/ARCH[/VARIANT], for example linux/arm64/v8.
func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Image describes one resolved, verified single-platform image.
type Image struct {
	Ref         Reference     // what was asked for
	Digest      digest.Digest // digest of the platform-specific manifest
	IndexDigest digest.Digest // digest of the index it was chosen from, "" if none
	MediaType   string        // media type of the manifest
	Manifest    []byte        // the manifest as served (its digest is Digest)
	Platform    Platform      // platform of the index entry, else of the config

	ConfigDigest digest.Digest
	ConfigJSON   []byte          // the config blob as served
	Config       imgspecv1.Image // the parsed config: Config.Env, Entrypoint, Cmd, ...
	Layers       []Layer         // bottom (base) first
}

// Layer is one filesystem layer of an Image.
type Layer struct {
	Digest    digest.Digest // digest of the blob as stored in the registry
	Size      int64         // size of that blob
	MediaType string
	DiffID    digest.Digest // digest of the uncompressed tar, from the config
}

// ProgressEvent reports the state of one layer during Fetch.
type ProgressEvent struct {
	Index     int           // position in Image.Layers
	Digest    digest.Digest // the layer blob
	Done      int64         // bytes downloaded so far (Total when cached)
	Total     int64         // blob size
	Cached    bool          // the blob was already in the cache; nothing is downloaded
	Completed bool          // the blob is now in the cache and verified (last event for it)
}
