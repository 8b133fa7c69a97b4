// SPDX-License-Identifier: Apache-2.0

// Package container creates a container's root filesystem from an image and runs a
// command in it, with enroot's environment and /etc/rc semantics: the lifecycle that
// `gpyxis-runtime run` drives, on top of pkg/registry, pkg/flatten, pkg/unpack and
// pkg/rootfs.
package container
