// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// StateEnv names the environment variable that overrides DefaultStateDir.
const StateEnv = "GPYXIS_INFRA_STATE"

// RequiredEnv, set to 1, turns every skip into a failure: `make test` sets it so that
// a harness that is not up can never be counted as a pass.
const RequiredEnv = "GPYXIS_INFRA_REQUIRED"

// DefaultStateDir is where integration/infra writes registries.json and images.d/.
const DefaultStateDir = "/var/lib/gpyxis-infra"

const bringUp = "sudo integration/infra/infra-up.sh"

// Registry is one registry variant started by integration/infra/registry-up.sh.
type Registry struct {
	Name     string `json:"name"`      // plain, basic, token or tls
	URL      string `json:"url"`       // e.g. http://127.0.0.1:5000
	Auth     string `json:"auth"`      // none, basic or bearer
	Username string `json:"username"`  // valid user for basic and bearer auth
	Password string `json:"password"`  // that user's password
	Realm    string `json:"realm"`     // token endpoint for bearer auth
	CAFile   string `json:"ca_file"`   // test CA that signed the TLS certificate
	CertsDir string `json:"certs_dir"` // certs.d tree: CertsDir/HOST:PORT/ca.crt
}

// Host is the registry's host:port, as it appears in image references.
func (r Registry) Host() string {
	u, err := url.Parse(r.URL)
	if err != nil {
		return r.URL
	}
	return u.Host
}

// Secure reports whether the registry speaks TLS.
func (r Registry) Secure() bool { return strings.HasPrefix(r.URL, "https://") }

// Image is one tag that integration/infra/images-build.sh pushed.
type Image struct {
	Repository string `json:"repository"` // e.g. busybox or private/busybox
	Tag        string `json:"tag"`
	Digest     string `json:"digest"`    // digest of the manifest or index as pushed
	MediaType  string `json:"mediaType"` // its media type
	Size       int64  `json:"size"`      // its size in bytes
}

// Name is REPOSITORY:TAG.
func (i Image) Name() string { return i.Repository + ":" + i.Tag }

// Env is what the harness brought up, as recorded in its state directory.
type Env struct {
	Dir           string     // the state directory it was read from
	Registries    []Registry `json:"registries"`
	PrivatePrefix string     `json:"private_prefix"` // repositories the bearer registry refuses to anonymous users
	Images        []Image    `json:"-"`
}

// StateDir returns the harness state directory: $GPYXIS_INFRA_STATE or DefaultStateDir.
func StateDir() string {
	if d := os.Getenv(StateEnv); d != "" {
		return d
	}
	return DefaultStateDir
}

// Load reads the harness description from dir without checking that anything answers.
func Load(dir string) (*Env, error) {
	b, err := os.ReadFile(filepath.Join(dir, "registries.json"))
	if err != nil {
		return nil, fmt.Errorf("registries not set up (%w): run %s", err, bringUp)
	}
	env := &Env{Dir: dir}
	if err := json.Unmarshal(b, env); err != nil {
		return nil, fmt.Errorf("parse %s/registries.json: %w", dir, err)
	}
	recs, err := filepath.Glob(filepath.Join(dir, "images.d", "*.json"))
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	for _, p := range recs {
		var img Image
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read image record: %w", err)
		}
		if err := json.Unmarshal(b, &img); err != nil {
			return nil, fmt.Errorf("parse image record %s: %w", p, err)
		}
		env.Images = append(env.Images, img)
	}
	sort.Slice(env.Images, func(i, j int) bool { return env.Images[i].Name() < env.Images[j].Name() })
	return env, nil
}

// Registry returns the variant called name, checking that it answers.
func (e *Env) Registry(name string) (Registry, error) {
	for _, r := range e.Registries {
		if r.Name == name {
			return r, dialable(r)
		}
	}
	return Registry{}, fmt.Errorf("registry %q is not in %s/registries.json: run %s", name, e.Dir, bringUp)
}

// Image returns the record of repository:tag.
func (e *Env) Image(repository, tag string) (Image, error) {
	for _, img := range e.Images {
		if img.Repository == repository && img.Tag == tag {
			return img, nil
		}
	}
	return Image{}, fmt.Errorf("image %s:%s was not built: run sudo integration/infra/images-build.sh", repository, tag)
}

// dialable checks that something listens on the registry's address.
func dialable(r Registry) error {
	c, err := net.DialTimeout("tcp", r.Host(), 2*time.Second)
	if err != nil {
		return fmt.Errorf("registry %q (%s) is not answering (%w): run %s", r.Name, r.URL, err, bringUp)
	}
	return c.Close()
}

// T is the part of testing.TB the helpers use.
type T interface {
	Helper()
	Skipf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// missing skips t, or fails it when the harness is required.
func missing(t T, err error) {
	t.Helper()
	if os.Getenv(RequiredEnv) == "1" {
		t.Fatalf("harness: %v (%s=1, so this is a failure, not a skip)", err, RequiredEnv)
		return
	}
	t.Skipf("harness: %v", err)
}

// Require returns the harness description, or skips t naming what is missing.
func Require(t T) *Env {
	t.Helper()
	env, err := Load(StateDir())
	if err != nil {
		missing(t, err)
		return nil
	}
	return env
}

// RequireRegistry returns the named registry variant, or skips t if it is not up.
func (e *Env) RequireRegistry(t T, name string) Registry {
	t.Helper()
	r, err := e.Registry(name)
	if err != nil {
		missing(t, err)
	}
	return r
}

// RequireImage returns the record of repository:tag, or skips t if it was not built.
func (e *Env) RequireImage(t T, repository, tag string) Image {
	t.Helper()
	img, err := e.Image(repository, tag)
	if err != nil {
		missing(t, err)
	}
	return img
}

// RepoRootEnv names a directory to use as the repository root (for test binaries
// run away from the checkout, e.g. as another user).
const RepoRootEnv = "GPYXIS_REPO_ROOT"

// RepoFile returns the path of a file in the repository, given relative to its root:
// $GPYXIS_REPO_ROOT, else found by walking up from the working directory to go.mod.
func RepoFile(rel string) (string, error) {
	if root := os.Getenv(RepoRootEnv); root != "" {
		return filepath.Join(root, rel), nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("getwd: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, rel), nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("find go.mod: %w", err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find go.mod: not inside the repository")
		}
		dir = parent
	}
}
