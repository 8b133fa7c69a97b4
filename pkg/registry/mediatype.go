// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"encoding/json"
	"strings"

	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Docker media types (OCI ones come from image-spec).
const (
	dockerManifestList  = "application/vnd.docker.distribution.manifest.list.v2+json"
	dockerManifest      = "application/vnd.docker.distribution.manifest.v2+json"
	dockerSchema1       = "application/vnd.docker.distribution.manifest.v1+json"
	dockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	dockerConfig        = "application/vnd.docker.container.image.v1+json"
	dockerLayerGzip     = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	dockerLayerTar      = "application/vnd.docker.image.rootfs.diff.tar"
)

// compression of a layer blob.
type compression int

const (
	uncompressed compression = iota
	gzipped
	zstdCompressed
)

func (c compression) String() string {
	return [...]string{uncompressed: "tar", gzipped: "gzip", zstdCompressed: "zstd"}[c]
}

func isIndex(mt string) bool { return mt == imgspecv1.MediaTypeImageIndex || mt == dockerManifestList }

func isImageManifest(mt string) bool {
	return mt == imgspecv1.MediaTypeImageManifest || mt == dockerManifest
}

// layerCompression returns how a layer of media type mt is compressed, or an
// ErrUnsupported error naming the type.
func layerCompression(mt string) (compression, error) {
	switch mt {
	case imgspecv1.MediaTypeImageLayer, dockerLayerTar,
		imgspecv1.MediaTypeImageLayerNonDistributable: //nolint:staticcheck // still served
		return uncompressed, nil
	case imgspecv1.MediaTypeImageLayerGzip, dockerLayerGzip,
		imgspecv1.MediaTypeImageLayerNonDistributableGzip: //nolint:staticcheck
		return gzipped, nil
	case imgspecv1.MediaTypeImageLayerZstd,
		imgspecv1.MediaTypeImageLayerNonDistributableZstd: //nolint:staticcheck
		return zstdCompressed, nil
	}
	hint := "not a layer type gpyxis can unpack"
	switch {
	case strings.Contains(mt, "encrypted"):
		hint = "encrypted layers are not supported"
	case strings.Contains(mt, "foreign"):
		hint = "foreign (Windows) layers are not supported"
	}
	return 0, &Error{Kind: ErrUnsupported, Ref: "layer media type " + quote(mt), Hint: hint}
}

// manifestType returns the media type of a manifest: the served one when it is
// known, else the one the document declares, else a guess from its shape.
func manifestType(served string, raw []byte) string {
	if isIndex(served) || isImageManifest(served) || served == dockerSchema1 || served == dockerSchema1Signed {
		return served
	}
	var probe struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     string            `json:"mediaType"`
		Manifests     []json.RawMessage `json:"manifests"`
		Config        json.RawMessage   `json:"config"`
	}
	if json.Unmarshal(raw, &probe) != nil {
		return served
	}
	switch {
	case probe.MediaType != "":
		return probe.MediaType
	case probe.SchemaVersion == 1:
		return dockerSchema1
	case probe.Manifests != nil:
		return imgspecv1.MediaTypeImageIndex
	case probe.Config != nil:
		return imgspecv1.MediaTypeImageManifest
	}
	return served
}

func quote(s string) string {
	if s == "" {
		return `""`
	}
	return s
}
