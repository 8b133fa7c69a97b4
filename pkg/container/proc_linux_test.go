// SPDX-License-Identifier: Apache-2.0

package container

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// A command name with spaces and parentheses; fields as proc(5) numbers them.
	line := "4242 (a) (b c) S 1 4240 4242 34816 4240 4194560 100 0 0 0 250 150 0 0 20 -5 3 0 123456 1000 10"
	st, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if st.comm != "a) (b c" || st.state != 'S' || st.pgrp != 4240 || st.session != 4242 || st.tpgid != 4240 {
		t.Errorf("parsed %+v", st)
	}
	if st.utime != 250 || st.stime != 150 || st.nice != -5 || st.threads != 3 || st.start != 123456 {
		t.Errorf("parsed %+v", st)
	}
	if got := st.psState(4242); got != "S<sl+" {
		t.Errorf("psState = %q, want S<sl+", got)
	}
	if got := (procStat{state: 'R', nice: 10, session: 1, threads: 1, pgrp: 5, tpgid: -1}).psState(7); got != "RN" {
		t.Errorf("psState = %q, want RN", got)
	}
	for _, bad := range []string{"", "1 (x", "1 (x) S 1 2", "1 (x) S 1 a 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20"} {
		if _, err := parseStat(bad); err == nil {
			t.Errorf("parseStat(%q) succeeded", bad)
		}
	}
}

func TestFormatProcTimes(t *testing.T) {
	now := time.Date(2026, 3, 5, 12, 0, 0, 0, time.Local)
	if got := FormatStarted(now.Add(-90*time.Minute), now); got != "10:30:00" {
		t.Errorf("FormatStarted(1h30 ago) = %q", got)
	}
	if got := FormatStarted(now.Add(-48*time.Hour), now); got != "Mar 03" {
		t.Errorf("FormatStarted(2 days ago) = %q", got)
	}
	for d, want := range map[time.Duration]string{
		0: "00:00:00", 61*time.Second + 500*time.Millisecond: "00:01:01",
		25*time.Hour + 2*time.Second: "1-01:00:02", 10*time.Hour + 59*time.Minute: "10:59:00",
	} {
		if got := FormatCPU(d); got != want {
			t.Errorf("FormatCPU(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestReadProc reads the test process itself.
func TestReadProc(t *testing.T) {
	p, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	if len(p.Comm) == 0 || !strings.HasPrefix(exe[strings.LastIndexByte(exe, '/')+1:], p.Comm) {
		t.Errorf("comm %q, executable %s", p.Comm, exe)
	}
	if !strings.ContainsAny(p.State[:1], "RS") || !strings.Contains(p.State, "l") { // the Go runtime has threads
		t.Errorf("state %q, want running or sleeping, multi-threaded", p.State)
	}
	if age := time.Since(p.Started); age < -2*time.Second || age > time.Hour {
		t.Errorf("started %v ago", age)
	}
	link, _ := os.Readlink("/proc/self/ns/mnt")
	if want := "mnt:[" + strconv.FormatUint(p.MntNS, 10) + "]"; link != want || p.UserNS == 0 {
		t.Errorf("mntns %d (link %s), userns %d", p.MntNS, link, p.UserNS)
	}
	if !strings.HasPrefix(p.Command, os.Args[0]) {
		t.Errorf("command %q, want it to start with %q", p.Command, os.Args[0])
	}
	if _, err := ReadProc(1 << 30); err == nil {
		t.Error("ReadProc of a missing process succeeded")
	}
}
