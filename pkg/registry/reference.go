// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/types"
)

// DockerHub is the canonical host of Docker Hub, as enroot names it.
const DockerHub = "registry-1.docker.io"

// ErrInvalidReference is wrapped by every ParseReference error.
var ErrInvalidReference = errors.New("invalid image reference")

// Reference names an image in a registry.
type Reference struct {
	User       string // from docker://USER@..., "" if none
	Registry   string // host[:port]; Docker Hub is DockerHub
	Repository string // e.g. "library/ubuntu", "nvidia/pytorch"
	Tag        string // "" when only a digest was given, else the tag ("latest" by default)
	Digest     string // "sha256:<64 hex>" or ""

	tagGiven bool // the tag was written out (enroot puts only a written tag in file names)
}

var (
	// Lowercase path components separated by single / (enroot: [a-z0-9/._-]+,
	// made as strict as the distribution API: separators . _ __ or dashes).
	repoRe = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
	tagRe  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	hexRe  = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
	hostRe = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$`)
	// enroot's user charset (URL userinfo characters).
	userRe = regexp.MustCompile(`^[A-Za-z0-9_.!~*'()%;:&=+$,@-]+$`)
)

// dockerHubAliases are the names that all mean Docker Hub.
var dockerHubAliases = map[string]bool{"docker.io": true, "index.docker.io": true, DockerHub: true}

// ParseReference parses every image reference form enroot and pyxis accept:
//
//	docker://[USER@][REGISTRY#]IMAGE[:TAG][@sha256:DIGEST]   enroot style
//	docker://[USER@]REGISTRY/IMAGE[:TAG][@sha256:DIGEST]     Docker style: the first component
//	                                                         has a '.' or ':' or is localhost
//	docker://IMAGE[:TAG]                                     Docker Hub (library/ added to one-component names)
//
// The docker:// prefix is optional, as in pyxis' --container-image. Docker Hub's
// aliases (docker.io, index.docker.io) become registry-1.docker.io.
func ParseReference(s string) (Reference, error) {
	r, err := parse(s)
	if err != nil {
		return Reference{}, fmt.Errorf("%w: %q: %w", ErrInvalidReference, s, err)
	}
	return r, nil
}

func parse(s string) (Reference, error) {
	rest := s
	if scheme, after, ok := strings.Cut(s, "://"); ok {
		if scheme != "docker" {
			return Reference{}, fmt.Errorf("unsupported scheme %s:// (only docker:// is supported)", scheme)
		}
		rest = after
	}
	var r Reference
	if i := strings.LastIndex(rest, "@sha256:"); i >= 0 {
		r.Digest, rest = rest[i+1:], rest[:i]
		if !hexRe.MatchString(r.Digest) {
			return Reference{}, fmt.Errorf("digest %q is not sha256: and 64 lowercase hex digits", r.Digest)
		}
	}
	if before, after, ok := strings.Cut(rest, "#"); ok { // enroot style: [USER@]REGISTRY#IMAGE
		r.User, r.Registry = splitUser(before)
		if r.Registry == "" {
			return Reference{}, errors.New("empty registry before '#'")
		}
		rest = after
	} else {
		r.User, rest = splitUser(rest)
		if first, tail, ok := strings.Cut(rest, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
			r.Registry, rest = first, tail // Docker style: REGISTRY/IMAGE
		}
	}
	if r.User != "" && !userRe.MatchString(r.User) {
		return Reference{}, fmt.Errorf("user %q has characters a URL user may not have", r.User)
	}
	name, tag := rest, ""
	if i := strings.LastIndex(rest, ":"); i >= 0 {
		name, tag = rest[:i], rest[i+1:]
		if !tagRe.MatchString(tag) {
			return Reference{}, fmt.Errorf("tag %q is not [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag)
		}
		r.tagGiven = true
	}
	if !repoRe.MatchString(name) {
		return Reference{}, fmt.Errorf("image name %q must be lowercase letters, digits and . _ - separated by /", name)
	}
	if r.Registry == "" || dockerHubAliases[r.Registry] {
		r.Registry = DockerHub
		if !strings.Contains(name, "/") {
			name = "library/" + name
		}
	} else if !hostRe.MatchString(r.Registry) {
		return Reference{}, fmt.Errorf("registry %q is not a host name or address with an optional :port", r.Registry)
	}
	// The distribution API's limit on REGISTRY/IMAGE (containers/image checks it too).
	if n := len(r.Registry) + 1 + len(name); n > 255 {
		return Reference{}, fmt.Errorf("registry and image name are %d characters long, more than 255", n)
	}
	r.Repository, r.Tag = name, tag
	if r.Tag == "" && r.Digest == "" {
		r.Tag = "latest"
	}
	return r, nil
}

// splitUser splits "USER@REST" at the last '@' (a user may contain '@', as in enroot).
func splitUser(s string) (user, rest string) {
	if i := strings.LastIndex(s, "@"); i >= 0 {
		return s[:i], s[i+1:]
	}
	return "", s
}

// DockerReference is host/repository:tag or host/repository@digest, the form
// containers/image parses after "//". A digest pins the image and the tag is
// then informative only (as in enroot): it is left out, since containers/image
// refuses a reference with both.
func (r Reference) DockerReference() string {
	s := r.Registry + "/" + r.Repository
	if r.Digest != "" {
		return s + "@" + r.Digest
	}
	return s + ":" + r.Tag
}

// imageReference is r as containers/image's docker transport takes it,
// built from its parts: parsing DockerReference() would read a registry
// without '.' or ':' ("myreg#img") as a Docker Hub namespace.
func (r Reference) imageReference() (types.ImageReference, error) {
	named, err := reference.WithName(r.Registry + "/" + r.Repository)
	if err != nil {
		return nil, fmt.Errorf("reference %s: %w", r, err)
	}
	if r.Digest != "" {
		named, err = reference.WithDigest(named, digest.Digest(r.Digest))
	} else {
		named, err = reference.WithTag(named, r.Tag)
	}
	if err != nil {
		return nil, fmt.Errorf("reference %s: %w", r, err)
	}
	ir, err := docker.NewReference(named)
	if err != nil {
		return nil, fmt.Errorf("reference %s: %w", r, err)
	}
	return ir, nil
}

// String is the enroot form docker://[USER@]REGISTRY#REPOSITORY[:TAG][@DIGEST].
func (r Reference) String() string {
	var b strings.Builder
	b.WriteString("docker://")
	if r.User != "" {
		b.WriteString(r.User + "@")
	}
	b.WriteString(r.Registry + "#" + r.Repository)
	if r.Tag != "" {
		b.WriteString(":" + r.Tag)
	}
	if r.Digest != "" {
		b.WriteString("@" + r.Digest)
	}
	return b.String()
}

// OutputName is enroot's default import file name: the image name as written (without
// Docker Hub's library/), '/' replaced by '+', then "+TAG" if a tag was written, and
// ".sqsh" (docker://ubuntu:24.04 -> ubuntu+24.04.sqsh). A digest-only reference adds
// "+sha256-" and the first 12 hex digits, so that two pinned imports do not collide.
func (r Reference) OutputName() string {
	name := r.Repository
	if r.Registry == DockerHub {
		name = strings.TrimPrefix(name, "library/")
	}
	name = strings.ReplaceAll(name, "/", "+")
	switch {
	case r.tagGiven:
		name += "+" + r.Tag
	case r.Digest != "":
		name += "+sha256-" + strings.TrimPrefix(r.Digest, "sha256:")[:12]
	}
	return name + ".sqsh"
}
