// SPDX-License-Identifier: Apache-2.0

package environ

import (
	"bufio"
	"bytes"
	"strings"
)

// User is who runs inside the container, as login(1) would set them up.
type User struct {
	Name    string // user name inside the container (its passwd), for USER
	Logname string // the user's host name, for LOGNAME
	Home    string
	Shell   string
	Root    bool // uid 0 inside (remap-root): PATH from ENV_SUPATH
}

// Default paths of Debian's login(1) when /etc/login.defs says nothing.
const (
	defaultPath   = "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games"
	defaultSuPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// SetLoginDefaults sets, where the environment does not already, what a login shell
// would: TERM=dumb, HOME, SHELL (default /bin/sh), USER, LOGNAME and PATH, the last
// from the container's /etc/login.defs (ENV_PATH or ENV_SUPATH) when loginDefs, the
// file's contents (nil when there is none), names one, as enroot-switchroot does. The
// caller reads the file: it lies in the image, and only the caller knows how to stay
// inside the rootfs.
func (e *Env) SetLoginDefaults(u User, loginDefs []byte) {
	e.SetDefault("TERM", "dumb")
	if u.Home != "" {
		e.SetDefault("HOME", u.Home)
	}
	shell := u.Shell
	if shell == "" {
		shell = "/bin/sh"
	}
	e.SetDefault("SHELL", shell)
	if u.Name != "" {
		e.SetDefault("USER", u.Name)
	}
	if u.Logname != "" {
		e.SetDefault("LOGNAME", u.Logname)
	}
	key, path := "ENV_PATH", defaultPath
	if u.Root {
		key, path = "ENV_SUPATH", defaultSuPath
	}
	if p := loginDef(loginDefs, key); p != "" {
		path = strings.TrimPrefix(p, "PATH=")
	}
	e.SetDefault("PATH", path)
}

// loginDef returns the value of key in the contents of a login.defs file ("" if absent).
func loginDef(data []byte, key string) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 2 && fields[0] == key {
			return fields[1]
		}
	}
	return ""
}
