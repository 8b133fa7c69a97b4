// SPDX-License-Identifier: Apache-2.0

package mountspec

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// nastyRoot builds a root filesystem full of symlinks that point out of it,
// around in circles and through /proc.
func nastyRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"etc", "usr/lib", "usr/bin", "home/user", "noperm"} {
		must(os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	must(os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\n"), 0o644))
	links := map[string]string{
		"lib":           "usr/lib",
		"abs":           "/usr/lib",
		"up":            "../../../../../usr",
		"dotdot":        "..",
		"hostetc":       "/etc",
		"hostroot":      "/proc/self/root",
		"loop1":         "loop2",
		"loop2":         "loop1",
		"self":          "self",
		"dangling":      "/nonexistent/dir",
		"file":          "etc/passwd",
		"usr/lib/back":  "../../etc",
		"usr/lib/root":  "/",
		"home/user/esc": "../../../../../../../../etc/passwd",
	}
	for name, target := range links {
		must(os.Symlink(target, filepath.Join(root, name)))
	}
	// A chain longer than the kernel's 40 symlinks.
	for i := 0; i < 45; i++ {
		must(os.Symlink("chain"+strconv.Itoa(i+1), filepath.Join(root, "chain"+strconv.Itoa(i))))
	}
	must(os.Symlink("usr", filepath.Join(root, "chain45")))
	// A short chain that must still resolve.
	for i := 0; i < 10; i++ {
		must(os.Symlink("short"+strconv.Itoa(i+1), filepath.Join(root, "short"+strconv.Itoa(i))))
	}
	must(os.Symlink("/usr/bin", filepath.Join(root, "short10")))
	return root
}

func TestResolveInRoot(t *testing.T) {
	root := nastyRoot(t)
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		target string
		want   string // relative to the root; "" with an error
		err    error
	}{
		{target: "/", want: "/"},
		{target: ".", want: "/"},
		{target: "/etc", want: "/etc"},
		{target: "etc", want: "/etc"},
		{target: "./etc/../usr", want: "/usr"},
		{target: "/lib", want: "/usr/lib"},
		{target: "/lib/x/y", want: "/usr/lib/x/y"},
		{target: "/abs/../bin", want: "/usr/bin"},
		{target: "/up/lib", want: "/usr/lib"},
		{target: "/dotdot/etc", want: "/etc"},
		{target: "/hostetc", want: "/etc"},
		{target: "/hostetc/passwd", want: "/etc/passwd"},
		{target: "/hostetc/shadow", want: "/etc/shadow"},
		{target: "/hostroot/etc", want: "/proc/self/root/etc"},
		{target: "/dangling", want: "/nonexistent/dir"},
		{target: "/dangling/x", want: "/nonexistent/dir/x"},
		{target: "/missing/../etc", want: "/etc"},
		{target: "/missing/a/../../etc/x", want: "/etc/x"},
		{target: "/file", want: "/etc/passwd"},
		{target: "/usr/lib/back/passwd", want: "/etc/passwd"},
		{target: "/usr/lib/root/usr/lib/root/etc", want: "/etc"},
		{target: "/usr/lib/root/../../etc", want: "/etc"}, // ".." past "/" via a symlink: clamped
		{target: "/home/user/esc", want: "/etc/passwd"},
		{target: "/short0/x", want: "/usr/bin/x"},
		{target: "//etc///passwd/", want: "/etc/passwd"},
		{target: "/file/x", err: syscall.ENOTDIR},
		{target: "/file/..", err: syscall.ENOTDIR},
		{target: "/loop1", err: syscall.ELOOP},
		{target: "/self/x", err: syscall.ELOOP},
		{target: "/chain0", err: syscall.ELOOP},
		{target: "../etc", err: ErrEscape},
		{target: "/etc/../../etc", err: syscall.EXDEV},
		{target: "/a/../../home", err: ErrEscape},
		{target: "./..", err: ErrEscape},
		{target: "", err: ErrInvalidEntry},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			got, err := ResolveInRoot(root, tt.target)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("ResolveInRoot(%q) = %q, %v; want error %v", tt.target, got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ResolveInRoot(%q): %v", tt.target, err)
			}
			want := realRoot
			if tt.want != "/" {
				want += tt.want
			}
			if got != want {
				t.Errorf("ResolveInRoot(%q) = %q, want %q", tt.target, got, want)
			}
			if !strings.HasPrefix(got, realRoot) {
				t.Errorf("escaped the root: %q", got)
			}
			// The walk alone must agree with the openat2 fast path.
			rootfd, err := unix.Open(realRoot, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(rootfd)
			walked, err := resolveWalk(realRoot, rootfd, tt.target)
			if err != nil || walked != got {
				t.Errorf("walk gives %q, %v; openat2 path gave %q", walked, err, got)
			}
		})
	}
}

func TestResolveInRootUsesOpenat2(t *testing.T) {
	root := nastyRoot(t)
	realRoot, _ := filepath.EvalSymlinks(root)
	fd, err := unix.Open(realRoot, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	p, ok := resolveOpenat2(realRoot, fd, "/up/lib/back/passwd")
	if !ok {
		t.Skip("openat2 unavailable (kernel < 5.6 or filtered)")
	}
	if want := realRoot + "/etc/passwd"; p != want {
		t.Errorf("openat2 path %q, want %q", p, want)
	}
	if _, ok := resolveOpenat2(realRoot, fd, "/missing/x"); ok {
		t.Error("openat2 path resolved a missing target; the walk must handle those")
	}
}

// TestResolveMagicLinks resolves inside /proc/self, where "root" and "cwd"
// are magic links to host directories: they must be treated as plain
// symlinks relative to the root, never followed.
func TestResolveMagicLinks(t *testing.T) {
	self, err := filepath.EvalSymlinks("/proc/self")
	if err != nil {
		t.Skip("no /proc")
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for target, want := range map[string]string{
		"root/etc":    self + "/etc",
		"root/../etc": self + "/etc",
		"cwd/etc":     self + wd + "/etc", // the link text, taken inside the root
	} {
		got, err := ResolveInRoot("/proc/self", target)
		if err != nil {
			t.Fatalf("ResolveInRoot(/proc/self, %q): %v", target, err)
		}
		if got != want {
			t.Errorf("ResolveInRoot(/proc/self, %q) = %q, want %q (not a host path)", target, got, want)
		}
	}
}

func TestResolveRootIsSymlink(t *testing.T) {
	root := nastyRoot(t)
	link := filepath.Join(t.TempDir(), "rootlink")
	if err := os.Symlink(root, link); err != nil {
		t.Fatal(err)
	}
	realRoot, _ := filepath.EvalSymlinks(root)
	got, err := ResolveInRoot(link, "/lib")
	if err != nil || got != realRoot+"/usr/lib" {
		t.Errorf("got %q, %v", got, err)
	}
	if _, err := ResolveInRoot(filepath.Join(root, "missing"), "/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing root: %v", err)
	}
	if _, err := ResolveInRoot(filepath.Join(root, "etc/passwd"), "/x"); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("file root: %v", err)
	}
}

func TestCreateTarget(t *testing.T) {
	root := nastyRoot(t)
	realRoot, _ := filepath.EvalSymlinks(root)
	srcDir, srcFile := t.TempDir(), filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(srcFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	hostProbe := "/etc/gpyxis-mountspec-test-" + strconv.Itoa(os.Getpid())

	tests := []struct {
		target string
		kind   Create
		source string
		want   string      // relative to root
		mode   fs.FileMode // type and permissions of the created target; 0 = not created
	}{
		{target: "/new/a/b", kind: CreateDir, want: "/new/a/b", mode: fs.ModeDir},
		{target: "/etc/newfile", kind: CreateFile, want: "/etc/newfile", mode: 0},
		{target: "/abs/newdir", kind: CreateDir, want: "/usr/lib/newdir", mode: fs.ModeDir},
		{target: "/hostetc/" + filepath.Base(hostProbe), kind: CreateDir, want: "/etc/" + filepath.Base(hostProbe), mode: fs.ModeDir},
		{target: "/up/newdir", kind: CreateDir, want: "/usr/newdir", mode: fs.ModeDir},
		{target: "/dangling", kind: CreateDir, want: "/nonexistent/dir", mode: fs.ModeDir},
		{target: "/auto/dir", kind: CreateAuto, source: srcDir, want: "/auto/dir", mode: fs.ModeDir},
		{target: "/auto/file", kind: CreateAuto, source: srcFile, want: "/auto/file", mode: 0},
		{target: "/auto/none", kind: CreateAuto, source: "/nonexistent-gpyxis", want: "/auto/none"},
		{target: "/etc/passwd", kind: CreateDir, want: "/etc/passwd"}, // exists: left alone
		{target: "/etc", kind: CreateFile, want: "/etc"},
		{target: "/nothing/here", kind: CreateNone, want: "/nothing/here"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			got, err := CreateTarget(root, tt.target, tt.kind, tt.source)
			if err != nil {
				t.Fatal(err)
			}
			if want := realRoot + tt.want; got != want {
				t.Errorf("path %q, want %q", got, want)
			}
			created := tt.kind != CreateNone && !(tt.kind == CreateAuto && tt.source == "/nonexistent-gpyxis") &&
				tt.target != "/etc/passwd" && tt.target != "/etc"
			fi, err := os.Lstat(got)
			switch {
			case created && err != nil:
				t.Fatalf("not created: %v", err)
			case created && (fi.Mode().Type() != tt.mode.Type() || fi.Mode().Perm() != 0):
				t.Errorf("created %v, want type %v with mode 0000", fi.Mode(), tt.mode.Type())
			case !created && tt.target != "/etc/passwd" && tt.target != "/etc" && err == nil:
				t.Errorf("created %v although nothing should be", fi.Mode())
			}
		})
	}
	if _, err := os.Lstat(hostProbe); err == nil {
		t.Errorf("%s was created on the host", hostProbe)
	}
	if fi, err := os.Stat(filepath.Join(root, "new/a")); err != nil || fi.Mode().Perm() != 0o755&^umask() {
		t.Errorf("parent: %v, %v; want mode %o", fi.Mode(), err, 0o755&^umask())
	}
}

func umask() fs.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return fs.FileMode(m)
}

func TestCreateTargetErrors(t *testing.T) {
	root := nastyRoot(t)
	tests := []struct {
		target string
		err    error
	}{
		{"/etc/passwd/x", syscall.ENOTDIR},
		{"/loop1/x", syscall.ELOOP},
		{"../../etc/evil", syscall.EXDEV},
	}
	for _, tt := range tests {
		if _, err := CreateTarget(root, tt.target, CreateDir, ""); !errors.Is(err, tt.err) {
			t.Errorf("CreateTarget(%q) = %v, want %v", tt.target, err, tt.err)
		}
	}
	if os.Geteuid() != 0 {
		// Without CAP_DAC_OVERRIDE a 0000 directory stops the walk.
		if err := os.Chmod(filepath.Join(root, "noperm"), 0); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(filepath.Join(root, "noperm"), 0o755)
		m, _, _ := Parse("/src /noperm/x none bind,x-create=dir", nil)
		_, err := m.PrepareTarget(root, "")
		wantError(t, err, syscall.EACCES, "cannot be searched or written")
	}
}

func TestPrepareTarget(t *testing.T) {
	root := nastyRoot(t)
	realRoot, _ := filepath.EvalSymlinks(root)
	src := t.TempDir()

	ms, err := ParsePyxisMounts(src + ":/data/in,./rel:/rel,umount:/umount-me")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ms[0].PrepareTarget(root, "")
	if err != nil || got != realRoot+"/data/in" {
		t.Fatalf("PrepareTarget = %q, %v", got, err)
	}
	if fi, err := os.Stat(got); err != nil || !fi.IsDir() {
		t.Errorf("x-create=auto with a directory source: %v", err)
	}
	// Relative source, resolved against cwd for x-create=auto.
	if err := os.WriteFile(filepath.Join(src, "rel"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err = ms[1].PrepareTarget(root, src)
	if fi, serr := os.Lstat(got); err != nil || serr != nil || !fi.Mode().IsRegular() {
		t.Errorf("relative file source: %q, %v, %v", got, err, serr)
	}
	// x-detach creates nothing.
	got, err = ms[2].PrepareTarget(root, "")
	if _, serr := os.Lstat(got); err != nil || serr == nil {
		t.Errorf("umount: %q, %v; target exists: %v", got, err, serr == nil)
	}

	// pyxis "path escape attempt": the message must say "cross-device link".
	esc, err := ParsePyxisMounts("/home:../home")
	if err != nil {
		t.Fatal(err)
	}
	_, err = esc[0].PrepareTarget(root, "")
	wantError(t, err, ErrEscape, "cross-device link", `--container-mounts: mount entry "/home:../home"`, `remove the ".."`)

	loop, _, _ := Parse("/src /loop1/x none bind,x-create=dir", nil)
	_, err = loop.PrepareTarget(root, "")
	wantError(t, err, syscall.ELOOP, "symlink loop", `mount entry "/src /loop1/x none bind,x-create=dir"`)

	notDir, _, _ := Parse("/src /etc/passwd/x none bind", nil)
	_, err = notDir.PrepareTarget(root, "")
	wantError(t, err, syscall.ENOTDIR, "not a directory")
}

// TestUnprivileged reruns the resolution tests as an unprivileged user when
// the suite runs as root and the "tester" user exists; nothing here may
// need privileges.
func TestUnprivileged(t *testing.T) {
	if os.Getenv("GPYXIS_MOUNTSPEC_CHILD") != "" || os.Geteuid() != 0 {
		t.Skip("already unprivileged")
	}
	uid, gid, ok := lookupUser("tester")
	if !ok {
		t.Skip("no tester user")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	// The test binary lives in a private build directory; copy it where
	// the user can run it.
	dir, err := os.MkdirTemp("", "mountspec-unpriv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "mountspec.test")
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(tmp, 0o777)
	cmd := exec.Command(bin, "-test.run", "^(TestResolve|TestCreateTarget|TestPrepareTarget|TestCheckSource)", "-test.count=1")
	cmd.Dir = tmp
	cmd.Env = []string{"GPYXIS_MOUNTSPEC_CHILD=1", "TMPDIR=" + tmp, "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("as uid %d: %v\n%s", uid, err, out)
	}
	if !strings.Contains(string(out), "PASS") {
		t.Fatalf("as uid %d: no PASS:\n%s", uid, out)
	}
}

func lookupUser(name string) (uid, gid uint32, ok bool) {
	data, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return 0, 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) > 3 && f[0] == name {
			u, err1 := strconv.ParseUint(f[2], 10, 32)
			g, err2 := strconv.ParseUint(f[3], 10, 32)
			return uint32(u), uint32(g), err1 == nil && err2 == nil
		}
	}
	return 0, 0, false
}
