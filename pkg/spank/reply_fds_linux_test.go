// SPDX-License-Identifier: Apache-2.0

package spank

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestReadReplyCutFDs: a user's process that sends more descriptors in one
// message than root makes room for gets its reply refused, not cut short
// silently (the kernel drops the rest and sets MSG_CTRUNC).
func TestReadReplyCutFDs(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "root"), os.NewFile(uintptr(fds[1]), "user")
	defer mine.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	many := make([]int, 253) // SCM_MAX_FD
	for i := range many {
		many[i] = int(null.Fd())
	}
	if err := unix.Sendmsg(int(theirs.Fd()), []byte("result=x\n"), unix.UnixRights(many...), nil, 0); err != nil {
		t.Fatal(err)
	}
	theirs.Close()
	_, files, err := readReply(mine)
	for _, f := range files {
		f.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "file descriptors") {
		t.Fatalf("readReply: %v, want a refusal of the cut descriptors", err)
	}
}
