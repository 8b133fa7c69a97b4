// SPDX-License-Identifier: Apache-2.0

package namespaces

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Kind names a namespace as it appears in /proc/PID/ns.
type Kind string

// The namespace kinds gpyxis deals with.
const (
	User   Kind = "user"
	Mount  Kind = "mnt"
	Cgroup Kind = "cgroup"
	IPC    Kind = "ipc"
	UTS    Kind = "uts"
	Net    Kind = "net"
	PID    Kind = "pid"
)

// JoinOrder returns the namespaces of a container started with unshare, in
// the order a joining process must enter them: user first, because a
// rootless caller gains the right to setns into the others only inside it;
// then cgroup before mnt, because joining the mount namespace changes what
// /proc shows (pyxis pyxis_slurmstepd.c; enroot-nsenter join_namespaces);
// then ipc, uts and net. PID is left out: entering a PID namespace affects
// only children, which the joiner must fork itself.
func JoinOrder(unshare Unshare) []Kind {
	k := []Kind{User, Cgroup, Mount}
	if unshare.IPC {
		k = append(k, IPC)
	}
	if unshare.UTS {
		k = append(k, UTS)
	}
	if unshare.Net {
		k = append(k, Net)
	}
	return k
}

// Open opens the namespace k of process pid, close-on-exec.
func Open(pid int, k Kind) (*os.File, error) {
	p := "/proc/" + strconv.Itoa(pid) + "/ns/" + string(k)
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), p), nil
}

// OpenSet opens the namespaces kinds of process pid, all or none. All files
// are opened before any is used, as enroot-nsenter does, because a process
// that joins a mount namespace no longer sees the same /proc.
func OpenSet(pid int, kinds ...Kind) ([]*os.File, error) {
	fs := make([]*os.File, 0, len(kinds))
	for _, k := range kinds {
		f, err := Open(pid, k)
		if err != nil {
			for _, o := range fs {
				o.Close()
			}
			return nil, err
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// ID identifies a namespace: two files refer to the same namespace if and
// only if their IDs are equal. Joiners use it to skip namespaces they are
// already in (pyxis container_resolve_ns, enroot do_setns).
type ID struct {
	Dev uint64
	Ino uint64
}

func (id ID) String() string { return fmt.Sprintf("%d:%d", id.Dev, id.Ino) }

// Ident returns the ID of the namespace file f.
func Ident(f *os.File) (ID, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return ID{}, &os.PathError{Op: "fstat", Path: f.Name(), Err: err}
	}
	return ID{Dev: st.Dev, Ino: st.Ino}, nil
}

// Same reports whether processes a and b are in the same namespace k.
func Same(a, b int, k Kind) (bool, error) {
	ids := [2]ID{}
	for i, pid := range []int{a, b} {
		f, err := Open(pid, k)
		if err != nil {
			return false, err
		}
		ids[i], err = Ident(f)
		f.Close()
		if err != nil {
			return false, err
		}
	}
	return ids[0] == ids[1], nil
}
