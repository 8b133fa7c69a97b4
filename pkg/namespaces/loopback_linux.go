// SPDX-License-Identifier: Apache-2.0

package namespaces

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// LoopbackUp brings up the "lo" interface of the calling thread's network
// namespace. A new network namespace starts with lo down, and enroot brings
// it up for --net (enroot-nsenter.c). The caller must be inside the new
// namespace with CAP_NET_ADMIN there.
func LoopbackUp() error {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring up lo: socket: %w", err)
	}
	defer unix.Close(s)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring up lo: get flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring up lo: set flags: %w", err)
	}
	return nil
}
