// SPDX-License-Identifier: Apache-2.0

package container

import (
	"github.com/gpyxis/gpyxis/pkg/mountspec"
	"github.com/gpyxis/gpyxis/pkg/rootfs"
)

// Mounts turns parsed enroot/pyxis mount entries into the rootfs package's mounts.
func Mounts(specs []mountspec.Mount) []rootfs.Mount { return rootfs.FromSpecs(specs) }
