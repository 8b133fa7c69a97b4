// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"strings"
	"testing"

	"go.podman.io/image/v5/docker/reference"
)

// Seeds also live in testdata/fuzz/<Name>/; run longer with
// `go test -run '^$' -fuzz FuzzParseReference ./pkg/registry`.

func FuzzParseReference(f *testing.F) {
	for _, s := range []string{
		"docker://nvcr.io#nvidia/pytorch:25.09-py3", "ubuntu", "docker://$oauthtoken@nvcr.io#nvidia/cuda",
		"docker://127.0.0.1:5000#busybox:latest@" + dg, "ghcr.io/org/img@" + dg, "localhost/a/b:1",
		"docker://me@x.com@reg.io:8443#team/app:v1", "[::1]:5000/busybox:x", "docker://#x", "podman://x",
		"docker://docker.io/ubuntu", "a:b@sha256:", "reg.io#a//b", "reg.io#" + strings.Repeat("a", 250),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReference(s)
		if err != nil {
			return
		}
		again, err := ParseReference(r.String())
		if err != nil || again.DockerReference() != r.DockerReference() || again.User != r.User || again.Tag != r.Tag {
			t.Fatalf("%q: String() %q parses to %+v, %v; want %+v", s, r.String(), again, err, r)
		}
		// What the parser accepts, containers/image must take too (it has no
		// IPv6 literals), for the same registry, and the output file name
		// stays one plain name.
		ir, err := r.imageReference()
		if err != nil && !strings.HasPrefix(r.Registry, "[") {
			t.Fatalf("%q: accepted, but containers/image refuses it: %v", s, err)
		}
		if err == nil && reference.Domain(ir.DockerReference()) != r.Registry {
			t.Fatalf("%q: registry %q, containers/image goes to %q", s, r.Registry, reference.Domain(ir.DockerReference()))
		}
		if out := r.OutputName(); strings.Contains(out, "/") || strings.HasPrefix(out, ".") {
			t.Fatalf("%q: output name %q", s, out)
		}
	})
}

func FuzzParseNetrc(f *testing.F) {
	for _, s := range []string{
		"machine nvcr.io login $oauthtoken password secret\n",
		"machine reg.io:5000\n  login \"a b\"\n  password \"q\\\"x\"\ndefault login anon password x\n",
		"# comment\nmachine a login u password $(cat /x) # rest of line\n",
		"macdef init\ncd /x\n\nmachine b login v password w\n",
		"machine", "login x", "machine a bogus b", "machine \"unterminated",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		entries, err := parseNetrc(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.isDefault || e.machine == "" {
				continue
			}
			// Every machine entry is found by its own name and login.
			got := findEntry(entries, e.machine, e.login)
			if got == nil || got.machine != e.machine || got.login != e.login {
				t.Fatalf("%q: entry %+v not found by its name and login (got %+v)", s, e, got)
			}
		}
	})
}
