// SPDX-License-Identifier: Apache-2.0

// Package environ computes a container's environment with enroot's rules: the
// image's /etc/environment, then environ.d files, then --env, later wins; ${VAR}
// substituted from the host; ENROOT_* names dropped; login-style defaults last.
package environ
