// SPDX-License-Identifier: Apache-2.0

// Package tempname names temporary files and directories after the process
// that owns them, so that what a killed process left can be told from what a
// live one is still writing, and collected by the next process that looks.
//
// A name is PREFIX + PID-START-BOOT-HOST-RAND: PID and START (the process's
// start time in clock ticks since boot, field 22 of /proc/PID/stat) identify
// the owner even after its pid is reused; BOOT (from the kernel's boot id)
// and HOST (a hash of the host name and PID namespace) say whether this
// machine, booted this time, can judge the owner at all: an entry from
// another host or PID namespace (a data directory on shared storage) is
// never collected, one from an earlier boot of this host always is.
package tempname

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/internal/fsutil"
	"github.com/gpyxis/gpyxis/internal/procfs"
)

// Owner is the process a temporary belongs to.
type Owner struct {
	PID   int
	Start uint64 // clock ticks after boot
	Boot  string // 8 hex digits of the boot id
	Host  string // 8 hex digits of the host name and PID namespace
}

// self is this process's Owner, read once.
var self = sync.OnceValues(func() (Owner, error) {
	pid := os.Getpid()
	start, err := procfs.StartTime(pid)
	if err != nil {
		return Owner{}, fmt.Errorf("temporary name: %w", err)
	}
	return Owner{PID: pid, Start: start, Boot: bootID(), Host: hostID()}, nil
})

// Self returns the Owner of the temporaries this process makes.
func Self() (Owner, error) { return self() }

// Suffix is what follows the prefix in a name of o's: PID-START-BOOT-HOST.
func (o Owner) Suffix() string {
	return fmt.Sprintf("%d-%d-%s-%s", o.PID, o.Start, o.Boot, o.Host)
}

// Name returns a fresh name for a temporary of this process: prefix, the
// owner, and 8 random hex digits.
func Name(prefix string) (string, error) {
	o, err := self()
	if err != nil {
		return "", err
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	return prefix + o.Suffix() + "-" + hex.EncodeToString(rnd[:]), nil
}

// Mkdir creates a directory (mode 0700) named Name(prefix) in dir and
// returns its path.
func Mkdir(dir, prefix string) (string, error) {
	for try := 0; ; try++ {
		n, err := Name(prefix)
		if err != nil {
			return "", err
		}
		p := filepath.Join(dir, n)
		err = os.Mkdir(p, 0o700)
		if err == nil || !errors.Is(err, fs.ErrExist) || try == 9 {
			return p, err
		}
	}
}

// Create creates and opens a new file (mode 0600) named Name(prefix) in dir.
func Create(dir, prefix string) (*os.File, error) {
	for try := 0; ; try++ {
		n, err := Name(prefix)
		if err != nil {
			return nil, err
		}
		f, err := os.OpenFile(filepath.Join(dir, n), os.O_RDWR|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
		if err == nil || !errors.Is(err, fs.ErrExist) || try == 9 {
			return f, err
		}
	}
}

// Parse returns the owner recorded in the name of a temporary made with
// prefix; ok is false when name is not one.
func Parse(name, prefix string) (o Owner, ok bool) {
	rest, found := strings.CutPrefix(name, prefix)
	if !found {
		return Owner{}, false
	}
	// Read from the right: the prefix may hold dashes (a container name).
	f := strings.Split(rest, "-")
	if len(f) < 5 {
		return Owner{}, false
	}
	f = f[len(f)-5:]
	pid, err1 := strconv.Atoi(f[0])
	start, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 || !isHex(f[2], 8) || !isHex(f[3], 8) || !isHex(f[4], 8) {
		return Owner{}, false
	}
	return Owner{PID: pid, Start: start, Boot: f[2], Host: f[3]}, true
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// Dead reports whether o is known to be gone: it ran on this host (and PID
// namespace) in an earlier boot, or its pid is free or now another
// process's (a different start time). An owner this process cannot judge
// (another host, an unreadable /proc entry) is not dead.
func Dead(o Owner) bool {
	me, err := self()
	if err != nil || o.Host != me.Host {
		return false
	}
	if o.Boot != me.Boot {
		return true
	}
	start, err := procfs.StartTime(o.PID)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
		return true
	}
	return err == nil && start != o.Start
}

// Collect removes from dir the temporaries made with prefix whose owner is
// Dead, and returns their names. It leaves alone what is not such a
// temporary, what a live or unknown process owns, what belongs to another
// user, and a directory something is mounted on or under (a mount of a
// killed container's namespace outliving it: removing through it could
// reach files outside dir). A missing dir has nothing to collect.
func Collect(dir, prefix string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("collect temporaries: %w", err)
	}
	var removed []string
	var errs []error
	var mounts []string
	for _, e := range ents {
		o, ok := Parse(e.Name(), prefix)
		if !ok || !Dead(o) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil || int(st.Uid) != os.Geteuid() {
			continue
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("collect %s: %w", p, err))
				continue
			}
			removed = append(removed, e.Name())
			continue
		}
		if mounts == nil {
			mounts = mountPoints()
		}
		if under(mounts, p) {
			errs = append(errs, fmt.Errorf("collect %s: something is mounted in it: unmount it first", p))
			continue
		}
		if err := fsutil.RemoveTree(p); err != nil {
			errs = append(errs, fmt.Errorf("collect %s: %w", p, err))
			continue
		}
		removed = append(removed, e.Name())
	}
	return removed, errors.Join(errs...)
}

// under reports whether a mount point is dir or below it.
func under(mounts []string, dir string) bool {
	for _, m := range mounts {
		if m == dir || strings.HasPrefix(m, dir+"/") {
			return true
		}
	}
	return false
}

// mountPoints lists this mount namespace's mount points (an empty, non-nil
// list when mountinfo cannot be read).
func mountPoints() []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	out := []string{}
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 {
			out = append(out, unescape(f[4]))
		}
	}
	return out
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// bootID is 8 hex digits of this boot's id; "00000000" where the kernel has none.
func bootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	id := strings.ReplaceAll(strings.TrimSpace(string(b)), "-", "")
	if !isHex(id, 32) {
		return "00000000"
	}
	return id[:8]
}

// hostID hashes the host name and PID namespace: the scope in which a pid
// and its start time name one process.
func hostID() string {
	h, _ := os.Hostname()
	ns, _ := os.Readlink("/proc/self/ns/pid")
	sum := sha256.Sum256([]byte(h + "\x00" + ns))
	return hex.EncodeToString(sum[:4])
}
