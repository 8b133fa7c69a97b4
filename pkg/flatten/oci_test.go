// SPDX-License-Identifier: Apache-2.0

package flatten

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// The few OCI layout structures the integration test reads (image-spec
// image-layout.md, manifest.md), with plain encoding/json.

type ociDescriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Annotations map[string]string `json:"annotations"`
}

type ociIndex struct {
	Manifests []ociDescriptor `json:"manifests"`
}

type ociManifest struct {
	Layers []ociDescriptor `json:"layers"`
}

func blobPath(layout, digest string) (string, error) {
	alg, hex, ok := strings.Cut(digest, ":")
	if !ok || strings.ContainsAny(hex, "/.") {
		return "", fmt.Errorf("bad digest %q", digest)
	}
	return filepath.Join(layout, "blobs", alg, hex), nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// ociLayers returns openers for the layers of the image named ref in the OCI
// layout, top layer first, as Flatten wants them.
func ociLayers(layout, ref string) ([]LayerOpener, error) {
	var idx ociIndex
	if err := readJSON(filepath.Join(layout, "index.json"), &idx); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	for _, d := range idx.Manifests {
		if d.Annotations["org.opencontainers.image.ref.name"] != ref {
			continue
		}
		p, err := blobPath(layout, d.Digest)
		if err != nil {
			return nil, err
		}
		var m ociManifest
		if err := readJSON(p, &m); err != nil {
			return nil, fmt.Errorf("manifest: %w", err)
		}
		var out []LayerOpener
		for i := len(m.Layers) - 1; i >= 0; i-- {
			lp, err := blobPath(layout, m.Layers[i].Digest)
			if err != nil {
				return nil, err
			}
			out = append(out, gzipOpener(lp))
		}
		return out, nil
	}
	return nil, fmt.Errorf("no image %q in %s", ref, layout)
}

type gzipFile struct {
	*gzip.Reader
	f *os.File
}

func (g gzipFile) Close() error {
	g.Reader.Close()
	return g.f.Close()
}

func gzipOpener(path string) LayerOpener {
	return func() (io.ReadCloser, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			f.Close()
			return nil, err
		}
		return gzipFile{zr, f}, nil
	}
}
