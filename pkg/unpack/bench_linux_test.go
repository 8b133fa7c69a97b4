// SPDX-License-Identifier: Apache-2.0

package unpack

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gpyxis/gpyxis/pkg/flatten"
)

// BenchmarkSmallFiles unpacks many small files, the common case of an image
// (headers, scripts, locale data): the per-file cost must not be a 1 MiB
// buffer allocation.
func BenchmarkSmallFiles(b *testing.B) {
	const files = 2000
	content := strings.Repeat("x", 300)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		w, err := NewWriter(b.TempDir(), nil)
		if err != nil {
			b.Fatal(err)
		}
		for j := 0; j < files; j++ {
			e := flatten.Entry{Path: fmt.Sprintf("d%d/f%d", j%20, j), Type: flatten.Reg, Mode: 0o644, Size: int64(len(content))}
			if err := w.Add(e, strings.NewReader(content)); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
