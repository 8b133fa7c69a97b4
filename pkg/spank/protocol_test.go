// SPDX-License-Identifier: Apache-2.0

package spank

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestReadRequest(t *testing.T) {
	raw := "version=1\x00op=join\x00ctx.uid=1001\x00arg=runtime_path=/run/x\x00opt=container-image=a:b\x00" +
		"opt=container-mounts=/x:/y\x00env=A=1\x00env=NL=two\nlines\x00env=A=2\x00"
	r, err := ReadRequest(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if r.Op != OpJoin || r.Context["uid"] != "1001" || len(r.Args) != 1 || r.Args[0] != "runtime_path=/run/x" {
		t.Fatalf("parsed %+v", r)
	}
	if len(r.Options) != 2 || r.Options[0] != (Opt{"container-image", "a:b"}) || r.Options[1].Value != "/x:/y" {
		t.Fatalf("options %+v", r.Options)
	}
	if v, _ := r.Getenv("A"); v != "2" {
		t.Errorf("Getenv(A) = %q, want the last value 2", v)
	}
	if v, _ := r.Getenv("NL"); v != "two\nlines" {
		t.Errorf("Getenv(NL) = %q", v)
	}
	if n, err := r.Int("uid"); err != nil || n != 1001 {
		t.Errorf("Int(uid) = %d, %v", n, err)
	}
	if _, err := r.Int("jobid"); err == nil {
		t.Error("Int of a missing item succeeded")
	}
	for _, bad := range []string{"version=1\x00op=join", "version=1\x00op=join\x00noequals\x00",
		"version=1\x00op=join\x00what=x\x00", "version=1\x00ctx.uid=1\x00", "version=x\x00op=join\x00",
		"version=1\x00op=join\x00version=1\x00"} {
		if _, err := ReadRequest(strings.NewReader(bad)); err == nil {
			t.Errorf("ReadRequest(%q) succeeded", bad)
		}
	}
}

func TestReplyBytes(t *testing.T) {
	var r Reply
	r.Error("bad\x00thing")
	r.Setenv("K=V")
	if got := string(r.Bytes()); got != "version=1\x00error=badthing\x00setenv=K=V\x00" {
		t.Fatalf("Bytes = %q", got)
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r.Files = []*os.File{f, f}
	if !bytes.HasPrefix(r.Bytes(), []byte("version=1\x00fds=2\x00error=")) {
		t.Fatalf("with files: %q, want version=1 then fds=2 first", r.Bytes())
	}
	if _, err := ParseReply(r.Bytes(), 2); err != nil {
		t.Errorf("ParseReply of Bytes: %v", err)
	}
}

// TestRequestBytes: what Bytes writes, ReadRequest reads back the same.
func TestRequestBytes(t *testing.T) {
	in := &Request{Op: OpResolve, Context: map[string]string{"uid": "1001", "digest": "sha256:ab"},
		Args: []string{"runtime_path=/run/x"}, Options: []Opt{{Name: "container-image", Value: "a#b:c"}},
		Env: []string{"A=1", "B=line1\nline2"}}
	out, err := ReadRequest(bytes.NewReader(in.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip:\n got %+v\nwant %+v", out, in)
	}
	recs := Records([]byte("result={\"a\":1}\x00error=boom\x00"))
	if len(recs) != 2 || recs[0] != [2]string{"result", `{"a":1}`} || recs[1] != [2]string{"error", "boom"} {
		t.Errorf("Records: %q", recs)
	}
}

// TestVersionMismatch: a request from a plugin of another protocol version
// (or from one before versions) is refused with the message naming both,
// and so is such a reply.
func TestVersionMismatch(t *testing.T) {
	const fix = ": install matching spank_gpyxis.so and gpyxis-runtime"
	for raw, want := range map[string]string{
		"op=join\x00ctx.uid=1\x00":          "plugin protocol v0 but runtime speaks v1" + fix,
		"version=2\x00op=join\x00new=1\x00": "plugin protocol v2 but runtime speaks v1" + fix,
		"":                                  "plugin protocol v0 but runtime speaks v1" + fix,
	} {
		_, err := ReadRequest(strings.NewReader(raw))
		var verr *VersionError
		if !errors.As(err, &verr) || err.Error() != want {
			t.Errorf("ReadRequest(%q) = %v, want %q", raw, err, want)
		}
	}
	for raw, want := range map[string]string{
		"version=2\x00error=x\x00": "plugin protocol v1 but runtime speaks v2" + fix,
		"error=old runtime\x00":    "plugin protocol v1 but runtime speaks v0" + fix,
		"":                         "plugin protocol v1 but runtime speaks v0" + fix,
	} {
		if _, err := ParseReply([]byte(raw), 0); err == nil || err.Error() != want {
			t.Errorf("ParseReply(%q) = %v, want %q", raw, err, want)
		}
	}
}

// replyCases are replies the shim must refuse, with the reason, or take.
var replyCases = []struct {
	raw  string
	nfds int
	want string // "" for a valid reply
}{
	{"version=1\x00", 0, ""},
	{"version=1\x00fds=3\x00chdir=work\x00setenv=A=B\x00", 3, ""},
	{"version=1\x00unmount=/run/x\x00remove=/run/y\x00enabled=1\x00", 0, ""},
	{"version=01\x00", 0, ""},
	{"version=1", 0, "truncated reply: record 0 is not NUL-terminated"},
	{"version=1\x00chdir=/wor", 0, "truncated reply: record 1 is not NUL-terminated"},
	{"version=1\x00fds=2\x00", 1, "expected 2 fds from gpyxis-runtime, got 1"},
	{"version=1\x00", 1, "expected 0 fds from gpyxis-runtime, got 1"},
	{"version=1\x00fds=1\x00fds=1\x00", 1, "malformed reply: more than one fds record"},
	{"version=1\x00fds=9\x00", 9, "malformed reply: bad fds record"},
	{"version=1\x00fds=-1\x00", 0, "malformed reply: bad fds record"},
	{"version=1\x00fds=\x00", 0, "malformed reply: bad fds record"},
	{"version=1\x00noequals\x00", 0, "malformed reply: record 1 is not KEY=VALUE"},
	{"version=1\x00=x\x00", 0, "malformed reply: record 1 is not KEY=VALUE"},
	{"version=1\x00\x00", 0, "malformed reply: record 1 is not KEY=VALUE"},
	{"version=\x00", 0, "malformed reply: bad version record"},
	{"version=1234567890\x00", 0, "malformed reply: bad version record"},
	{"version=1\x00unmount=run/x\x00", 0, "malformed reply: unmount path is not absolute"},
	{"version=1\x00remove=\x00", 0, "malformed reply: remove path of 0 bytes"},
	{"version=1\x00chdir=/" + strings.Repeat("d", MaxReplyPath) + "\x00", 0, "malformed reply: chdir path of 4096 bytes"},
	{"version=1\x00chdir=/" + strings.Repeat("d", MaxReplyPath-1) + "\x00", 0, ""},
}

func TestParseReply(t *testing.T) {
	for _, c := range replyCases {
		recs, err := ParseReply([]byte(c.raw), c.nfds)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("ParseReply(%.40q, %d) = %q, want %q", c.raw, c.nfds, got, c.want)
		}
		if err == nil && (len(recs) == 0 || recs[0][0] != "version") {
			t.Errorf("ParseReply(%.40q): records %q", c.raw, recs)
		}
	}
	// Every cut of a valid reply short of a record boundary is refused.
	full := (&Reply{}).Bytes()
	full = append(full, "chdir=/work\x00setenv=K=V\x00"...)
	for i := 1; i < len(full); i++ {
		_, err := ParseReply(full[:i], 0)
		if (err == nil) != (full[i-1] == 0) {
			t.Errorf("ParseReply(%q) = %v", full[:i], err)
		}
	}
	if _, err := ParseReply(make([]byte, MaxReply+1), 0); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("an oversized reply: %v", err)
	}
}
