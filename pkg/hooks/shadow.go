// SPDX-License-Identifier: Apache-2.0

package hooks

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/gpyxis/gpyxis/internal/boundedio"
	"github.com/gpyxis/gpyxis/internal/inroot"
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
	shadowNow   = time.Now
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
	if data, err := boundedio.ReadFile(hostPasswd, inroot.TextLimit); err == nil {
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
// default 077) and the mail spool when CREATE_MAIL_SPOOL=yes. An image
// /etc/shadow gets the generated users it lacks (locked) and loses those
// no longer in passwd. Files are replaced atomically (temporary file and
// rename); a missing /etc/passwd or /etc/group is created. Every access is
// inside the rootfs (internal/inroot): the image's symlinks never lead to
// host files, and a database that is not a regular file or is larger than
// inroot.TextLimit is an error.
func shadow(ctx *Context) error {
	if !ctx.Enabled("shadow") {
		return nil
	}
	defs, err := ctx.loadDefs()
	if err != nil {
		return err
	}
	nobody, nogroup := readOverflow(overflowIDs[0]), readOverflow(overflowIDs[1])
	pw := pwEntry{name: "root", gecos: "root", home: "/root"}
	uid, gid, group := 0, 0, "root"
	if !ctx.RemapRoot {
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
	names, err := ctx.mergeDB("/etc/passwd", users, debian)
	if err != nil {
		return err
	}
	if _, err := ctx.mergeDB("/etc/group", groups, debian); err != nil {
		return err
	}
	if err := ctx.mergeShadow(names, users); err != nil {
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
	r, err := ctx.fs()
	if err != nil {
		return false
	}
	fi, err := r.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// loadDefs reads the image's /etc/login.defs ("KEY VALUE") and
// /etc/default/useradd ("KEY=VALUE"), as 10-shadow.sh does. A missing or
// unreadable file sets nothing; one that is not a regular file or is too
// large is an error.
func (ctx *Context) loadDefs() (map[string]string, error) {
	defs := map[string]string{}
	read := func(p string, split func(string) (string, string, bool)) error {
		data, err := ctx.readFile(p)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("shadow: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, inroot.TextLimit)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || line[0] == '#' {
				continue
			}
			if k, v, ok := split(line); ok {
				defs[k] = v
			}
		}
		return nil
	}
	err := read("/etc/login.defs", func(l string) (string, string, bool) {
		f := strings.Fields(l)
		if len(f) < 2 {
			return "", "", false
		}
		return f[0], f[1], true
	})
	if err != nil {
		return nil, err
	}
	err = read("/etc/default/useradd", func(l string) (string, string, bool) {
		return strings.Cut(strings.Fields(l)[0], "=")
	})
	return defs, err
}

// mergeDB rewrites the database file p: generated entries first, then the
// image's entries whose name is not generated (and not _apt on Debian). It
// returns the names of the new file, in order.
func (ctx *Context) mergeDB(p string, generated []string, debian bool) ([]string, error) {
	old, err := ctx.readFile(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("shadow: %w", err)
	}
	seen := map[string]bool{}
	if debian {
		seen["_apt"] = true
	}
	var names []string
	var b strings.Builder
	add := func(line string) {
		name, _, _ := strings.Cut(line, ":")
		if seen[name] {
			return
		}
		seen[name] = true
		names = append(names, name)
		b.WriteString(line + "\n")
	}
	for _, e := range generated {
		add(e)
	}
	for _, line := range strings.Split(string(old), "\n") {
		if strings.TrimSpace(line) != "" {
			add(line)
		}
	}
	if err := ctx.writeFile(p, []byte(b.String()), 0o644); err != nil {
		return nil, fmt.Errorf("shadow: write %s: %w", p, err)
	}
	return names, nil
}

// mergeShadow keeps the image's /etc/shadow in step with the new passwd
// (what enroot's pwck -R does to it): entries of users no longer in passwd
// are dropped, and the generated users the file lacks are added with a
// locked password ("*"), as useradd would. An image without the file, or
// whose file the caller cannot read (mode 0000 in some distributions),
// is left alone.
func (ctx *Context) mergeShadow(users []string, generated []string) error {
	old, err := ctx.readFile("/etc/shadow")
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			ctx.logger().Debug("shadow: /etc/shadow not updated", "err", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("shadow: %w", err)
	}
	inPasswd := map[string]bool{}
	for _, n := range users {
		inPasswd[n] = true
	}
	seen := map[string]bool{}
	var b strings.Builder
	for _, line := range strings.Split(string(old), "\n") {
		name, _, _ := strings.Cut(line, ":")
		if strings.TrimSpace(line) == "" || !inPasswd[name] || seen[name] {
			continue
		}
		seen[name] = true
		b.WriteString(line + "\n")
	}
	days := shadowNow().Unix() / 86400
	for _, e := range generated {
		name, _, _ := strings.Cut(e, ":")
		if !seen[name] {
			seen[name] = true
			fmt.Fprintf(&b, "%s:*:%d:0:99999:7:::\n", name, days)
		}
	}
	if err := ctx.writeFile("/etc/shadow", []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("shadow: write /etc/shadow: %w", err)
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
	r, err := ctx.fs()
	if err != nil {
		return err
	}
	if err := r.MkdirAll(parentDir(home), 0o755); err != nil {
		return fmt.Errorf("shadow: home: %w", err)
	}
	if err := r.Mkdir(home, os.FileMode(0o777&^umask)|0o700); err != nil {
		return fmt.Errorf("shadow: home: %w", err)
	}
	skel := defaultStr(defs["SKEL"], "/etc/skel")
	if fi, err := r.Stat(skel); err != nil || !fi.IsDir() {
		return nil
	}
	if err := r.CopyTree(skel, home); err != nil {
		return fmt.Errorf("shadow: skeleton: %w", err)
	}
	return nil
}

// createMail makes the user's mailbox when useradd would; an existing
// entry of that name, whatever it is, is left alone.
func (ctx *Context) createMail(name string, defs map[string]string) error {
	if strings.ToLower(defs["CREATE_MAIL_SPOOL"]) != "yes" {
		return nil
	}
	if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
		return fmt.Errorf("shadow: mail: user name %q is not a file name", name)
	}
	r, err := ctx.fs()
	if err != nil {
		return err
	}
	dir := defaultStr(defs["MAIL_DIR"], "/var/mail")
	if err := r.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("shadow: mail: %w", err)
	}
	if _, err := r.CreateExcl(strings.TrimRight(dir, "/")+"/"+name, 0o660); err != nil {
		return fmt.Errorf("shadow: mail: %w", err)
	}
	return nil
}

func defaultStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
