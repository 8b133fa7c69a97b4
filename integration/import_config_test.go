// SPDX-License-Identifier: Apache-2.0

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpyxis/gpyxis/integration/harness"
)

// TestImportRegistriesConf checks the two registries.conf features clusters rely on:
// a registry marked insecure (plain HTTP without --insecure), and a mirror that serves
// an unreachable registry's images (air-gapped sites).
func TestImportRegistriesConf(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	env.RequireImage(t, "busybox", "latest")
	conf := filepath.Join(t.TempDir(), "registries.conf")
	body := fmt.Sprintf(`[[registry]]
location = %q
insecure = true

[[registry]]
prefix = "mirror.invalid"
location = "mirror.invalid"
[[registry.mirror]]
location = %q
insecure = true
`, reg.Host(), reg.Host())
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, ref := range map[string]string{
		"insecure entry": "docker://" + reg.Host() + "#busybox:latest",
		"mirror":         "docker://mirror.invalid#busybox:latest",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "b.sqsh")
			msg, err := gpyxis(t, nil, "import", "--quiet", "--registries-conf", conf, "--cache-dir", t.TempDir(), "-o", out, ref)
			if err != nil {
				t.Fatalf("import %s with %s: %v\n%s", ref, conf, err, msg)
			}
			if fi, err := os.Stat(out); err != nil || fi.Size() == 0 {
				t.Fatalf("no output: %v", err)
			}
		})
	}
	t.Run("not insecure without the entry", func(t *testing.T) {
		empty := filepath.Join(t.TempDir(), "empty.conf")
		if err := os.WriteFile(empty, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		msg, err := gpyxis(t, nil, "import", "--quiet", "--registries-conf", empty,
			"--cache-dir", t.TempDir(), "-o", filepath.Join(t.TempDir(), "b.sqsh"), "docker://"+reg.Host()+"#busybox:latest")
		if err == nil || !strings.Contains(msg, "tls") {
			t.Fatalf("plain-HTTP registry without insecure marking: %v, %q; want a TLS failure", err, msg)
		}
	})
}

// TestImportFromEveryRegistry imports through each registry variant the way users
// configure them: enroot .credentials for basic and bearer auth, the CA through a
// certs.d directory or SSL_CERT_FILE for TLS, anonymous bearer tokens.
func TestImportFromEveryRegistry(t *testing.T) {
	env := harness.Require(t)
	basic := env.RequireRegistry(t, "basic")
	token := env.RequireRegistry(t, "token")
	tls := env.RequireRegistry(t, "tls")
	env.RequireImage(t, "private/busybox", "latest")
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		ref  string
	}{
		{"basic with .credentials", credentials(t, basic.Host(), basic.Username, basic.Password), []string{"--insecure"}, basic.Host() + "#busybox:oci"},
		{"bearer anonymous", nil, []string{"--insecure"}, token.Host() + "#busybox:zstd"},
		{"bearer private with .credentials", credentials(t, token.Host(), token.Username, token.Password), []string{"--insecure"}, token.Host() + "#private/busybox"},
		{"tls with certs.d", credentials(t, tls.Host(), tls.Username, tls.Password), []string{"--certs-dir", tls.CertsDir}, tls.Host() + "#busybox:multiarch"},
		{"tls with SSL_CERT_FILE", append(credentials(t, tls.Host(), tls.Username, tls.Password), "SSL_CERT_FILE="+tls.CAFile), nil, tls.Host() + "#busybox:multiarch-v2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "b.sqsh")
			args := append([]string{"import", "--quiet", "--cache-dir", t.TempDir(), "-o", out}, tc.args...)
			if msg, err := gpyxis(t, tc.env, append(args, "docker://"+tc.ref)...); err != nil {
				t.Fatalf("import %s: %v\n%s", tc.ref, err, msg)
			}
			if got := llsManifest(t, out, []string{"/bin/busybox"}); !strings.Contains(got, "/bin/busybox type=file mode=0755") {
				t.Fatalf("import of %s has no busybox: %q", tc.ref, got)
			}
		})
	}
}
