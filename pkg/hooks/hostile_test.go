// SPDX-License-Identifier: Apache-2.0

package hooks

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gpyxis/gpyxis/internal/inroot"
)

// hostSecret makes a host file outside the rootfs that no hook may read
// into the rootfs or change, and returns its path.
func hostSecret(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), ".credentials")
	writeFile(t, p, "machine registry login SECRET\n", 0o600)
	return p
}

func secretUnchanged(t *testing.T, p string) {
	t.Helper()
	if got := readFile(t, p); got != "machine registry login SECRET\n" {
		t.Fatalf("host file %s changed: %q", p, got)
	}
}

// noSecretIn fails when any file of the rootfs holds the secret.
func noSecretIn(t *testing.T, root string) {
	t.Helper()
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), "SECRET") {
				t.Errorf("%s holds the host secret: %q", p, b)
			}
		}
		return nil
	})
}

// TestShadowDatabaseLinksStayInRoot: an image whose passwd, group and shadow
// link to a host file (absolute and ../ links) gets fresh files; the host
// file is neither copied in nor changed.
func TestShadowDatabaseLinksStayInRoot(t *testing.T) {
	fakeIDs(t)
	secret := hostSecret(t)
	ctx := newCtx(t)
	r := ctx.Rootfs
	os.MkdirAll(r+"/etc", 0o755)
	rel := strings.Repeat("../", 12) + strings.TrimPrefix(secret, "/")
	for name, target := range map[string]string{"passwd": secret, "group": rel, "shadow": secret, "login.defs": rel} {
		if err := os.Symlink(target, r+"/etc/"+name); err != nil {
			t.Fatal(err)
		}
	}
	if err := shadow(ctx); err != nil {
		t.Fatal(err)
	}
	secretUnchanged(t, secret)
	noSecretIn(t, r)
	if got := lines(readFile(t, r+"/etc/passwd")); len(got) != 3 || got[2] != "alice:x:1234:2345:Alice A:/home/alice:/bin/sh" {
		t.Errorf("passwd %q", got)
	}
	if fi, err := os.Lstat(r + "/etc/group"); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("/etc/group link not replaced by a file: %v %v", fi, err)
	}
}

// TestShadowMailAndHomeLinksStayInRoot: /var/mail and the home's parent
// linking to host directories create nothing there.
func TestShadowMailAndHomeLinksStayInRoot(t *testing.T) {
	fakeIDs(t)
	outside, outsideHome := t.TempDir(), t.TempDir()
	ctx := newCtx(t)
	r := ctx.Rootfs
	writeFile(t, r+"/etc/login.defs", "CREATE_MAIL_SPOOL yes\n", 0o644)
	os.MkdirAll(r+"/var", 0o755)
	if err := os.Symlink(outside, r+"/var/mail"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(strings.Repeat("../", 12)+strings.TrimPrefix(outsideHome, "/"), r+"/home"); err != nil {
		t.Fatal(err)
	}
	if err := shadow(ctx); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{outside, outsideHome} {
		if ents, _ := os.ReadDir(d); len(ents) != 0 {
			t.Fatalf("created on the host in %s: %v", d, ents)
		}
	}
	if fi, err := os.Stat(r + outside + "/alice"); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("mailbox not created inside the rootfs: %v %v", fi, err)
	}
	if fi, err := os.Stat(r + outsideHome + "/alice"); err != nil || !fi.IsDir() {
		t.Errorf("home not created inside the rootfs: %v %v", fi, err)
	}
	// An existing mailbox link is left alone, never followed.
	ctx = newCtx(t)
	writeFile(t, ctx.Rootfs+"/etc/login.defs", "CREATE_MAIL_SPOOL yes\n", 0o644)
	os.MkdirAll(ctx.Rootfs+"/var/mail", 0o755)
	target := filepath.Join(outside, "nologin")
	if err := os.Symlink(target, ctx.Rootfs+"/var/mail/alice"); err != nil {
		t.Fatal(err)
	}
	if err := shadow(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(target); err == nil {
		t.Fatal("the mailbox link was followed to the host")
	}
}

// TestShadowSpecialFilesRefused: a FIFO /etc/group fails at once (no
// writer would ever come), and a huge /etc/passwd fails instead of being
// read into memory; both name the file.
func TestShadowSpecialFilesRefused(t *testing.T) {
	fakeIDs(t)
	ctx := newCtx(t)
	writeFile(t, ctx.Rootfs+"/etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0o644)
	if err := syscall.Mkfifo(ctx.Rootfs+"/etc/group", 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- shadow(ctx) }()
	select {
	case err := <-done:
		if !errors.Is(err, inroot.ErrNotRegular) || !strings.Contains(err.Error(), "/etc/group") {
			t.Errorf("FIFO /etc/group: %v, want ErrNotRegular naming it", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the shadow hook blocked on a FIFO /etc/group")
	}

	ctx = newCtx(t)
	writeFile(t, ctx.Rootfs+"/etc/passwd", "", 0o644)
	if err := os.Truncate(ctx.Rootfs+"/etc/passwd", inroot.TextLimit+1); err != nil {
		t.Fatal(err)
	}
	if err := shadow(ctx); !errors.Is(err, inroot.ErrTooLarge) || !strings.Contains(err.Error(), "/etc/passwd") {
		t.Errorf("huge /etc/passwd: %v, want ErrTooLarge naming it", err)
	}
}

// TestShadowFile: the image's /etc/shadow gets the generated users it
// lacks, locked, keeps its other entries and mode, and loses _apt.
func TestShadowFile(t *testing.T) {
	fakeIDs(t)
	setVar(t, &shadowNow, func() time.Time { return time.Unix(20000*86400, 0) })
	ctx := newCtx(t)
	r := ctx.Rootfs
	writeFile(t, r+"/etc/debian_version", "12\n", 0o644)
	writeFile(t, r+"/etc/passwd", "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1::/:/bin/false\n_apt:x:42:65534::/:/bin/false\n", 0o644)
	writeFile(t, r+"/etc/shadow", "root:$6$hash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n_apt:*:19000:0:99999:7:::\n", 0o640)
	if err := shadow(ctx); err != nil {
		t.Fatal(err)
	}
	want := "root:$6$hash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n" +
		"nobody:*:20000:0:99999:7:::\nalice:*:20000:0:99999:7:::\n"
	if got := readFile(t, r+"/etc/shadow"); got != want {
		t.Errorf("shadow:\n%s\nwant\n%s", got, want)
	}
	if fi, _ := os.Stat(r + "/etc/shadow"); fi.Mode().Perm() != 0o640 {
		t.Errorf("shadow mode %v, want the old 0640", fi.Mode())
	}
	// No image shadow: none is made.
	ctx = newCtx(t)
	if err := shadow(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(ctx.Rootfs + "/etc/shadow"); err == nil {
		t.Error("an /etc/shadow was created")
	}
}

// TestLocaltimeAndAptfixLinksStayInRoot: the image's /etc/localtime and
// apt configuration directory linking to host paths are replaced or
// followed inside the rootfs.
func TestLocaltimeAndAptfixLinksStayInRoot(t *testing.T) {
	secret := hostSecret(t)
	outside := t.TempDir()
	host := t.TempDir()
	zone := filepath.Join(host, "zoneinfo", "UTC")
	writeFile(t, zone, "TZif", 0o644)
	link := filepath.Join(host, "localtime")
	os.Symlink(zone, link)
	setVar(t, &hostLocaltime, link)
	ctx := newCtx(t)
	r := ctx.Rootfs
	os.MkdirAll(r+"/etc/apt", 0o755)
	os.Symlink(secret, r+"/etc/localtime")
	// The zone file's directory in the image links to a host directory.
	os.MkdirAll(r+host, 0o755)
	os.Symlink(outside, r+host+"/zoneinfo")
	os.Symlink(outside, r+"/etc/apt/apt.conf.d")
	writeFile(t, r+"/etc/debian_version", "12\n", 0o644)
	ctx.RemapRoot = true
	if err := localtime(ctx); err != nil {
		t.Fatal(err)
	}
	if err := aptfix(ctx); err != nil {
		t.Fatal(err)
	}
	secretUnchanged(t, secret)
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("written on the host: %v", ents)
	}
	if got := readFile(t, r+outside+"/UTC"); got != "TZif" {
		t.Errorf("zone file inside the rootfs: %q", got)
	}
	if got := readFile(t, r+outside+"/enroot"); !strings.Contains(got, "APT::Sandbox") {
		t.Errorf("apt configuration inside the rootfs: %q", got)
	}
}
