// SPDX-License-Identifier: Apache-2.0

// Package hostile holds the attack suite: crafted images pushed to the harness
// registry, misbehaving registries on loopback, a second unprivileged user
// (tester2) going after another user's directories and shared caches, and
// kill -9 at random points. Every case asserts that host canaries are
// unchanged and that the error names the problem.
//
// Shared helpers live in helpers_test.go; each attack class has its own
// file (CLASS_test.go).
package hostile
