// SPDX-License-Identifier: Apache-2.0

//go:build !cgo || !linux

package filter

// BPF would compile the filter; without cgo (or off Linux) libseccomp is
// unavailable and it returns [ErrUnavailable].
func BPF(o Options) ([]byte, error) {
	return nil, ErrUnavailable
}

// Load would build and load the filter; without cgo (or off Linux) it
// returns [ErrUnavailable]. [LoadBPF] still works on Linux.
func Load(o Options) error {
	return ErrUnavailable
}
