// SPDX-License-Identifier: Apache-2.0

//go:build !linux

package nodecheck

import "runtime"

// Run probes the node; the runtime needs Linux, so elsewhere it says only that.
func Run(Options) []Result {
	return []Result{{
		Name: "kernel", Status: Missing, Required: true,
		Detail: "this is " + runtime.GOOS + ", not Linux",
		Fix:    "run gpyxis on Linux 5.12 or later",
	}}
}
