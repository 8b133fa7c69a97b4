// SPDX-License-Identifier: Apache-2.0

//go:build linux && cgo

package filter

import (
	"encoding/binary"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// Values the emulated program returns.
const (
	retAllow = unix.SECCOMP_RET_ALLOW
	retFake  = unix.SECCOMP_RET_ERRNO | 0
)

// seccompData mirrors struct seccomp_data.
type seccompData struct {
	nr   uint32
	arch uint32
	args [6]uint64
}

func (d seccompData) bytes() []byte {
	b := make([]byte, 64)
	binary.NativeEndian.PutUint32(b[0:], d.nr)
	binary.NativeEndian.PutUint32(b[4:], d.arch)
	for i, a := range d.args {
		binary.NativeEndian.PutUint64(b[16+8*i:], a)
	}
	return b
}

// run interprets the classic BPF subset libseccomp emits, as the kernel's
// seccomp would, and returns the action.
func run(t *testing.T, prog []unix.SockFilter, d seccompData) uint32 {
	t.Helper()
	data := d.bytes()
	var a, x uint32
	var mem [16]uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			a = binary.NativeEndian.Uint32(data[in.K:])
		case unix.BPF_LD | unix.BPF_IMM:
			a = in.K
		case unix.BPF_LD | unix.BPF_MEM:
			a = mem[in.K]
		case unix.BPF_ST:
			mem[in.K] = a
		case unix.BPF_MISC | unix.BPF_TAX:
			x = a
		case unix.BPF_MISC | unix.BPF_TXA:
			a = x
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			a &= in.K
		case unix.BPF_JMP | unix.BPF_JA:
			pc += int(in.K)
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			pc += jump(a == in.K, in)
		case unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K:
			pc += jump(a > in.K, in)
		case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			pc += jump(a >= in.K, in)
		case unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			pc += jump(a&in.K != 0, in)
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		default:
			t.Fatalf("instruction %d: opcode %#x not emulated", pc, in.Code)
		}
	}
	t.Fatal("program ran off its end")
	return 0
}

func jump(cond bool, in unix.SockFilter) int {
	if cond {
		return int(in.Jt)
	}
	return int(in.Jf)
}

func program(t *testing.T, o Options) []unix.SockFilter {
	t.Helper()
	b, err := BPF(o)
	if err != nil {
		t.Fatal(err)
	}
	insns, err := decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return insns
}

const (
	x32Bit  = 0x40000000
	minus1  = 0xffffffff         // (uid_t)-1, zero-extended
	minus1s = 0xffffffffffffffff // -1 sign-extended, as Go's unix.Setfsuid(-1) passes it
)

// i386 numbers from asm/unistd_32.h.
var i386Fake = map[string]uint32{
	"lchown": 16, "setuid": 23, "setgid": 46, "setreuid": 70, "setregid": 71,
	"setgroups": 81, "fchown": 95, "setresuid": 164, "setresgid": 170,
	"chown": 182, "lchown32": 198, "setreuid32": 203, "setregid32": 204,
	"setgroups32": 206, "fchown32": 207, "setresuid32": 208, "setresgid32": 210,
	"chown32": 212, "setuid32": 213, "setgid32": 214, "fchownat": 298,
}

// amd64Fake holds the x86_64 numbers; x32 adds x32Bit to the same ones.
var amd64Fake = map[string]uint32{
	"chown": unix.SYS_CHOWN, "lchown": unix.SYS_LCHOWN, "fchown": unix.SYS_FCHOWN,
	"fchownat": unix.SYS_FCHOWNAT, "setuid": unix.SYS_SETUID, "setgid": unix.SYS_SETGID,
	"setreuid": unix.SYS_SETREUID, "setregid": unix.SYS_SETREGID,
	"setresuid": unix.SYS_SETRESUID, "setresgid": unix.SYS_SETRESGID,
	"setgroups": unix.SYS_SETGROUPS,
}

// TestProgramAMD64 checks the compiled program, instruction by instruction
// in an emulator, for every ABI of an x86_64 kernel.
func TestProgramAMD64(t *testing.T) {
	prog := program(t, Options{Arches: []string{"amd64", "x86", "x32"}})
	check := func(name string, d seccompData, want uint32) {
		t.Helper()
		if got := run(t, prog, d); got != want {
			t.Errorf("%s (arch %#x nr %#x args %#x): action %#x, want %#x", name, d.arch, d.nr, d.args[0], got, want)
		}
	}
	for name, nr := range amd64Fake {
		check("x86_64 "+name, seccompData{nr: nr, arch: unix.AUDIT_ARCH_X86_64}, retFake)
		check("x32 "+name, seccompData{nr: nr | x32Bit, arch: unix.AUDIT_ARCH_X86_64}, retFake)
	}
	for name, nr := range i386Fake {
		check("i386 "+name, seccompData{nr: nr, arch: unix.AUDIT_ARCH_I386}, retFake)
	}
	for _, nr := range []uint32{unix.SYS_GETPID, unix.SYS_OPENAT, unix.SYS_READ, unix.SYS_GETUID, unix.SYS_SETPGID, unix.SYS_CHMOD} {
		check("x86_64 other", seccompData{nr: nr, arch: unix.AUDIT_ARCH_X86_64}, retAllow)
		check("x32 other", seccompData{nr: nr | x32Bit, arch: unix.AUDIT_ARCH_X86_64}, retAllow)
	}
	// i386 getpid, open, getuid32, setpgid, chmod.
	for _, nr := range []uint32{20, 5, 199, 57, 15} {
		check("i386 other", seccompData{nr: nr, arch: unix.AUDIT_ARCH_I386}, retAllow)
	}
	// An ABI the filter does not know runs unfiltered.
	check("aarch64 chown", seccompData{nr: unix.SYS_CHOWN, arch: unix.AUDIT_ARCH_AARCH64}, retAllow)

	type fs struct {
		arch uint32
		nr   uint32
		arg  uint64
		want uint32
	}
	var cases []fs
	for _, nr := range []uint32{unix.SYS_SETFSUID, unix.SYS_SETFSGID} {
		for _, abi := range []uint32{0, x32Bit} {
			cases = append(cases,
				fs{unix.AUDIT_ARCH_X86_64, nr | abi, minus1, retAllow},
				fs{unix.AUDIT_ARCH_X86_64, nr | abi, minus1s, retAllow},
				fs{unix.AUDIT_ARCH_X86_64, nr | abi, 0x1234ffffffff, retAllow},
				fs{unix.AUDIT_ARCH_X86_64, nr | abi, 0, retFake},
				fs{unix.AUDIT_ARCH_X86_64, nr | abi, 1234, retFake},
				fs{unix.AUDIT_ARCH_X86_64, nr | abi, 0x7fffffff, retFake},
				fs{unix.AUDIT_ARCH_X86_64, nr | abi, 0xfffffffe, retFake},
				fs{unix.AUDIT_ARCH_X86_64, nr | abi, 0xfffffffffffffffe, retFake},
				fs{unix.AUDIT_ARCH_X86_64, nr | abi, 0xffff, retFake},
			)
		}
	}
	// i386: setfsuid/setfsgid (138, 139) take 16-bit IDs, the *32 ones (215, 216) 32-bit.
	for _, nr := range []uint32{138, 139} {
		cases = append(cases,
			fs{unix.AUDIT_ARCH_I386, nr, 0xffff, retAllow},
			fs{unix.AUDIT_ARCH_I386, nr, minus1, retAllow},
			fs{unix.AUDIT_ARCH_I386, nr, 0x1234ffff, retAllow},
			fs{unix.AUDIT_ARCH_I386, nr, 0, retFake},
			fs{unix.AUDIT_ARCH_I386, nr, 0xfffe, retFake},
			fs{unix.AUDIT_ARCH_I386, nr, 0x7fff, retFake},
		)
	}
	for _, nr := range []uint32{215, 216} {
		cases = append(cases,
			fs{unix.AUDIT_ARCH_I386, nr, minus1, retAllow},
			fs{unix.AUDIT_ARCH_I386, nr, 0xffff, retFake},
			fs{unix.AUDIT_ARCH_I386, nr, 0, retFake},
			fs{unix.AUDIT_ARCH_I386, nr, 0xfffffffe, retFake},
		)
	}
	for _, c := range cases {
		check("setfs*", seccompData{nr: c.nr, arch: c.arch, args: [6]uint64{c.arg}}, c.want)
	}
}

// TestArchesInProgram decodes the program and looks for the AUDIT_ARCH
// constant of every default ABI (x32 shares x86_64's, told apart by nr).
func TestArchesInProgram(t *testing.T) {
	want := map[string][]uint32{
		"amd64": {unix.AUDIT_ARCH_X86_64, unix.AUDIT_ARCH_I386},
		"arm64": {unix.AUDIT_ARCH_AARCH64, unix.AUDIT_ARCH_ARM},
	}
	prog := program(t, Options{})
	var ks []uint32
	for _, in := range prog {
		if in.Code == unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K {
			ks = append(ks, in.K)
		}
	}
	for _, arch := range want[DefaultArches()[0]] {
		if !slices.Contains(ks, arch) {
			t.Errorf("program does not test arch %#x", arch)
		}
	}
	t.Logf("default arches %v: %d instructions", DefaultArches(), len(prog))
}

func TestBPFErrors(t *testing.T) {
	if _, err := BPF(Options{Arches: []string{"vax"}}); err == nil {
		t.Error("unknown arch: no error")
	}
	for _, n := range []int{0, 7, 8 * (maxInsns + 1)} {
		if err := LoadBPF(make([]byte, n), Options{}); err == nil {
			t.Errorf("LoadBPF of %d bytes: no error", n)
		}
	}
}
