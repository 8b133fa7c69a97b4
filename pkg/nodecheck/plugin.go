// SPDX-License-Identifier: Apache-2.0

package nodecheck

import (
	"bufio"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// pluginDirs are where Slurm looks for a plugin named by a relative path
// (its PluginDir) on the usual distributions.
var pluginDirs = []string{
	"/usr/lib/x86_64-linux-gnu/slurm-wlm",
	"/usr/lib/aarch64-linux-gnu/slurm-wlm",
	"/usr/lib64/slurm",
	"/usr/lib/slurm",
	"/usr/local/lib/slurm",
}

// maxIncludes bounds the plugstack.conf files read (include lines may glob).
const maxIncludes = 64

// FindPlugin returns the path of the gpyxis plugin (a .so whose name contains
// "gpyxis") that plugstack.conf, or a file it includes, loads; "" when none.
func FindPlugin(conf string) (string, error) {
	seen := 0
	var walk func(conf string) (string, error)
	walk = func(conf string) (string, error) {
		if seen++; seen > maxIncludes {
			return "", fmt.Errorf("%s: more than %d plugstack files included", conf, maxIncludes)
		}
		f, err := os.Open(conf)
		if err != nil {
			return "", err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line, _, _ := strings.Cut(sc.Text(), "#")
			fields := strings.Fields(line)
			if len(fields) < 2 {
				continue
			}
			if fields[0] == "include" {
				pattern := fields[1]
				if !filepath.IsAbs(pattern) {
					pattern = filepath.Join(filepath.Dir(conf), pattern)
				}
				matches, _ := filepath.Glob(pattern)
				for _, m := range matches {
					if p, err := walk(m); err != nil || p != "" {
						return p, err
					}
				}
				continue
			}
			if p := fields[1]; strings.Contains(filepath.Base(p), "gpyxis") && strings.HasSuffix(p, ".so") {
				if filepath.IsAbs(p) {
					return p, nil
				}
				for _, d := range pluginDirs {
					if _, err := os.Stat(filepath.Join(d, p)); err == nil {
						return filepath.Join(d, p), nil
					}
				}
				return p, nil
			}
		}
		return "", sc.Err()
	}
	return walk(conf)
}

// PluginSlurmVersion returns the Slurm release a SPANK plugin was built for:
// the plugin_version symbol that SPANK_PLUGIN() sets to SLURM_VERSION_NUMBER.
func PluginSlurmVersion(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	for _, s := range syms {
		if s.Name != "plugin_version" {
			continue
		}
		for _, sec := range f.Sections {
			if sec.Type == elf.SHT_NOBITS || s.Value < sec.Addr || s.Value+4 > sec.Addr+sec.Size {
				continue
			}
			b := make([]byte, 4)
			if _, err := sec.ReadAt(b, int64(s.Value-sec.Addr)); err != nil {
				return "", fmt.Errorf("%s: plugin_version: %w", path, err)
			}
			return SlurmVersion(f.ByteOrder.Uint32(b)), nil
		}
		return "", fmt.Errorf("%s: plugin_version is in no section with data", path)
	}
	return "", fmt.Errorf("%s: no plugin_version symbol: not a Slurm plugin", path)
}

// slurmdVersion returns the release of the slurmd installed here ("" if none).
func slurmdVersion() string {
	path, err := exec.LookPath("slurmd")
	if err != nil {
		for _, p := range []string{"/usr/sbin/slurmd", "/usr/local/sbin/slurmd"} {
			if _, err := os.Stat(p); err == nil {
				path = p
			}
		}
	}
	if path == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-V").Output()
	if err != nil {
		return ""
	}
	fields := strings.Fields(string(out)) // "slurm 22.05.8" or "slurm-wlm 22.05.8"
	if len(fields) < 2 {
		return ""
	}
	return fields[1]
}

// release returns the "MAJOR.MINOR" of a Slurm version such as "22.05.8".
func release(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return v
	}
	return parts[0] + "." + parts[1]
}

func probePlugin(opts Options) Result {
	r := Result{Name: "slurm plugin"}
	path := opts.Plugin
	if path == "" {
		conf := opts.PlugstackConf
		if conf == "" {
			conf = "/etc/slurm/plugstack.conf"
		}
		p, err := FindPlugin(conf)
		switch {
		case errors.Is(err, os.ErrNotExist):
			r.Status, r.Detail = Warn, "no "+conf+": Slurm is not set up on this node (skip this if it runs no srun steps)"
			return r
		case err != nil:
			r.Status, r.Detail = Warn, fmt.Sprintf("reading %s: %v", conf, err)
			return r
		case p == "":
			r.Status, r.Detail = Warn, conf+" loads no gpyxis plugin (skip this if it runs no srun steps)"
			r.Fix = "load it with a 'required PATH/spank_gpyxis.so' line in " + conf + " or a file it includes (make install prints how)"
			return r
		}
		path = p
	}
	built, err := PluginSlurmVersion(path)
	if err != nil {
		r.Status, r.Detail = Warn, err.Error()
		r.Fix = "rebuild and reinstall the plugin (make plugin install) against this node's Slurm headers"
		return r
	}
	r.Detail = path + " is built for Slurm " + built
	installed := slurmdVersion()
	switch {
	case installed == "":
		r.Status = OK
	case release(installed) != release(built):
		r.Status = Warn
		r.Detail += ", but slurmd is " + installed + ": Slurm refuses a plugin built for another release"
		r.Fix = "rebuild the plugin against this Slurm's spank.h (make plugin install)"
	default:
		r.Status = OK
		r.Detail += "; slurmd is " + installed
	}
	return r
}
