// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestManifest(t *testing.T) {
	root := t.TempDir()
	d := filepath.Join(root, "opt", "t")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(d, "sub"), 0o755))
	must(os.WriteFile(filepath.Join(d, "a b.txt"), []byte("x\n"), 0o644))
	must(os.Link(filepath.Join(d, "a b.txt"), filepath.Join(d, "z-link")))
	must(os.Symlink("../nowhere", filepath.Join(d, "sym")))
	must(syscall.Mkfifo(filepath.Join(d, "fifo"), 0o600))
	must(os.WriteFile(filepath.Join(d, "é"), nil, 0o755))
	must(os.Chmod(filepath.Join(d, "é"), 0o755|os.ModeSetuid)) // after creation: umask-proof
	must(os.Chmod(filepath.Join(d, "sub"), 0o750))
	xattr := unix.Lsetxattr(filepath.Join(d, "sub"), "user.k", []byte("v 1"), 0) == nil

	got, err := Manifest(root, "/opt/t", "/gone")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/gone type=absent",
		"/opt/t type=dir mode=0755",
		"/opt/t/\\303\\251 type=file mode=4755 size=0 sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"/opt/t/a\\040b.txt type=file mode=0644 size=2 sha256=" + mustSum(t, filepath.Join(d, "a b.txt")),
		"/opt/t/fifo type=fifo mode=0600",
		"/opt/t/sub type=dir mode=0750",
		"/opt/t/sym type=symlink target=../nowhere",
		"/opt/t/z-link type=file mode=0644 size=2 sha256=" + mustSum(t, filepath.Join(d, "a b.txt")) + " hardlink=/opt/t/a\\040b.txt",
	}
	if xattr { // tmpfs and ext4 keep user.* xattrs; some filesystems do not
		want[5] += " xattr.user.k=v\\0401"
	}
	if g := strings.Split(strings.TrimSuffix(got, "\n"), "\n"); strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Manifest =\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

func mustSum(t *testing.T, p string) string {
	t.Helper()
	s, err := fileSHA256(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestEscapeOctal(t *testing.T) {
	for in, want := range map[string]string{"plain": "plain", "a b": "a\\040b", "back\\slash": "back\\134slash", "tab\t": "tab\\011", "ü": "\\303\\274"} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}
