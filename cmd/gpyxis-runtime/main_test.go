// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    string // substring of stdout
		wantErr error  // nil, or an error that errors.Is must match
		errText string // substring of the error text
	}{
		{name: "long help", args: []string{"--help"}, want: "Usage: gpyxis-runtime COMMAND"},
		{name: "short help", args: []string{"-h"}, want: "version"},
		{name: "help command", args: []string{"help"}, want: "Commands:"},
		{name: "version", args: []string{"version"}, want: "gpyxis-runtime "},
		{name: "version flag", args: []string{"--version"}, want: "go: go1."},
		{name: "version extra arg", args: []string{"version", "x"}, wantErr: errUsage, errText: "no arguments"},
		{name: "unknown", args: []string{"frobnicate"}, wantErr: errUsage, errText: `unknown command "frobnicate"`},
		{name: "none", args: nil, wantErr: errUsage, errText: "no command given"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(&out, tc.args)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("run(%q) error = %v, want %v containing %q", tc.args, err, tc.wantErr, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatalf("run(%q): %v", tc.args, err)
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Fatalf("run(%q) output %q does not contain %q", tc.args, out.String(), tc.want)
			}
		})
	}
}

func TestVersionStringSetByLinker(t *testing.T) {
	old := version
	t.Cleanup(func() { version = old })
	version = "1.2.3"
	if got := versionString(); got != "1.2.3" {
		t.Fatalf("versionString() = %q, want 1.2.3", got)
	}
}
