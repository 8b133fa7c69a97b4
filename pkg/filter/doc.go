// SPDX-License-Identifier: Apache-2.0

// Package filter builds the seccomp filter that fakes success for chown and
// setuid-family system calls so that package managers work without root.
//
// Inside a user namespace that maps a single ID, apt, dpkg, yum and friends
// call chown(2) and setuid(2)/setgroups(2) with IDs the namespace does not
// map, and fail with EINVAL or EPERM. The filter makes those calls return 0
// without running them (SECCOMP_RET_ERRNO with errno 0), exactly as enroot's
// and pyxis's filter does (enroot bin/enroot-nsenter.c, pyxis
// seccomp_filter.h):
//
//	chown lchown fchown fchownat                       (and the i386/arm *32 variants)
//	setuid setgid setreuid setregid setresuid setresgid setgroups   (and *32)
//	setfsuid setfsgid                                  (and *32), unless the
//	                                                   argument is -1: that is
//	                                                   a query and runs for real
//
// Every other system call is allowed. Unlike enroot, which filters only the
// native ABI and lets i386 and x32 binaries through unfiltered, the filter
// covers every ABI the kernel can run beside the native one (on amd64: x86_64,
// i386 and x32), and an ABI it does not cover is allowed, as in enroot.
//
// The program is built with libseccomp (cgo) and handed out as classic BPF
// bytes by [BPF]; the C shim loads them with seccomp(2) right after
// setns(CLONE_NEWUSER), where it holds CAP_SYS_ADMIN and so needs no
// NO_NEW_PRIVS. [Load] builds and loads it into the calling Go process, and
// [LoadBPF] loads bytes from [BPF] the way the shim does, without cgo.
//
// Built without cgo, [BPF] and [Load] return [ErrUnavailable].
package filter
