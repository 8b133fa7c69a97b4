// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckJSON(t *testing.T) {
	var out bytes.Buffer
	conf := filepath.Join(t.TempDir(), "plugstack.conf")
	if err := run(&out, []string{"check", "--format", "json", "--plugstack", conf}); err != nil {
		t.Fatalf("check: %v\n%s", err, out.String())
	}
	var rep checkReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("check --format json: %v\n%s", err, out.String())
	}
	if !rep.OK || rep.Version == "" {
		t.Errorf("report ok=%v version=%q", rep.OK, rep.Version)
	}
	seen := map[string]string{}
	for _, r := range rep.Checks {
		seen[r.Name] = string(r.Status)
	}
	for _, name := range []string{"user namespaces", "openat2", "close_range"} {
		if seen[name] != "ok" {
			t.Errorf("%s: %q, want ok", name, seen[name])
		}
	}
	if seen["slurm plugin"] != "warn" {
		t.Errorf("slurm plugin with no %s: %q, want warn", conf, seen["slurm plugin"])
	}
}

func TestCheckTableAndUsage(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, []string{"check", "--plugstack", "/nonexistent/plugstack.conf"}); err != nil {
		t.Fatalf("check: %v", err)
	}
	if s := out.String(); !strings.HasPrefix(s, "CHECK") || !strings.Contains(s, "\nopenat2 ") {
		t.Errorf("table:\n%s", s)
	}
	if err := run(&out, []string{"check", "--format", "xml"}); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "table or json") {
		t.Errorf("--format xml: %v", err)
	}
	if err := run(&out, []string{"check", "extra"}); !errors.Is(err, errUsage) {
		t.Errorf("check extra: %v", err)
	}
}
