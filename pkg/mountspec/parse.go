// SPDX-License-Identifier: Apache-2.0

package mountspec

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/gpyxis/gpyxis/internal/boundedio"
)

// Create says whether and what to create at the mount target before
// mounting (enroot's x-create option).
type Create int

const (
	// CreateNone creates nothing: the target must exist.
	CreateNone Create = iota
	// CreateDir is x-create=dir: create the target (and parents) as a directory.
	CreateDir
	// CreateFile is x-create=file: create the target as an empty file.
	CreateFile
	// CreateAuto is x-create=auto: a directory if the source is a directory,
	// a file if the source is anything else, nothing if the source cannot be
	// stat'ed.
	CreateAuto
)

func (c Create) String() string {
	switch c {
	case CreateNone:
		return "none"
	case CreateDir:
		return "dir"
	case CreateFile:
		return "file"
	case CreateAuto:
		return "auto"
	}
	return "Create(" + strconv.Itoa(int(c)) + ")"
}

// Mount is one parsed mount entry, in the terms enroot-mount uses to mount
// it. Flag values are Linux mount(2) MS_* bits.
type Mount struct {
	// Source is the decoded first field: a host path (relative ones are
	// relative to the caller's working directory, as in enroot), or a
	// device/filesystem name such as "tmpfs", "none" or pyxis' "umount".
	Source string
	// Target is the decoded mountpoint, always interpreted inside the
	// container root (see ResolveInRoot); it may be relative.
	Target string
	// FSType is the filesystem type; "none" for binds, moves and
	// propagation-only entries.
	FSType string
	// Flags are the flags for the mount(2) call of the entry itself:
	// MS_BIND, MS_REC (only with "rbind"), MS_MOVE (x-move), MS_RDONLY,
	// MS_NOSUID, ... and MS_SILENT. Propagation bits are never here. For a
	// bind with more than MS_BIND|MS_REC (or with Data), enroot makes a
	// second MS_REMOUNT|MS_BIND call with the same flags.
	Flags uintptr
	// PropagationFlags is the OR of the propagation types requested
	// (MS_SHARED, MS_SLAVE, MS_PRIVATE, MS_UNBINDABLE), without MS_REC;
	// see Propagations for the calls to make.
	PropagationFlags uintptr
	// RecursivePropagation is the subset of PropagationFlags that was asked
	// for in its recursive form (rshared, rslave, rprivate, runbindable).
	RecursivePropagation uintptr
	// Data is the comma-joined options that are not mount flags (for
	// example "size=1G,mode=1777" for a tmpfs), passed as mount(2) data.
	Data string
	// Create is the x-create mode.
	Create Create
	// Detach is x-detach: lazily unmount Target instead of mounting
	// (pyxis' "umount:DST").
	Detach bool
	// Move is x-move: MS_MOVE the Source mount to Target (also in Flags).
	Move bool
	// NoFail is nofail: failures of this entry are warnings, not errors.
	NoFail bool
	// Silent is silent (without loud): failures of a NoFail entry are not
	// even warned about.
	Silent bool
	// SkipMount is true when enroot makes no mount(2) call for the entry
	// itself, only the propagation calls: the options hold nothing but
	// propagation, MS_REC and MS_SILENT (for example "none /x none rslave").
	SkipMount bool
	// Pass is the fstab pass number (PASSNO, or FREQ when PASSNO is 0, as
	// enroot-mount does). enroot mounts pass -1 before hooks, pass 0 after.
	Pass int

	// Line is the entry as written, for messages.
	Line string
	// Origin says where the entry came from ("FILE:LINE", "line N",
	// "--mount", "--container-mounts"); empty for Parse.
	Origin string
}

// Propagations returns the flags of the mount(2) calls that set the
// entry's propagation, in enroot's order (shared, slave, private,
// unbindable), each with MS_REC when its recursive form was given, and
// MS_SILENT when Flags has it.
func (m Mount) Propagations() []uintptr {
	var calls []uintptr
	for _, p := range propagationOrder {
		if m.PropagationFlags&p.flag == 0 {
			continue
		}
		f := p.flag | m.Flags&msSilent
		if m.RecursivePropagation&p.flag != 0 {
			f |= msRec
		}
		calls = append(calls, f)
	}
	return calls
}

// IsBind reports whether the entry bind-mounts (or moves) a host path, so
// that its Source must exist.
func (m Mount) IsBind() bool { return m.Flags&(msBind|msMove) != 0 }

// Parse parses one enroot fstab line. ok is false, with a nil error, for a
// blank line or a comment. env supplies ${NAME} substitutions; nil disables
// them.
func Parse(line string, env map[string]string) (m Mount, ok bool, err error) {
	return parseLine(line, "", env)
}

// ParseFstab parses every line of an enroot fstab. Errors name the line
// number ("line N").
func ParseFstab(r io.Reader, env map[string]string) ([]Mount, error) {
	return parseFstab(r, "line ", env)
}

// ParseFstabFile parses the enroot fstab at path. Errors name "PATH:N".
func ParseFstabFile(path string, env map[string]string) ([]Mount, error) {
	f, err := boundedio.Open(path, boundedio.Config)
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	return parseFstab(boundedio.Reader(f, path, boundedio.Config), path+":", env)
}

func parseFstab(r io.Reader, origin string, env map[string]string) ([]Mount, error) {
	br := bufio.NewReader(r)
	var mounts []Mount
	for n := 1; ; n++ {
		line, rerr := br.ReadString('\n')
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return nil, fmt.Errorf("read mounts: %w", rerr)
		}
		if line != "" {
			m, ok, err := parseLine(line, origin+strconv.Itoa(n), env)
			if err != nil {
				return nil, err
			}
			if ok {
				mounts = append(mounts, m)
			}
		}
		if rerr != nil {
			return mounts, nil
		}
	}
}

// ParseEnrootFlag parses the value of `enroot start --mount`: fstab fields
// separated by ":" (enroot turns each ":" into a space), so SRC:DST,
// SRC:DST:OPTS, SRC:DST:TYPE:OPTS... A path can therefore hold neither ":"
// nor a raw space; write a space as \040. enroot does not substitute
// variables here: pass a nil env for the same behaviour.
func ParseEnrootFlag(s string, env map[string]string) (Mount, error) {
	const origin = "--mount"
	if s == "" || strings.ContainsAny(s, " \t\n\r") {
		return Mount{}, &Error{Origin: origin, Entry: s, Err: ErrInvalidEntry,
			Hint: `write SRC:DST[:TYPE[:OPTIONS]] with no blanks; write a space in a path as \040`}
	}
	// Every ":" becomes a blank and blanks collapse, so an empty SRC or DST
	// would vanish and shift the other fields: name it instead.
	if src, rest, ok := strings.Cut(s, ":"); ok {
		var what string
		switch noDst := strings.Trim(rest, ":") == ""; {
		case src == "" && noDst:
			what = "an empty source and target"
		case src == "":
			what = "an empty source"
		case noDst:
			what = "an empty target"
		}
		if what != "" {
			return Mount{}, &Error{Origin: origin, Entry: s, Err: fmt.Errorf("%w: the mount spec has %s", ErrInvalidEntry, what),
				Hint: "write SRC:DST[:TYPE[:OPTIONS]] with both paths"}
		}
	}
	m, ok, err := parseLine(strings.ReplaceAll(s, ":", " "), origin, env)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Entry = s
		}
		return Mount{}, err
	}
	if !ok {
		return Mount{}, &Error{Origin: origin, Entry: s, Err: ErrInvalidEntry,
			Hint: `a leading "#" makes the entry a comment; write it as \043`}
	}
	m.Line = s
	return m, nil
}

const fieldsHint = "write SOURCE TARGET [TYPE [OPTIONS [FREQ [PASSNO]]]]"

// parseLine implements glibc getmntent field splitting and enroot-mount's
// entry interpretation (mount_fstab, parse_mount_opts, mount_entry).
func parseLine(line, origin string, env map[string]string) (Mount, bool, error) {
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	entry := line
	fail := func(err error, hint string) (Mount, bool, error) {
		return Mount{}, false, &Error{Origin: origin, Entry: entry, Err: err, Hint: hint}
	}
	line = substitute(line, env)
	if strings.IndexByte(line, 0) >= 0 {
		return fail(fmt.Errorf("%w: NUL byte", ErrInvalidEntry), "remove the NUL byte (from the line or a ${} value)")
	}
	head := strings.TrimLeft(line, " \t")
	if head == "" || head[0] == '#' {
		return Mount{}, false, nil
	}
	fields := strings.FieldsFunc(head, func(r rune) bool { return r == ' ' || r == '\t' })
	if len(fields) > 6 {
		return fail(fmt.Errorf("%w: %d fields", ErrInvalidEntry, len(fields)),
			fieldsHint+`; write a space inside a path as \040`)
	}
	if len(fields) < 2 {
		return fail(fmt.Errorf("%w: missing target", ErrInvalidEntry), fieldsHint)
	}
	var dec [4]string
	for i := 0; i < len(fields) && i < 4; i++ {
		s, err := unescapeField(fields[i])
		if err != nil {
			return fail(fmt.Errorf("%w: %w", ErrBadEscape, err),
				`write a space as \040, a tab as \011, a newline as \012 and a backslash as \134`)
		}
		dec[i] = s
	}
	freq, pass := 0, 0
	for i, p := range []*int{&freq, &pass} {
		if len(fields) <= 4+i {
			break
		}
		v, err := strconv.Atoi(fields[4+i])
		if err != nil {
			name := [2]string{"FREQ", "PASSNO"}[i]
			return fail(fmt.Errorf("%w: %s %q is not an integer", ErrInvalidEntry, name, fields[4+i]),
				"use -1 to mount before the hooks, 0 (or nothing) to mount after them")
		}
		*p = v
	}
	m := Mount{Source: dec[0], Target: dec[1], FSType: dec[2], Line: entry, Origin: origin}
	opts := dec[3]
	switch {
	case m.FSType == "" && m.Source == "tmpfs":
		m.FSType = "tmpfs"
	case m.FSType == "":
		m.FSType, opts = "none", "rbind,x-create=auto"
	case opts == "" && isOption(m.FSType):
		opts, m.FSType = m.FSType, "none"
		if m.Source == "tmpfs" {
			// Deviation: enroot-mount would call mount(2) with type
			// "none"; pyxis' "tmpfs:/dst:flags" needs a tmpfs.
			m.FSType = "tmpfs"
		}
	}
	if hint, err := m.setOptions(opts); err != nil {
		return fail(err, hint)
	}
	m.Pass = pass
	if pass == 0 {
		m.Pass = freq
	}
	return m, true, nil
}

// setOptions applies an OPTIONS field the way enroot-mount.c
// parse_mount_opts and mount_entry do.
func (m *Mount) setOptions(opts string) (hint string, err error) {
	var raw uintptr
	seen := map[string]bool{}
	var data []string
	for _, o := range strings.Split(opts, ",") {
		if o == "" {
			continue
		}
		if opt, ok := options[o]; ok {
			seen[o] = true
			if opt.clear {
				raw &^= opt.flag
			} else {
				raw |= opt.flag
			}
			continue
		}
		if v, ok := strings.CutPrefix(o, "x-create"); ok {
			return "use x-create=dir, x-create=file or x-create=auto",
				fmt.Errorf("%w: unknown x-create value %q", ErrBadOption, strings.TrimPrefix(v, "="))
		}
		if strings.HasPrefix(o, "x-") {
			return "the x- options are x-create=dir|file|auto, x-detach and x-move",
				fmt.Errorf("%w: unknown option %q", ErrBadOption, o)
		}
		data = append(data, o)
	}
	m.Data = strings.Join(data, ",")
	switch {
	case seen["x-create=file"]:
		m.Create = CreateFile
	case seen["x-create=dir"]:
		m.Create = CreateDir
	case seen["x-create=auto"]:
		m.Create = CreateAuto
	}
	m.Detach = seen["x-detach"]
	m.Move = seen["x-move"]
	m.NoFail = seen["nofail"]
	m.Silent = seen["silent"] && !seen["loud"]

	m.Flags = raw &^ msPropagation
	if !seen["rbind"] {
		m.Flags &^= msRec
	}
	m.PropagationFlags = raw & msPropagation
	for _, p := range propagationOrder {
		if seen[p.rec] {
			m.RecursivePropagation |= p.flag
		}
	}
	// enroot-mount.c mount_entry: no mount(2) for the entry itself when
	// its flags are non-zero but only propagation/MS_REC/MS_SILENT.
	all := raw
	if m.Detach {
		all |= mntDetach
	}
	m.SkipMount = all != 0 && all&^(msPropagation|msRec|msSilent) == 0
	return "", nil
}

// String returns the entry as an fstab line that Parse reads back to the
// same mount: escaped fields, the options rebuilt from the parsed flags,
// and "0 PASS" when Pass is not 0.
func (m Mount) String() string {
	src := escapeField(m.Source)
	if strings.HasPrefix(src, "#") {
		src = `\043` + src[1:]
	}
	fields := []string{src, escapeField(m.Target), escapeField(m.FSType), escapeField(m.options())}
	if m.Pass != 0 {
		fields = append(fields, "0", strconv.Itoa(m.Pass))
	}
	return strings.Join(fields, " ")
}

// options rebuilds an OPTIONS field from the parsed values.
func (m Mount) options() string {
	var o []string
	if m.Flags&msBind != 0 {
		if m.Flags&msRec != 0 {
			o = append(o, "rbind")
		} else {
			o = append(o, "bind")
		}
	}
	for _, s := range setOptions {
		if m.Flags&s.flag != 0 {
			o = append(o, s.name)
		}
	}
	if m.Move {
		o = append(o, "x-move")
	}
	for _, p := range propagationOrder {
		if m.PropagationFlags&p.flag != 0 {
			if m.RecursivePropagation&p.flag != 0 {
				o = append(o, p.rec)
			} else {
				o = append(o, p.rec[1:])
			}
		}
	}
	if m.Flags&msSilent != 0 {
		if !m.Silent {
			o = append(o, "loud")
		}
		o = append(o, "silent")
	}
	if m.Create != CreateNone {
		o = append(o, "x-create="+m.Create.String())
	}
	if m.Detach {
		o = append(o, "x-detach")
	}
	if m.NoFail {
		o = append(o, "nofail")
	}
	if m.Data != "" {
		o = append(o, m.Data)
	}
	if len(o) == 0 {
		return "defaults"
	}
	return strings.Join(o, ",")
}
