// SPDX-License-Identifier: Apache-2.0

package spank

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// shimReplyChecker builds shim/reply_check.c with the plugin's reply.c, with
// AddressSanitizer and UBSan where the compiler links them.
func shimReplyChecker(t *testing.T) string {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler: the plugin's reply parser is not tested")
	}
	bin := filepath.Join(t.TempDir(), "reply_check")
	src := []string{"../../shim/reply.c", "../../shim/reply_check.c"}
	base := []string{"-std=gnu11", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-o", bin}
	out, err := exec.Command(cc, append(append(base, "-fsanitize=address,undefined", "-fno-sanitize-recover=all"), src...)...).CombinedOutput()
	if err != nil {
		t.Logf("no sanitizers (%v: %s): plain build", err, out)
		if out, err := exec.Command(cc, append(base, src...)...).CombinedOutput(); err != nil {
			t.Fatalf("build the reply checker: %v\n%s", err, out)
		}
	}
	return bin
}

// TestShimSpawn runs the plugin's fork-and-exec (shim/spawn.c) through
// shim/spawn_check.c, with close_range and with the close() fallback of
// older kernels: the executed program holds fds 0 to 3 only (no stray fd
// of the caller, low or at the top of its limit), runs as the job's ids
// when the caller is root, and a failed execve comes back as stage and
// errno over the error pipe.
func TestShimSpawn(t *testing.T) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler: the plugin's spawn is not tested")
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep program")
	}
	for _, variant := range []string{"close_range", "close loop"} {
		bin := filepath.Join(t.TempDir(), "spawn_check")
		args := []string{"-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-o", bin}
		if variant == "close loop" {
			args = append(args, "-DGPX_NO_CLOSE_RANGE")
		}
		args = append(args, "../../shim/spawn.c", "../../shim/spawn_check.c")
		out, err := exec.Command(cc, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("build the spawn checker: %v\n%s", err, out)
		}
		want := "fds 0 1 2 3"
		if os.Geteuid() == 0 {
			want += " ids 65534 65534 65534"
		}
		out, err = exec.Command(bin, sleep, "10").CombinedOutput()
		if got := strings.TrimSpace(string(out)); err != nil || got != want {
			t.Errorf("%s: the runtime would start with %q (%v), want %q", variant, got, err, want)
		}
		out, err = exec.Command(bin, "/nonexistent/gpyxis-runtime").CombinedOutput()
		if got := strings.TrimSpace(string(out)); err != nil || got != "fail 3 2" {
			t.Errorf("%s: a missing program gave %q (%v), want stage 3 (exec), ENOENT", variant, got, err)
		}
	}
}

// TestShimReplyParser runs the plugin's C reply parser on the cases Go's
// ParseReply is tested with, every cut of a valid reply and the fuzz seeds,
// and asserts the same verdict and message from both, and no out-of-bounds
// read (the sanitizer aborts the checker).
func TestShimReplyParser(t *testing.T) {
	bin := shimReplyChecker(t)
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%d %d %d %d\n", ProtocolVersion, MaxReply, MaxReplyFDs, MaxReplyPath)
	if string(out) != want {
		t.Fatalf("shim/reply.h says %q, pkg/spank %q: the two sides of the protocol differ", out, want)
	}

	type tc struct {
		raw  []byte
		nfds int
	}
	var cases []tc
	for _, c := range replyCases {
		cases = append(cases, tc{[]byte(c.raw), c.nfds})
	}
	full := []byte("version=1\x00fds=2\x00chdir=/w\x00unmount=/u\x00setenv=A=\n\x00error=e\x00")
	for i := 0; i <= len(full); i++ {
		cases = append(cases, tc{full[:i], 2}, tc{full[:i], 0})
	}
	for _, s := range replySeeds {
		cases = append(cases, tc{[]byte(s), 0}, tc{[]byte(s), 1})
	}
	var in bytes.Buffer
	for _, c := range cases {
		binary.Write(&in, binary.LittleEndian, uint32(len(c.raw)))
		binary.Write(&in, binary.LittleEndian, uint32(c.nfds))
		in.Write(c.raw)
	}
	cmd := exec.Command(bin)
	cmd.Stdin, cmd.Stderr = &in, os.Stderr
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("reply checker: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("reply checker answered %d of %d cases", len(lines), len(cases))
	}
	for i, c := range cases {
		recs, err := ParseReply(c.raw, c.nfds)
		goSays := fmt.Sprintf("ok %d", len(recs))
		if err != nil {
			goSays = "error " + err.Error()
		}
		if lines[i] != goSays {
			t.Errorf("reply %.60q with %d fds: C says %q, Go %q", c.raw, c.nfds, lines[i], goSays)
		}
	}
}
