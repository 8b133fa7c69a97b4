// SPDX-License-Identifier: Apache-2.0

package container

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/gpyxis/gpyxis/internal/boundedio"
	"github.com/gpyxis/gpyxis/pkg/environ"
	"github.com/gpyxis/gpyxis/pkg/hooks"
	"github.com/gpyxis/gpyxis/pkg/mountspec"
)

// ReadRC reads the rc script of `start --rc FILE`: a regular file or a pipe
// (a shell's <(...)), as enroot accepts, of at most boundedio.Script bytes.
// The result is never nil.
func ReadRC(path string) ([]byte, error) {
	b, err := boundedio.ReadFileOrPipe(path, boundedio.Script)
	if err != nil {
		return nil, fmt.Errorf("rc script: %w", err)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// CheckConf checks the configuration script of `start --conf FILE` as enroot
// does before it starts anything: a regular file that `bash -n` accepts. It
// returns the script's absolute path. enroot's configuration scripts are bash,
// so bash must be installed.
func CheckConf(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("configuration script: %w", err)
	}
	f, err := boundedio.Open(abs, boundedio.Script)
	if err != nil {
		return "", fmt.Errorf("configuration script: %w", err)
	}
	f.Close()
	bash, err := exec.LookPath("bash")
	if err != nil {
		return "", fmt.Errorf("configuration script %s: bash runs it and is not installed: %w", path, err)
	}
	if out, err := exec.Command(bash, "-n", abs).CombinedOutput(); err != nil {
		return "", fmt.Errorf("configuration script %s: bash -n: %w: %s", path, err, strings.TrimSpace(string(out)))
	}
	return abs, nil
}

// confScript is a checked --conf script, evaluated for one container. Each
// function runs in its own `bash` that sources the script first, with
// enroot's shell options (errexit, nounset, pipefail), the container's
// command as positional parameters and ENROOT_ROOTFS and ENROOT_PID (also as
// GPYXIS_*) in its environment; hooks() gets the whole hook contract
// ([hooks.Exec]). A nil *confScript defines no function.
type confScript struct {
	path   string
	rootfs string
	args   []string
	stderr io.Writer // what functions print on stderr when they succeed; nil: discarded
}

func newConf(path, rootfs string, args []string, stderr io.Writer) *confScript {
	if path == "" {
		return nil
	}
	return &confScript{path: path, rootfs: rootfs, args: args, stderr: stderr}
}

// confCall is the bash program that runs function fn of the script "$0" if it
// is defined. What the script prints while sourced goes to stderr, so that
// stdout is the function's alone.
func confCall(fn string) string {
	return `set -euo pipefail; source "$0" >&2; if declare -F ` + fn + ` >/dev/null; then ` + fn + `; fi`
}

// argv is the command line that runs program with the script as $0 and the
// container's command as $1...
func (c *confScript) argv(program string) []string {
	return append([]string{"bash", "--noprofile", "--norc", "-c", program, c.path}, c.args...)
}

// output runs program (see confCall) and returns its standard output; name
// is the function in errors, which carry its standard error.
func (c *confScript) output(name, program string) ([]byte, error) {
	argv := c.argv(program)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "ENROOT_ROOTFS="+c.rootfs, "GPYXIS_ROOTFS="+c.rootfs,
		"ENROOT_PID="+strconv.Itoa(os.Getpid()), "GPYXIS_PID="+strconv.Itoa(os.Getpid()))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		var ee *exec.ExitError
		if errors.As(err, &ee) && msg != "" {
			return nil, fmt.Errorf("configuration script %s: %s: %w: %s", c.path, name, err, msg)
		}
		return nil, fmt.Errorf("configuration script %s: %s: %w", c.path, name, err)
	}
	if c.stderr != nil {
		c.stderr.Write(stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

// environ adds the NAME=VALUE lines environ() prints to env, with enroot's
// envfmt rules and no ${VAR} substitution (enroot appends them as printed).
func (c *confScript) environ(env *environ.Env) error {
	if c == nil {
		return nil
	}
	out, err := c.output("environ()", confCall("environ"))
	if err != nil {
		return err
	}
	keep := func(name string) (string, bool) { return "${" + name + "}", true }
	if err := env.Load(bytes.NewReader(out), keep); err != nil {
		return fmt.Errorf("configuration script %s: environ(): %w", c.path, err)
	}
	return nil
}

// mounts parses the fstab lines mounts() prints; as enroot mounts them with
// pass 0, entries with another pass number are left out.
func (c *confScript) mounts() ([]mountspec.Mount, error) {
	if c == nil {
		return nil, nil
	}
	out, err := c.output("mounts()", confCall("mounts"))
	if err != nil {
		return nil, err
	}
	specs, err := mountspec.ParseFstab(bytes.NewReader(out), nil)
	if err != nil {
		return nil, fmt.Errorf("configuration script %s: mounts(): %w", c.path, err)
	}
	return mountspec.FilterPass(specs, mountspec.PassDefault), nil
}

// hook is the hooks() function as a hook, run after the site hooks.
func (c *confScript) hook() hooks.Hook {
	if c == nil {
		return nil
	}
	return hooks.Exec(c.path+": hooks()", c.argv(confCall("hooks"))...)
}

// rc returns the body of the rc() function, which enroot runs instead of
// /etc/rc; nil when the script does not define it.
func (c *confScript) rc() ([]byte, error) {
	if c == nil {
		return nil, nil
	}
	out, err := c.output("rc()", `set -euo pipefail; source "$0" >&2; if declare -F rc >/dev/null; then declare -f rc; fi`)
	if err != nil || len(out) == 0 {
		return nil, err
	}
	return rcBody(out), nil
}

// rcBody strips what `declare -f rc` adds around the function's body (the
// "rc ()" and "{" lines, and the closing "}"), as enroot's `sed '1,2d;$d'`.
func rcBody(decl []byte) []byte {
	lines := strings.Split(strings.TrimSuffix(string(decl), "\n"), "\n")
	if len(lines) < 3 {
		return []byte{}
	}
	return []byte(strings.Join(lines[2:len(lines)-1], "\n") + "\n")
}

// confDirectiveRe matches enroot's `#ENROOT_NAME=VALUE` directives, read from a
// configuration script before the container starts (enroot.in's
// `sed -n '/^#[[:space:]]*ENROOT_/s/#//p'` then config::init).
var confDirectiveRe = regexp.MustCompile(`^#[ \t]*ENROOT_([A-Z_]+)[ \t=]+(.*)$`)

// ConfDirectives returns the #ENROOT_NAME=VALUE directives of the configuration
// script at path, which override the configuration for this start in enroot:
// NAME without its prefix, VALUE with one level of quotes removed (enroot
// evaluates it with the shell; gpyxis takes it literally).
func ConfDirectives(path string) (map[string]string, error) {
	data, err := boundedio.ReadFile(path, boundedio.Script)
	if err != nil {
		return nil, fmt.Errorf("configuration script: %w", err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		m := confDirectiveRe.FindStringSubmatch(strings.TrimRight(line, " \t\r"))
		if m == nil {
			continue
		}
		v := m[2]
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out[m[1]] = v
	}
	return out, nil
}

// DirectiveBool is enroot's truth of a setting (config::fini): false when
// empty or n, no, N, NO, No, f, false, F, False, FALSE; true otherwise.
func DirectiveBool(v string) bool {
	switch v {
	case "", "n", "no", "N", "NO", "No", "f", "false", "F", "False", "FALSE":
		return false
	}
	return true
}
