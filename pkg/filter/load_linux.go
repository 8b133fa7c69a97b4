// SPDX-License-Identifier: Apache-2.0

package filter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxInsns is the kernel's limit on a classic BPF program (BPF_MAXINSNS).
const maxInsns = 4096

// LoadBPF loads a program made by [BPF] into every thread of the calling
// process with seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC):
// what the C shim does, in Go and without cgo. o.Arches is ignored.
//
// The kernel accepts a filter only from a thread that has NO_NEW_PRIVS set
// or holds CAP_SYS_ADMIN in its user namespace. Unless o.NoNewPrivs asks
// for it up front, LoadBPF first tries without and, on EACCES, sets
// PR_SET_NO_NEW_PRIVS and tries again. Both steps run on one locked OS
// thread; TSYNC then carries the filter and NO_NEW_PRIVS to every other
// thread. If the second try fails too, that one thread keeps NO_NEW_PRIVS.
func LoadBPF(prog []byte, o Options) error {
	o.fill()
	insns, err := decode(prog)
	if err != nil {
		return err
	}
	fprog := unix.SockFprog{Len: uint16(len(insns)), Filter: &insns[0]}
	flags := uintptr(unix.SECCOMP_FILTER_FLAG_TSYNC)
	if o.SpecAllow {
		flags |= unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
	}

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if o.NoNewPrivs {
		if err := setNoNewPrivs(); err != nil {
			return err
		}
	}
	err = seccompSetFilter(flags, &fprog)
	if errors.Is(err, unix.EACCES) && !o.NoNewPrivs {
		o.Logger.Debug("seccomp filter refused without no_new_privs, setting it")
		if err := setNoNewPrivs(); err != nil {
			return err
		}
		err = seccompSetFilter(flags, &fprog)
	}
	runtime.KeepAlive(insns)
	return err
}

func setNoNewPrivs() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	return nil
}

// seccompSetFilter calls seccomp(2). With TSYNC, a positive return is the
// ID of a thread that could not be synchronized.
func seccompSetFilter(flags uintptr, fprog *unix.SockFprog) error {
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(fprog)))
	if errno != 0 {
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): %w", errno)
	}
	if r != 0 {
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): thread %d cannot be synchronized", r)
	}
	return nil
}

// decode turns the bytes of a struct sock_filter array into instructions.
func decode(prog []byte) ([]unix.SockFilter, error) {
	const size = int(unsafe.Sizeof(unix.SockFilter{}))
	if len(prog) == 0 || len(prog)%size != 0 || len(prog)/size > maxInsns {
		return nil, fmt.Errorf("seccomp program: %d bytes is not 1 to %d instructions of %d bytes", len(prog), maxInsns, size)
	}
	insns := make([]unix.SockFilter, len(prog)/size)
	for i := range insns {
		b := prog[i*size:]
		insns[i] = unix.SockFilter{
			Code: binary.NativeEndian.Uint16(b),
			Jt:   b[2],
			Jf:   b[3],
			K:    binary.NativeEndian.Uint32(b[4:]),
		}
	}
	return insns, nil
}
