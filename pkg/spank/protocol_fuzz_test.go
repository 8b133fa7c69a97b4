// SPDX-License-Identifier: Apache-2.0

package spank

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// replySeeds start FuzzParseReply (and the C parser's test).
var replySeeds = []string{
	"",
	"version=1\x00",
	"version=1\x00fds=6\x00chdir=/w\x00seccomp=00ff\x00setenv=A=B\x00unsetenv=C\x00",
	"version=1\x00enabled=1\x00unmount=/run/u\x00remove=/run/r\x00",
	"version=1\x00error=bad\x00warning=w\x00info=i\x00verbose=v\x00log=l\x00",
	"version=2\x00",
	"version=1\x00fds=1\x00fds=1\x00",
	"version=1\x00chdir=",
	"fds=1\x00version=1\x00",
	"\x00\x00\x00",
	"version=1\x00=\x00",
}

// FuzzParseReply: any bytes are refused with an error or give records whose
// first is the version and that Bytes-style encoding reproduces.
func FuzzParseReply(f *testing.F) {
	for _, s := range replySeeds {
		f.Add([]byte(s), 0)
		f.Add([]byte(s), 1)
	}
	f.Fuzz(func(t *testing.T, b []byte, nfds int) {
		recs, err := ParseReply(b, nfds)
		if err != nil {
			if recs != nil {
				t.Fatalf("records with an error: %q", recs)
			}
			return
		}
		if len(recs) == 0 || recs[0] != [2]string{"version", recs[0][1]} || digits(recs[0][1]) != ProtocolVersion {
			t.Fatalf("accepted without the version first: %q", recs)
		}
		var enc bytes.Buffer
		for _, r := range recs {
			enc.WriteString(r[0] + "=" + r[1] + "\x00")
		}
		if !bytes.Equal(enc.Bytes(), b) {
			t.Fatalf("records %q re-encode to %q, not %q", recs, enc.Bytes(), b)
		}
	})
}

// FuzzReadRequest: any bytes are refused or parse into a request that
// Bytes encodes and ReadRequest reads back the same.
func FuzzReadRequest(f *testing.F) {
	for _, s := range []string{
		"",
		"version=1\x00op=join\x00",
		"version=1\x00op=setup\x00ctx.uid=1001\x00ctx.gids=1,2\x00arg=runtime_path=/run/x\x00" +
			"opt=container-image=a:b\x00opt=container-mounts=/x:/y\x00env=A=1\x00env=NL=a\nb\x00",
		"op=join\x00",
		"version=2\x00op=join\x00",
		"version=1\x00op=join",
		"version=1\x00op=join\x00opt=noequals\x00ctx.=x\x00",
		"version=1\x00op=a=b\x00op=c\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ReadRequest(bytes.NewReader(b))
		if err != nil {
			var verr *VersionError
			if errors.As(err, &verr) && !strings.Contains(err.Error(), "install matching") {
				t.Fatalf("version error without the fix: %v", err)
			}
			return
		}
		again, err := ReadRequest(bytes.NewReader(req.Bytes()))
		if err != nil {
			t.Fatalf("re-encoded request %q refused: %v", req.Bytes(), err)
		}
		if !reflect.DeepEqual(req, again) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", again, req)
		}
	})
}
