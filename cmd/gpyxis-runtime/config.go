// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/gpyxis/gpyxis/internal/pathtrust"
	"github.com/gpyxis/gpyxis/pkg/config"
)

// siteConfig is the configuration (files and ENROOT_*/GPYXIS_* variables), loaded
// once; its warnings go to stderr, the command's voice.
var siteConfig = sync.OnceValues(func() (*config.Config, error) {
	c, err := config.Load(config.LoadOptions{})
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	for _, w := range c.Warnings {
		fmt.Fprintf(os.Stderr, "gpyxis-runtime: warning: %s\n", w)
	}
	return c, nil
})

// explicit reports whether the configuration sets key (its GPYXIS_ name, without the
// prefix) rather than leaving the default: gpyxis keeps its own defaults (zstd, 4
// download jobs) where enroot's differ, unless a site asks for enroot's.
func explicit(c *config.Config, key string) bool {
	s, ok := c.Source["GPYXIS_"+key]
	return ok && s != "default"
}

// hookSettings returns the hook switches and the configuration directories whose
// environ.d, mounts.d and hooks.d apply: the system one (/etc/gpyxis), then the
// user's ($XDG_CONFIG_HOME/gpyxis). enroot's own directories are not read: its hooks
// need enroot's shell libraries and its mounts.d repeats the mounts gpyxis makes itself.
func hookSettings() (map[string]string, []string, error) {
	cfg, err := siteConfig()
	if err != nil {
		return nil, nil, err
	}
	onOff := map[bool]string{true: "1", false: "0"}
	sw := map[string]string{"mount_home": onOff[cfg.MountHome], "restrict_dev": onOff[cfg.RestrictDev]}
	for name, on := range cfg.Hooks {
		sw[name] = onOff[on]
	}
	dirs := []string{"/etc/gpyxis"}
	if d, err := os.UserConfigDir(); err == nil {
		// Its hooks.d runs as the user: nobody else may be able to write there.
		d = filepath.Join(d, "gpyxis")
		if err := pathtrust.CheckDir(d, os.Geteuid()); err == nil {
			dirs = append(dirs, d)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("configuration directory: %w", err)
		}
	}
	return sw, dirs, nil
}

// userDir returns dir (RUNTIME_PATH, or DATA_PATH or CACHE_PATH when a
// command uses them itself), made 0700 when missing and checked as the
// caller's (internal/pathtrust): a directory another user can write to, or
// swap on the way to it, lets them plant what the caller runs or trusts.
func userDir(what, dir string) (string, error) {
	if err := pathtrust.MkdirAll(dir, 0o700, os.Geteuid()); err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return dir, nil
}
