// SPDX-License-Identifier: Apache-2.0

package hostile

import (
	"archive/tar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gpyxis/gpyxis/integration/harness"
)

// The runtime's hooks (shadow, localtime, aptfix) and its own reads of the
// image (environment, login.defs) run on the host with the caller's rights,
// before the container exists. An image is anyone's: its symlinks must
// never lead those reads and writes to host files.

// hooksBusybox returns the entries of a minimal runnable image: the host's
// static busybox and the applets the test runs.
func hooksBusybox(t *testing.T) []Entry {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skipf("a static /bin/busybox on the host builds the image: %v", err)
	}
	e := []Entry{
		{Name: "bin/", Type: tar.TypeDir},
		{Name: "bin/busybox", Body: string(bb), Mode: 0o755},
	}
	for _, a := range []string{"sh", "cat", "env", "ls", "true"} {
		e = append(e, Entry{Name: "bin/" + a, Type: tar.TypeSymlink, Linkname: "busybox"})
	}
	return e
}

// hooksLinkImages pushes three images whose hook inputs and outputs are
// symlinks to the canaries, absolute ones and ../ ones that climb out of
// any rootfs: one for the files the hooks read and rewrite (passwd, group,
// shadow, login.defs, localtime, environment), one for the directories
// they create in (skel, apt.conf.d, /var/mail, /home, /root), and one
// whose /etc itself is a link.
func hooksLinkImages(t *testing.T, reg harness.Registry, c *Canaries, secret string) map[string]Image {
	t.Helper()
	up := strings.Repeat("../", 16)
	rel := func(p string) string { return up + strings.TrimPrefix(p, "/") }
	homes := filepath.Join(c.Dir, "homes")
	c.Absent(homes)
	c.Absent(filepath.Join(c.Dir, "roothome"))
	link := func(name, target string) Entry { return Entry{Name: name, Type: tar.TypeSymlink, Linkname: target} }
	base := append(hooksBusybox(t),
		Entry{Name: "etc/", Type: tar.TypeDir},
		Entry{Name: "etc/default/", Type: tar.TypeDir},
		Entry{Name: "etc/debian_version", Body: "12\n"},
		Entry{Name: "var/", Type: tar.TypeDir},
	)
	files := append(base[:len(base):len(base)],
		link("etc/passwd", secret),
		link("etc/group", rel(secret)),
		link("etc/shadow", secret),
		link("etc/login.defs", rel(secret)),
		link("etc/default/useradd", secret),
		link("etc/localtime", secret),
		link("etc/environment", rel(secret)),
	)
	dirs := append(base[:len(base):len(base)],
		// useradd's defaults are merged with login.defs: the mail spool.
		Entry{Name: "etc/default/useradd", Body: "CREATE_MAIL_SPOOL=yes\n"},
		link("etc/skel", c.Dir),
		Entry{Name: "etc/apt/", Type: tar.TypeDir},
		link("etc/apt/apt.conf.d", rel(c.Dir)),
		link("var/mail", rel(c.Dir)),
		link("home", homes),
		link("root", filepath.Join(c.Dir, "roothome")),
	)
	// The whole /etc a link out: every hook and the import's files.
	etc := append(hooksBusybox(t), link("etc", rel(c.Dir)))
	return map[string]Image{
		"files": PushImage(t, reg, nil, Layer(t, files...)),
		"dirs":  PushImage(t, reg, nil, Layer(t, dirs...)),
		"etc":   PushImage(t, reg, nil, Layer(t, etc...)),
	}
}

// hooksRuns are the runs of each account: both images read-only, --rw
// and --remap-root (the aptfix hook).
var hooksRuns = []struct {
	image string
	flags []string
}{
	{"files", nil}, {"files", []string{"--rw"}}, {"files", []string{"--remap-root"}},
	{"dirs", nil}, {"dirs", []string{"--rw"}}, {"dirs", []string{"--remap-root"}},
	{"etc", nil}, {"etc", []string{"--rw"}},
}

// TestHostileHookLinks runs images whose /etc/passwd, group, shadow,
// login.defs, default/useradd, localtime, environment, skel, apt.conf.d,
// /var/mail, /home and /root link to host canaries, read-only and --rw, with and without
// --remap-root, as the caller and (as root) as another user. Every run must
// work, print no canary content, and leave every canary as it was, with no
// mailbox, home or apt file created beside them.
func TestHostileHookLinks(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	c := NewCanaries(t)
	secret := filepath.Join(c.Dir, "secret")
	images := hooksLinkImages(t, reg, c, secret)
	accounts := []*Account{Self(t)}
	if os.Geteuid() == 0 {
		accounts = append(accounts, AccountFor(t, Victim))
	}
	for _, a := range accounts {
		c.Absent(filepath.Join(c.Dir, "root"))
		c.Absent(filepath.Join(c.Dir, "enroot"))
		if a.Name != "" {
			c.Absent(filepath.Join(c.Dir, a.Name))
		}
		runEnv := []string{"ENROOT_DATA_PATH=" + a.Home + "/data", "ENROOT_CACHE_PATH=" + a.Home + "/cache", "ENROOT_ALLOW_HTTP=1"}
		for _, run := range hooksRuns {
			img, mode := images[run.image], run.flags
			who := a.Name
			if who == "" {
				who = "self"
			}
			label := who + " " + run.image + " " + strings.Join(mode, " ")
			args := append(append([]string{"run", "--insecure"}, mode...), img.Ref(reg),
				"sh", "-c", "cat /etc/passwd /etc/group; env; cat /etc/shadow /etc/login.defs /etc/localtime /etc/environment /var/mail/* 2>&1; ls -la /etc /var/mail /home 2>&1; true")
			t.Run(label, func(t *testing.T) {
				out, err := a.Runtime(t, 90*time.Second, runEnv, args...)
				if err != nil {
					t.Fatalf("run failed: %v\n%s", err, out)
				}
				if !strings.Contains(out, "root:x:0:0:") {
					t.Errorf("no generated passwd in the output:\n%s", out)
				}
				if os.Getenv("GPYXIS_HOSTILE_VERBOSE") != "" {
					t.Logf("output:\n%s", out)
				}
				c.Leaked(t, out)
				c.Check(t)
			})
		}
	}
}

// TestHostileHookSpecialFiles runs images whose /etc/group is a FIFO and
// whose /etc/passwd is larger than any real one: the run must end (a FIFO
// nobody writes to must not block the shadow hook) with an error naming
// the file and the problem.
func TestHostileHookSpecialFiles(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	base := append(hooksBusybox(t), Entry{Name: "etc/", Type: tar.TypeDir})
	huge := strings.Repeat("user:x:1000:1000::/home/user:/bin/sh\n", (17<<20)/37)
	cases := []struct {
		name  string
		entry Entry
		want  []string
	}{
		{"fifo group", Entry{Name: "etc/group", Type: tar.TypeFifo, Mode: 0o644}, []string{"/etc/group", "FIFO, not a regular file; make it one in the image"}},
		{"huge passwd", Entry{Name: "etc/passwd", Body: huge}, []string{"/etc/passwd", "larger than 16 MiB"}},
	}
	a := Self(t)
	runEnv := []string{"ENROOT_DATA_PATH=" + a.Home + "/data", "ENROOT_CACHE_PATH=" + a.Home + "/cache", "ENROOT_ALLOW_HTTP=1"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			img := PushImage(t, reg, nil, Layer(t, append(base[:len(base):len(base)], tc.entry)...))
			out, err := a.Runtime(t, 60*time.Second, runEnv, "run", "--insecure", img.Ref(reg), "cat", "/etc/passwd")
			if err == nil {
				t.Fatalf("run succeeded:\n%s", out)
			}
			t.Logf("refused: %s", strings.TrimSpace(out))
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("error does not say %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestHostileVolumeLinks runs an image whose VOLUME directories are
// symlinks to a host canary directory (absolute and ../): the import's
// /etc/fstab binds ${ENROOT_ROOTFS}/DIR, which must be resolved inside the
// rootfs, never bind a host directory into the container.
func TestHostileVolumeLinks(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	c := NewCanaries(t)
	entries := append(hooksBusybox(t),
		Entry{Name: "abs", Type: tar.TypeSymlink, Linkname: c.Dir},
		Entry{Name: "rel", Type: tar.TypeSymlink, Linkname: strings.Repeat("../", 16) + strings.TrimPrefix(c.Dir, "/")})
	cfg := map[string]any{"architecture": "amd64", "os": "linux", "config": map[string]any{
		"Env":     []string{"PATH=/bin"},
		"Volumes": map[string]any{"/abs": map[string]any{}, "/rel": map[string]any{}},
	}}
	img := PushImage(t, reg, cfg, Layer(t, entries...))
	accounts := []*Account{Self(t)}
	if os.Geteuid() == 0 {
		accounts = append(accounts, AccountFor(t, Victim))
	}
	for _, a := range accounts {
		runEnv := []string{"ENROOT_DATA_PATH=" + a.Home + "/data", "ENROOT_CACHE_PATH=" + a.Home + "/cache"}
		for _, mode := range [][]string{nil, {"--rw"}} {
			hooksVolumeRun(t, a, c, runEnv, append(append([]string{"run", "--insecure"}, mode...), img.Ref(reg)))
		}
	}
}

// hooksVolumeRun runs args as a: the container reads and writes through
// the volume paths; nothing of the canaries may show or change.
func hooksVolumeRun(t *testing.T, a *Account, c *Canaries, runEnv, args []string) {
	t.Helper()
	who := a.Name
	if who == "" {
		who = "self"
	}
	label := who + " " + strings.Join(args[2:len(args)-1], " ")
	t.Run(label, func(t *testing.T) {
		args := append(args[:len(args):len(args)], "sh", "-c",
			"cat /abs/secret /rel/secret 2>&1; echo x > /abs/created; echo x > /rel/created; echo done")
		out, err := a.Runtime(t, 60*time.Second, runEnv, args...)
		if err != nil || !strings.Contains(out, "done") {
			t.Fatalf("run: %v\n%s", err, out)
		}
		c.Leaked(t, out)
		c.Check(t)
	})
}
