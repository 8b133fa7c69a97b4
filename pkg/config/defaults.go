// SPDX-License-Identifier: Apache-2.0

package config

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// defaults computes default values and the identity that expansion needs,
// from the (possibly fake) environment.
type defaults struct {
	env      map[string]string
	uid, gid int
	nproc    int
	homeDir  string // resolved lazily
	homeErr  error
	homeDone bool
}

func newDefaults(env map[string]string, o *LoadOptions) *defaults {
	d := &defaults{env: env, uid: os.Getuid(), gid: os.Getgid(), nproc: runtime.NumCPU()}
	if o.UID != nil {
		d.uid = *o.UID
	}
	if o.NumCPU > 0 {
		d.nproc = o.NumCPU
	}
	return d
}

// home is $HOME, else the passwd entry's home directory.
func (d *defaults) home() (string, error) {
	if !d.homeDone {
		d.homeDone = true
		if h := d.env["HOME"]; filepath.IsAbs(h) {
			d.homeDir = h
		} else if u, err := user.LookupId(strconv.Itoa(d.uid)); err == nil && filepath.IsAbs(u.HomeDir) {
			d.homeDir = u.HomeDir
		} else {
			d.homeErr = errors.New("no home directory: HOME is not set and the user has no passwd entry")
		}
	}
	return d.homeDir, d.homeErr
}

// xdg is ${XDG_VAR}/leaf when XDG_VAR is absolute (the XDG spec ignores
// relative values), else ~/fallback/leaf.
func (d *defaults) xdg(v, fallback, leaf string) (string, error) {
	if base := d.env[v]; filepath.IsAbs(base) {
		return filepath.Join(base, leaf), nil
	}
	h, err := d.home()
	if err != nil {
		return "", fmt.Errorf("default from %s: %w", v, err)
	}
	return filepath.Join(h, fallback, leaf), nil
}

func (d *defaults) runtime() (string, error) {
	base := d.env["XDG_RUNTIME_DIR"]
	if !filepath.IsAbs(base) {
		base = filepath.Join("/run/user", strconv.Itoa(d.uid))
	}
	return filepath.Join(base, "gpyxis"), nil
}

func (d *defaults) temp() (string, error) {
	if t := d.env["TMPDIR"]; filepath.IsAbs(t) {
		return filepath.Clean(t), nil
	}
	return "/tmp", nil
}

// command computes the few command substitutions allowed in values, without a
// shell. ok is false for any other command.
func (d *defaults) command(cmd string) (out string, ok bool, err error) {
	switch cmd {
	case "id -u":
		return strconv.Itoa(d.uid), true, nil
	case "id -g":
		return strconv.Itoa(d.gid), true, nil
	case "id -un", "id -nu", "whoami":
		u, err := user.LookupId(strconv.Itoa(d.uid))
		if err != nil {
			return "", true, fmt.Errorf("$(%s): %w", cmd, err)
		}
		return u.Username, true, nil
	case "id -gn", "id -ng":
		g, err := user.LookupGroupId(strconv.Itoa(d.gid))
		if err != nil {
			return "", true, fmt.Errorf("$(%s): %w", cmd, err)
		}
		return g.Name, true, nil
	case "nproc":
		return strconv.Itoa(d.nproc), true, nil
	case "hostname", "hostname -s":
		// Node-local paths on a shared configuration file (data-$(hostname)).
		h, err := os.Hostname()
		if err != nil {
			return "", true, fmt.Errorf("$(%s): %w", cmd, err)
		}
		if cmd == "hostname -s" {
			h, _, _ = strings.Cut(h, ".")
		}
		return h, true, nil
	}
	return "", false, nil
}

// shellVar gives bash's own variables that are not in the environment (enroot
// configurations use ${UID}) and HOME when the environment lacks it.
func (d *defaults) shellVar(name string) (string, bool) {
	switch name {
	case "UID", "EUID":
		return strconv.Itoa(d.uid), true
	case "HOME":
		h, err := d.home()
		return h, err == nil
	}
	return "", false
}
