// SPDX-License-Identifier: Apache-2.0

package spank

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// The shim and the runtime exchange records over one stream socket, the
// runtime's fd 3. A record is KEY=VALUE terminated by a NUL byte; values may
// hold any byte but NUL (environment values can hold newlines; NUL cannot
// occur in them).
//
//	shim (C)                               gpyxis-runtime spank OP
//	  ── version=, op=, ctx.*=, arg=, ──▶     reads to EOF (the shim's SHUT_WR)
//	     opt=, env=
//	  ◀── version=, replies, fds ─────────    sendmsg, SCM_RIGHTS with the
//	                                          first chunk; then exit 0 or 1
//
// Both sides start with version=ProtocolVersion (shim/reply.h: GPX_PROTOCOL),
// so that a plugin and a runtime from different releases stop with a message
// naming both versions instead of misreading each other. A runtime refuses
// a request of another version with an error record; an older runtime, which
// knows no version record, refuses it and answers nothing, which the shim
// reads as version 0.
//
// Request keys:
//
//	version=N        first: the protocol version
//	op=check|setup|join|exit|epilog|init
//	ctx.NAME=VALUE   job context from spank_get_item (uid, gid, gids, jobid,
//	                 stepid, nodeid, nnodes, local_tasks, total_tasks,
//	                 task_id, task_global_id, argv0, context)
//	arg=WORD         one plugstack.conf argument, in order
//	opt=NAME=VALUE   one option callback (NAME without dashes), in order
//	env=NAME=VALUE   one variable of the job (or task) environment
//
// Reply keys, applied by the shim in this order of kinds, after it checked
// the whole reply as ParseReply does:
//
//	version=N        first: the protocol version
//	error=MSG, warning=MSG, info=MSG, verbose=MSG, log=MSG
//	                 messages (slurm_error for error and warning,
//	                 slurm_info, slurm_verbose, slurm_spank_log)
//	enabled=0|1      whether the step uses a container (setup)
//	unmount=PATH     setup: at slurm_spank_exit (root), umount2(PATH,
//	                 MNT_DETACH|UMOUNT_NOFOLLOW), then rmdir(PATH); setup's fds
//	                 (a lock on the shared cache entry) are kept until then
//	remove=PATH      setup: unlink(PATH) at slurm_spank_exit
//	result=JSON      what resolve and fetch found (not for the shim)
//	fds=N            N namespace fds were passed, to give gpx_join in order
//	chdir=PATH       working directory after the join
//	seccomp=HEX      a BPF program (struct sock_filter array) to load
//	setenv=NAME=VALUE, unsetenv=NAME
//	                 changes to the task's environment
//
// The runtime exits 0 if and only if the operation succeeded; on failure the
// shim prints the error records, then the runtime's log (its stdout and
// stderr) line by line.

// ProtocolVersion is the version of the records below; shim/reply.h's
// GPX_PROTOCOL must match it. Change it with any change of their meaning.
const ProtocolVersion = 1

// Limits the shim enforces on a reply (shim/reply.h), and the largest
// request the runtime reads.
const (
	MaxReply     = 16 << 20 // GPX_MAX_REPLY
	MaxReplyFDs  = 8        // GPX_MAX_FDS
	MaxReplyPath = 4095     // GPX_MAX_PATH: chdir, unmount and remove values
	MaxRequest   = 64 << 20
)

// VersionError is a plugin and a runtime speaking different protocols.
type VersionError struct {
	Plugin, Runtime string // the versions, "0" for one that sends none
}

func (e *VersionError) Error() string {
	return "plugin protocol v" + e.Plugin + " but runtime speaks v" + e.Runtime +
		": install matching spank_gpyxis.so and gpyxis-runtime"
}

// Op is a SPANK operation the shim asks for.
type Op string

// The operations, by the SPANK callback that asks for them.
const (
	OpInit   Op = "init"   // slurm_spank_init in slurmd, as root: check plugstack arguments
	OpCheck  Op = "check"  // init_post_opt in srun, sbatch, salloc: validate options
	OpSetup  Op = "setup"  // init_post_opt in slurmstepd, as root: enabled?, runtime directory
	OpJoin   Op = "join"   // task_init, as the user: create once, then join
	OpExit   Op = "exit"   // after the last task_exit, as the user: save, stop, remove
	OpEpilog Op = "epilog" // job epilog, as the user: container_scope=job cleanup
	// Run by setup (root) as the job's user, never by the shim: resolve
	// the image with the user's credentials, and fetch its layers (the
	// reply passes the open blob files). See shared_linux.go.
	OpResolve Op = "resolve"
	OpFetch   Op = "fetch"
)

// Request is what the shim sends.
type Request struct {
	Op      Op
	Context map[string]string
	Args    []string // plugstack arguments
	Options []Opt
	Env     []string // NAME=VALUE
}

// ReadRequest parses the records the shim wrote, up to EOF. A request of
// another protocol version fails with a *VersionError, before any other
// record is read.
func ReadRequest(r io.Reader) (*Request, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxRequest+1))
	if err != nil {
		return nil, fmt.Errorf("read request: %w", err)
	}
	if len(data) > MaxRequest {
		return nil, fmt.Errorf("read request: more than %d bytes", MaxRequest)
	}
	req := &Request{Context: map[string]string{}}
	recs := strings.Split(string(bytes.TrimSuffix(data, []byte{0})), "\x00")
	v, ok := strings.CutPrefix(recs[0], "version=")
	if !ok {
		return nil, &VersionError{Plugin: "0", Runtime: strconv.Itoa(ProtocolVersion)}
	}
	if n := digits(v); n < 0 {
		return nil, fmt.Errorf("read request: bad version record %q", v)
	} else if n != ProtocolVersion {
		return nil, &VersionError{Plugin: v, Runtime: strconv.Itoa(ProtocolVersion)}
	}
	if data[len(data)-1] != 0 {
		return nil, errors.New("read request: last record is not NUL-terminated")
	}
	for _, rec := range recs[1:] {
		key, val, ok := strings.Cut(rec, "=")
		if !ok {
			return nil, fmt.Errorf("read request: record without '=': %q", rec)
		}
		switch {
		case key == "version":
			return nil, errors.New("read request: more than one version record")
		case key == "op":
			req.Op = Op(val)
		case strings.HasPrefix(key, "ctx."):
			req.Context[key[len("ctx."):]] = val
		case key == "arg":
			req.Args = append(req.Args, val)
		case key == "opt":
			name, v, _ := strings.Cut(val, "=")
			req.Options = append(req.Options, Opt{Name: name, Value: v})
		case key == "env":
			req.Env = append(req.Env, val)
		default:
			return nil, fmt.Errorf("read request: unknown key %q", key)
		}
	}
	if req.Op == "" {
		return nil, errors.New("read request: no op")
	}
	return req, nil
}

// Bytes encodes the request as the shim writes it.
func (r *Request) Bytes() []byte {
	var b bytes.Buffer
	rec := func(k, v string) { b.WriteString(k + "=" + strings.ReplaceAll(v, "\x00", "") + "\x00") }
	rec("version", strconv.Itoa(ProtocolVersion))
	rec("op", string(r.Op))
	keys := make([]string, 0, len(r.Context))
	for k := range r.Context {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		rec("ctx."+k, r.Context[k])
	}
	for _, a := range r.Args {
		rec("arg", a)
	}
	for _, o := range r.Options {
		rec("opt", o.Name+"="+o.Value)
	}
	for _, e := range r.Env {
		rec("env", e)
	}
	return b.Bytes()
}

// Int returns context item name as an integer, or an error naming it.
func (r *Request) Int(name string) (int64, error) {
	v, ok := r.Context[name]
	if !ok {
		return 0, fmt.Errorf("job context: no %s", name)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("job context: %s=%q: %w", name, v, err)
	}
	return n, nil
}

// Getenv looks a variable up in the request's environment.
func (r *Request) Getenv(name string) (string, bool) {
	for i := len(r.Env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(r.Env[i], "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}

// Reply collects the records and fds sent back to the shim.
type Reply struct {
	buf bytes.Buffer
	// Files are the namespace fds, in join order, sent with SCM_RIGHTS.
	// They are files, not numbers, so that they stay open until sent: a
	// dropped *os.File closes its fd when the garbage collector finds it.
	Files []*os.File
}

func (r *Reply) add(key, val string) {
	// A NUL would split the record: the shim would read garbage keys.
	r.buf.WriteString(key + "=" + strings.ReplaceAll(val, "\x00", "") + "\x00")
}

// Error, Warning, Info, Verbose and Log add messages for the user.
func (r *Reply) Error(msg string)   { r.add("error", msg) }
func (r *Reply) Warning(msg string) { r.add("warning", msg) }
func (r *Reply) Info(msg string)    { r.add("info", msg) }
func (r *Reply) Verbose(msg string) { r.add("verbose", msg) }
func (r *Reply) Log(msg string)     { r.add("log", msg) }

// Enabled says whether the step runs in a container.
func (r *Reply) Enabled(on bool) {
	r.add("enabled", map[bool]string{true: "1", false: "0"}[on])
}

// Unmount asks the shim to unmount (and remove) a mount point at the end
// of the step, as root, and Remove to unlink a file then. The shim does it
// itself: a process it started at that point could be killed with the
// step's other processes (proctrack/linuxproc signals every descendant of
// slurmstepd when the step ends).
func (r *Reply) Unmount(path string) { r.add("unmount", path) }
func (r *Reply) Remove(path string)  { r.add("remove", path) }

// Result carries an internal operation's answer (resolve, fetch).
func (r *Reply) Result(b []byte) { r.add("result", string(b)) }

// Records splits a reply into its records, for a Go caller of an
// operation (setup calls resolve and fetch).
func Records(b []byte) [][2]string {
	var out [][2]string
	for _, rec := range strings.Split(string(bytes.TrimSuffix(b, []byte{0})), "\x00") {
		if k, v, ok := strings.Cut(rec, "="); ok {
			out = append(out, [2]string{k, v})
		}
	}
	return out
}

// Chdir sets the task's working directory after the join.
func (r *Reply) Chdir(dir string) { r.add("chdir", dir) }

// Seccomp asks the shim to load a BPF program.
func (r *Reply) Seccomp(prog []byte) { r.add("seccomp", hex.EncodeToString(prog)) }

// Setenv and Unsetenv change the task's environment.
func (r *Reply) Setenv(kv string)     { r.add("setenv", kv) }
func (r *Reply) Unsetenv(name string) { r.add("unsetenv", name) }

// Bytes returns the records: version=N first, then fds=N when fds are
// passed.
func (r *Reply) Bytes() []byte {
	b := []byte("version=" + strconv.Itoa(ProtocolVersion) + "\x00")
	if len(r.Files) > 0 {
		b = append(b, "fds="+strconv.Itoa(len(r.Files))+"\x00"...)
	}
	return append(b, r.buf.Bytes()...)
}

// ParseReply checks a reply as the shim does before it uses any record
// (shim/reply.c, gpx_reply_check, with the same rules and messages), for
// nfds received fds, and returns its records.
func ParseReply(b []byte, nfds int) ([][2]string, error) {
	if len(b) > MaxReply {
		return nil, fmt.Errorf("reply of %d bytes exceeds the limit of %d", len(b), MaxReply)
	}
	mismatch := func(have string) error {
		return &VersionError{Plugin: strconv.Itoa(ProtocolVersion), Runtime: have}
	}
	if len(b) == 0 {
		return nil, mismatch("0")
	}
	var out [][2]string
	fds := -1
	for i, rest := 0, b; len(rest) > 0; i++ {
		end := bytes.IndexByte(rest, 0)
		if end < 0 {
			return nil, fmt.Errorf("truncated reply: record %d is not NUL-terminated", i)
		}
		rec := string(rest[:end])
		rest = rest[end+1:]
		key, val, ok := strings.Cut(rec, "=")
		if !ok || key == "" {
			return nil, fmt.Errorf("malformed reply: record %d is not KEY=VALUE", i)
		}
		switch {
		case i == 0:
			if key != "version" {
				return nil, mismatch("0")
			}
			if n := digits(val); n < 0 {
				return nil, errors.New("malformed reply: bad version record")
			} else if n != ProtocolVersion {
				return nil, mismatch(val)
			}
		case key == "fds":
			if fds >= 0 {
				return nil, errors.New("malformed reply: more than one fds record")
			}
			if fds = digits(val); fds < 0 || fds > MaxReplyFDs {
				return nil, errors.New("malformed reply: bad fds record")
			}
		case key == "chdir" || key == "unmount" || key == "remove":
			if len(val) == 0 || len(val) > MaxReplyPath {
				return nil, fmt.Errorf("malformed reply: %s path of %d bytes", key, len(val))
			}
			if key != "chdir" && val[0] != '/' {
				return nil, fmt.Errorf("malformed reply: %s path is not absolute", key)
			}
		}
		out = append(out, [2]string{key, val})
	}
	if fds < 0 {
		fds = 0
	}
	if fds != nfds {
		return nil, fmt.Errorf("expected %d fds from gpyxis-runtime, got %d", fds, nfds)
	}
	return out, nil
}

// digits parses a decimal number of 1 to 9 digits, as the shim does; -1 if
// s is not one.
func digits(s string) int {
	if len(s) == 0 || len(s) > 9 {
		return -1
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}
