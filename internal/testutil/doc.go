// SPDX-License-Identifier: Apache-2.0

// Package testutil holds helpers shared by the tests of several packages; nothing in
// the runtime imports it.
package testutil
