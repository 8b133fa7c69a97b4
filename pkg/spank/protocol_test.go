package spank

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestReadRequest(t *testing.T) {
	raw := "op=join\x00ctx.uid=1001\x00arg=runtime_path=/run/x\x00opt=container-image=a:b\x00" +
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
	for _, bad := range []string{"op=join", "op=join\x00noequals\x00", "op=join\x00what=x\x00", "ctx.uid=1\x00"} {
		if _, err := ReadRequest(strings.NewReader(bad)); err == nil {
			t.Errorf("ReadRequest(%q) succeeded", bad)
		}
	}
}

func TestReplyBytes(t *testing.T) {
	var r Reply
	r.Error("bad\x00thing")
	r.Setenv("K=V")
	if got := string(r.Bytes()); got != "error=badthing\x00setenv=K=V\x00" {
		t.Fatalf("Bytes = %q", got)
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r.Files = []*os.File{f, f}
	if !bytes.HasPrefix(r.Bytes(), []byte("fds=2\x00error=")) {
		t.Fatalf("with files: %q, want fds=2 first", r.Bytes())
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
