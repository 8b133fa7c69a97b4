// SPDX-License-Identifier: Apache-2.0

package namespaces

import "fmt"

// IDMap is how the single host uid and gid of the caller appear inside a new
// user namespace. It is a closed set: [Identity], [RemapRoot] or [HostRoot]
// (no user namespace).
type IDMap interface {
	// Inside returns the ID that host ID id has inside the namespace.
	Inside(id int) int
	fmt.Stringer
	isIDMap()
}

// Identity maps the caller's uid and gid to themselves ("uid uid 1"). It is
// the default: $HOME, file owners and `id` look as they do on the host.
type Identity struct{}

// Inside returns id unchanged.
func (Identity) Inside(id int) int { return id }

func (Identity) String() string { return "identity" }
func (Identity) isIDMap()       {}

// RemapRoot maps the caller's uid and gid to 0 ("0 uid 1"), as
// --container-remap-root does.
type RemapRoot struct{}

// Inside returns 0.
func (RemapRoot) Inside(int) int { return 0 }

func (RemapRoot) String() string { return "remap-root" }
func (RemapRoot) isIDMap()       {}

// HostRoot is no user namespace at all: the caller, who must be root,
// stays real root in the container (enroot's ENROOT_ALLOW_SUPERUSER). Only
// mount, cgroup and the optional namespaces are new.
type HostRoot struct{}

// Inside returns id unchanged: the host's IDs are the container's.
func (HostRoot) Inside(id int) int { return id }

func (HostRoot) String() string { return "host-root" }
func (HostRoot) isIDMap()       {}

// ParseIDMap returns the IDMap named s: "identity" (or "") or "remap-root".
func ParseIDMap(s string) (IDMap, error) {
	switch s {
	case "", "identity":
		return Identity{}, nil
	case "remap-root":
		return RemapRoot{}, nil
	case "host-root":
		return HostRoot{}, nil
	}
	return nil, fmt.Errorf("unknown id map %q (want identity, remap-root or host-root)", s)
}
