// SPDX-License-Identifier: Apache-2.0

//go:build !linux

package filter

// LoadBPF loads a program made by [BPF]; seccomp exists only on Linux.
func LoadBPF(prog []byte, o Options) error {
	return ErrUnavailable
}
