// SPDX-License-Identifier: Apache-2.0

//go:build linux && cgo

package filter

import "encoding/binary"

// i386 system call numbers used by the test programs (asm/unistd_32.h).
const (
	i386Exit       = 1
	i386Setuid     = 23
	i386Setfsuid   = 138
	i386Chown      = 182
	i386Getuid32   = 199
	i386Chown32    = 212
	i386Setuid32   = 213
	i386Setfsuid32 = 215
)

// i386Step is one int $0x80 call. With path set, ebx holds the address of
// the program's string instead of args[0].
type i386Step struct {
	nr   uint32
	args [3]uint32
	path bool
}

// elf386 returns a static i386 ELF executable that makes the calls in
// order, exits with the first non-zero result of all but the last, or else
// with the last one's (exit status: result & 0xff). It needs no compiler
// and no 32-bit libc, only a kernel with IA32 emulation.
func elf386(steps []i386Step, str string) []byte {
	const base, hdr = 0x08048000, 52 + 32
	code := i386Code(steps, 0)
	strAddr := uint32(base + hdr + len(code))
	code = i386Code(steps, strAddr)
	size := hdr + len(code) + len(str) + 1

	b := make([]byte, 0, size)
	le := binary.LittleEndian
	b = append(b, 0x7f, 'E', 'L', 'F', 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	b = le.AppendUint16(b, 2) // ET_EXEC
	b = le.AppendUint16(b, 3) // EM_386
	b = le.AppendUint32(b, 1) // EV_CURRENT
	b = le.AppendUint32(b, base+hdr)
	b = le.AppendUint32(b, 52) // e_phoff
	b = le.AppendUint32(b, 0)  // e_shoff
	b = le.AppendUint32(b, 0)  // e_flags
	b = le.AppendUint16(b, 52) // e_ehsize
	b = le.AppendUint16(b, 32) // e_phentsize
	b = le.AppendUint16(b, 1)  // e_phnum
	b = le.AppendUint16(b, 0)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint16(b, 0)
	// PT_LOAD of the whole file, R+X.
	for _, v := range []uint32{1, 0, base, base, uint32(size), uint32(size), 5, 0x1000} {
		b = le.AppendUint32(b, v)
	}
	b = append(b, code...)
	b = append(b, str...)
	return append(b, 0)
}

func i386Code(steps []i386Step, strAddr uint32) []byte {
	le := binary.LittleEndian
	const stepLen, checkLen = 22, 4
	exitAt := len(steps)*(stepLen+checkLen) - checkLen
	var c []byte
	for i, s := range steps {
		a := s.args[0]
		if s.path {
			a = strAddr
		}
		c = le.AppendUint32(append(c, 0xb8), s.nr)      // mov eax, nr
		c = le.AppendUint32(append(c, 0xbb), a)         // mov ebx, a0
		c = le.AppendUint32(append(c, 0xb9), s.args[1]) // mov ecx, a1
		c = le.AppendUint32(append(c, 0xba), s.args[2]) // mov edx, a2
		c = append(c, 0xcd, 0x80)                       // int $0x80
		if i < len(steps)-1 {
			c = append(c, 0x85, 0xc0, 0x75, byte(exitAt-(len(c)+checkLen))) // test eax, eax; jnz exit
		}
	}
	c = append(c, 0x89, 0xc3)                      // exit: mov ebx, eax
	c = le.AppendUint32(append(c, 0xb8), i386Exit) // mov eax, 1
	return append(c, 0xcd, 0x80)                   // int $0x80
}
