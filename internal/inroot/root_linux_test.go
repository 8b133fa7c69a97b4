// SPDX-License-Identifier: Apache-2.0

package inroot

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fixture makes a root directory beside a host directory holding a
// secret, and returns the root opened, its path and the secret's path.
func fixture(t *testing.T) (*Root, string, string) {
	t.Helper()
	base := t.TempDir()
	dir, host := filepath.Join(base, "root"), filepath.Join(base, "host")
	for _, d := range []string{dir + "/etc", dir + "/var", host} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(host, "secret")
	if err := os.WriteFile(secret, []byte("SECRET\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, dir, secret
}

func symlink(t *testing.T, target, name string) {
	t.Helper()
	if err := os.Symlink(target, name); err != nil {
		t.Fatal(err)
	}
}

func unchanged(t *testing.T, secret string) {
	t.Helper()
	if b, err := os.ReadFile(secret); err != nil || string(b) != "SECRET\n" {
		t.Fatalf("host file %s changed: %q %v", secret, b, err)
	}
}

func TestReadFileStaysInRoot(t *testing.T) {
	r, dir, secret := fixture(t)
	rel, _ := filepath.Rel(filepath.Join(dir, "etc"), secret)
	symlink(t, secret, dir+"/etc/abs")
	symlink(t, rel, dir+"/etc/rel")
	symlink(t, "/proc/self/root"+secret, dir+"/etc/magic")
	for _, name := range []string{"/etc/abs", "/etc/rel", "etc/magic"} {
		b, err := r.ReadFile(name, TextLimit)
		if err == nil || strings.Contains(string(b), "SECRET") {
			t.Errorf("%s: read %q, %v; want an error", name, b, err)
		}
	}
	// A link to a file of the root is followed inside it.
	os.WriteFile(dir+"/etc/real", []byte("inside"), 0o644)
	symlink(t, "/etc/real", dir+"/etc/inside")
	if b, err := r.ReadFile("/etc/inside", TextLimit); err != nil || string(b) != "inside" {
		t.Errorf("link inside the root: %q, %v", b, err)
	}
	if _, err := r.ReadFile("/etc/missing", TextLimit); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestReadFileRefusesSpecialAndHuge(t *testing.T) {
	r, dir, _ := fixture(t)
	if err := syscall.Mkfifo(dir+"/etc/fifo", 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := r.ReadFile("/etc/fifo", TextLimit); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "FIFO") {
			t.Errorf("FIFO: %v, want ErrNotRegular naming a FIFO", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reading a FIFO blocked")
	}
	if _, err := r.ReadFile("/etc", TextLimit); !errors.Is(err, ErrNotRegular) {
		t.Errorf("directory: %v, want ErrNotRegular", err)
	}
	f, err := os.Create(dir + "/etc/huge")
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(TextLimit + 1) // sparse
	f.Close()
	if _, err := r.ReadFile("/etc/huge", TextLimit); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "/etc/huge") {
		t.Errorf("huge file: %v, want ErrTooLarge naming it", err)
	}
}

func TestWritesStayInRoot(t *testing.T) {
	r, dir, secret := fixture(t)
	hostDir := filepath.Dir(secret)
	symlink(t, secret, dir+"/etc/passwd")
	if err := r.WriteFileAtomic("/etc/passwd", []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	unchanged(t, secret)
	if fi, err := os.Lstat(dir + "/etc/passwd"); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("the link was not replaced by a file: %v %v", fi, err)
	}
	// A directory link: the write lands in the root's own /host.
	symlink(t, hostDir, dir+"/var/mail")
	if err := r.MkdirAll("/var/mail", 0o755); err != nil {
		t.Fatal(err)
	}
	if created, err := r.CreateExcl("/var/mail/user", 0o660); err != nil || !created {
		t.Fatalf("CreateExcl: %v %v", created, err)
	}
	if _, err := os.Stat(filepath.Join(hostDir, "user")); err == nil {
		t.Fatal("CreateExcl wrote through a link to the host")
	}
	if _, err := os.Stat(dir + hostDir + "/user"); err != nil {
		t.Errorf("CreateExcl did not create the file inside the root: %v", err)
	}
	// A dangling link at the name is left alone.
	symlink(t, hostDir+"/new", dir+"/etc/dangling")
	if created, err := r.CreateExcl("/etc/dangling", 0o600); err != nil || created {
		t.Errorf("CreateExcl over a dangling link: %v %v", created, err)
	}
	if _, err := os.Lstat(hostDir + "/new"); err == nil {
		t.Error("CreateExcl followed a dangling link out of the root")
	}
	symlink(t, "../../../../../../../../"+hostDir, dir+"/etc/up")
	// The link resolves to the root's copy of the host path, made above.
	if err := r.WriteFileAtomic("/etc/up/secret", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dir + hostDir + "/secret"); string(b) != "x" {
		t.Errorf("write through a ../ link did not land inside the root: %q", b)
	}
	unchanged(t, secret)
	if err := r.Symlink("zone", "/etc/passwd"); err != nil {
		t.Fatal(err)
	}
	if l, _ := os.Readlink(dir + "/etc/passwd"); l != "zone" {
		t.Errorf("Symlink: %q", l)
	}
}

func TestWriteFileAtomicKeepsMode(t *testing.T) {
	r, dir, _ := fixture(t)
	os.WriteFile(dir+"/etc/shadow", []byte("old"), 0o640)
	os.Chmod(dir+"/etc/shadow", 0o640)
	if err := r.WriteFileAtomic("etc/shadow", []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir + "/etc/shadow")
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode: %v %v, want 0640", fi, err)
	}
	if os.Geteuid() == 0 {
		// Root keeps the old owner (root:shadow), drops set-id bits.
		os.Chown(dir+"/etc/shadow", 1234, 42)
		os.Chmod(dir+"/etc/shadow", 0o4640)
		if err := r.WriteFileAtomic("etc/shadow", []byte("new2"), 0o644); err != nil {
			t.Fatal(err)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(dir+"/etc/shadow", &st); err != nil || st.Uid != 1234 || st.Gid != 42 || st.Mode&0o7777 != 0o640 {
			t.Errorf("owner %d:%d mode %o, want 1234:42 0640 (%v)", st.Uid, st.Gid, st.Mode&0o7777, err)
		}
	}
	if err := r.WriteFileAtomic("/etc", nil, 0o644); err == nil {
		t.Error("WriteFileAtomic over a directory succeeded")
	}
	entries, _ := os.ReadDir(dir + "/etc")
	for _, e := range entries {
		if strings.Contains(e.Name(), ".gpyxis-") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func TestCopyTreeNeverFollows(t *testing.T) {
	r, dir, secret := fixture(t)
	skel := dir + "/etc/skel"
	os.MkdirAll(skel+"/sub", 0o755)
	os.WriteFile(skel+"/.bashrc", []byte("rc"), 0o644)
	symlink(t, secret, skel+"/leak")
	syscall.Mkfifo(skel+"/fifo", 0o644)
	os.MkdirAll(dir+"/home/u", 0o700)
	if err := r.CopyTree("/etc/skel", "/home/u"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dir + "/home/u/.bashrc"); string(b) != "rc" {
		t.Errorf(".bashrc: %q", b)
	}
	if l, err := os.Readlink(dir + "/home/u/leak"); err != nil || l != secret {
		t.Errorf("the link was not copied as a link: %q %v", l, err)
	}
	if fi, err := os.Stat(dir + "/home/u/sub"); err != nil || !fi.IsDir() {
		t.Errorf("sub: %v %v", fi, err)
	}
	if _, err := os.Lstat(dir + "/home/u/fifo"); err == nil {
		t.Error("the FIFO was copied")
	}
	// An existing link in the destination is an error, not written through.
	os.MkdirAll(dir+"/home/v", 0o700)
	symlink(t, secret, dir+"/home/v/.bashrc")
	if err := r.CopyTree("/etc/skel", "/home/v"); err == nil {
		t.Error("CopyTree over a link in the destination succeeded")
	}
	unchanged(t, secret)
	// A destination inside the source is not copied into itself.
	os.MkdirAll(dir+"/top/a", 0o755)
	os.MkdirAll(dir+"/top/home", 0o700)
	if err := r.CopyTree("/top", "/top/home"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir + "/top/home/a"); err != nil || !fi.IsDir() {
		t.Errorf("top/a not copied: %v", err)
	}
	if _, err := os.Stat(dir + "/top/home/home"); err == nil {
		t.Error("the destination was copied into itself")
	}
}

func TestMkdirAllStaysInRoot(t *testing.T) {
	r, dir, secret := fixture(t)
	hostDir := filepath.Dir(secret)
	symlink(t, hostDir, dir+"/home")
	if err := r.MkdirAll("/home/user/x", 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(hostDir + "/user"); err == nil {
		t.Fatal("MkdirAll created a directory on the host")
	}
	if fi, err := os.Stat(dir + hostDir + "/user/x"); err != nil || !fi.IsDir() {
		t.Errorf("not created inside the root: %v", err)
	}
	symlink(t, "../../../../../../../../../missing", dir+"/var/spool")
	if err := r.MkdirAll("/var/spool/mail", 0o755); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir + "/missing/mail"); err != nil || !fi.IsDir() {
		t.Errorf("the dangling link's target was not made inside the root: %v", err)
	}
	symlink(t, "loop", dir+"/var/loop")
	if err := r.MkdirAll("/var/loop/x", 0o755); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("MkdirAll through a symlink loop: %v, want ELOOP", err)
	}
	if err := r.Mkdir("/etc/m", 0o751); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir + "/etc/m"); fi.Mode().Perm() != 0o751 {
		t.Errorf("Mkdir mode %v, want 0751", fi.Mode().Perm())
	}
}
