// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeT records what Require and friends do instead of stopping a real test.
type fakeT struct{ skipped, failed string }

func (f *fakeT) Helper()                        {}
func (f *fakeT) Skipf(format string, a ...any)  { f.skipped = fmt.Sprintf(format, a...) }
func (f *fakeT) Fatalf(format string, a ...any) { f.failed = fmt.Sprintf(format, a...) }

func TestRequireSkipsNamingTheMissingPiece(t *testing.T) {
	t.Setenv(StateEnv, t.TempDir())
	t.Setenv(RequiredEnv, "")
	var f fakeT
	if env := Require(&f); env != nil || f.failed != "" {
		t.Fatalf("Require on an empty state dir = %v, failed %q; want nil and a skip", env, f.failed)
	}
	if !strings.Contains(f.skipped, "registries.json") || !strings.Contains(f.skipped, "infra-up.sh") {
		t.Fatalf("skip message %q does not name registries.json and infra-up.sh", f.skipped)
	}
}

func TestRequireFailsWhenRequired(t *testing.T) {
	t.Setenv(StateEnv, t.TempDir())
	t.Setenv(RequiredEnv, "1")
	var f fakeT
	Require(&f)
	if f.skipped != "" || !strings.Contains(f.failed, "registries not set up") {
		t.Fatalf("skipped %q failed %q; want a failure when %s=1", f.skipped, f.failed, RequiredEnv)
	}
}

func TestLoadAndLookups(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Port 1 on loopback: nothing listens there.
	write("registries.json", `{"registries":[{"name":"plain","url":"http://127.0.0.1:1","auth":"none"},
		{"name":"tls","url":"https://127.0.0.1:5443","auth":"basic"}],"private_prefix":"private/"}`)
	write("images.d/b.json", `{"repository":"busybox","tag":"oci","digest":"sha256:bb","mediaType":"m","size":2}`)
	write("images.d/a.json", `{"repository":"busybox","tag":"latest","digest":"sha256:aa","mediaType":"m","size":1}`)
	env, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(env.Images) != 2 || env.Images[0].Name() != "busybox:latest" || env.PrivatePrefix != "private/" {
		t.Fatalf("Load = %+v", env)
	}
	if img, err := env.Image("busybox", "oci"); err != nil || img.Digest != "sha256:bb" {
		t.Fatalf("Image(busybox, oci) = %+v, %v", img, err)
	}
	if _, err := env.Image("debian", "bookworm"); err == nil || !strings.Contains(err.Error(), "images-build.sh") {
		t.Fatalf("Image of a missing tag: %v, want a hint naming images-build.sh", err)
	}
	if _, err := env.Registry("plain"); err == nil || !strings.Contains(err.Error(), "not answering") {
		t.Fatalf("Registry of a dead address: %v, want not answering", err)
	}
	if _, err := env.Registry("nope"); err == nil {
		t.Fatal("Registry of an unknown variant succeeded")
	}
	tls := env.Registries[1]
	if tls.Host() != "127.0.0.1:5443" || !tls.Secure() {
		t.Fatalf("Host/Secure of %+v = %q %v", tls, tls.Host(), tls.Secure())
	}
}
