// SPDX-License-Identifier: Apache-2.0

package rootfs

import "syscall"

// The runtime and the container's init talk over one stream socket, the
// init's fd 3 (named by the environment variable initFDEnv):
//
//	runtime                                  init (in the new namespaces)
//	  ── initConfig (JSON), then SHUT_WR ──▶   reads to EOF
//	                                           Setup, chdir, PATH lookup
//	  ◀── initError (JSON), then exit 1 ────   on failure
//	  ◀── EOF (fd is close-on-exec) ───────    on success: execve(command)
//
// EOF without a message therefore means the command is running, as with
// runc's exec fifo and Go's own fork/exec error pipe. If init dies before
// it could report (a crash), the runtime also sees EOF, returns the Process,
// and Wait reports the exit status.
//
// A holder (initConfig.Holder, [StartHolder]) execs nothing and keeps the
// socket open:
//
//	── initConfig{holder:true} ──────────▶   Setup, chdir /
//	◀── initError (JSON), then exit 1 ────   on failure
//	◀── {"ready":true} ──────────────────   namespaces ready; blocks reading
//	── EOF (Holder.Stop) ────────────────▶   exits 0
//	── "detach\n" (Holder.Detach) ───────▶  clears its parent-death signal,
//	◀── "detached\n" ────────────────────   then the runtime may exit;
//	                                         lives until SIGTERM/SIGINT/SIGHUP
const (
	// InitArg is the argv[1] marker that makes a binary run [InitMain].
	InitArg = "gpyxis-init"
	// initFDEnv names the init's end of the socket.
	initFDEnv = "_GPYXIS_INIT_FD"
)

// initConfig is what the runtime sends the init.
type initConfig struct {
	Rootfs Config   `json:"rootfs"`
	Args   []string `json:"args"`
	Env    []string `json:"env"`
	Dir    string   `json:"dir,omitempty"`
	Debug  bool     `json:"debug,omitempty"`
	// Seccomp is a BPF program (pkg/filter) loaded just before exec; none if empty.
	Seccomp []byte `json:"seccomp,omitempty"`
	// Holder makes the init stay in the namespaces instead of exec'ing Args.
	Holder bool `json:"holder,omitempty"`
	// Lock moves the init, once the mounts are made, into a further user,
	// mount and cgroup namespace where they are locked (lock_linux.go).
	Lock *lockIDs `json:"lock,omitempty"`
}

// initError is what the init sends back when it fails.
// A holder sends it with only Ready set once its namespaces are ready.
type initError struct {
	Message string `json:"message"`
	Errno   int    `json:"errno,omitempty"`
	Ready   bool   `json:"ready,omitempty"`
}

// InitError is a failure of the container's init before it could exec the
// command, reported across the process boundary. It unwraps to the
// syscall.Errno at its root, if any, so errors.Is(err, fs.ErrPermission)
// and friends work.
type InitError struct {
	Message string
	Errno   syscall.Errno
}

func (e *InitError) Error() string { return "container init: " + e.Message }

// Unwrap returns the errno, or nil.
func (e *InitError) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return e.Errno
}
