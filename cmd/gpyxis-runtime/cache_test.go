// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gpyxis/gpyxis/pkg/squashfs"
)

func TestCacheUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		text string
	}{
		{[]string{"cache"}, "one of add, list, gc, prune"},
		{[]string{"cache", "add"}, "at least one image"},
		{[]string{"cache", "add", "--cache-dir", "/nonexistent"}, "at least one image"},
		{[]string{"cache", "list", "extra"}, "takes no arguments"},
		{[]string{"cache", "frobnicate"}, "want add, list, gc or prune"},
		{[]string{"cache", "add", "--no-such-flag", "x"}, "not defined"},
	} {
		err := run(&bytes.Buffer{}, tc.args)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%q: %v, want a usage error saying %q", tc.args, err, tc.text)
		}
	}
	var out bytes.Buffer
	if err := run(&out, []string{"cache", "--help"}); err != nil || !strings.Contains(out.String(), "cache add [OPTIONS] IMAGE...") {
		t.Errorf("cache --help: %v\n%s", err, out.String())
	}
}

// TestCacheAddErrors: every image that cannot be added is named, its cause
// kept (%w), and the others are still tried.
func TestCacheAddErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.sqsh")
	sq := testSquashfs(t)
	// A squashfs file named without ./ is a registry image to the plugin:
	// refused, before any registry is asked.
	b, err := os.ReadFile(sq)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "busybox.sqsh"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	var out bytes.Buffer
	err = run(&out, []string{"cache", "add", "--cache-dir", filepath.Join(dir, "rootfs"), "Bad:Ref:x", missing, "busybox.sqsh", sq, "./busybox.sqsh"})
	if err == nil {
		t.Fatalf("no error; stdout:\n%s", out.String())
	}
	for _, want := range []string{"cache add Bad:Ref:x: ", "cache add " + missing + ": ", "cache add busybox.sqsh: ", "starting with / or ."} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not wrap the missing file's ErrNotExist", err)
	}
	if errors.Is(err, errUsage) {
		t.Errorf("error %v is a usage error: the command line was well formed", err)
	}
	// The same content in another file is another entry (the key is the
	// file's identity).
	for _, good := range []string{sq, "./busybox.sqsh"} {
		if !strings.Contains(out.String(), good+": cached ") {
			t.Errorf("%s, after the bad images, was not added:\n%s", good, out.String())
		}
	}
}

// TestCacheAddSquashfs: the first add makes the entry, the next finds it;
// the tree is the file's.
func TestCacheAddSquashfs(t *testing.T) {
	sq := testSquashfs(t)
	cache := filepath.Join(t.TempDir(), "rootfs")
	var out bytes.Buffer
	if err := run(&out, []string{"cache", "add", "--cache-dir", cache, sq}); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`^` + regexp.QuoteMeta(sq) + `: cached ([0-9a-f]{32}) \(produced in [0-9]+\.[0-9]s\)\n$`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("first add printed %q", out.String())
	}
	key := m[1]
	if b, err := os.ReadFile(filepath.Join(cache, key, "rootfs", "etc", "hello")); err != nil || string(b) != "hello\n" {
		t.Errorf("the entry's etc/hello: %q, %v", b, err)
	}
	out.Reset()
	if err := run(&out, []string{"cache", "add", sq, "--cache-dir", cache}); err != nil {
		t.Fatal(err)
	}
	if want := sq + ": already cached " + key + "\n"; out.String() != want {
		t.Errorf("second add printed %q, want %q", out.String(), want)
	}
	out.Reset()
	if err := run(&out, []string{"cache", "list", "--cache-dir", cache}); err != nil || !strings.Contains(out.String(), key[:12]) {
		t.Errorf("cache list: %v\n%s", err, out.String())
	}
}

// testSquashfs writes a small image (etc/hello) and returns its path.
func testSquashfs(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "img.sqsh")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := squashfs.NewWriter(f, squashfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []struct {
		e    squashfs.Entry
		data string
	}{
		{squashfs.Entry{Path: "", Type: squashfs.Dir, Mode: 0o755}, ""},
		{squashfs.Entry{Path: "etc", Type: squashfs.Dir, Mode: 0o755}, ""},
		{squashfs.Entry{Path: "etc/hello", Type: squashfs.Reg, Mode: 0o644, Size: 6}, "hello\n"},
	} {
		if err := w.Add(e.e, strings.NewReader(e.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}
