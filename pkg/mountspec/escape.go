// SPDX-License-Identifier: Apache-2.0

package mountspec

import (
	"fmt"
	"strconv"
	"strings"
)

// escapeField writes s in fstab form: space, tab, newline, carriage return
// and backslash become octal escapes (\040, \011, \012, \015, \134), as
// pyxis writes its generated fstab lines (pyxis commit aff5834).
func escapeField(s string) string {
	if !strings.ContainsAny(s, " \t\n\r\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\r', '\\':
			fmt.Fprintf(&b, "\\%03o", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Escape returns path in the form an fstab field needs: space, tab, newline,
// carriage return and backslash as octal escapes. Use it to write entries
// that [Parse] reads back.
func Escape(path string) string { return escapeField(path) }

// unescapeField decodes the escapes of one fstab field. glibc getmntent
// decodes \040, \011, \012, \134 and \\ and keeps any other backslash as is;
// this accepts any three-digit octal escape (as libmount does) and \\, and
// rejects everything else, because a stray backslash is almost always a
// path meant with an escape.
func unescapeField(s string) (string, error) {
	i := strings.IndexByte(s, '\\')
	if i < 0 {
		return s, nil
	}
	var b strings.Builder
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if i+1 < len(s) && s[i+1] == '\\' {
			b.WriteByte('\\')
			i++
			continue
		}
		if i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			v := int(s[i+1]-'0')<<6 | int(s[i+2]-'0')<<3 | int(s[i+3]-'0')
			if v == 0 || v > 0xff {
				return "", fmt.Errorf("%q is not a byte value between \\001 and \\377", s[i:i+4])
			}
			b.WriteByte(byte(v))
			i += 3
			continue
		}
		end := min(i+4, len(s))
		return "", fmt.Errorf("%q is neither \\ooo (octal) nor \\\\", s[i:end])
	}
	return b.String(), nil
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// substitute replaces every ${NAME} (NAME = [A-Za-z_][A-Za-z0-9_]*) in line
// with env[NAME], fstab-escaped, as enroot's common::envsubst (an awk
// script over the whole file) does before getmntent splits the line. An
// unset NAME becomes empty; $NAME and malformed ${...} are left as written.
// A nil env disables substitution.
func substitute(line string, env map[string]string) string {
	if env == nil || !strings.Contains(line, "${") {
		return line
	}
	var b strings.Builder
	for {
		i := strings.Index(line, "${")
		if i < 0 {
			b.WriteString(line)
			return b.String()
		}
		n := varNameLen(line[i+2:])
		if n == 0 || i+2+n >= len(line) || line[i+2+n] != '}' {
			b.WriteString(line[:i+2])
			line = line[i+2:]
			continue
		}
		b.WriteString(line[:i])
		b.WriteString(escapeField(env[line[i+2:i+2+n]]))
		line = line[i+3+n:]
	}
}

// varNameLen returns the length of the shell variable name s starts with.
func varNameLen(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		alpha := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !alpha && (i == 0 || c < '0' || c > '9') {
			return i
		}
	}
	return len(s)
}

// UnescapeMountinfo decodes the octal escapes (\040) of a field of
// /proc/PID/mountinfo or /proc/mounts; a backslash not followed by three
// octal digits is kept as is.
func UnescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
