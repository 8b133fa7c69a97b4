// SPDX-License-Identifier: Apache-2.0

package nodecheck

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Run probes this node and returns one Result per feature, in a fixed order.
func Run(opts Options) []Result {
	kv, kres := probeKernel()
	fs := procFilesystems()
	return []Result{
		kres,
		probeUserns(),
		probeOpenat2(),
		probeCloseRange(),
		probeOverlay(kv, fs),
		probeIDMap(),
		probeFUSE(fs),
		probeSquashfs(fs),
		probeCgroup(),
		probeSeccomp(),
		probePlugin(opts),
	}
}

func probeKernel() (KernelVersion, Result) {
	r := Result{Name: "kernel"}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		r.Status, r.Detail = Warn, fmt.Sprintf("uname: %v", err)
		return KernelVersion{}, r
	}
	release := unix.ByteSliceToString(u.Release[:])
	kv, err := ParseKernelRelease(release)
	if err != nil {
		r.Status, r.Detail = Warn, err.Error()
		return kv, r
	}
	r.Detail = "Linux " + release
	if kv.AtLeast(5, 12) {
		r.Status = OK
		return kv, r
	}
	r.Status = Warn
	r.Detail += " is older than 5.12 (openat2 5.6, close_range 5.9, unprivileged overlay 5.11, idmapped mounts 5.12)"
	r.Fix = "boot Linux 5.12 or later"
	return kv, r
}

// readSysctl returns the trimmed value of /proc/sys/NAME, and whether it exists.
func readSysctl(name string) (string, bool) {
	b, err := os.ReadFile(filepath.Join("/proc/sys", name))
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}

func probeUserns() Result {
	r := Result{Name: "user namespaces", Required: true}
	var notes []string
	clone, hasClone := readSysctl("kernel/unprivileged_userns_clone")
	if hasClone {
		notes = append(notes, "kernel.unprivileged_userns_clone="+clone)
	}
	maxNS, hasMax := readSysctl("user/max_user_namespaces")
	if hasMax {
		notes = append(notes, "user.max_user_namespaces="+maxNS)
	}
	aa, hasAA := readSysctl("kernel/apparmor_restrict_unprivileged_userns")
	if hasAA {
		notes = append(notes, "kernel.apparmor_restrict_unprivileged_userns="+aa)
	}
	sysctls := strings.Join(notes, ", ")
	err := tryUserns()
	switch {
	case err != nil:
		r.Status = Missing
		r.Detail = "an unprivileged user cannot create a user namespace: " + err.Error()
		var fixes []string
		if hasClone && clone == "0" {
			fixes = append(fixes, "sysctl -w kernel.unprivileged_userns_clone=1")
		}
		if hasMax && maxNS == "0" {
			fixes = append(fixes, "sysctl -w user.max_user_namespaces=65536")
		}
		if len(fixes) == 0 {
			fixes = append(fixes, "enable CONFIG_USER_NS and unprivileged user namespaces (kernel.unprivileged_userns_clone=1, user.max_user_namespaces>0)")
		}
		r.Fix = strings.Join(fixes, "; ") + " (and in /etc/sysctl.d to keep it)"
	case hasAA && aa != "0":
		// Since Ubuntu 23.10 AppArmor lets an unconfined process create the
		// namespace but strips its capabilities, so the runtime's mounts fail.
		r.Status = Warn
		r.Detail = "user namespaces can be created, but AppArmor takes their capabilities"
		r.Fix = "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile with 'userns,' for gpyxis-runtime"
	default:
		r.Status = OK
		r.Detail = "an unprivileged user can create a user namespace"
	}
	if sysctls != "" {
		r.Detail += " (" + sysctls + ")"
	}
	return r
}

// tryUserns starts a child in a new user namespace, as an unprivileged user.
func tryUserns() error {
	truePath, err := lookTrue()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	var cmd *exec.Cmd
	if uid := os.Geteuid(); uid == 0 {
		// Root may always create a user namespace (it holds CAP_SYS_ADMIN),
		// and Go's SysProcAttr clones before it drops credentials: ask
		// unshare(1), running as nobody, whether a user may.
		unshare, err := exec.LookPath("unshare")
		if err != nil {
			return fmt.Errorf("cannot probe as root without unshare(1) (util-linux): %w", err)
		}
		cmd = exec.CommandContext(ctx, unshare, "--user", truePath)
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}},
		}
	} else {
		cmd = exec.CommandContext(ctx, truePath)
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}},
		}
	}
	cmd.Dir = "/"
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return fmt.Errorf("%w: %s", err, msg)
		}
		return err
	}
	return nil
}

func lookTrue() (string, error) {
	for _, p := range []string{"/bin/true", "/usr/bin/true"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return exec.LookPath("true")
}

// syscallResult turns a probe's error into a required feature's Result.
func syscallResult(name, since string, err error) Result {
	r := Result{Name: name, Required: true}
	switch {
	case err == nil:
		r.Status, r.Detail = OK, name+" works"
	case errors.Is(err, unix.ENOSYS):
		r.Status, r.Detail = Missing, name+" is not implemented (ENOSYS): it came in Linux "+since
		r.Fix = "boot Linux " + since + " or later"
	default:
		// EPERM here is usually a seccomp filter of a container runtime
		// around this process that does not know the call.
		r.Status, r.Detail = Missing, fmt.Sprintf("%s failed: %v", name, err)
		r.Fix = "allow " + name + " in the seccomp profile this node's processes run under, or boot Linux " + since + " or later"
	}
	return r
}

func probeOpenat2() Result {
	fd, err := unix.Openat2(unix.AT_FDCWD, "/", &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS,
	})
	if err == nil {
		unix.Close(fd)
	}
	return syscallResult("openat2", "5.6", err)
}

func probeCloseRange() Result {
	fd, err := unix.Open("/", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return Result{Name: "close_range", Required: true, Status: Warn, Detail: fmt.Sprintf("open /: %v", err)}
	}
	err = unix.CloseRange(uint(fd), uint(fd), 0)
	if err != nil {
		unix.Close(fd)
		return syscallResult("close_range", "5.9", err)
	}
	if _, ferr := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); ferr == nil {
		unix.Close(fd)
		return syscallResult("close_range", "5.9", errors.New("it returned success but left the descriptor open"))
	}
	return syscallResult("close_range", "5.9", nil)
}

func probeIDMap() Result {
	// An invalid descriptor: a kernel with mount_setattr answers EBADF
	// without touching any mount (EPERM first when the caller lacks
	// CAP_SYS_ADMIN), one without it ENOSYS.
	err := unix.MountSetattr(-1, "", unix.AT_EMPTY_PATH, &unix.MountAttr{})
	r := Result{Name: "idmapped mounts"}
	switch {
	case errors.Is(err, unix.EBADF), err == nil, errors.Is(err, unix.EPERM) && os.Geteuid() != 0:
		r.Status, r.Detail = OK, "mount_setattr is there (idmapped mounts, Linux 5.12; the shared node cache needs them)"
	case errors.Is(err, unix.ENOSYS):
		r.Status, r.Detail = Warn, "mount_setattr is not implemented (Linux 5.12): no shared node cache (shared_rootfs_cache=), no recursive read-only mounts"
		r.Fix = "boot Linux 5.12 or later"
	default:
		r.Status, r.Detail = Warn, fmt.Sprintf("mount_setattr probe: %v", err)
		r.Fix = "allow mount_setattr in the seccomp profile this node's processes run under"
	}
	return r
}

// procFilesystems returns the filesystem types the kernel has registered.
func procFilesystems() map[string]bool {
	out := map[string]bool{}
	f, err := os.Open("/proc/filesystems")
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 0 {
			out[fields[len(fields)-1]] = true
		}
	}
	return out
}

// hasModule reports whether the running kernel ships fs/NAME as a module.
func hasModule(dir string) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	m, _ := filepath.Glob(filepath.Join("/lib/modules", unix.ByteSliceToString(u.Release[:]), "kernel/fs", dir, "*.ko*"))
	return len(m) > 0
}

func fsPresent(fs map[string]bool, name, moduleDir string) (bool, string) {
	if fs[name] {
		return true, name + " is in /proc/filesystems"
	}
	if hasModule(moduleDir) {
		return true, name + " is a loadable module (loaded at first mount)"
	}
	return false, name + " is neither in /proc/filesystems nor a module of this kernel"
}

func probeOverlay(kv KernelVersion, fs map[string]bool) Result {
	r := Result{Name: "unprivileged overlay"}
	ok, where := fsPresent(fs, "overlay", "overlayfs")
	switch {
	case !ok:
		r.Status, r.Detail = Warn, where+": no writable container (--rw, --container-writable)"
		r.Fix = "modprobe overlay (CONFIG_OVERLAY_FS)"
	case kv.Major != 0 && !kv.AtLeast(5, 11):
		r.Status, r.Detail = Warn, where+", but Linux "+kv.String()+" mounts it in a user namespace only from 5.11"
		r.Fix = "boot Linux 5.11 or later"
	default:
		r.Status, r.Detail = OK, where+"; Linux 5.11+ mounts it in a user namespace"
	}
	return r
}

func probeFUSE(fs map[string]bool) Result {
	r := Result{Name: "fuse"}
	st, err := os.Stat("/dev/fuse")
	switch {
	case err != nil:
		r.Status, r.Detail = Warn, "no /dev/fuse: FUSE filesystems (squashfuse, fuse-overlayfs) cannot be used in containers"
		r.Fix = "modprobe fuse (CONFIG_FUSE_FS)"
	case st.Mode()&os.ModeCharDevice == 0:
		r.Status, r.Detail = Warn, "/dev/fuse is not a character device"
		r.Fix = "remove it and modprobe fuse"
	case st.Mode().Perm()&0o666 != 0o666:
		r.Status, r.Detail = Warn, fmt.Sprintf("/dev/fuse is mode %04o: users cannot open it", st.Mode().Perm())
		r.Fix = "chmod 0666 /dev/fuse (udev: KERNEL==\"fuse\", MODE=\"0666\")"
	default:
		r.Status, r.Detail = OK, fmt.Sprintf("/dev/fuse is mode %04o", st.Mode().Perm())
	}
	if err == nil && !fs["fuse"] {
		r.Detail += "; fuse is not in /proc/filesystems"
	}
	return r
}

func probeSquashfs(fs map[string]bool) Result {
	r := Result{Name: "squashfs"}
	ok, where := fsPresent(fs, "squashfs", "squashfs")
	if ok {
		r.Status, r.Detail = OK, where
		return r
	}
	// The runtime reads and writes squashfs images itself; only mounting an
	// image with the kernel (mount -t squashfs, enroot) needs it.
	r.Status, r.Detail = Warn, where+": images cannot be mounted with the kernel (gpyxis reads them itself)"
	r.Fix = "modprobe squashfs (CONFIG_SQUASHFS)"
	return r
}

func probeCgroup() Result {
	r := Result{Name: "cgroup"}
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		r.Status, r.Detail = Warn, fmt.Sprintf("statfs /sys/fs/cgroup: %v", err)
		r.Fix = "mount cgroup2 on /sys/fs/cgroup"
		return r
	}
	switch st.Type {
	case unix.CGROUP2_SUPER_MAGIC:
		r.Status, r.Detail = OK, "v2 (unified hierarchy on /sys/fs/cgroup)"
	case unix.TMPFS_MAGIC:
		var u unix.Statfs_t
		if unix.Statfs("/sys/fs/cgroup/unified", &u) == nil && u.Type == unix.CGROUP2_SUPER_MAGIC {
			r.Status, r.Detail = OK, "v1, hybrid (cgroup2 on /sys/fs/cgroup/unified)"
		} else {
			r.Status, r.Detail = OK, "v1 (legacy hierarchy)"
		}
	default:
		r.Status, r.Detail = Warn, fmt.Sprintf("/sys/fs/cgroup is not a cgroup mount (filesystem magic %#x)", st.Type)
		r.Fix = "mount cgroup2 on /sys/fs/cgroup"
	}
	return r
}

func probeSeccomp() Result {
	r := Result{Name: "seccomp"}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		r.Status, r.Detail = Warn, fmt.Sprintf("read /proc/self/status: %v", err)
		return r
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Seccomp:"); ok {
			mode := strings.TrimSpace(v)
			r.Status = OK
			switch mode {
			case "0":
				r.Detail = "available; this process runs without a filter (mode 0)"
			case "2":
				r.Detail = "available; this process already runs under a filter (mode 2), which the runtime's calls must pass"
			default:
				r.Detail = "available; this process runs in mode " + mode
			}
			return r
		}
	}
	r.Status, r.Detail = Warn, "no Seccomp field in /proc/self/status: the kernel has no CONFIG_SECCOMP, so the filter that lets package managers chown and setuid in a container (--root-less installs) cannot be loaded"
	r.Fix = "boot a kernel built with CONFIG_SECCOMP and CONFIG_SECCOMP_FILTER"
	return r
}
