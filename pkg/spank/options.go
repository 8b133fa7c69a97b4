// SPDX-License-Identifier: Apache-2.0

package spank

import (
	"errors"
	"strings"

	"github.com/gpyxis/gpyxis/pkg/mountspec"
)

// Opt is one option callback that Slurm made in the shim, in the order it
// made them. Name is the long option name as registered, without the
// leading dashes ("container-image", "no-container-mount-home", ...);
// Value is the argument, "" for flag options.
type Opt struct {
	Name, Value string
}

// Tri is a tri-state switch for the --X / --no-X option pairs.
type Tri int8

const (
	// Unset means neither option of the pair was given: the caller defers to
	// its configuration (enroot.conf for mount-home, remap-root and
	// writable; plugstack execute_entrypoint for the entrypoint).
	Unset Tri = iota
	// Off means the negative option was given (--no-container-mount-home,
	// --container-readonly, ...).
	Off
	// On means the positive option was given (--container-mount-home,
	// --container-writable, ...).
	On
)

// Bool returns the switch's value, or def when it is Unset.
func (t Tri) Bool(def bool) bool {
	switch t {
	case On:
		return true
	case Off:
		return false
	}
	return def
}

// String returns "unset", "off" or "on".
func (t Tri) String() string {
	switch t {
	case On:
		return "on"
	case Off:
		return "off"
	case Unset:
		return "unset"
	}
	return "invalid"
}

// Container name flags (the FLAG of --container-name=NAME:FLAG).
const (
	// NameAuto reuses a running container, then an existing one, then
	// creates it; the default.
	NameAuto = "auto"
	// NameCreate requires that the container does not exist yet.
	NameCreate = "create"
	// NameExec requires that the container is running and joins it.
	NameExec = "exec"
	// NameNoExec never joins a running container, only reuses its rootfs.
	NameNoExec = "no_exec"
)

// Namespaces --container-unshare accepts, in canonical order.
var unshareOrder = []string{"net", "ipc", "uts"}

// Options is the validated result of the --container-* options.
//
// When Enabled is false the step runs on the host; the other fields still
// hold what was given (and ParseOptions has returned a warning for each).
type Options struct {
	// Image is --container-image as given: a registry reference or a
	// squashfs path ("." or "/" first).
	Image string
	// Mounts are the parsed --container-mounts entries of every value
	// given, in order, without duplicates.
	Mounts []mountspec.Mount
	// Workdir is --container-workdir; "" means the image's working directory.
	Workdir string
	// Name is the NAME of --container-name=NAME[:FLAG]; "" when not given.
	Name string
	// NameFlag is the FLAG of --container-name: NameAuto (when Name is set
	// without a flag), NameCreate, NameExec or NameNoExec; "" when Name is "".
	NameFlag string
	// Save is --container-save as given; relative paths are left for the
	// caller to resolve against the job's PWD.
	Save string
	// MountHome is --[no-]container-mount-home.
	MountHome Tri
	// RemapRoot is --[no-]container-remap-root.
	RemapRoot Tri
	// Entrypoint is --[no-]container-entrypoint.
	Entrypoint Tri
	// Writable is --container-writable (On) / --container-readonly (Off).
	Writable Tri
	// EntrypointLog is --container-entrypoint-log.
	EntrypointLog bool
	// Env are the --container-env names, in order, without duplicates.
	Env []string
	// Unshare are the --container-unshare namespaces, a subset of "net",
	// "ipc", "uts" in that order.
	Unshare []string
}

// Enabled reports whether the container options apply: --container-image
// or --container-name was given.
func (o Options) Enabled() bool { return o.Image != "" || o.Name != "" }

// ErrInvalidOption is the cause of every *OptionError, for errors.Is.
var ErrInvalidOption = errors.New("invalid container option")

// OptionError is an invalid --container-* option or PYXIS_CONTAINER_*
// variable. Error returns pyxis' own message without its "pyxis: " prefix.
// It matches ErrInvalidOption with errors.Is, and for --container-mounts
// also the underlying *mountspec.Error with errors.As.
type OptionError struct {
	// Option is the option concerned, with its dashes: "--container-image".
	Option string
	// Env is the PYXIS_CONTAINER_* variable the value came from; "" when
	// it came from the command line.
	Env string
	// Msg is pyxis' message.
	Msg string
	// Err is the underlying error (a *mountspec.Error), or nil.
	Err error
}

// Error returns pyxis' message.
func (e *OptionError) Error() string { return e.Msg }

// Unwrap returns ErrInvalidOption and the underlying error, if any.
func (e *OptionError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalidOption, e.Err}
	}
	return []error{ErrInvalidOption}
}

// parser accumulates options the way pyxis' option callbacks do.
type parser struct {
	o Options
	// env is the variable being applied, "" for command-line options.
	env string
	// nameArg is the raw --container-name value, compared on repeats.
	nameArg string
	// mountsSet, logSet, envSet, unshareSet record that the option was
	// given even when it added nothing new.
	mountsSet, logSet, envSet, unshareSet bool
	warnings                              []string
}

func (p *parser) fail(option, msg string) error {
	return &OptionError{Option: option, Env: p.env, Msg: msg}
}

// ParseOptions applies the option callbacks in order, then, for each
// option the command line did not set, its PYXIS_CONTAINER_* variable read
// with getenv (nil reads nothing), following pyxis 0.24:
//
//   - IMAGE, MOUNTS, WORKDIR, NAME, SAVE, ENV and UNSHARE are validated as
//     the option itself, and an invalid value is an error;
//   - MOUNT_HOME, REMAP_ROOT, ENTRYPOINT, ENTRYPOINT_LOG, WRITABLE and
//     READONLY (inverted; read only when WRITABLE set nothing) are booleans,
//     1/true/yes/y or 0/false/no/n; other values are ignored with a warning.
//
// Repeating image, workdir, name or save with the same value is accepted,
// with another value is an error ("--container-X specified multiple
// times"); mounts, env and unshare values accumulate. Giving both options
// of a pair is an error ("both --container-X and --no-container-X were
// specified", "both --container-writable and --container-readonly were
// specified").
//
// When neither image nor name is set, it returns a warning for each other
// option given (pyxis' "ignoring --container-X because neither
// --container-image nor --container-name is set"; env and unshare are not
// warned about). Messages carry no "pyxis: " prefix.
func ParseOptions(opts []Opt, getenv func(string) (string, bool)) (Options, []string, error) {
	p := &parser{}
	for _, opt := range opts {
		if err := p.apply(opt.Name, opt.Value); err != nil {
			return Options{}, nil, err
		}
	}
	if getenv != nil {
		if err := p.fallbacks(getenv); err != nil {
			return Options{}, nil, err
		}
	}
	if !p.o.Enabled() {
		p.warnIgnored()
	}
	return p.o, p.warnings, nil
}

// apply runs the callback of one option.
func (p *parser) apply(name, value string) error {
	switch name {
	case "container-image":
		return p.single("--container-image", &p.o.Image, value)
	case "container-mounts":
		return p.mounts(value)
	case "container-workdir":
		return p.single("--container-workdir", &p.o.Workdir, value)
	case "container-name":
		return p.name(value)
	case "container-save":
		return p.save(value)
	case "container-mount-home", "no-container-mount-home":
		return p.pair(&p.o.MountHome, name, "--container-mount-home", "--no-container-mount-home")
	case "container-remap-root", "no-container-remap-root":
		return p.pair(&p.o.RemapRoot, name, "--container-remap-root", "--no-container-remap-root")
	case "container-entrypoint", "no-container-entrypoint":
		return p.pair(&p.o.Entrypoint, name, "--container-entrypoint", "--no-container-entrypoint")
	case "container-writable", "container-readonly":
		return p.pair(&p.o.Writable, name, "--container-writable", "--container-readonly")
	case "container-entrypoint-log":
		p.o.EntrypointLog, p.logSet = true, true
		return nil
	case "container-env":
		return p.envNames(value)
	case "container-unshare":
		return p.unshare(value)
	}
	return p.fail("--"+name, "unknown option --"+name)
}

// single sets a value option that may be repeated only with the same value.
func (p *parser) single(option string, dst *string, value string) error {
	if value == "" {
		return p.fail(option, option+": argument required")
	}
	if *dst != "" && *dst != value {
		return p.fail(option, option+" specified multiple times")
	}
	*dst = value
	return nil
}

func (p *parser) save(value string) error {
	const option = "--container-save"
	if strings.HasSuffix(value, "/") {
		return p.fail(option, option+": target is a directory")
	}
	return p.single(option, &p.o.Save, value)
}

func (p *parser) name(value string) error {
	const option = "--container-name"
	prev := p.nameArg
	if err := p.single(option, &p.nameArg, value); err != nil {
		return err
	}
	if prev == value {
		return nil
	}
	name, flag, _ := strings.Cut(value, ":")
	if name == "" {
		p.nameArg = ""
		return p.fail(option, option+": empty name")
	}
	if flag == "" {
		flag = NameAuto
	}
	switch flag {
	case NameAuto, NameCreate, NameExec, NameNoExec:
	default:
		p.nameArg = ""
		return p.fail(option, option+`: flag must be "auto", "create", "exec" or "no_exec"`)
	}
	p.o.Name, p.o.NameFlag = name, flag
	return nil
}

// pair sets one side of an on/off option pair: name (without dashes) is
// the one given.
func (p *parser) pair(dst *Tri, name, on, off string) error {
	v, option := Off, off
	if "--"+name == on {
		v, option = On, on
	}
	if *dst != Unset && *dst != v {
		return p.fail(option, "both "+on+" and "+off+" were specified")
	}
	*dst = v
	return nil
}

func (p *parser) mounts(value string) error {
	ms, err := mountspec.ParsePyxisMounts(value)
	if err != nil {
		return &OptionError{Option: mountspec.PyxisOrigin, Env: p.env, Msg: err.Error(), Err: err}
	}
	p.mountsSet = true
	for _, m := range ms {
		if !hasMount(p.o.Mounts, m) {
			p.o.Mounts = append(p.o.Mounts, m)
		}
	}
	return nil
}

// hasMount reports whether list already holds a mount that does the same
// as m, whatever its spelling ("/a" and "/a:/a" are the same mount).
func hasMount(list []mountspec.Mount, m mountspec.Mount) bool {
	m.Line, m.Origin = "", ""
	for _, x := range list {
		x.Line, x.Origin = "", ""
		if x == m {
			return true
		}
	}
	return false
}

func (p *parser) envNames(value string) error {
	const option = "--container-env"
	if value == "" {
		return p.fail(option, option+": argument required")
	}
	names := strings.Split(value, ",")
	for _, n := range names {
		if n == "" {
			return p.fail(option, option+": invalid format: "+value)
		}
	}
	p.envSet = true
	for _, n := range names {
		if !contains(p.o.Env, n) {
			p.o.Env = append(p.o.Env, n)
		}
	}
	return nil
}

func (p *parser) unshare(value string) error {
	const option = "--container-unshare"
	if value == "" {
		return p.fail(option, option+": argument required")
	}
	want := append([]string(nil), p.o.Unshare...)
	for _, ns := range strings.Split(value, ",") {
		switch {
		case ns == "":
			return p.fail(option, option+": empty namespace argument")
		case !contains(unshareOrder, ns):
			return p.fail(option, option+": unknown namespace '"+ns+"'")
		}
		want = append(want, ns)
	}
	p.unshareSet = true
	p.o.Unshare = p.o.Unshare[:0]
	for _, ns := range unshareOrder {
		if contains(want, ns) {
			p.o.Unshare = append(p.o.Unshare, ns)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// fallbacks applies the PYXIS_CONTAINER_* variables, in pyxis' order, to
// the options the command line left unset.
func (p *parser) fallbacks(getenv func(string) (string, bool)) error {
	values := []struct {
		env, option string
		unset       bool
	}{
		{"PYXIS_CONTAINER_IMAGE", "container-image", p.o.Image == ""},
		{"PYXIS_CONTAINER_MOUNTS", "container-mounts", !p.mountsSet},
		{"PYXIS_CONTAINER_WORKDIR", "container-workdir", p.o.Workdir == ""},
		{"PYXIS_CONTAINER_NAME", "container-name", p.o.Name == ""},
		{"PYXIS_CONTAINER_SAVE", "container-save", p.o.Save == ""},
	}
	for _, v := range values {
		if err := p.fallback(getenv, v.env, v.unset, v.option); err != nil {
			return err
		}
	}
	p.boolFallback(getenv, "PYXIS_CONTAINER_MOUNT_HOME", p.o.MountHome == Unset, func(b bool) { p.o.MountHome = tri(b) })
	p.boolFallback(getenv, "PYXIS_CONTAINER_REMAP_ROOT", p.o.RemapRoot == Unset, func(b bool) { p.o.RemapRoot = tri(b) })
	p.boolFallback(getenv, "PYXIS_CONTAINER_ENTRYPOINT", p.o.Entrypoint == Unset, func(b bool) { p.o.Entrypoint = tri(b) })
	p.boolFallback(getenv, "PYXIS_CONTAINER_ENTRYPOINT_LOG", !p.logSet, func(b bool) { p.o.EntrypointLog, p.logSet = b, true })
	p.boolFallback(getenv, "PYXIS_CONTAINER_WRITABLE", p.o.Writable == Unset, func(b bool) { p.o.Writable = tri(b) })
	p.boolFallback(getenv, "PYXIS_CONTAINER_READONLY", p.o.Writable == Unset, func(b bool) { p.o.Writable = tri(!b) })
	if err := p.fallback(getenv, "PYXIS_CONTAINER_ENV", !p.envSet, "container-env"); err != nil {
		return err
	}
	return p.fallback(getenv, "PYXIS_CONTAINER_UNSHARE", !p.unshareSet, "container-unshare")
}

// fallback applies variable env as the value of option when unset.
func (p *parser) fallback(getenv func(string) (string, bool), env string, unset bool, option string) error {
	if !unset {
		return nil
	}
	value, ok := getenv(env)
	if !ok {
		return nil
	}
	p.env = env
	defer func() { p.env = "" }()
	return p.apply(option, value)
}

// boolFallback calls set with the boolean value of variable env when unset.
func (p *parser) boolFallback(getenv func(string) (string, bool), env string, unset bool, set func(bool)) {
	if !unset {
		return
	}
	value, ok := getenv(env)
	if !ok {
		return
	}
	b, ok := parseBool(value)
	if !ok {
		if value != "" {
			p.warnings = append(p.warnings, "ignoring "+env+"="+value+
				": not a boolean (use 1, true, yes, y, 0, false, no or n)")
		}
		return
	}
	set(b)
}

func tri(b bool) Tri {
	if b {
		return On
	}
	return Off
}

// warnIgnored adds pyxis' warnings for options given without an image or
// a name, in pyxis' order.
func (p *parser) warnIgnored() {
	o := p.o
	ignored := []struct {
		given  bool
		option string
	}{
		{len(o.Mounts) > 0, "--container-mounts"},
		{o.Workdir != "", "--container-workdir"},
		{o.Save != "", "--container-save"},
		{o.MountHome != Unset, "--[no-]container-mount-home"},
		{o.RemapRoot != Unset, "--[no-]container-remap-root"},
		{o.Entrypoint != Unset, "--[no-]container-entrypoint"},
		{p.logSet, "--container-entrypoint-log"},
		{o.Writable == Off, "--container-readonly"},
		{o.Writable == On, "--container-writable"},
	}
	for _, i := range ignored {
		if i.given {
			p.warnings = append(p.warnings, "ignoring "+i.option+
				" because neither --container-image nor --container-name is set")
		}
	}
}
