// SPDX-License-Identifier: Apache-2.0

package spank

import (
	"errors"
	"strconv"
	"strings"
)

// Plugstack is the configuration given as arguments on the plugin's
// plugstack.conf line, pyxis' keys plus gpyxis' own.
type Plugstack struct {
	// RuntimePath is runtime_path=, the directory for per-user runtime
	// files; default "/run/gpyxis".
	RuntimePath string
	// ExecuteEntrypoint is execute_entrypoint=, the default of
	// --container-entrypoint; default false.
	ExecuteEntrypoint bool
	// ContainerScope is container_scope=: "global" (default), named
	// containers outlive the job; or "job", they are removed at job end.
	ContainerScope string
	// SbatchSupport is sbatch_support=, whether the options are offered to
	// sbatch and salloc; default true.
	SbatchSupport bool
	// UseEnrootLoad is use_enroot_load=. It is accepted so that a pyxis
	// plugstack line works unchanged; gpyxis always unpacks image layers
	// directly, so it changes nothing.
	UseEnrootLoad bool
	// Importer is importer=, the absolute path of an importer program
	// (pyxis' "importer get/release" protocol); "" for none.
	Importer string
	// UseSquashfuse is use_squashfuse=. It is accepted for compatibility
	// and currently ignored by gpyxis.
	UseSquashfuse bool
	// Runtime is runtime=, the absolute path of the gpyxis-runtime binary
	// (gpyxis only; the C shim reads it too); "" for the built-in default.
	Runtime string
	// SharedRootfsCache is shared_rootfs_cache=, a directory where root
	// keeps one tree per image for every user of the node (gpyxis only;
	// "" for none: each user has a cache of their own). See
	// shared_linux.go.
	SharedRootfsCache string
	// SharedRootfsCacheMaxMB is shared_rootfs_cache_max_mb=, the shared
	// cache's size cap; default 51200.
	SharedRootfsCacheMaxMB int
}

// Plugstack defaults.
const (
	// DefaultRuntimePath is the default runtime_path.
	DefaultRuntimePath = "/run/gpyxis"
	// ScopeGlobal is container_scope=global, the default.
	ScopeGlobal = "global"
	// ScopeJob is container_scope=job.
	ScopeJob = "job"
)

// plugstackKeys are the keys ParsePlugstack knows, in documentation order.
var plugstackKeys = []string{
	"runtime_path", "execute_entrypoint", "container_scope", "sbatch_support",
	"use_enroot_load", "importer", "use_squashfuse", "runtime",
	"shared_rootfs_cache", "shared_rootfs_cache_max_mb",
}

// ErrInvalidConfig is the cause of every *ConfigError, for errors.Is.
var ErrInvalidConfig = errors.New("invalid plugstack configuration")

// ConfigError is an invalid plugstack argument.
type ConfigError struct {
	// Arg is the argument as written ("key=value").
	Arg string
	// Key is the key of the argument; "" when the argument is unknown.
	Key string
	// Msg is the message, without a "gpyxis: " prefix.
	Msg string
}

// Error returns the message.
func (e *ConfigError) Error() string { return e.Msg }

// Unwrap returns ErrInvalidConfig.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// ParsePlugstack parses the plugstack.conf arguments that follow the
// plugin's path, each "key=value"; a later key overrides an earlier one.
// Booleans are 1/true/yes/y or 0/false/no/n. It returns an error for an
// unknown key (pyxis' "unknown configuration option: ARG", followed by the
// known keys), an invalid boolean ("KEY: invalid value: VALUE"), a
// container_scope other than job or global, and a runtime_path, importer
// or runtime that is not an absolute path.
func ParsePlugstack(args []string) (Plugstack, error) {
	c := Plugstack{
		RuntimePath:            DefaultRuntimePath,
		ContainerScope:         ScopeGlobal,
		SbatchSupport:          true,
		SharedRootfsCacheMaxMB: 51200,
	}
	for _, arg := range args {
		if err := c.set(arg); err != nil {
			return Plugstack{}, err
		}
	}
	return c, nil
}

// set applies one "key=value" argument.
func (c *Plugstack) set(arg string) error {
	key, value, ok := strings.Cut(arg, "=")
	if !ok || !contains(plugstackKeys, key) {
		return &ConfigError{Arg: arg, Msg: "unknown configuration option: " + arg +
			" (known options: " + strings.Join(plugstackKeys, "=, ") + "=)"}
	}
	var err error
	switch key {
	case "runtime_path":
		err = setPath(&c.RuntimePath, arg, key, value, false)
	case "importer":
		err = setPath(&c.Importer, arg, key, value, true)
	case "runtime":
		err = setPath(&c.Runtime, arg, key, value, true)
	case "shared_rootfs_cache":
		err = setPath(&c.SharedRootfsCache, arg, key, value, true)
	case "shared_rootfs_cache_max_mb":
		n, perr := strconv.Atoi(value)
		if perr != nil || n < 0 {
			return &ConfigError{Arg: arg, Key: key, Msg: key + ": invalid value: " + value + " (use a size in MiB, 0 for no cap)"}
		}
		c.SharedRootfsCacheMaxMB = n
	case "container_scope":
		if value != ScopeGlobal && value != ScopeJob {
			return &ConfigError{Arg: arg, Key: key,
				Msg: key + `: invalid value: ` + value + ` (use "global" or "job")`}
		}
		c.ContainerScope = value
	case "execute_entrypoint":
		err = setBool(&c.ExecuteEntrypoint, arg, key, value)
	case "sbatch_support":
		err = setBool(&c.SbatchSupport, arg, key, value)
	case "use_enroot_load":
		err = setBool(&c.UseEnrootLoad, arg, key, value)
	case "use_squashfuse":
		err = setBool(&c.UseSquashfuse, arg, key, value)
	}
	return err
}

// setPath sets a path key; the path must be absolute, or empty when
// emptyOK.
func setPath(dst *string, arg, key, value string, emptyOK bool) error {
	if !strings.HasPrefix(value, "/") && (value != "" || !emptyOK) {
		return &ConfigError{Arg: arg, Key: key,
			Msg: key + ": path must be absolute: " + value}
	}
	*dst = value
	return nil
}

// setBool sets a boolean key.
func setBool(dst *bool, arg, key, value string) error {
	b, ok := parseBool(value)
	if !ok {
		return &ConfigError{Arg: arg, Key: key,
			Msg: key + ": invalid value: " + value + " (use 1, true, yes, y, 0, false, no or n)"}
	}
	*dst = b
	return nil
}

// parseBool parses a boolean the way pyxis does: exactly 1, true, yes or y
// for true and 0, false, no or n for false.
func parseBool(s string) (value, ok bool) {
	switch s {
	case "1", "true", "yes", "y":
		return true, true
	case "0", "false", "no", "n":
		return false, true
	}
	return false, false
}
