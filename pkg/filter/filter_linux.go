// SPDX-License-Identifier: Apache-2.0

//go:build linux && cgo

package filter

import (
	"fmt"
	"io"
	"os"
	"strings"

	seccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// actFake makes a system call return 0 without running it.
var actFake = seccomp.ActErrno.SetReturnCode(0)

// BPF compiles the filter for o.Arches and returns the classic BPF program:
// an array of struct sock_filter (8 bytes each, host byte order), ready for
// a struct sock_fprog and seccomp(SECCOMP_SET_MODE_FILTER) or
// prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER). The program checks the
// architecture itself; an ABI not in o.Arches is allowed.
func BPF(o Options) ([]byte, error) {
	o.fill()
	f, err := build(o.Arches)
	if err != nil {
		return nil, err
	}
	defer f.Release()
	prog, err := export(f)
	if err != nil {
		return nil, err
	}
	o.Logger.Debug("seccomp filter built", "arches", o.Arches, "instructions", len(prog)/8)
	return prog, nil
}

// Load builds the filter and loads it into every thread of the calling
// process, as [LoadBPF] does (see there for NO_NEW_PRIVS).
func Load(o Options) error {
	prog, err := BPF(o)
	if err != nil {
		return err
	}
	return LoadBPF(prog, o)
}

// build makes one libseccomp filter per ABI, because the rules differ per
// ABI (16-bit IDs, argument width), and merges them.
func build(arches []string) (*seccomp.ScmpFilter, error) {
	var all *seccomp.ScmpFilter
	seen := map[seccomp.ScmpArch]bool{}
	for _, name := range arches {
		arch, err := seccomp.GetArchFromString(name)
		if err != nil {
			return nil, fmt.Errorf("seccomp arch %q: %w", name, err)
		}
		if seen[arch] {
			continue
		}
		seen[arch] = true
		f, err := buildArch(arch)
		if err != nil {
			if all != nil {
				all.Release()
			}
			return nil, fmt.Errorf("seccomp filter for %s: %w", arch, err)
		}
		if all == nil {
			all = f
			continue
		}
		if err := all.Merge(f); err != nil {
			f.Release()
			all.Release()
			return nil, fmt.Errorf("merge seccomp filter for %s: %w", arch, err)
		}
	}
	if all == nil {
		return nil, fmt.Errorf("seccomp filter: no architecture")
	}
	return all, nil
}

// buildArch makes the filter for one ABI.
func buildArch(arch seccomp.ScmpArch) (_ *seccomp.ScmpFilter, err error) {
	f, err := seccomp.NewFilter(seccomp.ActAllow)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			f.Release()
		}
	}()
	// An ABI missing from the filter is allowed, as in enroot. The loader
	// decides NO_NEW_PRIVS, not libseccomp.
	if err := f.SetBadArchAction(seccomp.ActAllow); err != nil {
		return nil, fmt.Errorf("set bad arch action: %w", err)
	}
	if err := f.SetNoNewPrivsBit(false); err != nil {
		return nil, fmt.Errorf("clear no_new_privs attribute: %w", err)
	}
	native, err := seccomp.GetNativeArch()
	if err != nil {
		return nil, err
	}
	if arch != native {
		if err := f.AddArch(arch); err != nil {
			return nil, fmt.Errorf("add arch: %w", err)
		}
		if err := f.RemoveArch(native); err != nil {
			return nil, fmt.Errorf("remove native arch: %w", err)
		}
	}
	for _, name := range fakedSyscalls {
		if !exists(name, arch) {
			continue
		}
		sc, err := seccomp.GetSyscallFromName(name)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", name, err)
		}
		if err := f.AddRule(sc, actFake); err != nil {
			return nil, fmt.Errorf("rule for %s: %w", name, err)
		}
	}
	for _, name := range querySyscalls {
		if !exists(name, arch) {
			continue
		}
		sc, err := seccomp.GetSyscallFromName(name)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", name, err)
		}
		for _, c := range notMinusOne(name, arch) {
			if err := f.AddRuleConditional(sc, actFake, []seccomp.ScmpCondition{c}); err != nil {
				return nil, fmt.Errorf("rule for %s: %w", name, err)
			}
		}
	}
	return f, nil
}

// exists reports whether the ABI has the system call. libseccomp resolves
// names an ABI lacks to negative pseudo numbers.
func exists(name string, arch seccomp.ScmpArch) bool {
	nr, err := seccomp.GetSyscallFromNameByArch(name, arch)
	return err == nil && nr >= 0
}

// args32 are the ABIs whose arguments libseccomp compares as 32-bit words.
var args32 = map[seccomp.ScmpArch]bool{
	seccomp.ArchX86: true, seccomp.ArchX32: true, seccomp.ArchARM: true,
	seccomp.ArchPPC: true, seccomp.ArchS390: true,
	seccomp.ArchMIPS: true, seccomp.ArchMIPSEL: true,
}

// notMinusOne returns conditions of which any one holds (separate rules are
// ORed) exactly when the ID argument of setfsuid/setfsgid is not -1 as the
// kernel sees it.
//
// The kernel truncates the argument to uid_t, or to the 16-bit old_uid_t for
// the plain setfsuid/setfsgid of ABIs that also have a *32 variant (i386,
// arm), so only the low 32 (or 16) bits count. A caller may pass -1
// zero-extended (C's (uid_t)-1) or sign-extended (Go's unix.Setfsuid(-1)).
// enroot's hand-written filter compares only the low word. libseccomp
// compares all 64 bits on 64-bit ABIs and allows one comparison per argument
// and rule, so "low bits are not all ones" becomes one rule per bit: "bit i
// is clear". Where libseccomp compares 32-bit words and all 32 bits count, a
// single "!= 0xffffffff" is exact.
func notMinusOne(name string, arch seccomp.ScmpArch) []seccomp.ScmpCondition {
	width := 32
	if !strings.HasSuffix(name, "32") && exists(name+"32", arch) {
		width = 16
	}
	if width == 32 && args32[arch] {
		c, _ := seccomp.MakeCondition(0, seccomp.CompareNotEqual, 0xffffffff)
		return []seccomp.ScmpCondition{c}
	}
	conds := make([]seccomp.ScmpCondition, 0, width)
	for i := range width {
		c, _ := seccomp.MakeCondition(0, seccomp.CompareMaskedEqual, 1<<i, 0)
		conds = append(conds, c)
	}
	return conds
}

// export writes the program through a memfd: libseccomp 2.5 (Debian 12)
// exports only to a file descriptor; ExportBPFMem needs 2.6.
func export(f *seccomp.ScmpFilter) ([]byte, error) {
	fd, err := unix.MemfdCreate("gpyxis-seccomp", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	mf := os.NewFile(uintptr(fd), "gpyxis-seccomp")
	defer mf.Close()
	if err := f.ExportBPF(mf); err != nil {
		return nil, fmt.Errorf("export seccomp bpf: %w", err)
	}
	if _, err := mf.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("export seccomp bpf: %w", err)
	}
	prog, err := io.ReadAll(mf)
	if err != nil {
		return nil, fmt.Errorf("export seccomp bpf: %w", err)
	}
	return prog, nil
}
