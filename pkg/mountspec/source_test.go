// SPDX-License-Identifier: Apache-2.0

package mountspec

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCheckSource(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	parse := func(line string) Mount {
		m, _, err := Parse(line, nil)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	ok := []Mount{
		parse(dir + " /x"),
		parse(file + " /x none bind"),
		parse("/nonexistent-gpyxis /x none bind,nofail"),
		parse("tmpfs /x"),
		parse("umount /x x-detach"),
		parse("relative-missing /x"), // relative and no cwd: not checked (pyxis)
		parse("file /x none bind"),   // relative to cwd=dir below
	}
	for i, m := range ok {
		cwd := ""
		if i == len(ok)-1 {
			cwd = dir
		}
		if err := CheckSource(m, cwd); err != nil {
			t.Errorf("CheckSource(%q) = %v", m.Line, err)
		}
	}

	missing := parse("/nonexistent-gpyxis/src /x none x-move")
	wantError(t, CheckSource(missing, ""), ErrSourceNotExist,
		`mount entry "/nonexistent-gpyxis/src /x none x-move": mount source does not exist: /nonexistent-gpyxis/src: create it, fix the path, or add the nofail option`)

	notDir := parse(file + "/sub /x")
	wantError(t, CheckSource(notDir, ""), ErrSourceNotExist)

	rel := parse("missing /x none bind")
	wantError(t, CheckSource(rel, dir), ErrSourceNotExist, filepath.Join(dir, "missing"))

	ms, err := ParsePyxisMounts("/nonexistent-gpyxis:/x,./rel-missing:/y")
	if err != nil {
		t.Fatal(err)
	}
	err = CheckSource(ms[0], "")
	wantError(t, err, ErrSourceNotExist)
	if want := `--container-mounts: source path does not exist: /nonexistent-gpyxis (entry "/nonexistent-gpyxis:/x"): create it or fix the path`; err.Error() != want {
		t.Errorf("pyxis message\n got %s\nwant %s", err, want)
	}
	if err := CheckSource(ms[1], ""); err != nil {
		t.Errorf("relative pyxis source checked: %v", err)
	}
}
