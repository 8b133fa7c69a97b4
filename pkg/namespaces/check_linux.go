// SPDX-License-Identifier: Apache-2.0

package namespaces

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrUnavailable is wrapped by the error [Check] returns when the kernel does
// not let the caller create a user namespace.
var ErrUnavailable = errors.New("unprivileged user namespaces are unavailable")

// sysctls that gate user namespaces, with the value that enables them. A
// file that does not exist means the knob is not there (a kernel without the
// Debian patch, or without AppArmor).
var sysctls = []struct {
	name, want, hint string
}{
	{"kernel.unprivileged_userns_clone", "1",
		"Debian and Arch kernels: set kernel.unprivileged_userns_clone=1"},
	{"user.max_user_namespaces", "",
		"must be greater than 0 (RHEL 7 also needs user_namespace.enable=1 on the kernel command line)"},
	{"kernel.apparmor_restrict_unprivileged_userns", "0",
		"Ubuntu >= 23.10: set it to 0 or install an AppArmor profile with \"userns,\" for gpyxis-runtime"},
}

// Check reports whether the caller can create the namespaces a container
// needs, by trying: it clones a process with the attributes [SysProcAttr]
// gives for the identity map (user, mount and cgroup namespaces, single-ID
// maps, setgroups denied, ambient capabilities) and has it exec /dev/null.
// That exec fails with EACCES (not a regular file) if and only if everything
// before it worked, so no helper binary is needed and nothing runs.
//
// On failure the error wraps [ErrUnavailable] and the errno, and lists the
// sysctls that control user namespaces with their current values.
func Check() error {
	attr := SysProcAttr(Identity{}, os.Geteuid(), os.Getegid(), Unshare{})
	pid, err := syscall.ForkExec("/dev/null", []string{"/dev/null"}, &syscall.ProcAttr{Sys: attr})
	if err == nil {
		// Unreachable unless /dev/null became executable; reap and accept.
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil)
		return nil
	}
	if errors.Is(err, syscall.EACCES) {
		return nil
	}
	return fmt.Errorf("%w: creating a user namespace: %w%s", ErrUnavailable, err, sysctlReport("/proc/sys"))
}

// sysctlReport describes the user namespace sysctls found under procSys,
// marking those with a value that disables user namespaces.
func sysctlReport(procSys string) string {
	var b strings.Builder
	bad := false
	for _, s := range sysctls {
		v, err := os.ReadFile(filepath.Join(procSys, strings.ReplaceAll(s.name, ".", "/")))
		if err != nil {
			continue
		}
		val := strings.TrimSpace(string(v))
		mark := ""
		if (s.want != "" && val != s.want) || (s.want == "" && val == "0") {
			mark, bad = " <- "+s.hint, true
		}
		fmt.Fprintf(&b, "\n  %s = %s%s", s.name, val, mark)
	}
	if !bad {
		b.WriteString("\n  none of kernel.unprivileged_userns_clone (Debian), user.max_user_namespaces," +
			" kernel.apparmor_restrict_unprivileged_userns (Ubuntu) forbids it here: is CONFIG_USER_NS" +
			" enabled, or does a seccomp or container policy block clone(CLONE_NEWUSER)?")
	}
	return "\n  sysctls:" + b.String()
}
