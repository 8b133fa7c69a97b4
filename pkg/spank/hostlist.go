// SPDX-License-Identifier: Apache-2.0

package spank

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrBadHostlist is the cause of FirstHost's errors, for errors.Is.
var ErrBadHostlist = errors.New("invalid hostlist")

// FirstHost returns the first host of a Slurm hostlist expression such as
// "vm", "vm,vm-n2", "node[01-04]", "node[07,09-12],gpu[1-2]" or
// "a-b[3-5]-c" (giving "vm", "vm", "node01", "node07" and "a-b3-c").
//
// Hosts are separated by commas (or blanks) outside brackets; a bracket
// holds a comma-separated list of numbers or LOW-HIGH ranges, and each
// bracket of a host contributes its first number as written, so zero
// padding is kept. The whole expression is checked: empty or unbalanced
// brackets, non-numeric or reversed ranges and an empty list are errors
// that wrap ErrBadHostlist.
func FirstHost(nodelist string) (string, error) {
	hosts, err := splitHostlist(nodelist)
	if err != nil {
		return "", err
	}
	var first string
	for i, h := range hosts {
		name, err := firstOfHost(h)
		if err != nil {
			return "", fmt.Errorf("%w %q: %s", ErrBadHostlist, nodelist, err.Error())
		}
		if i == 0 {
			first = name
		}
	}
	return first, nil
}

// splitHostlist splits at separators outside brackets, dropping empty
// items, and checks that brackets are balanced and not nested.
func splitHostlist(nodelist string) ([]string, error) {
	bad := func(reason string) error {
		return fmt.Errorf("%w %q: %s", ErrBadHostlist, nodelist, reason)
	}
	var hosts []string
	depth, start := 0, 0
	for i := 0; i <= len(nodelist); i++ {
		var c byte
		if i < len(nodelist) {
			c = nodelist[i]
		}
		switch {
		case c == '[':
			if depth > 0 {
				return nil, bad("nested '['")
			}
			depth++
		case c == ']':
			if depth == 0 {
				return nil, bad("']' without '['")
			}
			depth--
		case depth == 0 && (i == len(nodelist) || c == ',' || c == ' ' || c == '\t' || c == '\n'):
			if i > start {
				hosts = append(hosts, nodelist[start:i])
			}
			start = i + 1
		}
	}
	if depth > 0 {
		return nil, bad("unclosed '['")
	}
	if len(hosts) == 0 {
		return nil, bad("no host")
	}
	return hosts, nil
}

// firstOfHost expands one host expression (balanced, unnested brackets)
// to its first name, checking every bracket.
func firstOfHost(h string) (string, error) {
	var b strings.Builder
	for h != "" {
		open := strings.IndexByte(h, '[')
		if open < 0 {
			b.WriteString(h)
			break
		}
		b.WriteString(h[:open])
		end := strings.IndexByte(h[open:], ']') + open
		first, err := firstOfRanges(h[open+1 : end])
		if err != nil {
			return "", err
		}
		b.WriteString(first)
		h = h[end+1:]
	}
	return b.String(), nil
}

// firstOfRanges checks a bracket's "N,LOW-HIGH,..." list and returns its
// first number as written.
func firstOfRanges(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty '[]'")
	}
	var first string
	for i, r := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(r, "-")
		loN, err := hostNumber(lo)
		if err != nil {
			return "", err
		}
		if isRange {
			hiN, err := hostNumber(hi)
			if err != nil {
				return "", err
			}
			if hiN < loN {
				return "", fmt.Errorf("range %q goes backwards", r)
			}
		}
		if i == 0 {
			first = lo
		}
	}
	return first, nil
}

// hostNumber parses one bound of a bracket range: decimal digits only.
func hostNumber(s string) (uint64, error) {
	if s == "" {
		return 0, errors.New("empty number in '[]'")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a number", s)
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n, nil
}
