package hooks

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// pwEntry is a host passwd entry.
type pwEntry struct {
	name, gecos, home, shell string
}

// Host lookups of the shadow hook (variables for tests).
var (
	hostPasswd  = "/etc/passwd"
	overflowIDs = [2]string{"/proc/sys/kernel/overflowuid", "/proc/sys/kernel/overflowgid"}
	lookupUser  = lookupHostUser
	lookupGroup = func(gid int) (string, error) {
		g, err := user.LookupGroupId(strconv.Itoa(gid))
		if err != nil {
			return "", err
		}
		return g.Name, nil
	}
)

// lookupHostUser is enroot's common::getpwent (getent passwd UID): NSS
// through os/user for the name, GECOS and home; the shell, which os/user
// does not report, from the host passwd file.
func lookupHostUser(uid int) (pwEntry, error) {
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return pwEntry{}, err
	}
	e := pwEntry{name: u.Username, gecos: u.Name, home: u.HomeDir}
	if data, err := os.ReadFile(hostPasswd); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Split(line, ":")
			if len(f) == 7 && f[2] == strconv.Itoa(uid) {
				e.shell = f[6]
				break
			}
		}
	}
	return e, nil
}

// shadow is enroot's 10-shadow.sh (always run): regenerate the rootfs
// /etc/passwd and /etc/group with root, nobody/nogroup (the kernel's
// overflow ids) and the user's own entries first, followed by the image's
// entries of other names (enroot appends and dedupes with pwck/grpck -R;
// the _apt user and group are dropped from Debian-family images so that
// apt does not try to drop privileges). The user's entries are the host's
// (passwd of UID, group of GID); with remap-root the user is root inside,
// so only root and nobody are generated. The shell is the user's host
// shell when the image has it executable, else SHELL from the image's
// /etc/default/useradd, else /bin/sh; root gets the same. Then, as
// useradd would, the home directory is created from /etc/skel when
// missing (CREATE_HOME in login.defs, default yes, mode from UMASK,
// default 077) and the mail spool when CREATE_MAIL_SPOOL=yes. Files are
// replaced atomically (temporary file and rename); a missing /etc/passwd or
// /etc/group is created.
func shadow(ctx *Context) error {
	if !ctx.Enabled("shadow") {
		return nil
	}
	defs := ctx.loadDefs()
	nobody, nogroup := readOverflow(overflowIDs[0]), readOverflow(overflowIDs[1])
	pw := pwEntry{name: "root", gecos: "root", home: "/root"}
	uid, gid, group := 0, 0, "root"
	if !ctx.RemapRoot {
		var err error
		if pw, err = lookupUser(ctx.UID); err != nil {
			if ctx.User == "" {
				return fmt.Errorf("passwd entry of uid %d: %w", ctx.UID, err)
			}
			pw = pwEntry{name: ctx.User, home: ctx.Home}
		}
		if ctx.User != "" {
			pw.name = ctx.User
		}
		if pw.home == "" {
			pw.home = ctx.Home
		}
		if pw.home == "" {
			pw.home = "/"
		}
		uid, gid = ctx.UID, ctx.GID
		if group, err = lookupGroup(ctx.GID); err != nil {
			group = pw.name
		}
	} else if r, err := lookupUser(0); err == nil {
		pw.shell = r.shell // the ns uid 0 is the host root's entry
	}
	if pw.shell == "" || !ctx.executable(pw.shell) {
		pw.shell = defs["SHELL"]
		if pw.shell == "" {
			pw.shell = "/bin/sh"
		}
	}
	users := []string{
		"root:x:0:0:root:/root:" + pw.shell,
		fmt.Sprintf("nobody:x:%s:%s:nobody:/:/sbin/nologin", nobody, nogroup),
	}
	groups := []string{"root:x:0:", "nogroup:x:" + nogroup + ":"}
	if uid != 0 || pw.name != "root" {
		users = append(users, fmt.Sprintf("%s:x:%d:%d:%s:%s:%s", pw.name, uid, gid, pw.gecos, pw.home, pw.shell))
	}
	if gid != 0 || group != "root" {
		groups = append(groups, fmt.Sprintf("%s:x:%d:", group, gid))
	}
	debian := ctx.exists("/etc/debian_version")
	if err := ctx.mergeDB("/etc/passwd", users, debian); err != nil {
		return err
	}
	if err := ctx.mergeDB("/etc/group", groups, debian); err != nil {
		return err
	}
	if err := ctx.createHome(pw.home, defs); err != nil {
		return err
	}
	return ctx.createMail(pw.name, defs)
}

func readOverflow(file string) string {
	data, err := os.ReadFile(file)
	if s := strings.TrimSpace(string(data)); err == nil && s != "" {
		return s
	}
	return "65534"
}

// executable reports whether p is an executable file in the rootfs.
func (ctx *Context) executable(p string) bool {
	hp, err := ctx.inRoot(p)
	if err != nil {
		return false
	}
	fi, err := os.Stat(hp)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// loadDefs reads the image's /etc/login.defs ("KEY VALUE") and
// /etc/default/useradd ("KEY=VALUE"), as 10-shadow.sh does.
func (ctx *Context) loadDefs() map[string]string {
	defs := map[string]string{}
	read := func(p string, split func(string) (string, string, bool)) {
		hp, err := ctx.inRoot(p)
		if err != nil {
			return
		}
		data, err := os.ReadFile(hp)
		if err != nil {
			return
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || line[0] == '#' {
				continue
			}
			if k, v, ok := split(line); ok {
				defs[k] = v
			}
		}
	}
	read("/etc/login.defs", func(l string) (string, string, bool) {
		f := strings.Fields(l)
		if len(f) < 2 {
			return "", "", false
		}
		return f[0], f[1], true
	})
	read("/etc/default/useradd", func(l string) (string, string, bool) {
		return strings.Cut(strings.Fields(l)[0], "=")
	})
	return defs
}

// mergeDB rewrites the database file p: generated entries first, then the
// image's entries whose name is not generated (and not _apt on Debian).
func (ctx *Context) mergeDB(p string, generated []string, debian bool) error {
	etc, err := ctx.mkdirInRoot("/etc", 0o755)
	if err != nil {
		return err
	}
	file := filepath.Join(etc, path.Base(p))
	old, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("shadow: %w", err)
	}
	names := map[string]bool{}
	if debian {
		names["_apt"] = true
	}
	var b strings.Builder
	for _, e := range generated {
		name, _, _ := strings.Cut(e, ":")
		if names[name] {
			continue
		}
		names[name] = true
		b.WriteString(e + "\n")
	}
	for _, line := range strings.Split(string(old), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		name, _, _ := strings.Cut(line, ":")
		if names[name] {
			continue
		}
		names[name] = true
		b.WriteString(line + "\n")
	}
	if err := writeAtomic(file, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("shadow: write %s: %w", p, err)
	}
	return nil
}

// createHome makes the home directory from the skeleton, as useradd -m.
func (ctx *Context) createHome(home string, defs map[string]string) error {
	if home == "" || home == "/" || ctx.exists(home) || strings.ToLower(defaultStr(defs["CREATE_HOME"], "yes")) != "yes" {
		return nil
	}
	umask, err := strconv.ParseUint(defaultStr(defs["UMASK"], "077"), 8, 32)
	if err != nil {
		umask = 0o077
	}
	if _, err := ctx.mkdirInRoot(path.Dir(home), 0o755); err != nil {
		return fmt.Errorf("shadow: home: %w", err)
	}
	hp, err := ctx.inRoot(home)
	if err != nil {
		return fmt.Errorf("shadow: home: %w", err)
	}
	if err := os.Mkdir(hp, 0o700); err != nil {
		return fmt.Errorf("shadow: home: %w", err)
	}
	if err := os.Chmod(hp, os.FileMode(0o777&^umask)|0o700); err != nil {
		return fmt.Errorf("shadow: home: %w", err)
	}
	skel, err := ctx.inRoot(defaultStr(defs["SKEL"], "/etc/skel"))
	if err != nil {
		return nil
	}
	if fi, err := os.Stat(skel); err != nil || !fi.IsDir() {
		return nil
	}
	if err := copyTree(skel, hp); err != nil {
		return fmt.Errorf("shadow: skeleton: %w", err)
	}
	return nil
}

// createMail makes the user's mailbox when useradd would.
func (ctx *Context) createMail(name string, defs map[string]string) error {
	if strings.ToLower(defs["CREATE_MAIL_SPOOL"]) != "yes" {
		return nil
	}
	dir, err := ctx.mkdirInRoot(defaultStr(defs["MAIL_DIR"], "/var/mail"), 0o755)
	if err != nil {
		return fmt.Errorf("shadow: mail: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY, 0o660)
	if err != nil {
		return fmt.Errorf("shadow: mail: %w", err)
	}
	return f.Close()
}

func defaultStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// copyTree copies the contents of directory src into dst (cp -a src/.
// dst, without ownership): directories, regular files and symlinks.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "." {
			return nil
		}
		to := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.Mkdir(to, fi.Mode().Perm()|0o700)
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, to)
		case d.Type().IsRegular():
			return copyFile(p, to, fi.Mode().Perm())
		}
		return nil
	})
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
