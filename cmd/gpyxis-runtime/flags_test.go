// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"flag"
	"slices"
	"testing"
)

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		out  string
		pos  []string
	}{
		{args: []string{"-o", "x", "img"}, out: "x", pos: []string{"img"}},
		{args: []string{"img", "--output=y"}, out: "y", pos: []string{"img"}},
		{args: []string{"a", "-o", "z", "b"}, out: "z", pos: []string{"a", "b"}},
		{args: []string{"-o", "w", "--", "-o", "v"}, out: "w", pos: []string{"-o", "v"}},
		{args: nil, pos: nil},
	} {
		fs := flag.NewFlagSet("import", flag.ContinueOnError)
		var out string
		fs.StringVar(&out, "o", "", "")
		fs.StringVar(&out, "output", "", "")
		pos, err := parseArgs(fs, tc.args)
		if err != nil || out != tc.out || !slices.Equal(pos, tc.pos) {
			t.Errorf("parseArgs(%q) = %q, out %q, %v; want %q, out %q", tc.args, pos, out, err, tc.pos, tc.out)
		}
	}
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	if _, err := parseArgs(fs, []string{"--nope"}); !errors.Is(err, errUsage) {
		t.Errorf("unknown option: error %v, want a usage error", err)
	}
	if _, err := parseArgs(fs, []string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: error %v, want flag.ErrHelp", err)
	}
}
