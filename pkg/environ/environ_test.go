// SPDX-License-Identifier: Apache-2.0

package environ

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func host(m map[string]string) Lookup {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestPrecedence(t *testing.T) {
	h := host(map[string]string{"HOME": "/home/u", "TERM": "xterm", "CUDA": "12"})
	e := New()
	image := "PATH=/usr/bin:/bin\nLANG=C.UTF-8\nFOO=image\nENROOT_SECRET=x\n"
	environD := "# site\n  FOO = \"site\"  \nTERM=${TERM}\nBAD NAME=1\nnoequals\nCUDA_HOME=/cuda-${CUDA}-$CUDA\n"
	if err := e.Load(strings.NewReader(image), h); err != nil {
		t.Fatal(err)
	}
	if err := e.Load(strings.NewReader(environD), h); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"FOO=cli", "HOME", "UNSET_ON_HOST"} {
		if err := e.SetFlag(f, h); err != nil {
			t.Fatal(err)
		}
	}
	e.SetLoginDefaults(User{Name: "u", Logname: "u", Home: "/root-ignored", Shell: "/bin/bash"}, nil)
	want := []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "FOO=cli", "TERM=xterm", "CUDA_HOME=/cuda-12-$CUDA",
		"HOME=/home/u", "SHELL=/bin/bash", "USER=u", "LOGNAME=u"}
	if got := e.List(); !slices.Equal(got, want) {
		t.Fatalf("environment =\n%q\nwant\n%q", got, want)
	}
}

func TestQuotes(t *testing.T) {
	e := New()
	_ = e.Load(strings.NewReader("A='single'\nB=\"double\"\nC=\"unbalanced\nD=''\nE=\"a\" b\"\n"), host(nil))
	want := []string{"A=single", "B=double", "C=\"unbalanced", "D=", "E=a\" b"}
	if got := e.List(); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestSetFlagErrors(t *testing.T) {
	e := New()
	for _, bad := range []string{"1X=y", "A-B=c", "=v", "ENROOT_ROOTFS=/x", ""} {
		if err := e.SetFlag(bad, host(nil)); err == nil {
			t.Errorf("SetFlag(%q) accepted", bad)
		}
	}
}

func TestLoginDefaults(t *testing.T) {
	defs := []byte("# x\nENV_SUPATH\tPATH=/sbin:/bin\nENV_PATH PATH=/bin\n")
	for _, tc := range []struct {
		root bool
		defs []byte
		path string
	}{{false, defs, "/bin"}, {true, defs, "/sbin:/bin"}, {false, nil, defaultPath}, {true, nil, defaultSuPath}} {
		e := New()
		e.SetLoginDefaults(User{Root: tc.root}, tc.defs)
		if p, _ := e.Get("PATH"); p != tc.path {
			t.Errorf("root=%v defs=%q: PATH=%q, want %q", tc.root, tc.defs, p, tc.path)
		}
		if s, _ := e.Get("SHELL"); s != "/bin/sh" {
			t.Errorf("SHELL=%q, want /bin/sh", s)
		}
		if term, _ := e.Get("TERM"); term != "dumb" {
			t.Errorf("TERM=%q, want dumb", term)
		}
	}
}

func TestLoadFileMissing(t *testing.T) {
	e := New()
	if err := e.LoadFile(filepath.Join(t.TempDir(), "nope"), host(nil)); err != nil || len(e.List()) != 0 {
		t.Fatalf("LoadFile(missing) = %v, %q", err, e.List())
	}
}
