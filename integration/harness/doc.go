// SPDX-License-Identifier: Apache-2.0

// Package harness finds the registries and images that integration/infra brought
// up, and skips (or, under GPYXIS_INFRA_REQUIRED=1, fails) a test that needs a
// piece that is not there, naming the piece and the command that brings it up.
package harness
