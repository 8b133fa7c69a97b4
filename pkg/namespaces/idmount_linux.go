// SPDX-License-Identifier: Apache-2.0

package namespaces

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// PauseArg is the argument with which this binary, re-executed, only
// waits for its stdin to close: MapUserns' namespace keeper. main must
// call PauseMain when os.Args[1] is PauseArg.
const PauseArg = "__gpyxis_pause"

// PauseMain is the namespace keeper's main.
func PauseMain() {
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// MapUserns returns a user namespace whose uid 0 and gid 0 are hostUID and
// hostGID, and nothing else: the mapping an idmapped mount takes. Only a
// process (this binary re-executed, waiting) can create one; the returned
// file keeps the namespace alive after it exits. Writing a mapping to
// another user's ids needs root.
func MapUserns(hostUID, hostGID int) (*os.File, error) {
	cmd := exec.Command("/proc/self/exe", PauseArg)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: hostUID, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: hostGID, Size: 1}},
		Pdeathsig:   syscall.SIGKILL,
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("user namespace: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("user namespace: %w", err)
	}
	// Go writes the maps before the child execs: the namespace is complete.
	f, err := os.Open("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/ns/user")
	stdin.Close()
	cmd.Wait()
	if err != nil {
		return nil, fmt.Errorf("user namespace: %w", err)
	}
	return f, nil
}

// IDMappedMount returns a detached clone of the tree at src on which
// every file owned by uid 0 (gid 0) appears owned by the uid (gid) that
// userns maps 0 to, with attr (unix.MOUNT_ATTR_RDONLY, ...) set too. It
// needs CAP_SYS_ADMIN in the initial user namespace for a disk
// filesystem; attach it with AttachMount.
func IDMappedMount(src string, userns *os.File, attr uint64) (*os.File, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("open_tree %s: %w", src, err)
	}
	f := os.NewFile(uintptr(fd), src)
	a := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP | attr, Userns_fd: uint64(userns.Fd())}
	// The idmap can only be set on a detached mount that has none yet.
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &a); err != nil {
		f.Close()
		return nil, fmt.Errorf("idmap %s: %w", src, err)
	}
	return f, nil
}

// AttachMount mounts a detached tree (IDMappedMount) on the directory dir
// (an O_PATH descriptor), so that a symlink swapped in under its name
// cannot redirect the mount.
func AttachMount(tree, dir *os.File) error {
	err := unix.MoveMount(int(tree.Fd()), "", int(dir.Fd()), "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("move_mount onto %s: %w", dir.Name(), err)
	}
	return nil
}
