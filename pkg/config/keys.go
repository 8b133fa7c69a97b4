// SPDX-License-Identifier: Apache-2.0

package config

import (
	"fmt"
	"strconv"
	"strings"
)

// The two prefixes every key is accepted under. GPYXIS_ is canonical: Source
// and error messages name keys with it.
const (
	prefixGpyxis = "GPYXIS_"
	prefixEnroot = "ENROOT_"
)

type kind int

const (
	kindString kind = iota
	kindPath        // absolute after expansion; empty means "not set" only where optional
	kindBool
	kindInt
)

// key is one configuration variable, named without its prefix.
type key struct {
	name string
	kind kind
	// optional: an empty value is valid (a string that may stay unset).
	optional bool
	// def returns the default as it would be written in a file.
	def func(d *defaults) (string, error)
	// str, boolean, integer point at the field; exactly one is non-nil for
	// keys the runtime knows, none for ignored enroot keys.
	str     func(c *Config) *string
	boolean func(c *Config) *bool
	integer func(c *Config) *int
	// hook names an entry of Config.Hooks instead of a field.
	hook string
}

func (k *key) ignored() bool {
	return k.str == nil && k.boolean == nil && k.integer == nil && k.hook == ""
}

func constant(s string) func(*defaults) (string, error) {
	return func(*defaults) (string, error) { return s, nil }
}

// HookNames are the builtin hooks Config.Hooks switches, each by
// GPYXIS_HOOK_<NAME> (default on).
var HookNames = []string{"shadow", "home", "cgroups", "devices", "localtime", "aptfix", "nvidia"}

// keys is every variable gpyxis accepts, in documentation order.
var keys = buildKeys()

// ignoredEnroot are enroot variables that gpyxis accepts and does not use.
var ignoredEnroot = []string{
	"LIBRARY_PATH", "GZIP_PROGRAM", "NATIVE_OVERLAYFS", "BUNDLE_ALL", "BUNDLE_CHECKSUM",
	"FORCE_OVERRIDE", "DEBUG", "ROOTFS",
}

func buildKeys() []*key {
	s := func(f func(*Config) *string) func(*Config) *string { return f }
	ks := []*key{
		{name: "DATA_PATH", kind: kindPath, def: func(d *defaults) (string, error) { return d.xdg("XDG_DATA_HOME", ".local/share", "gpyxis") },
			str: s(func(c *Config) *string { return &c.DataPath })},
		{name: "CACHE_PATH", kind: kindPath, def: func(d *defaults) (string, error) { return d.xdg("XDG_CACHE_HOME", ".cache", "gpyxis") },
			str: s(func(c *Config) *string { return &c.CachePath })},
		{name: "RUNTIME_PATH", kind: kindPath, def: func(d *defaults) (string, error) { return d.runtime() },
			str: s(func(c *Config) *string { return &c.RuntimePath })},
		{name: "TEMP_PATH", kind: kindPath, def: func(d *defaults) (string, error) { return d.temp() },
			str: s(func(c *Config) *string { return &c.TempPath })},
		{name: "CONFIG_PATH", kind: kindPath, def: func(d *defaults) (string, error) { return d.xdg("XDG_CONFIG_HOME", ".config", "enroot") },
			str: s(func(c *Config) *string { return &c.ConfigPath })},
		{name: "SYSCONF_PATH", kind: kindPath, def: constant("/etc/enroot"),
			str: s(func(c *Config) *string { return &c.SysconfPath })},
		{name: "SQUASH_OPTIONS", kind: kindString, def: constant("-comp lzo -noD -exit-on-error"),
			str: s(func(c *Config) *string { return &c.SquashOptions })},
		{name: "ZSTD_OPTIONS", kind: kindString, def: constant("-1"),
			str: s(func(c *Config) *string { return &c.ZstdOptions })},
		{name: "REMAP_ROOT", kind: kindBool, def: constant("false"), boolean: func(c *Config) *bool { return &c.RemapRoot }},
		{name: "ROOTFS_WRITABLE", kind: kindBool, def: constant("false"), boolean: func(c *Config) *bool { return &c.RootfsWritable }},
		{name: "MOUNT_HOME", kind: kindBool, def: constant("false"), boolean: func(c *Config) *bool { return &c.MountHome }},
		{name: "RESTRICT_DEV", kind: kindBool, def: constant("false"), boolean: func(c *Config) *bool { return &c.RestrictDev }},
		{name: "ALLOW_SUPERUSER", kind: kindBool, def: constant("false"), boolean: func(c *Config) *bool { return &c.AllowSuperuser }},
		{name: "ALLOW_HTTP", kind: kindBool, def: constant("false"), boolean: func(c *Config) *bool { return &c.AllowHTTP }},
		{name: "LOGIN_SHELL", kind: kindBool, def: constant("true"), boolean: func(c *Config) *bool { return &c.LoginShell }},
		{name: "MAX_PROCESSORS", kind: kindInt, def: func(d *defaults) (string, error) { return strconv.Itoa(d.nproc), nil },
			integer: func(c *Config) *int { return &c.MaxProcessors }},
		{name: "MAX_CONNECTIONS", kind: kindInt, def: constant("10"), integer: func(c *Config) *int { return &c.MaxConnections }},
		{name: "CONNECT_TIMEOUT", kind: kindInt, def: constant("30"), integer: func(c *Config) *int { return &c.ConnectTimeout }},
		{name: "TRANSFER_TIMEOUT", kind: kindInt, def: constant("0"), integer: func(c *Config) *int { return &c.TransferTimeout }},
		{name: "TRANSFER_RETRIES", kind: kindInt, def: constant("0"), integer: func(c *Config) *int { return &c.TransferRetries }},
		{name: "STALL_TIMEOUT", kind: kindInt, def: constant("60"), integer: func(c *Config) *int { return &c.StallTimeout }},
		{name: "UNSHARE_NET", kind: kindBool, def: constant("false"), boolean: func(c *Config) *bool { return &c.Unshare.Net }},
		{name: "UNSHARE_PID", kind: kindBool, def: constant("false"), boolean: func(c *Config) *bool { return &c.Unshare.PID }},
		{name: "UNSHARE_IPC", kind: kindBool, def: constant("false"), boolean: func(c *Config) *bool { return &c.Unshare.IPC }},
		{name: "UNSHARE_UTS", kind: kindBool, def: constant("false"), boolean: func(c *Config) *bool { return &c.Unshare.UTS }},
		{name: "SHARED_CACHE_DIR", kind: kindPath, optional: true, def: constant(""),
			str: s(func(c *Config) *string { return &c.SharedCacheDir })},
		{name: "ROOTFS_CACHE", kind: kindBool, def: constant("true"), boolean: func(c *Config) *bool { return &c.RootfsCache }},
		{name: "ROOTFS_CACHE_MAX_MB", kind: kindInt, def: constant("51200"), integer: func(c *Config) *int { return &c.RootfsCacheMaxMB }},
		{name: "ROOTFS_CACHE_MAX_DAYS", kind: kindInt, def: constant("0"), integer: func(c *Config) *int { return &c.RootfsCacheMaxDays }},
		{name: "ROOTFS_CACHE_OFFLINE", kind: kindBool, def: constant("false"), boolean: func(c *Config) *bool { return &c.RootfsCacheOffline }},
	}
	for _, h := range HookNames {
		ks = append(ks, &key{name: "HOOK_" + strings.ToUpper(h), kind: kindBool, def: constant("true"), hook: h})
	}
	for _, n := range ignoredEnroot {
		ks = append(ks, &key{name: n, kind: kindString, optional: true, def: constant("")})
	}
	return ks
}

// lookupKey returns the key a variable name spells (either prefix), or nil.
func lookupKey(name string) *key {
	var bare string
	switch {
	case strings.HasPrefix(name, prefixGpyxis):
		bare = name[len(prefixGpyxis):]
	case strings.HasPrefix(name, prefixEnroot):
		bare = name[len(prefixEnroot):]
	default:
		return nil
	}
	for _, k := range keys {
		if k.name == bare {
			return k
		}
	}
	return nil
}

// falseWords are enroot's false spellings (enroot unsets the variable), plus
// 0 and off; trueWords are accepted for symmetry.
var (
	falseWords = []string{"no", "n", "N", "No", "NO", "f", "F", "false", "False", "FALSE", "0", "off", "Off", "OFF"}
	trueWords  = []string{"yes", "y", "Y", "Yes", "YES", "t", "T", "true", "True", "TRUE", "1", "on", "On", "ON"}
)

// parseBool parses a boolean. lenient gives enroot's meaning to anything else
// (set means true) and reports it; otherwise it is an error.
func parseBool(v string, lenient bool) (val bool, warn string, err error) {
	for _, w := range falseWords {
		if v == w {
			return false, "", nil
		}
	}
	for _, w := range trueWords {
		if v == w {
			return true, "", nil
		}
	}
	if lenient {
		return true, fmt.Sprintf("%q is not a boolean; taken as true as enroot does", v), nil
	}
	return false, "", fmt.Errorf("%w: %q is not a boolean (use yes/no, true/false, y/n, 1/0, on/off)", ErrInvalidValue, v)
}

func parseInt(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: %q is not a non-negative integer", ErrInvalidValue, v)
	}
	return n, nil
}

// passthrough reports whether a non-ENROOT name may be set in a config file;
// enroot exports these for the import and the hooks.
func passthrough(name string) bool {
	switch name {
	case "SSL_CERT_DIR", "SSL_CERT_FILE", "all_proxy", "no_proxy", "http_proxy", "https_proxy":
		return true
	}
	return validName(name) && (strings.HasPrefix(name, "MELLANOX_") || strings.HasPrefix(name, "NVIDIA_"))
}

func validName(name string) bool {
	if name == "" || name[0] >= '0' && name[0] <= '9' {
		return false
	}
	for _, r := range name {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// suggest returns the known key nearest to name (by edit distance, in name's
// own prefix), or "" when nothing is close.
func suggest(name string) string {
	prefix := prefixGpyxis
	if strings.HasPrefix(name, prefixEnroot) {
		prefix = prefixEnroot
	}
	bare := strings.TrimPrefix(strings.TrimPrefix(name, prefixGpyxis), prefixEnroot)
	best, bestD := "", 1<<30
	for _, k := range keys {
		if d := distance(bare, k.name); d < bestD {
			best, bestD = k.name, d
		}
	}
	if bestD > max(3, len(bare)/2) {
		return ""
	}
	return prefix + best
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
