// SPDX-License-Identifier: Apache-2.0

// Package procfs reads the few /proc facts that name a process across time.
package procfs
