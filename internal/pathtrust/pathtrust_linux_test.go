// SPDX-License-Identifier: Apache-2.0

package pathtrust

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// nobody is a uid no test runs as.
const nobody = 65534

// mkdir makes path with mode, octal as chmod takes it (0o1777: sticky).
func mkdir(t *testing.T, path string, mode os.FileMode) string {
	t.Helper()
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if mode&0o1000 != 0 {
		mode = mode&0o777 | os.ModeSticky
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask, with the sticky bit
		t.Fatal(err)
	}
	return path
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("giving a file to another user needs root")
	}
}

// refused asserts err is a refusal of the given kind whose message names want.
func refused(t *testing.T, err error, what string, want ...string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrUntrusted) {
		t.Fatalf("got %v, want a refusal", err)
	}
	if e.What != what {
		t.Errorf("refusal %q, want %q: %v", e.What, what, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("message %q does not name %q", err, w)
		}
	}
}

func TestOwnDirectory(t *testing.T) {
	d := mkdir(t, filepath.Join(t.TempDir(), "data"), 0o700)
	if err := CheckDir(d, os.Geteuid()); err != nil {
		t.Fatal(err)
	}
	if err := CheckDir(filepath.Join(d, "missing"), os.Geteuid()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing directory: %v, want not-exist", err)
	}
}

func TestWritableByOthers(t *testing.T) {
	for mode, want := range map[os.FileMode]string{0o777: "mode 0777", 0o770: "mode 0770", 0o1777: "mode 1777", 0o702: "mode 0702"} {
		d := mkdir(t, filepath.Join(t.TempDir(), "data"), mode)
		refused(t, CheckDir(d, os.Geteuid()), badOwner, d, want, "it must be yours", "remove it")
	}
}

func TestOtherOwner(t *testing.T) {
	needRoot(t)
	d := mkdir(t, filepath.Join(t.TempDir(), "data"), 0o700)
	if err := os.Chown(d, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	refused(t, CheckDir(d, 0), badOwner, d, "nobody (uid 65534)", "mode 0700")
	// Root checking for the user the directory belongs to (slurmstepd's side).
	if err := CheckDir(d, nobody); err != nil {
		t.Errorf("the owner's own directory: %v", err)
	}
	refused(t, CheckDir(d, 1), badOwner, "owned by daemon (uid 1)")
}

func TestParents(t *testing.T) {
	base := t.TempDir()
	open := mkdir(t, filepath.Join(base, "open"), 0o777)
	d := mkdir(t, filepath.Join(open, "data"), 0o700)
	refused(t, CheckDir(d, os.Geteuid()), badParent, open, "mode 0777", "unless sticky")

	// A sticky 1777 parent is enroot's documented layout and fine.
	sticky := mkdir(t, filepath.Join(base, "sticky"), 0o1777)
	d = mkdir(t, filepath.Join(sticky, "user-1"), 0o700)
	if err := CheckDir(d, os.Geteuid()); err != nil {
		t.Errorf("sticky parent: %v", err)
	}
	// A group-writable parent is not.
	group := mkdir(t, filepath.Join(base, "group"), 0o770)
	d = mkdir(t, filepath.Join(group, "data"), 0o700)
	refused(t, CheckDir(d, os.Geteuid()), badParent, group, "mode 0770")
}

func TestParentOfOtherUser(t *testing.T) {
	needRoot(t)
	other := mkdir(t, filepath.Join(t.TempDir(), "other"), 0o755)
	d := mkdir(t, filepath.Join(other, "data"), 0o700)
	if err := os.Chown(other, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	// The parent's owner could rename data away and put their own in its place.
	refused(t, CheckDir(d, 0), badParent, other, "nobody (uid 65534)")
}

func TestSymlinks(t *testing.T) {
	base := t.TempDir()
	mkdir(t, filepath.Join(base, "real"), 0o700)
	// The caller's own link (e.g. /var/run -> /run, ~/data -> /scratch/me) is followed and its target checked.
	if err := os.Symlink("real", filepath.Join(base, "mine")); err != nil {
		t.Fatal(err)
	}
	if err := CheckDir(filepath.Join(base, "mine"), os.Geteuid()); err != nil {
		t.Errorf("own link: %v", err)
	}
	// ... and its target too: a link to a 0777 directory is refused for it.
	open := mkdir(t, filepath.Join(base, "open"), 0o777)
	if err := os.Symlink(open, filepath.Join(base, "toopen")); err != nil {
		t.Fatal(err)
	}
	refused(t, CheckDir(filepath.Join(base, "toopen"), os.Geteuid()), badOwner, "mode 0777")
	// A link in the middle whose target has a writable directory on its way.
	mkdir(t, filepath.Join(open, "sub"), 0o700)
	if err := os.Symlink("open/sub", filepath.Join(base, "mid")); err != nil {
		t.Fatal(err)
	}
	refused(t, CheckDir(filepath.Join(base, "mid"), os.Geteuid()), badParent, open)
}

func TestSymlinkOfOtherUser(t *testing.T) {
	needRoot(t)
	base := mkdir(t, filepath.Join(t.TempDir(), "sticky"), 0o1777)
	target := mkdir(t, filepath.Join(base, "target"), 0o700)
	link := filepath.Join(base, "user-0")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(link, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	refused(t, CheckDir(filepath.Join(link), 0), badLink, link, "symbolic link owned by nobody (uid 65534)")
	if err := MkdirAll(filepath.Join(link, "below"), 0o700, 0); err == nil {
		t.Error("MkdirAll through another user's link")
	}
	if _, err := os.Stat(filepath.Join(target, "below")); err == nil {
		t.Error("MkdirAll created a directory through another user's link")
	}
	mkdir(t, filepath.Join(target, "below"), 0o700)
	refused(t, CheckDir(filepath.Join(link, "below"), 0), badLink, link)
}

func TestMkdirAll(t *testing.T) {
	base := mkdir(t, filepath.Join(t.TempDir(), "sticky"), 0o1777)
	d := filepath.Join(base, "user", "data")
	if err := MkdirAll(d, 0o700, os.Geteuid()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Dir(d), d} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, want 0700", p, fi.Mode().Perm())
		}
	}
	if err := MkdirAll(d, 0o700, os.Geteuid()); err != nil {
		t.Errorf("again: %v", err)
	}
	// A directory someone else made 0777 before the caller is refused, not used.
	planted := mkdir(t, filepath.Join(base, "planted"), 0o777)
	refused(t, MkdirAll(planted, 0o700, os.Geteuid()), badOwner, planted, "mode 0777")
}

// TestMkdirRace: the directory appears (0777, as another user would make
// it) between the walk finding it missing and the mkdir; the EEXIST path
// must check what exists.
func TestMkdirRace(t *testing.T) {
	base := mkdir(t, filepath.Join(t.TempDir(), "sticky"), 0o1777)
	d := filepath.Join(base, "user-1")
	beforeMkdir = func(p string) {
		if p == d {
			mkdir(t, p, 0o777)
			if os.Geteuid() == 0 {
				os.Chown(p, nobody, nobody)
			}
		}
	}
	defer func() { beforeMkdir = nil }()
	refused(t, MkdirAll(d, 0o700, os.Geteuid()), badOwner, d, "mode 0777")
}

func TestNotADirectory(t *testing.T) {
	base := t.TempDir()
	fifo := filepath.Join(base, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	refused(t, CheckDir(fifo, os.Geteuid()), badType, "a FIFO")
	refused(t, MkdirAll(filepath.Join(fifo, "x"), 0o700, os.Geteuid()), badType, fifo)
}

func TestOpenFile(t *testing.T) {
	base := mkdir(t, filepath.Join(t.TempDir(), "conf"), 0o700)
	f := filepath.Join(base, ".credentials")
	if err := os.WriteFile(f, []byte("machine x login y password z\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := OpenFile(f, os.Geteuid())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if !strings.HasPrefix(string(b), "machine x") {
		t.Errorf("read %q", b)
	}
	if err := os.Symlink(".credentials", filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	if r, err := OpenFile(filepath.Join(base, "link"), os.Geteuid()); err != nil {
		t.Errorf("own link: %v", err)
	} else {
		r.Close()
	}
	os.Chmod(f, 0o666)
	_, err = OpenFile(f, os.Geteuid())
	refused(t, err, badOwner, f, "mode 0666")
	// A FIFO is refused at once, not waited on.
	fifo := filepath.Join(base, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = OpenFile(fifo, os.Geteuid())
	refused(t, err, badType, "not a regular file")
	if _, err := OpenFile(filepath.Join(base, "missing"), os.Geteuid()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	// The directory above is checked too.
	os.Chmod(base, 0o777)
	os.Chmod(f, 0o600)
	_, err = OpenFile(f, os.Geteuid())
	refused(t, err, badParent, base)
	refused(t, CheckParents(f, os.Geteuid()), badParent, base, "mode 0777")
	// Nothing there, nothing planted: a missing file is only missing.
	if err := CheckParents(filepath.Join(base, "missing"), os.Geteuid()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("CheckParents of a missing file: %v", err)
	}
	os.Chmod(base, 0o700)
	if err := CheckParents(f, os.Geteuid()); err != nil {
		t.Errorf("CheckParents: %v", err)
	}
}
