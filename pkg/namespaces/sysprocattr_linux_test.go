// SPDX-License-Identifier: Apache-2.0

package namespaces

import (
	"slices"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSysProcAttr(t *testing.T) {
	base := uintptr(unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP)
	for _, tc := range []struct {
		name     string
		m        IDMap
		uid, gid int
		u        Unshare
		flags    uintptr
		inner    int
		caps     bool
	}{
		{"identity", Identity{}, 1001, 1002, Unshare{}, base, 1001, true},
		{"identity root", Identity{}, 0, 0, Unshare{}, base, 0, false},
		{"nil is identity", nil, 1001, 1002, Unshare{}, base, 1001, true},
		{"remap-root", RemapRoot{}, 1001, 1002, Unshare{}, base, 0, false},
		{"all", RemapRoot{}, 1001, 1002, Unshare{IPC: true, UTS: true, Net: true, PID: true},
			base | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWNET | unix.CLONE_NEWPID, 0, false},
		{"net only", Identity{}, 1001, 1002, Unshare{Net: true}, base | unix.CLONE_NEWNET, 1001, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := SysProcAttr(tc.m, tc.uid, tc.gid, tc.u)
			if a.Cloneflags != tc.flags {
				t.Errorf("Cloneflags = %#x, want %#x", a.Cloneflags, tc.flags)
			}
			wantU := []syscall.SysProcIDMap{{ContainerID: tc.inner, HostID: tc.uid, Size: 1}}
			if !slices.Equal(a.UidMappings, wantU) {
				t.Errorf("UidMappings = %+v, want %+v", a.UidMappings, wantU)
			}
			innerG := tc.gid
			if tc.inner == 0 {
				innerG = 0
			}
			wantG := []syscall.SysProcIDMap{{ContainerID: innerG, HostID: tc.gid, Size: 1}}
			if !slices.Equal(a.GidMappings, wantG) {
				t.Errorf("GidMappings = %+v, want %+v", a.GidMappings, wantG)
			}
			if a.GidMappingsEnableSetgroups {
				t.Error("setgroups enabled")
			}
			if got := slices.Contains(a.AmbientCaps, unix.CAP_SYS_ADMIN); got != tc.caps {
				t.Errorf("ambient CAP_SYS_ADMIN = %v, want %v", got, tc.caps)
			}
			if a.Pdeathsig != syscall.SIGKILL {
				t.Errorf("Pdeathsig = %v", a.Pdeathsig)
			}
		})
	}
}

func TestJoinOrder(t *testing.T) {
	if got := JoinOrder(Unshare{}); !slices.Equal(got, []Kind{User, Cgroup, Mount}) {
		t.Errorf("JoinOrder(shared) = %v", got)
	}
	got := JoinOrder(Unshare{IPC: true, UTS: true, Net: true, PID: true})
	if want := []Kind{User, Cgroup, Mount, IPC, UTS, Net}; !slices.Equal(got, want) {
		t.Errorf("JoinOrder(all) = %v, want %v", got, want)
	}
}
