// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"

	"github.com/gpyxis/gpyxis/internal/tempname"
)

// blobTempPrefix starts the names of partial downloads in the cache's tmp/:
// blob-HEX-OWNER (internal/tempname), so that what a killed pull left can
// be told from what a live one is writing.
const blobTempPrefix = "blob-"

// createBlobTemp opens a new partial download of d in tmp, first removing
// those of this user's killed pulls.
func createBlobTemp(tmp string, d digest.Digest) (*os.File, error) {
	tempname.Collect(tmp, blobTempPrefix)
	return tempname.Create(tmp, blobTempPrefix+d.Encoded()+"-")
}

// CollectTemporaries removes the partial downloads that the caller's killed
// pulls left in the blob cache at cacheDir, and returns their names; live
// pulls' and other users' are kept.
func CollectTemporaries(cacheDir string) ([]string, error) {
	return tempname.Collect(filepath.Join(cacheDir, "tmp"), blobTempPrefix)
}
