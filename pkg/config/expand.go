// SPDX-License-Identifier: Apache-2.0

package config

import (
	"fmt"
	"strings"
)

// expander gives a value the meaning enroot's `eval echo` gives it, for the
// safe subset: quotes, backslashes, ${VAR}, $VAR, ${VAR:-word}, ${VAR-word},
// a leading ~, unquoted # comments, and whitespace between words collapsed to
// one space. Commands ($(...) other than the fixed forms defaults.command
// knows, and backquotes) and shell operators are errors.
type expander struct {
	lookup  func(name string) (string, bool)
	command func(cmd string) (string, bool, error)
	home    func() (string, error)
}

func (x *expander) expand(v string) (string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	end := func() {
		if inWord {
			words = append(words, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == ' ' || c == '\t':
			end()
		case c == '#' && !inWord:
			return strings.Join(words, " "), nil
		case c == '~' && !inWord && (i+1 == len(v) || v[i+1] == '/' || v[i+1] == ' ' || v[i+1] == '\t'):
			h, err := x.home()
			if err != nil {
				return "", err
			}
			cur.WriteString(h)
			inWord = true
		case c == '\\':
			if i+1 < len(v) {
				i++
				cur.WriteByte(v[i])
			}
			inWord = true
		case c == '\'':
			j := strings.IndexByte(v[i+1:], '\'')
			if j < 0 {
				return "", fmt.Errorf("%w: unterminated single quote", ErrSyntax)
			}
			cur.WriteString(v[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			n, err := x.doubleQuoted(v[i+1:], &cur)
			if err != nil {
				return "", err
			}
			i += n + 1
			inWord = true
		case c == '$':
			n, err := x.dollar(v[i:], &cur)
			if err != nil {
				return "", err
			}
			i += n - 1
			inWord = true
		case c == '`':
			return "", fmt.Errorf("%w: `...`", ErrCommandSubstitution)
		case strings.IndexByte(";|&<>()", c) >= 0:
			return "", fmt.Errorf("%w: shell operator %q; quote the value", ErrSyntax, c)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	end()
	return strings.Join(words, " "), nil
}

// doubleQuoted copies s up to its closing quote, expanding $ and the
// backslash escapes bash keeps inside double quotes; it returns how many bytes
// it consumed, the quote included.
func (x *expander) doubleQuoted(s string, out *strings.Builder) (int, error) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return i + 1, nil
		case '\\':
			if i+1 < len(s) && strings.IndexByte("$`\"\\", s[i+1]) >= 0 {
				i++
				out.WriteByte(s[i])
			} else {
				out.WriteByte(c)
			}
		case '`':
			return 0, fmt.Errorf("%w: `...`", ErrCommandSubstitution)
		case '$':
			n, err := x.dollar(s[i:], out)
			if err != nil {
				return 0, err
			}
			i += n - 1
		default:
			out.WriteByte(c)
		}
	}
	return 0, fmt.Errorf("%w: unterminated double quote", ErrSyntax)
}

// dollar expands the $-form s starts with and returns its length.
func (x *expander) dollar(s string, out *strings.Builder) (int, error) {
	if len(s) < 2 {
		out.WriteByte('$')
		return 1, nil
	}
	switch c := s[1]; {
	case c == '(':
		j := strings.IndexByte(s, ')')
		if j < 0 || strings.HasPrefix(s, "$((") {
			return 0, fmt.Errorf("%w: %s", ErrCommandSubstitution, s)
		}
		cmd := strings.Join(strings.Fields(s[2:j]), " ")
		val, ok, err := x.command(cmd)
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, fmt.Errorf("%w: $(%s) (only $(id -u), $(id -g), $(id -un), $(id -gn), $(whoami) and $(nproc) are computed)", ErrCommandSubstitution, cmd)
		}
		out.WriteString(val)
		return j + 1, nil
	case c == '{':
		j := strings.IndexByte(s, '}')
		if j < 0 {
			return 0, fmt.Errorf("%w: unterminated ${", ErrSyntax)
		}
		body := s[2:j]
		name, word, op := body, "", ""
		if k := strings.Index(body, ":-"); k >= 0 {
			name, word, op = body[:k], body[k+2:], ":-"
		} else if k := strings.IndexByte(body, '-'); k >= 0 {
			name, word, op = body[:k], body[k+1:], "-"
		}
		if !validName(name) {
			return 0, fmt.Errorf("%w: unsupported expansion ${%s}", ErrSyntax, body)
		}
		val, ok := x.lookup(name)
		if op == ":-" && (!ok || val == "") || op == "-" && !ok {
			w, err := x.expand(word)
			if err != nil {
				return 0, err
			}
			val, ok = w, true
		}
		if !ok {
			return 0, fmt.Errorf("%w: %s", ErrUndefined, name)
		}
		out.WriteString(val)
		return j + 1, nil
	case c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z':
		j := 2
		for j < len(s) && (s[j] == '_' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= '0' && s[j] <= '9') {
			j++
		}
		val, ok := x.lookup(s[1:j])
		if !ok {
			return 0, fmt.Errorf("%w: %s", ErrUndefined, s[1:j])
		}
		out.WriteString(val)
		return j, nil
	}
	out.WriteByte('$')
	return 1, nil
}
