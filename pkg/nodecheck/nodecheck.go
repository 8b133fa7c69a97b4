// SPDX-License-Identifier: Apache-2.0

// Package nodecheck probes what the running kernel and node offer the gpyxis
// runtime and its Slurm plugin: user namespaces, the system calls the
// runtime cannot do without (openat2, close_range), and the features that
// only some uses need (unprivileged overlay, idmapped mounts, FUSE, squashfs,
// the cgroup version, seccomp, the Slurm release the plugin was built for).
//
// Each probe asks the kernel where it can (it creates a user namespace in a
// child, calls the system call) rather than trusting a version number, and
// returns a Result saying what is there and how to fix what is not.
package nodecheck

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// probeTimeout bounds each child a probe starts.
const probeTimeout = 10 * time.Second

// Status is a probe's verdict.
type Status string

const (
	// OK: the feature is there and usable.
	OK Status = "ok"
	// Missing: the feature is not there.
	Missing Status = "missing"
	// Warn: the feature is absent or restricted, and only some uses need it,
	// or it could not be probed.
	Warn Status = "warn"
)

// Result is one probe's outcome.
type Result struct {
	// Name identifies the probe (e.g. "openat2").
	Name string `json:"name"`
	// Status is ok, missing or warn.
	Status Status `json:"status"`
	// Required is true for the features without which the runtime fails.
	Required bool `json:"required"`
	// Detail says what was found.
	Detail string `json:"detail"`
	// Fix says how to get the feature; empty when Status is ok.
	Fix string `json:"fix,omitempty"`
}

// Failed reports whether r is a required feature that is not usable.
func (r Result) Failed() bool { return r.Required && r.Status != OK }

// Options tune the probes; the zero value probes this node.
type Options struct {
	// Plugin is the Slurm plugin (spank_gpyxis.so) to read; "" finds it
	// through PlugstackConf.
	Plugin string
	// PlugstackConf is Slurm's plugstack.conf; "" for
	// /etc/slurm/plugstack.conf.
	PlugstackConf string
}

// Failures returns the required results that are not ok.
func Failures(rs []Result) []Result {
	var out []Result
	for _, r := range rs {
		if r.Failed() {
			out = append(out, r)
		}
	}
	return out
}

// KernelVersion is a kernel release's major and minor number.
type KernelVersion struct{ Major, Minor int }

// AtLeast reports whether v is major.minor or later.
func (v KernelVersion) AtLeast(major, minor int) bool {
	return v.Major > major || v.Major == major && v.Minor >= minor
}

func (v KernelVersion) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// ParseKernelRelease reads the major and minor number at the start of a
// kernel release string such as "6.1.0-18-amd64".
func ParseKernelRelease(release string) (KernelVersion, error) {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return KernelVersion{}, fmt.Errorf("kernel release %q: no MAJOR.MINOR", release)
	}
	major, err := strconv.Atoi(parts[0])
	if err != nil {
		return KernelVersion{}, fmt.Errorf("kernel release %q: major: %w", release, err)
	}
	minor := parts[1]
	if i := strings.IndexFunc(minor, func(c rune) bool { return c < '0' || c > '9' }); i >= 0 {
		minor = minor[:i]
	}
	mn, err := strconv.Atoi(minor)
	if err != nil {
		return KernelVersion{}, fmt.Errorf("kernel release %q: minor: %w", release, err)
	}
	return KernelVersion{major, mn}, nil
}

// SlurmVersion decodes Slurm's SLURM_VERSION_NUMBER (the plugin_version
// a SPANK plugin carries): major<<16 | minor<<8 | micro.
func SlurmVersion(n uint32) string {
	return fmt.Sprintf("%d.%02d.%d", n>>16&0xff, n>>8&0xff, n&0xff)
}
