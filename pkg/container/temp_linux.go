// SPDX-License-Identifier: Apache-2.0

package container

import (
	"errors"

	"github.com/gpyxis/gpyxis/internal/tempname"
)

// The temporaries of a data directory, named by internal/tempname after the
// process that made them: what a killed create, run or remove left is
// collected by the next one in the same directory.
const (
	createPrefix = ".create-" // .create-NAME-OWNER: a rootfs being unpacked
	runPrefix    = ".run-"    // .run-OWNER: the rootfs or overlay of one run
	removePrefix = ".remove-" // .remove-NAME-OWNER: a rootfs being deleted
	configPrefix = ".config-" // .config-NAME-OWNER: a config being saved
)

// tempLabel shortens a container name for a temporary's name, which must
// stay under NAME_MAX with the owner suffix (a name may have 200 bytes).
func tempLabel(name string) string {
	if len(name) > 64 {
		return name[:64]
	}
	return name
}

// CollectTemporaries removes what killed gpyxis processes left in the data
// directory dir (partial rootfs trees, runs' directories, half-removed
// containers) and returns their names; live processes' temporaries and
// other users' are kept.
func CollectTemporaries(dir string) ([]string, error) {
	var all []string
	var errs []error
	for _, p := range []string{createPrefix, runPrefix, removePrefix, configPrefix} {
		got, err := tempname.Collect(dir, p)
		all = append(all, got...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return all, errors.Join(errs...)
}
