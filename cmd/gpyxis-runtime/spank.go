// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/pkg/importer"
	"github.com/gpyxis/gpyxis/pkg/registry"
	"github.com/gpyxis/gpyxis/pkg/spank"
	"github.com/gpyxis/gpyxis/pkg/squashfs"
)

const spankAbout = `The entry point of gpyxis' Slurm SPANK plugin (spank_gpyxis.so), not meant to be run
by hand: the plugin runs 'gpyxis-runtime spank OP' with the job context on fd 3 and
applies the reply (pkg/spank/protocol.go). OP: init, check, setup, join, exit, epilog;
resolve and fetch are run by setup as the job's user.`

// spankFD is the plugin's socket.
const spankFD = 3

func runSpank(stdout io.Writer, args []string) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stdout, "usage: gpyxis-runtime spank OP\n\n"+spankAbout)
		if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return errUsage
	}
	var st unix.Stat_t
	if unix.Fstat(spankFD, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return errors.New("spank: fd 3 is not the plugin's socket (this command is run by spank_gpyxis.so)")
	}
	// Move the socket off fd 3, close-on-exec: the containers and programs
	// this process starts get their own fd 3 (ExtraFiles), and must not
	// inherit the plugin's socket.
	fd, err := unix.FcntlInt(spankFD, unix.F_DUPFD_CLOEXEC, 10)
	if err != nil {
		return fmt.Errorf("spank: %w", err)
	}
	unix.Close(spankFD)
	conn := os.NewFile(uintptr(fd), "spank")
	rep := &spank.Reply{}
	var herr error
	req, err := spank.ReadRequest(conn)
	switch {
	case err != nil:
		// Answered, not only logged: a plugin of another version prints
		// the error records, whatever else it no longer understands.
		herr = err
		rep.Error(err.Error())
	case string(req.Op) != args[0]:
		herr = fmt.Errorf("operation %q on the command line, %q in the request", args[0], req.Op)
		rep.Error(herr.Error())
	default:
		herr = handleSpank(req, rep)
	}
	// conn must stay referenced until here: its finalizer would close fd 3,
	// and a file opened meanwhile would get the number.
	err = sendReply(conn, rep)
	runtime.KeepAlive(conn)
	if err != nil {
		return fmt.Errorf("spank: send reply: %w", err)
	}
	if herr != nil {
		// The reply carries the message: the log (printed after it on
		// failure) keeps only what led there.
		return exitCode(1)
	}
	return nil
}

// sendReply writes the whole reply, its fds with the first chunk: a stream
// socket may take part of a message (a signal during a large send), and the
// plugin must not read a reply cut short.
func sendReply(conn *os.File, rep *spank.Reply) error {
	fds := make([]int, len(rep.Files))
	for i, f := range rep.Files {
		fds[i] = int(f.Fd())
	}
	b, oob := rep.Bytes(), unix.UnixRights(fds...)
	defer runtime.KeepAlive(rep.Files)
	for len(b) > 0 {
		n, err := unix.SendmsgN(int(conn.Fd()), b, oob, nil, 0)
		if err == unix.EINTR && n <= 0 {
			continue
		}
		if err != nil {
			return err
		}
		if n <= 0 {
			return fmt.Errorf("sendmsg took %d of %d bytes", n, len(b))
		}
		b, oob = b[n:], nil
	}
	return nil
}

// handleSpank loads the configuration as the job's environment sets it and
// runs the operation.
func handleSpank(req *spank.Request, rep *spank.Reply) error {
	userOp := req.Op == spank.OpJoin || req.Op == spank.OpExit || req.Op == spank.OpEpilog ||
		req.Op == spank.OpResolve || req.Op == spank.OpFetch
	if userOp {
		// Configuration (ENROOT_*, GPYXIS_*, HOME, XDG_*) comes from the job,
		// as under pyxis; the task-specific variables stay out.
		os.Clearenv()
		for _, kv := range spank.RuntimeEnv(req, runtimePath()) {
			k, v, _ := strings.Cut(kv, "=")
			os.Setenv(k, v)
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	d := spank.Deps{Logger: log, Log: os.Stderr}
	if userOp {
		cfg, err := siteConfig()
		if err != nil {
			rep.Error(err.Error())
			return err
		}
		d.Config = cfg
		if d.HookConfig, d.ConfDirs, err = hookSettings(); err != nil {
			rep.Error(err.Error())
			return err
		}
		if req.Op == spank.OpExit {
			opts, err := configuredSquashOptions()
			if err == nil {
				d.Squash, _, err = importer.ParseSquashOptions(opts, squashfs.Options{})
			}
			if err != nil {
				rep.Error(err.Error())
				return err
			}
		}
		d.NewPuller = func() (*registry.Puller, error) {
			var pf pullFlags
			opts, err := pf.options(log)
			if err != nil {
				return nil, err
			}
			return registry.NewPuller(opts...)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), unix.SIGTERM, unix.SIGINT)
	defer stop()
	return spank.Handle(ctx, req, rep, d)
}

// runtimePath is the PATH the plugin gave the runtime (slurmstepd's).
func runtimePath() string {
	if p := os.Getenv("PATH"); p != "" {
		return p
	}
	return "/usr/local/bin:/usr/bin:/bin"
}
