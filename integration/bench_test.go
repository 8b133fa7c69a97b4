// SPDX-License-Identifier: Apache-2.0

package integration

import (
	"context"
	"io"
	"strings"
	"testing"

	"go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/pkg/blobinfocache/none"

	"github.com/gpyxis/gpyxis/integration/harness"
)

// BenchmarkPullLayers measures what containers/image alone achieves here: every layer
// of an image fetched from the anonymous registry on loopback and decompressed, with
// b.SetBytes set to the compressed size. It is the floor any import starts from.
func BenchmarkPullLayers(b *testing.B) {
	env := harness.Require(b)
	reg := env.RequireRegistry(b, "plain")
	for _, ref := range []string{"debian:bookworm", "big:latest"} {
		b.Run(ref, func(b *testing.B) {
			repo, tag, _ := strings.Cut(ref, ":")
			img := env.RequireImage(b, repo, tag)
			src, err := client{reg: reg}.open(b, img.Repository, img.Tag)
			if err != nil {
				b.Fatal(err)
			}
			defer src.Close()
			raw, mt, err := src.GetManifest(context.Background(), nil)
			if err != nil {
				b.Fatal(err)
			}
			m, err := manifest.FromBlob(raw, mt)
			if err != nil {
				b.Fatal(err)
			}
			var total int64
			for _, l := range m.LayerInfos() {
				total += l.Size
			}
			b.SetBytes(total)
			b.ResetTimer()
			for range b.N {
				for _, l := range m.LayerInfos() {
					rc, _, err := src.GetBlob(context.Background(), l.BlobInfo, none.NoCache)
					if err != nil {
						b.Fatal(err)
					}
					_, err = uncompress(rc, l.MediaType, io.Discard)
					rc.Close()
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
