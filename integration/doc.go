// SPDX-License-Identifier: Apache-2.0

// Package integration holds the end-to-end tests that run against the real
// registries and images of integration/infra (and, later, a real Slurm). Each test
// finds what it needs through integration/harness, which skips it naming the
// missing piece, or fails it under GPYXIS_INFRA_REQUIRED=1 (as `make test` runs).
package integration
