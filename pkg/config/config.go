// SPDX-License-Identifier: Apache-2.0

package config

import (
	"errors"
	"fmt"
)

// Config is the runtime configuration. Every field has a key in docs/config.md
// under both spellings, GPYXIS_<NAME> and ENROOT_<NAME>.
type Config struct {
	// DataPath holds named containers' root filesystems (DATA_PATH).
	// Default: ${XDG_DATA_HOME:-~/.local/share}/gpyxis.
	DataPath string
	// CachePath is the per-user blob cache (CACHE_PATH).
	// Default: ${XDG_CACHE_HOME:-~/.cache}/gpyxis.
	CachePath string
	// RuntimePath is the per-start working directory (RUNTIME_PATH).
	// Default: ${XDG_RUNTIME_DIR:-/run/user/$UID}/gpyxis.
	RuntimePath string
	// TempPath is where imports unpack (TEMP_PATH). Default: ${TMPDIR:-/tmp}.
	TempPath string
	// ConfigPath is the user's enroot configuration: .credentials, hooks.d,
	// mounts.d, environ.d (CONFIG_PATH). Default: ${XDG_CONFIG_HOME:-~/.config}/enroot.
	ConfigPath string
	// SysconfPath is the system hooks.d, mounts.d and environ.d (SYSCONF_PATH).
	// Default: /etc/enroot.
	SysconfPath string
	// SquashOptions are mksquashfs-style options (SQUASH_OPTIONS).
	// Default: "-comp lzo -noD -exit-on-error" (enroot's).
	SquashOptions string

	RemapRoot      bool // REMAP_ROOT: map the user to uid 0. Default false.
	RootfsWritable bool // ROOTFS_WRITABLE: do not remount the rootfs read-only. Default false.
	MountHome      bool // MOUNT_HOME: bind the user's home. Default false.
	RestrictDev    bool // RESTRICT_DEV: minimal /dev. Default false.
	AllowSuperuser bool // ALLOW_SUPERUSER: root keeps real root. Default false.
	AllowHTTP      bool // ALLOW_HTTP: plain-http registries. Default false.
	LoginShell     bool // LOGIN_SHELL: run /etc/rc through a login shell. Default true.

	MaxProcessors   int // MAX_PROCESSORS: worker threads, 0 unlimited. Default: usable CPUs.
	MaxConnections  int // MAX_CONNECTIONS: parallel downloads. Default 10.
	ConnectTimeout  int // CONNECT_TIMEOUT: seconds. Default 30.
	TransferTimeout int // TRANSFER_TIMEOUT: seconds, 0 none. Default 0.
	TransferRetries int // TRANSFER_RETRIES. Default 0.
	// StallTimeout ends a registry transfer that receives nothing for that
	// many seconds (STALL_TIMEOUT, gpyxis only). Default 60; 0 is refused.
	StallTimeout int

	// ZstdOptions is the zstd level option for re-compressed cached layers
	// (ZSTD_OPTIONS). Default "-1".
	ZstdOptions string

	// Unshare selects new namespaces (UNSHARE_NET, _PID, _IPC, _UTS). Default: none.
	Unshare struct{ Net, PID, IPC, UTS bool }

	// SharedCacheDir is a node-wide blob cache (SHARED_CACHE_DIR, gpyxis
	// only). Default: empty, none.
	SharedCacheDir string
	// RootfsCache keeps unpacked images as read-only trees under
	// CachePath/rootfs (pkg/imagecache) and starts unnamed Slurm
	// containers on an overlay of them (ROOTFS_CACHE, gpyxis only).
	// Default: true.
	RootfsCache bool
	// RootfsCacheMaxMB caps the trees' total size; least recently used ones
	// that no container uses are evicted when a new one is added
	// (ROOTFS_CACHE_MAX_MB). 0: no cap. Default: 51200.
	RootfsCacheMaxMB int
	// RootfsCacheMaxDays evicts trees unused for longer
	// (ROOTFS_CACHE_MAX_DAYS). 0: no age limit. Default: 0.
	RootfsCacheMaxDays int
	// RootfsCacheOffline lets a step whose registry cannot be reached use
	// the tree of the digest its tag had when last resolved on this node,
	// with a message saying so (ROOTFS_CACHE_OFFLINE). Default: false.
	RootfsCacheOffline bool
	// Hooks switches the builtin hooks named by HookNames (HOOK_<NAME>).
	// Default: every hook on.
	Hooks map[string]bool

	// Environ holds the non-ENROOT variables that enroot lets its
	// configuration set (SSL_CERT_DIR, SSL_CERT_FILE, *_proxy, NVIDIA_*,
	// MELLANOX_*) and that the environment did not already set. enroot exports
	// them to the import and the hooks.
	Environ map[string]string
	// Source says where each key's value came from, by canonical name
	// (GPYXIS_DATA_PATH): "default", "env ENROOT_DATA_PATH" or "FILE:LINE".
	Source map[string]string
	// Warnings are problems that did not stop loading, each "FILE:LINE: text"
	// or "env NAME: text": unknown keys in enroot's own files, enroot keys
	// gpyxis does not use, non-boolean values taken as true as enroot does.
	Warnings []string
}

// Errors a configuration can fail with; Load wraps them in a *LineError.
var (
	// ErrUnknownKey: a gpyxis file sets a key gpyxis does not know.
	ErrUnknownKey = errors.New("unknown key")
	// ErrCommandSubstitution: a value runs a command ($(...) or backquotes).
	ErrCommandSubstitution = errors.New("command substitution is not allowed in configuration files")
	// ErrUndefined: a value expands a variable that is not set.
	ErrUndefined = errors.New("undefined variable")
	// ErrSyntax: a line or value that is not KEY VALUE or uses shell syntax.
	ErrSyntax = errors.New("syntax error")
	// ErrInvalidValue: a value of the wrong type for its key.
	ErrInvalidValue = errors.New("invalid value")
)

// LineError locates a configuration error: Where is "FILE:LINE" or
// "env NAME", Key the variable as spelled there.
type LineError struct {
	Where string
	Key   string
	Err   error
	// Suggestion is the known key nearest to an unknown one, or "".
	Suggestion string
}

func (e *LineError) Error() string {
	msg := e.Where + ": "
	if e.Key != "" {
		msg += e.Key + ": "
	}
	msg += e.Err.Error()
	if e.Suggestion != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", e.Suggestion)
	}
	return msg
}

func (e *LineError) Unwrap() error { return e.Err }
