// SPDX-License-Identifier: Apache-2.0

package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gpyxis/gpyxis/internal/boundedio"
	"github.com/gpyxis/gpyxis/internal/pathtrust"
)

// LoadOptions says where Load reads from. The zero value reads the standard
// files and os.Environ().
type LoadOptions struct {
	// Files are gpyxis configuration files or glob patterns, in increasing
	// precedence; missing files are skipped and a pattern's matches are read
	// in lexical order. Default: /etc/gpyxis/gpyxis.conf,
	// /etc/gpyxis/gpyxis.conf.d/*.conf, then ${XDG_CONFIG_HOME:-~/.config}/gpyxis/gpyxis.conf.
	Files []string
	// Environ is the environment, "NAME=value" entries. Default: os.Environ().
	Environ []string
	// SkipEnrootConf leaves out enroot's own files. By default they are read
	// (never written) before Files, so that Files override them.
	SkipEnrootConf bool
	// EnrootFiles are enroot's files, read with enroot's leniency (unknown
	// ENROOT_ keys are warnings). Default: ${ENROOT_SYSCONF_PATH:-/etc/enroot}/enroot.conf
	// and its enroot.conf.d/*.conf, ENROOT_SYSCONF_PATH taken from Environ.
	EnrootFiles []string
	// UID is the user whose defaults are computed ($(id -u), ${UID},
	// /run/user/UID). Default: os.Getuid().
	UID *int
	// NumCPU is MAX_PROCESSORS' default. Default: runtime.NumCPU().
	NumCPU int
}

// setting is one key's value as loaded, before it is typed.
type setting struct {
	value  string
	where  string // "FILE:LINE" or "env NAME"
	spell  string // the name as written
	enroot bool   // enroot's semantics apply (enroot file or ENROOT_ variable)
}

type loader struct {
	env      map[string]string
	d        *defaults
	x        *expander
	vals     map[string]*setting // by key.name
	extra    map[string]string
	warnings []string
}

// Load reads the configuration: defaults, then enroot's files, then Files,
// then the environment; a later setting of a key wins.
func Load(opts LoadOptions) (*Config, error) {
	environ := opts.Environ
	if environ == nil {
		environ = os.Environ()
	}
	l := &loader{env: map[string]string{}, vals: map[string]*setting{}, extra: map[string]string{}}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			l.env[k] = v
		}
	}
	l.d = newDefaults(l.env, &opts)
	l.x = &expander{lookup: l.lookup, command: l.d.command, home: l.d.home}

	if !opts.SkipEnrootConf {
		files := opts.EnrootFiles
		if files == nil {
			sys := "/etc/enroot"
			if s := l.env["ENROOT_SYSCONF_PATH"]; filepath.IsAbs(s) {
				sys = s
			}
			files = []string{filepath.Join(sys, "enroot.conf"), filepath.Join(sys, "enroot.conf.d", "*.conf")}
		}
		if err := l.loadAll(files, true); err != nil {
			return nil, err
		}
	}
	files := opts.Files
	if files == nil {
		files = []string{"/etc/gpyxis/gpyxis.conf", "/etc/gpyxis/gpyxis.conf.d/*.conf"}
		if user, err := l.d.xdg("XDG_CONFIG_HOME", ".config", "gpyxis"); err == nil {
			// The user's file decides paths, proxies and CAs: nobody else may
			// be able to write it or swap a directory above it.
			f := filepath.Join(user, "gpyxis.conf")
			if r, err := pathtrust.OpenFile(f, l.d.uid); err == nil {
				r.Close()
			} else if !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("read config: %w", err)
			}
			files = append(files, f)
		}
	}
	if err := l.loadAll(files, false); err != nil {
		return nil, err
	}
	l.loadEnv()
	return l.build()
}

func (l *loader) loadAll(patterns []string, enroot bool) error {
	for _, p := range patterns {
		matches := []string{p}
		if strings.ContainsAny(p, "*?[") {
			var err error
			if matches, err = filepath.Glob(p); err != nil {
				return fmt.Errorf("config pattern %s: %w", p, err)
			}
		}
		for _, m := range matches {
			if err := l.loadFile(m, enroot); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *loader) loadFile(path string, enroot bool) error {
	data, err := boundedio.ReadFile(path, boundedio.Config)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		if err := l.line(sc.Text(), fmt.Sprintf("%s:%d", path, n), enroot); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read config %s: %w", path, err)
	}
	return nil
}

// line applies one KEY VALUE / KEY=VALUE line (separated by any run of
// blanks and '=', as enroot splits it).
func (l *loader) line(text, where string, enroot bool) error {
	text = strings.TrimSpace(text)
	if text == "" || text[0] == '#' {
		return nil
	}
	i := strings.IndexAny(text, " \t=")
	name, raw := text, ""
	if i >= 0 {
		name, raw = text[:i], strings.TrimLeft(text[i:], " \t=")
	}
	if !validName(name) {
		return &LineError{Where: where, Err: fmt.Errorf("%w: %q is not KEY VALUE or KEY=VALUE", ErrSyntax, text)}
	}
	k := lookupKey(name)
	switch {
	case k != nil && k.ignored():
		l.warn(where, name, "not used by gpyxis; ignored")
		return nil
	case k == nil && passthrough(name):
	case k == nil && enroot:
		msg := "unknown key; ignored"
		if strings.HasPrefix(name, prefixEnroot) {
			if s := suggest(name); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
		}
		l.warn(where, name, msg)
		return nil
	case k == nil:
		return &LineError{Where: where, Key: name, Err: ErrUnknownKey, Suggestion: suggest(name)}
	}
	val, err := l.x.expand(raw)
	if err != nil {
		if enroot && errors.Is(err, ErrCommandSubstitution) {
			l.warn(where, name, err.Error()+"; line ignored")
			return nil
		}
		return &LineError{Where: where, Key: name, Err: err}
	}
	if k == nil {
		l.extra[name] = val
		return nil
	}
	if val == "" {
		// enroot's ${X:=default}: an empty value means the default.
		delete(l.vals, k.name)
		return nil
	}
	l.vals[k.name] = &setting{value: val, where: where, spell: name, enroot: enroot}
	return nil
}

// loadEnv lets the environment override the files: GPYXIS_X, else ENROOT_X.
// Empty variables count as unset, as in enroot.
func (l *loader) loadEnv() {
	for _, k := range keys {
		if k.ignored() {
			continue
		}
		for _, p := range []string{prefixGpyxis, prefixEnroot} {
			if v := l.env[p+k.name]; v != "" {
				l.vals[k.name] = &setting{value: v, where: "env " + p + k.name, spell: p + k.name, enroot: p == prefixEnroot}
				break
			}
		}
	}
	for name := range l.extra {
		if _, ok := l.env[name]; ok {
			delete(l.extra, name)
		}
	}
}

// lookup resolves a variable in a value: configuration keys by their
// effective value so far (environment, then earlier lines, then default),
// anything else from the environment, then enroot's pass-through variables,
// then bash's own (UID, EUID) and HOME.
func (l *loader) lookup(name string) (string, bool) {
	if k := lookupKey(name); k != nil && !k.ignored() {
		for _, p := range []string{prefixGpyxis, prefixEnroot} {
			if v := l.env[p+k.name]; v != "" {
				return v, true
			}
		}
		if s, ok := l.vals[k.name]; ok {
			return s.value, true
		}
		v, err := k.def(l.d)
		return v, err == nil
	}
	if v, ok := l.env[name]; ok {
		return v, true
	}
	if v, ok := l.extra[name]; ok {
		return v, true
	}
	return l.d.shellVar(name)
}

func (l *loader) warn(where, name, msg string) {
	l.warnings = append(l.warnings, fmt.Sprintf("%s: %s: %s", where, name, msg))
}

// build types every key's value into a Config.
func (l *loader) build() (*Config, error) {
	c := &Config{Hooks: map[string]bool{}, Environ: l.extra, Source: map[string]string{}}
	for _, k := range keys {
		if k.ignored() {
			continue
		}
		s, ok := l.vals[k.name]
		if !ok {
			v, err := k.def(l.d)
			if err != nil {
				return nil, fmt.Errorf("%s%s: %w (set it in a config file or the environment)", prefixGpyxis, k.name, err)
			}
			s = &setting{value: v, where: "default", spell: prefixGpyxis + k.name}
		}
		if err := l.set(c, k, s); err != nil {
			return nil, &LineError{Where: s.where, Key: s.spell, Err: err}
		}
		c.Source[prefixGpyxis+k.name] = s.where
	}
	c.Warnings = l.warnings
	return c, nil
}

func (l *loader) set(c *Config, k *key, s *setting) error {
	switch k.kind {
	case kindString:
		*k.str(c) = s.value
	case kindPath:
		if s.value != "" && !filepath.IsAbs(s.value) {
			return fmt.Errorf("%w: %q is not an absolute path", ErrInvalidValue, s.value)
		}
		if s.value != "" {
			s.value = filepath.Clean(s.value)
		}
		*k.str(c) = s.value
	case kindInt:
		n, err := parseInt(s.value)
		if err != nil {
			return err
		}
		*k.integer(c) = n
	case kindBool:
		b, warn, err := parseBool(s.value, s.enroot)
		if err != nil {
			return err
		}
		if warn != "" {
			l.warnings = append(l.warnings, fmt.Sprintf("%s: %s: %s", s.where, s.spell, warn))
		}
		if k.hook != "" {
			c.Hooks[k.hook] = b
		} else {
			*k.boolean(c) = b
		}
	}
	return nil
}
