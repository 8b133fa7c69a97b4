// SPDX-License-Identifier: Apache-2.0

//go:build !linux || !cgo

package main

// Without cgo there is no join constructor (nsjoin_linux.go), and exec fails.
const (
	joinFDEnv  = "_GPYXIS_JOIN_FD"
	joinPIDEnv = "_GPYXIS_JOIN_PID"
	canJoin    = false
)

func joined() bool { return false }
