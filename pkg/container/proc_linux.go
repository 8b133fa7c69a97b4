// SPDX-License-Identifier: Apache-2.0

package container

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of the times in /proc/PID/stat: 100 on
// every Linux architecture's user interface.
const clockTicks = 100

// Proc describes a container process as `enroot list -f` shows it (ps's
// pid, comm, stat, start, time, mntns, userns and command).
type Proc struct {
	Pid     int
	Comm    string        // the executable's name (field 2 of /proc/PID/stat)
	State   string        // ps's STAT: the state letter, then <, N, s, l, + as they apply
	Started time.Time     // when the process started
	CPU     time.Duration // user plus system time
	MntNS   uint64        // inode of the mount namespace; 0 if it cannot be read
	UserNS  uint64        // inode of the user namespace; 0 if it cannot be read
	Command string        // the command line, or [comm] when it is empty
}

// ReadProc reads process pid's entry of `list -f` from /proc.
func ReadProc(pid int) (Proc, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Proc{}, fmt.Errorf("process %d: %w", pid, err)
	}
	st, err := parseStat(string(data))
	if err != nil {
		return Proc{}, fmt.Errorf("process %d: %w", pid, err)
	}
	boot, err := bootTime()
	if err != nil {
		return Proc{}, err
	}
	p := Proc{
		Pid: pid, Comm: st.comm, State: st.psState(pid),
		Started: boot.Add(ticks(st.start)), CPU: ticks(st.utime + st.stime),
		MntNS: nsInode(pid, "mnt"), UserNS: nsInode(pid, "user"), Command: ProcCommand(pid),
	}
	if p.Command == "" || p.Command == "?" {
		p.Command = "[" + st.comm + "]"
	}
	return p, nil
}

func ticks(n uint64) time.Duration { return time.Duration(n) * time.Second / clockTicks }

// procStat holds the fields of /proc/PID/stat that list -f shows.
type procStat struct {
	comm                 string
	state                byte
	pgrp, session, tpgid int
	utime, stime         uint64
	nice                 int
	threads              int
	start                uint64
}

// parseStat parses a /proc/PID/stat line (proc(5)). The command name, field
// 2, is in parentheses and may hold spaces and ')': the fields after it
// follow the last ')'.
func parseStat(s string) (procStat, error) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return procStat{}, fmt.Errorf("malformed stat %q", s)
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("malformed stat %q", s)
	}
	// f[i] is field i+3 of proc(5).
	var st procStat
	st.comm, st.state = s[open+1:end], f[0][0]
	ints := []struct {
		dst *int
		i   int
	}{{&st.pgrp, 2}, {&st.session, 3}, {&st.tpgid, 5}, {&st.nice, 16}, {&st.threads, 17}}
	for _, x := range ints {
		v, err := strconv.Atoi(f[x.i])
		if err != nil {
			return procStat{}, fmt.Errorf("stat field %d: %w", x.i+3, err)
		}
		*x.dst = v
	}
	uints := []struct {
		dst *uint64
		i   int
	}{{&st.utime, 11}, {&st.stime, 12}, {&st.start, 19}}
	for _, x := range uints {
		v, err := strconv.ParseUint(f[x.i], 10, 64)
		if err != nil {
			return procStat{}, fmt.Errorf("stat field %d: %w", x.i+3, err)
		}
		*x.dst = v
	}
	return st, nil
}

// psState is ps's STAT column: the state, then < (high priority) or N (low),
// s (session leader), l (multi-threaded), + (in the foreground process group
// of its terminal).
func (st procStat) psState(pid int) string {
	s := string(st.state)
	switch {
	case st.nice < 0:
		s += "<"
	case st.nice > 0:
		s += "N"
	}
	if st.session == pid {
		s += "s"
	}
	if st.threads > 1 {
		s += "l"
	}
	if st.tpgid > 0 && st.tpgid == st.pgrp {
		s += "+"
	}
	return s
}

// bootTime is the btime line of /proc/stat.
func bootTime() (time.Time, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, fmt.Errorf("boot time: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("boot time: %w", err)
			}
			return time.Unix(n, 0), nil
		}
	}
	return time.Time{}, fmt.Errorf("boot time: no btime in /proc/stat")
}

// nsInode returns the inode of namespace kind of pid ("mnt:[4026531841]"), or 0.
func nsInode(pid int, kind string) uint64 {
	link, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/" + kind)
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, kind+":["), "]"), 10, 64)
	return v
}

// FormatStarted formats a start time as ps's START column: HH:MM:SS within
// the last 24 hours, else "Mon DD".
func FormatStarted(t, now time.Time) string {
	if now.Sub(t) < 24*time.Hour {
		return t.Format("15:04:05")
	}
	return t.Format("Jan 02")
}

// FormatCPU formats CPU time as ps's TIME column: [DD-]HH:MM:SS.
func FormatCPU(d time.Duration) string {
	s := int64(d / time.Second)
	days, h, m := s/86400, s/3600%24, s/60%60
	if days > 0 {
		return fmt.Sprintf("%d-%02d:%02d:%02d", days, h, m, s%60)
	}
	return fmt.Sprintf("%02d:%02d:%02d", h, m, s%60)
}
