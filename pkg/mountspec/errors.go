// SPDX-License-Identifier: Apache-2.0

package mountspec

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel causes, for errors.Is on an [*Error].
var (
	// ErrInvalidEntry: the entry does not have the fields a mount needs.
	ErrInvalidEntry = errors.New("invalid mount entry")
	// ErrBadOption: an option this package knows is wrong (x-create=...,
	// an unknown x- option).
	ErrBadOption = errors.New("bad mount option")
	// ErrBadEscape: a backslash that is not an octal escape or "\\".
	ErrBadEscape = errors.New("bad escape")
	// ErrSourceNotExist: a bind mount source is missing (see CheckSource).
	ErrSourceNotExist = errors.New("mount source does not exist")
	// ErrEscape: the target climbs above the container root with "..".
	// Errors with this cause also match unix.EXDEV.
	ErrEscape = errors.New("mount target escapes the container root")
)

// Error reports a mount entry that cannot be used. Its message names where
// the entry came from, the entry itself, what is wrong and how to fix it.
type Error struct {
	// Origin says where the entry came from: "FILE:LINE", "line N",
	// "--mount" or "--container-mounts".
	Origin string
	// Entry is the entry as the user wrote it.
	Entry string
	// Err is the cause; errors.Is matches the sentinels above through it.
	Err error
	// Hint says how to fix the entry; may be empty.
	Hint string

	// exact is a message that must be printed verbatim (pyxis' messages);
	// when set it replaces the usual "ORIGIN: mount entry ...: ERR" form.
	exact string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.exact != "" {
		b.WriteString(e.exact)
		if e.Entry != "" && !strings.HasSuffix(e.exact, e.Entry) {
			b.WriteString(" (entry " + quote(e.Entry) + ")")
		}
	} else {
		if e.Origin != "" {
			b.WriteString(e.Origin + ": ")
		}
		b.WriteString("mount entry " + quote(e.Entry))
		if e.Err != nil {
			b.WriteString(": " + e.Err.Error())
		}
	}
	if e.Hint != "" {
		b.WriteString(": " + e.Hint)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

func quote(s string) string { return strconv.Quote(s) }
