// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// netrcEntry is one machine (or default) entry of a netrc file.
type netrcEntry struct {
	machine   string // "" for the default entry
	isDefault bool
	login     string
	password  string // raw; evaluated by the shell when it starts with '$'
}

// token is one word of a netrc file; rest is the remainder of its line starting
// at the word, which enroot hands to the shell for passwords starting with '$'.
type token struct {
	text string
	rest string
	line int
}

// parseNetrc reads netrc entries: machine NAME | default, then login, password,
// account and macdef in any order, across any number of lines. Words may be
// double-quoted (with \" and \\ escapes); '#' starts a comment. A password
// starting with '$' extends to the end of its line, as in enroot.
func parseNetrc(r io.Reader) ([]netrcEntry, error) {
	toks, err := netrcTokens(r)
	if err != nil {
		return nil, err
	}
	var out []netrcEntry
	var cur *netrcEntry
	for i := 0; i < len(toks); i++ {
		kw := toks[i].text
		switch kw {
		case "default":
			out = append(out, netrcEntry{isDefault: true})
			cur = &out[len(out)-1]
			continue
		case "macdef":
			i = skipMacro(toks, i)
			continue
		}
		if i+1 >= len(toks) {
			return nil, fmt.Errorf("netrc: %q without a value", kw)
		}
		i++
		val := toks[i]
		if kw == "machine" {
			out = append(out, netrcEntry{machine: val.text})
			cur = &out[len(out)-1]
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("netrc: %q before any machine", kw)
		}
		switch kw {
		case "login":
			cur.login = val.text
		case "password":
			cur.password = val.text
			if strings.HasPrefix(val.rest, "$") {
				cur.password = val.rest
				i = skipLine(toks, i)
			}
		case "account":
		default:
			return nil, fmt.Errorf("netrc: unknown keyword %q", kw)
		}
	}
	return out, nil
}

// skipLine returns the index of the last token on the line of toks[i].
func skipLine(toks []token, i int) int {
	for i+1 < len(toks) && toks[i+1].line == toks[i].line {
		i++
	}
	return i
}

// skipMacro skips "macdef NAME" and its body, which netrcTokens marked by
// ending the body with a sentinel token.
func skipMacro(toks []token, i int) int {
	i += 2
	for i < len(toks) && toks[i].text != "\x00macro-end" {
		i++
	}
	return i
}

// netrcTokens splits r into words, dropping comments. After "macdef NAME" it
// swallows lines up to a blank line and marks the end with a sentinel token.
func netrcTokens(r io.Reader) ([]token, error) {
	var toks []token
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	inMacro := false
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if inMacro {
			if strings.TrimSpace(line) == "" {
				toks = append(toks, token{text: "\x00macro-end"})
				inMacro = false
			}
			continue
		}
		words, err := lineTokens(line, n)
		if err != nil {
			return nil, err
		}
		toks = append(toks, words...)
		if k := len(words); k >= 2 && words[k-2].text == "macdef" {
			inMacro = true
		}
	}
	if inMacro {
		toks = append(toks, token{text: "\x00macro-end"})
	}
	return toks, sc.Err()
}

// lineTokens splits one line into words.
func lineTokens(line string, lineNo int) ([]token, error) {
	var out []token
	i := 0
	for {
		for i < len(line) && unicode.IsSpace(rune(line[i])) {
			i++
		}
		if i >= len(line) || line[i] == '#' {
			return out, nil
		}
		rest := strings.TrimRightFunc(line[i:], unicode.IsSpace)
		word, n, err := readWord(line[i:])
		if err != nil {
			return nil, err
		}
		out = append(out, token{text: word, rest: rest, line: lineNo})
		i += n
	}
}

// readWord reads one plain or double-quoted word and returns it with the number
// of bytes consumed.
func readWord(s string) (string, int, error) {
	if s[0] != '"' {
		n := strings.IndexFunc(s, unicode.IsSpace)
		if n < 0 {
			n = len(s)
		}
		return s[:n], n, nil
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return b.String(), i + 1, nil
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(unescape(s[i]))
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("netrc: unterminated quote in %q", s)
}

func unescape(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 't':
		return '\t'
	case 'r':
		return '\r'
	}
	return c
}
