// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/pkg/spank"
)

// TestSendReply: a reply larger than the socket buffer arrives whole, with
// its fds once, and parses as the plugin would parse it.
func TestSendReply(t *testing.T) {
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn, peer := os.NewFile(uintptr(sp[0]), "spank"), os.NewFile(uintptr(sp[1]), "plugin")
	defer peer.Close()
	// A small send buffer: the reply takes many chunks.
	if err := unix.SetsockoptInt(sp[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 4096); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep := &spank.Reply{Files: []*os.File{f, f}}
	big := strings.Repeat("x", 1<<20)
	rep.Info(big)
	done := make(chan error, 1)
	go func() { done <- sendReply(conn, rep); conn.Close() }()

	var data []byte
	nfds := 0
	buf, oob := make([]byte, 64<<10), make([]byte, unix.CmsgSpace(4*8))
	for {
		n, oobn, _, _, err := unix.Recvmsg(int(peer.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		if oobn > 0 {
			msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				fds, _ := unix.ParseUnixRights(&m)
				for _, fd := range fds {
					unix.Close(fd)
				}
				nfds += len(fds)
			}
		}
		if n == 0 {
			break
		}
		data = append(data, buf[:n]...)
	}
	if err := <-done; err != nil {
		t.Fatalf("sendReply: %v", err)
	}
	if !bytes.Equal(data, rep.Bytes()) {
		t.Fatalf("received %d bytes, sent %d", len(data), len(rep.Bytes()))
	}
	recs, err := spank.ParseReply(data, nfds)
	if err != nil || len(recs) != 3 || recs[2] != [2]string{"info", big} {
		t.Fatalf("ParseReply: %d records, %v", len(recs), err)
	}
}

// TestSpankHelper is `gpyxis-runtime spank join` when the test binary is
// run by TestSpankVersionMismatch, with the socket on fd 3.
func TestSpankHelper(t *testing.T) {
	if os.Getenv("GPYXIS_TEST_SPANK_HELPER") != "1" {
		t.Skip("run by TestSpankVersionMismatch")
	}
	var code exitCode
	if err := runSpank(io.Discard, []string{"join"}); errors.As(err, &code) {
		os.Exit(int(code))
	} else if err != nil {
		os.Exit(3)
	}
	os.Exit(0)
}

// TestSpankVersionMismatch: a request from a plugin of another protocol
// version (none, or a newer one) is answered with a versioned reply whose
// error names both versions and the fix, and the runtime exits 1.
func TestSpankVersionMismatch(t *testing.T) {
	for req, want := range map[string]string{
		"op=join\x00ctx.uid=0\x00": "plugin protocol v0 but runtime speaks v1",
		"version=2\x00op=join\x00": "plugin protocol v2 but runtime speaks v1",
	} {
		sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		conn, child := os.NewFile(uintptr(sp[0]), "plugin"), os.NewFile(uintptr(sp[1]), "spank")
		cmd := exec.Command(os.Args[0], "-test.run=^TestSpankHelper$")
		cmd.Env = append(os.Environ(), "GPYXIS_TEST_SPANK_HELPER=1")
		cmd.ExtraFiles = []*os.File{child} // fd 3, as from the plugin
		var log bytes.Buffer
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		child.Close()
		if _, err := conn.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		unix.Shutdown(sp[0], unix.SHUT_WR)
		reply, err := io.ReadAll(conn)
		conn.Close()
		werr := cmd.Wait()
		if err != nil {
			t.Fatal(err)
		}
		var exit *exec.ExitError
		if !errors.As(werr, &exit) || exit.ExitCode() != 1 {
			t.Errorf("request %q: runtime exit %v, want status 1 (log: %s)", req, werr, log.String())
		}
		recs, err := spank.ParseReply(reply, 0)
		if err != nil || len(recs) != 2 || recs[1][0] != "error" ||
			recs[1][1] != want+": install matching spank_gpyxis.so and gpyxis-runtime" {
			t.Errorf("request %q: reply %q (%v), want the error %q", req, reply, err, want)
		}
	}
}
