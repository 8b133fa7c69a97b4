// SPDX-License-Identifier: Apache-2.0

package hooks

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func fakeIDs(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "uid"), "65534\n", 0o644)
	writeFile(t, filepath.Join(dir, "gid"), "65533\n", 0o644)
	setVar(t, &overflowIDs, [2]string{filepath.Join(dir, "uid"), filepath.Join(dir, "gid")})
	setVar(t, &lookupUser, func(uid int) (pwEntry, error) {
		switch uid {
		case 0:
			return pwEntry{name: "root", gecos: "root", home: "/root", shell: "/bin/bash"}, nil
		case 1234:
			return pwEntry{name: "alice", gecos: "Alice A", home: "/home/alice", shell: "/bin/zsh"}, nil
		}
		return pwEntry{}, errors.New("unknown user")
	})
	setVar(t, &lookupGroup, func(gid int) (string, error) {
		if gid == 2345 {
			return "staff", nil
		}
		return "", errors.New("unknown group")
	})
}

func TestShadowIdentity(t *testing.T) {
	fakeIDs(t)
	ctx := newCtx(t)
	r := ctx.Rootfs
	writeFile(t, r+"/etc/debian_version", "12\n", 0o644)
	writeFile(t, r+"/etc/passwd", "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n_apt:x:42:65534::/nonexistent:/usr/sbin/nologin\nalice:x:9:9::/x:/bin/false\n", 0o640)
	writeFile(t, r+"/etc/group", "root:x:0:\nsudo:x:27:\n_apt:x:42:\nstaff:x:50:\n", 0o644)
	writeFile(t, r+"/etc/default/useradd", "# c\nSHELL=/bin/bash\n", 0o644)
	writeFile(t, r+"/bin/bash", "", 0o755)
	writeFile(t, r+"/etc/skel/.bashrc", "# rc\n", 0o644)
	writeFile(t, r+"/etc/login.defs", "UMASK 022\n", 0o644)
	if err := shadow(ctx); err != nil {
		t.Fatal(err)
	}
	// zsh is not in the image: useradd's SHELL.
	wantPw := []string{
		"root:x:0:0:root:/root:/bin/bash",
		"nobody:x:65534:65533:nobody:/:/sbin/nologin",
		"alice:x:1234:2345:Alice A:/home/alice:/bin/bash",
		"daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin",
	}
	if got := lines(readFile(t, r+"/etc/passwd")); !slices.Equal(got, wantPw) {
		t.Errorf("passwd:\n%q\nwant\n%q", got, wantPw)
	}
	wantGr := []string{"root:x:0:", "nogroup:x:65533:", "staff:x:2345:", "sudo:x:27:"}
	if got := lines(readFile(t, r+"/etc/group")); !slices.Equal(got, wantGr) {
		t.Errorf("group:\n%q\nwant\n%q", got, wantGr)
	}
	if fi, _ := os.Stat(r + "/etc/passwd"); fi.Mode().Perm() != 0o640 {
		t.Errorf("passwd mode %v, want the old 0640", fi.Mode())
	}
	if got := readFile(t, r+"/home/alice/.bashrc"); got != "# rc\n" {
		t.Errorf("skeleton not copied: %q", got)
	}
	if fi, _ := os.Stat(r + "/home/alice"); fi.Mode().Perm() != 0o755 {
		t.Errorf("home mode %v, want 0755 (UMASK 022)", fi.Mode())
	}
	left, _ := filepath.Glob(r + "/etc/.*gpyxis*")
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestShadowMissingFiles(t *testing.T) {
	fakeIDs(t)
	ctx := newCtx(t)
	writeFile(t, ctx.Rootfs+"/bin/zsh", "", 0o755)
	if err := shadow(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"root:x:0:0:root:/root:/bin/zsh",
		"nobody:x:65534:65533:nobody:/:/sbin/nologin",
		"alice:x:1234:2345:Alice A:/home/alice:/bin/zsh",
	}
	if got := lines(readFile(t, ctx.Rootfs+"/etc/passwd")); !slices.Equal(got, want) {
		t.Errorf("passwd %q, want %q", got, want)
	}
	if fi, err := os.Stat(ctx.Rootfs + "/home/alice"); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("home: %v %v, want 0700 (default UMASK 077)", fi, err)
	}
}

func TestShadowRemapRoot(t *testing.T) {
	fakeIDs(t)
	ctx := newCtx(t)
	ctx.RemapRoot = true
	writeFile(t, ctx.Rootfs+"/etc/passwd", "root:x:0:0:root:/root:/bin/ash\nbin:x:1:1::/bin:/sbin/nologin\n", 0o644)
	writeFile(t, ctx.Rootfs+"/etc/group", "root:x:0:\n", 0o644)
	writeFile(t, ctx.Rootfs+"/root/.profile", "keep\n", 0o644)
	if err := shadow(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"root:x:0:0:root:/root:/bin/sh", "nobody:x:65534:65533:nobody:/:/sbin/nologin", "bin:x:1:1::/bin:/sbin/nologin"}
	if got := lines(readFile(t, ctx.Rootfs+"/etc/passwd")); !slices.Equal(got, want) {
		t.Errorf("passwd %q, want %q", got, want)
	}
	if got := lines(readFile(t, ctx.Rootfs+"/etc/group")); !slices.Equal(got, []string{"root:x:0:", "nogroup:x:65533:"}) {
		t.Errorf("group %q", got)
	}
}

func TestShadowUnknownUserFallsBack(t *testing.T) {
	fakeIDs(t)
	ctx := newCtx(t)
	ctx.UID, ctx.GID = 777, 888
	if err := shadow(ctx); err != nil {
		t.Fatal(err)
	}
	got := lines(readFile(t, ctx.Rootfs+"/etc/passwd"))
	if got[2] != "alice:x:777:888::/home/alice:/bin/sh" {
		t.Errorf("user entry %q", got[2])
	}
	if g := lines(readFile(t, ctx.Rootfs+"/etc/group")); g[2] != "alice:x:888:" {
		t.Errorf("group entry %q", g[2])
	}
}

// TestShadowSymlinkStaysInRoot checks that an absolute /etc symlink in the
// image is resolved inside the rootfs, never on the host.
func TestShadowSymlinkStaysInRoot(t *testing.T) {
	fakeIDs(t)
	ctx := newCtx(t)
	outside := t.TempDir()
	if err := os.MkdirAll(ctx.Rootfs+"/real", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, ctx.Rootfs+"/etc"); err != nil {
		t.Fatal(err)
	}
	if err := shadow(ctx); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("wrote outside the rootfs: %v", ents)
	}
	if _, err := os.Stat(ctx.Rootfs + outside + "/passwd"); err != nil {
		t.Fatalf("passwd not under the rootfs: %v", err)
	}
}

// TestLookupHostUser reads this host's entry of the test's own uid.
func TestLookupHostUser(t *testing.T) {
	e, err := lookupHostUser(os.Getuid())
	if err != nil {
		t.Skipf("no passwd entry: %v", err)
	}
	if e.name == "" || e.home == "" || e.shell == "" {
		t.Fatalf("entry %+v", e)
	}
}
