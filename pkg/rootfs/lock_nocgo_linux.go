// SPDX-License-Identifier: Apache-2.0

//go:build !cgo

package rootfs

import "errors"

// canLockMounts is false without cgo: the namespace switch must run in a C
// constructor (lock_cgo_linux.go), and the container's mounts stay unlocked.
const canLockMounts = false

func lockedErr() error { return errors.New("lock mounts: built without cgo") }
