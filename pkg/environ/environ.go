// SPDX-License-Identifier: Apache-2.0

package environ

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/gpyxis/gpyxis/internal/boundedio"
)

// Env is an ordered environment: names keep the position of their first setting.
type Env struct {
	names []string
	vals  map[string]string
}

// New returns an empty environment.
func New() *Env { return &Env{vals: map[string]string{}} }

// Set sets name to value.
func (e *Env) Set(name, value string) {
	if _, ok := e.vals[name]; !ok {
		e.names = append(e.names, name)
	}
	e.vals[name] = value
}

// SetDefault sets name only if it is not set.
func (e *Env) SetDefault(name, value string) {
	if _, ok := e.vals[name]; !ok {
		e.Set(name, value)
	}
}

// Get returns the value of name and whether it is set.
func (e *Env) Get(name string) (string, bool) {
	v, ok := e.vals[name]
	return v, ok
}

// List returns NAME=VALUE strings in order, for exec.
func (e *Env) List() []string {
	out := make([]string, 0, len(e.names))
	for _, n := range e.names {
		out = append(out, n+"="+e.vals[n])
	}
	return out
}

var nameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ValidName reports whether s is a variable name enroot accepts ([A-Za-z_][A-Za-z0-9_]*).
func ValidName(s string) bool { return nameRe.MatchString(s) }

// Lookup finds host variables for substitution and bare --env names.
type Lookup func(name string) (string, bool)

// substRe matches ${NAME}: enroot substitutes only the braced form.
var substRe = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// Subst replaces ${NAME} with the host's value (empty when unset), as envsubst does.
func Subst(s string, host Lookup) string {
	return substRe.ReplaceAllStringFunc(s, func(m string) string {
		v, _ := host(m[2 : len(m)-1])
		return v
	})
}

// Load adds the NAME=VALUE lines of an environment file (the image's /etc/environment,
// an environ.d/*.env file) to e with enroot's envfmt rules: blank and # lines and lines
// without a valid NAME= are skipped, spaces around the name and '=' are trimmed, one
// level of surrounding quotes is removed, ${VAR} is substituted from host, ENROOT_*
// names are dropped; later lines win.
func (e *Env) Load(r io.Reader, host Lookup) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := parseLine(sc.Text())
		if !ok || strings.HasPrefix(name, "ENROOT_") {
			continue
		}
		e.Set(name, Subst(value, host))
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read environment: %w", err)
	}
	return nil
}

// LoadFile is Load on a file; a missing file adds nothing.
func (e *Env) LoadFile(path string, host Lookup) error {
	f, err := boundedio.Open(path, boundedio.Config)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("environment file: %w", err)
	}
	defer f.Close()
	if err := e.Load(boundedio.Reader(f, path, boundedio.Config), host); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func parseLine(line string) (name, value string, ok bool) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return "", "", false
	}
	name, value, ok = strings.Cut(line, "=")
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if !ok || !ValidName(name) {
		return "", "", false
	}
	if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
		value = value[1 : len(value)-1]
	}
	return name, value, true
}

// SetFlag applies one --env argument: NAME=VALUE, or NAME alone to pass the host's
// value (nothing when the host does not have it). ENROOT_* names are refused.
func (e *Env) SetFlag(arg string, host Lookup) error {
	name, value, hasValue := strings.Cut(arg, "=")
	if !ValidName(name) {
		return fmt.Errorf("invalid environment variable %q: the name must match [A-Za-z_][A-Za-z0-9_]*", arg)
	}
	if strings.HasPrefix(name, "ENROOT_") {
		return fmt.Errorf("invalid environment variable %q: ENROOT_* names are reserved", arg)
	}
	if !hasValue {
		v, ok := host(name)
		if !ok {
			return nil
		}
		value = v
	}
	e.Set(name, value)
	return nil
}
