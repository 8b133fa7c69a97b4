// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"errors"
	"strings"
	"testing"
)

const dg = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseReference(t *testing.T) {
	tests := []struct {
		in                          string
		user, reg, repo, tag, digst string
		docker, out                 string // DockerReference(), OutputName()
	}{
		// enroot style
		{in: "docker://ubuntu", reg: DockerHub, repo: "library/ubuntu", tag: "latest", docker: DockerHub + "/library/ubuntu:latest", out: "ubuntu.sqsh"},
		{in: "docker://ubuntu:24.04", reg: DockerHub, repo: "library/ubuntu", tag: "24.04", docker: DockerHub + "/library/ubuntu:24.04", out: "ubuntu+24.04.sqsh"},
		{in: "docker://nvcr.io#nvidia/pytorch:25.09-py3", reg: "nvcr.io", repo: "nvidia/pytorch", tag: "25.09-py3", docker: "nvcr.io/nvidia/pytorch:25.09-py3", out: "nvidia+pytorch+25.09-py3.sqsh"},
		{in: "nvcr.io#nvidia/pytorch:25.09-py3", reg: "nvcr.io", repo: "nvidia/pytorch", tag: "25.09-py3", docker: "nvcr.io/nvidia/pytorch:25.09-py3", out: "nvidia+pytorch+25.09-py3.sqsh"},
		{in: "docker://127.0.0.1:5000#busybox:latest", reg: "127.0.0.1:5000", repo: "busybox", tag: "latest", docker: "127.0.0.1:5000/busybox:latest", out: "busybox+latest.sqsh"},
		{in: "docker://$oauthtoken@nvcr.io#nvidia/cuda", user: "$oauthtoken", reg: "nvcr.io", repo: "nvidia/cuda", tag: "latest", docker: "nvcr.io/nvidia/cuda:latest", out: "nvidia+cuda.sqsh"},
		{in: "docker://me@example.com@registry.example.com:8443#team/app:v1", user: "me@example.com", reg: "registry.example.com:8443", repo: "team/app", tag: "v1", docker: "registry.example.com:8443/team/app:v1", out: "team+app+v1.sqsh"},
		{in: "docker://nvcr.io#nvidia/pytorch@" + dg, reg: "nvcr.io", repo: "nvidia/pytorch", digst: dg, docker: "nvcr.io/nvidia/pytorch@" + dg, out: "nvidia+pytorch+sha256-0123456789ab.sqsh"},
		{in: "docker://nvcr.io#nvidia/pytorch:25.09-py3@" + dg, reg: "nvcr.io", repo: "nvidia/pytorch", tag: "25.09-py3", digst: dg, docker: "nvcr.io/nvidia/pytorch@" + dg, out: "nvidia+pytorch+25.09-py3.sqsh"},
		{in: "docker://127.0.0.1:5000#busybox:latest@" + dg, reg: "127.0.0.1:5000", repo: "busybox", tag: "latest", digst: dg, docker: "127.0.0.1:5000/busybox@" + dg, out: "busybox+latest.sqsh"},
		{in: "ghcr.io/org/img:v2@" + dg, reg: "ghcr.io", repo: "org/img", tag: "v2", digst: dg, docker: "ghcr.io/org/img@" + dg, out: "org+img+v2.sqsh"},
		{in: "docker://localhost:5000#a/b/c", reg: "localhost:5000", repo: "a/b/c", tag: "latest", docker: "localhost:5000/a/b/c:latest", out: "a+b+c.sqsh"},
		// Docker style
		{in: "docker://nvcr.io/nvidia/pytorch:25.09-py3", reg: "nvcr.io", repo: "nvidia/pytorch", tag: "25.09-py3", docker: "nvcr.io/nvidia/pytorch:25.09-py3", out: "nvidia+pytorch+25.09-py3.sqsh"},
		{in: "127.0.0.1:5000/busybox", reg: "127.0.0.1:5000", repo: "busybox", tag: "latest", docker: "127.0.0.1:5000/busybox:latest", out: "busybox.sqsh"},
		{in: "localhost/busybox:1", reg: "localhost", repo: "busybox", tag: "1", docker: "localhost/busybox:1", out: "busybox+1.sqsh"},
		{in: "docker://user@ghcr.io/org/img@" + dg, user: "user", reg: "ghcr.io", repo: "org/img", digst: dg, docker: "ghcr.io/org/img@" + dg, out: "org+img+sha256-0123456789ab.sqsh"},
		{in: "docker://myreg#team/img:1", reg: "myreg", repo: "team/img", tag: "1", docker: "myreg/team/img:1", out: "team+img+1.sqsh"},
		{in: "docker://Reg#img", reg: "Reg", repo: "img", tag: "latest", docker: "Reg/img:latest", out: "img.sqsh"},
		{in: "[::1]:5000/busybox:x", reg: "[::1]:5000", repo: "busybox", tag: "x", docker: "[::1]:5000/busybox:x", out: "busybox+x.sqsh"},
		// Docker Hub: bare names, namespaces, aliases
		{in: "nvidia/cuda:12.4.1-base", reg: DockerHub, repo: "nvidia/cuda", tag: "12.4.1-base", docker: DockerHub + "/nvidia/cuda:12.4.1-base", out: "nvidia+cuda+12.4.1-base.sqsh"},
		{in: "docker://library/ubuntu", reg: DockerHub, repo: "library/ubuntu", tag: "latest", docker: DockerHub + "/library/ubuntu:latest", out: "ubuntu.sqsh"},
		{in: "docker://docker.io/ubuntu", reg: DockerHub, repo: "library/ubuntu", tag: "latest", docker: DockerHub + "/library/ubuntu:latest", out: "ubuntu.sqsh"},
		{in: "docker://index.docker.io#ubuntu:22.04", reg: DockerHub, repo: "library/ubuntu", tag: "22.04", docker: DockerHub + "/library/ubuntu:22.04", out: "ubuntu+22.04.sqsh"},
		{in: "registry-1.docker.io/nvidia/cuda", reg: DockerHub, repo: "nvidia/cuda", tag: "latest", docker: DockerHub + "/nvidia/cuda:latest", out: "nvidia+cuda.sqsh"},
		{in: "ubuntu@" + dg, reg: DockerHub, repo: "library/ubuntu", digst: dg, docker: DockerHub + "/library/ubuntu@" + dg, out: "ubuntu+sha256-0123456789ab.sqsh"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			r, err := ParseReference(tc.in)
			if err != nil {
				t.Fatalf("ParseReference(%q): %v", tc.in, err)
			}
			if r.User != tc.user || r.Registry != tc.reg || r.Repository != tc.repo || r.Tag != tc.tag || r.Digest != tc.digst {
				t.Fatalf("ParseReference(%q) = %+v", tc.in, r)
			}
			if got := r.DockerReference(); got != tc.docker {
				t.Errorf("DockerReference() = %q, want %q", got, tc.docker)
			}
			if got := r.OutputName(); got != tc.out {
				t.Errorf("OutputName() = %q, want %q", got, tc.out)
			}
			// containers/image takes every reference (it refuses tag and digest
			// together) for the same registry. It has no IPv6 literals.
			if !strings.HasPrefix(r.Registry, "[") {
				ir, err := r.imageReference()
				if err != nil || ir.DockerReference().String() != tc.docker {
					t.Errorf("imageReference() = %v, %v; want %s", ir, err, tc.docker)
				}
			}
			// String() is a canonical form that parses back to the same reference.
			again, err := ParseReference(r.String())
			if err != nil || again.DockerReference() != r.DockerReference() || again.User != r.User {
				t.Errorf("ParseReference(String() = %q) = %+v, %v", r.String(), again, err)
			}
		})
	}
}

func TestParseReferenceInvalid(t *testing.T) {
	for in, why := range map[string]string{
		"":                        "image name",
		"docker://":               "image name",
		"docker://Ubuntu":         "lowercase",
		"docker://ubuntu:":        "tag",
		"docker://ubuntu:bad/tag": "tag",
		"docker://ubuntu:" + strings.Repeat("x", 129):       "tag",
		"docker://ubuntu@sha256:abc":                        "digest",
		"docker://ubuntu@sha256:" + strings.Repeat("G", 64): "digest",
		"docker://#ubuntu":                                  "empty registry",
		"docker://bad_host#ubuntu":                          "registry",
		"docker://reg.io#a//b":                              "image name",
		"docker://reg.io#/abs":                              "image name",
		"dockerd://ubuntu":                                  "unsupported scheme",
		"podman://ubuntu":                                   "unsupported scheme",
		"docker://us er@reg.io#ubuntu":                      "user",
		"docker://reg.io#ubuntu:1:2":                        "image name",
		"docker://reg.io#a..b":                              "image name",
		"docker://reg.io#a___b":                             "image name",
		"docker://reg.io#" + strings.Repeat("a", 250):       "more than 255",
	} {
		t.Run(in, func(t *testing.T) {
			_, err := ParseReference(in)
			if !errors.Is(err, ErrInvalidReference) || !strings.HasPrefix(err.Error(), "invalid image reference: ") || !strings.Contains(err.Error(), why) {
				t.Fatalf("ParseReference(%q) error = %v; want invalid image reference mentioning %q", in, err, why)
			}
		})
	}
}
