// SPDX-License-Identifier: Apache-2.0

package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gpyxis/gpyxis/integration/harness"
)

// runtimeBin is the gpyxis-runtime under test.
var runtimeBin = harness.Runtime

// gpyxis runs gpyxis-runtime with args and extra environment; it returns stdout+stderr.
func gpyxis(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	bin, err := runtimeBin()
	if err != nil {
		t.Fatalf("gpyxis-runtime: %v", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

// importImage imports repository:tag from the anonymous registry into dir and returns
// the squashfs path, failing the test on error.
func importImage(t *testing.T, reg harness.Registry, cache, dir, repo, tag string, extra ...string) string {
	t.Helper()
	out := filepath.Join(dir, strings.ReplaceAll(repo, "/", "+")+"+"+tag+".sqsh")
	args := append([]string{"import", "--quiet", "--insecure", "--cache-dir", cache, "-o", out}, extra...)
	args = append(args, "docker://"+reg.Host()+"#"+repo+":"+tag)
	if msg, err := gpyxis(t, nil, args...); err != nil {
		t.Fatalf("import %s:%s: %v\n%s", repo, tag, err, msg)
	}
	return out
}

// noLeftovers fails the test if dir holds anything but the named files.
func noLeftovers(t *testing.T, dir string, keep ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !slices.Contains(keep, e.Name()) {
			t.Errorf("left behind in %s: %s", dir, e.Name())
		}
	}
}

// TestImportErrors checks that bad input gets a clear error and leaves no output.
func TestImportErrors(t *testing.T) {
	env := harness.Require(t)
	plain := env.RequireRegistry(t, "plain")
	basic := env.RequireRegistry(t, "basic")
	tls := env.RequireRegistry(t, "tls")
	cache := t.TempDir()
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{name: "bad reference", args: []string{"docker://Bad Name"}, want: "invalid image reference"},
		{name: "unknown tag", args: []string{"--insecure", "docker://" + plain.Host() + "#busybox:no-such-tag"}, want: "not found"},
		{name: "unknown image", args: []string{"--insecure", "docker://" + plain.Host() + "#no/such/image"}, want: "not found"},
		{name: "auth required", args: []string{"--insecure", "docker://" + basic.Host() + "#busybox"}, want: "authentication"},
		{name: "wrong password", env: credentials(t, basic.Host(), basic.Username, "wrong"), args: []string{"--insecure", "docker://" + basic.Host() + "#busybox"}, want: "authentication"},
		{name: "untrusted CA", args: []string{"docker://" + tls.Host() + "#busybox"}, want: "certificate"},
		{name: "unreachable", args: []string{"--insecure", "docker://127.0.0.1:1#busybox"}, want: "127.0.0.1:1"},
		{name: "no platform", args: []string{"--insecure", "--arch", "s390x", "docker://" + plain.Host() + "#busybox:multiarch"}, want: "s390x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out.sqsh")
			args := append([]string{"import", "--cache-dir", cache, "-o", out}, tc.args...)
			msg, err := gpyxis(t, append(tc.env, "SSL_CERT_FILE=/dev/null"), args...)
			if err == nil || !strings.Contains(msg, tc.want) {
				t.Fatalf("import %q: err %v, output %q; want a failure mentioning %q", tc.args, err, msg, tc.want)
			}
			noLeftovers(t, dir)
		})
	}
	t.Run("output exists", func(t *testing.T) {
		dir := t.TempDir()
		out := filepath.Join(dir, "out.sqsh")
		if err := os.WriteFile(out, []byte("keep me"), 0o644); err != nil {
			t.Fatal(err)
		}
		msg, err := gpyxis(t, nil, "import", "--insecure", "--cache-dir", cache, "-o", out, "docker://"+plain.Host()+"#busybox")
		if b, _ := os.ReadFile(out); err == nil || !strings.Contains(msg, "already exists") || string(b) != "keep me" {
			t.Fatalf("import over an existing file: err %v, output %q, file %q", err, msg, b)
		}
		noLeftovers(t, dir, "out.sqsh")
	})
}

// credentials writes an enroot .credentials file and returns the environment naming it.
func credentials(t *testing.T, host, user, pass string) []string {
	t.Helper()
	dir := t.TempDir()
	body := fmt.Sprintf("machine %s login %s password %s\n", strings.Split(host, ":")[0], user, pass)
	if err := os.WriteFile(filepath.Join(dir, ".credentials"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"ENROOT_CONFIG_PATH=" + dir}
}

// execCommand is exec.Command with the test's environment.
func execCommand(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = os.Environ()
	return cmd
}
