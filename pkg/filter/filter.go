// SPDX-License-Identifier: Apache-2.0

package filter

import (
	"errors"
	"log/slog"
	"runtime"
	"slices"
)

// ErrUnavailable is returned by [BPF] and [Load] when the package was built
// without cgo (or for an OS other than Linux), so libseccomp cannot be used.
var ErrUnavailable = errors.New("built without cgo: seccomp filter unavailable")

// Options configures [BPF], [Load] and [LoadBPF]. The zero value is the
// filter gpyxis uses.
type Options struct {
	// Arches lists the ABIs to filter, by libseccomp name ("amd64", "x86",
	// "x32", "arm64", "arm", "s390x", ...). Default: [DefaultArches] for the
	// architecture the binary was built for. System calls made through an
	// ABI that is not listed are allowed unfiltered. Used by BPF and Load.
	Arches []string

	// NoNewPrivs makes Load and LoadBPF set PR_SET_NO_NEW_PRIVS before
	// loading. Default false: they load without it and set it only when the
	// kernel refuses the filter with EACCES, that is when the caller lacks
	// CAP_SYS_ADMIN in its user namespace. Root on the host and root in a
	// user namespace it created or joined load without it; an unprivileged
	// caller outside a user namespace gets it. Ignored by BPF.
	NoNewPrivs bool

	// SpecAllow passes SECCOMP_FILTER_FLAG_SPEC_ALLOW, so that loading the
	// filter does not force the speculative store bypass mitigation on the
	// process (enroot's standard build does the same). Default false.
	// Ignored by BPF.
	SpecAllow bool

	// Logger receives debug messages. Default: discard.
	Logger *slog.Logger
}

func (o *Options) fill() {
	if len(o.Arches) == 0 {
		o.Arches = DefaultArches()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// compatArches lists, per GOARCH, the libseccomp names of the native ABI
// followed by the ABIs a kernel of that architecture can run beside it.
var compatArches = map[string][]string{
	"amd64":    {"amd64", "x86", "x32"},
	"arm64":    {"arm64", "arm"},
	"s390x":    {"s390x", "s390"},
	"ppc64":    {"ppc64", "ppc"},
	"mips64":   {"mips64", "mips64n32", "mips"},
	"mips64le": {"mipsel64", "mipsel64n32", "mipsel"},
	"386":      {"x86"},
	"arm":      {"arm"},
	"ppc64le":  {"ppc64le"},
	"riscv64":  {"riscv64"},
	"loong64":  {"loong64"},
	"mips":     {"mips"},
	"mipsle":   {"mipsel"},
}

// DefaultArches returns the ABIs filtered by default: the native one and
// those the kernel can run beside it, for the architecture this binary was
// built for (on amd64: amd64, x86 and x32).
func DefaultArches() []string {
	if a, ok := compatArches[runtime.GOARCH]; ok {
		return slices.Clone(a)
	}
	return []string{runtime.GOARCH}
}

// fakedSyscalls are made to return 0 without running, on every ABI that has
// them. Names missing on an ABI (chown32 on x86_64, chown on arm64) are
// skipped there.
var fakedSyscalls = []string{
	"chown", "lchown", "fchown", "fchownat",
	"setuid", "setgid", "setreuid", "setregid",
	"setresuid", "setresgid", "setgroups",
	"chown32", "lchown32", "fchown32",
	"setuid32", "setgid32", "setreuid32", "setregid32",
	"setresuid32", "setresgid32", "setgroups32",
}

// querySyscalls are faked unless their argument is -1, which queries the
// current fsuid/fsgid and must keep working.
var querySyscalls = []string{"setfsuid", "setfsgid", "setfsuid32", "setfsgid32"}
