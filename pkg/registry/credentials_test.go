// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseNetrc(t *testing.T) {
	cases := []struct {
		name, in string
		want     []netrcEntry
		err      string
	}{
		{"one line", "machine nvcr.io login $oauthtoken password abc\n",
			[]netrcEntry{{machine: "nvcr.io", login: "$oauthtoken", password: "abc"}}, ""},
		{"multi line and comments", "# NGC\nmachine nvcr.io\n  login $oauthtoken\n  password abc # key\n\nmachine authn.nvidia.com login $oauthtoken password abc\n",
			[]netrcEntry{{machine: "nvcr.io", login: "$oauthtoken", password: "abc"}, {machine: "authn.nvidia.com", login: "$oauthtoken", password: "abc"}}, ""},
		{"shell password takes the rest of the line", "machine 1.dkr.ecr.aws login AWS password $(aws ecr get-login-password --region eu-west-2)\nmachine x login y password z\n",
			[]netrcEntry{{machine: "1.dkr.ecr.aws", login: "AWS", password: "$(aws ecr get-login-password --region eu-west-2)"}, {machine: "x", login: "y", password: "z"}}, ""},
		{"quoted", `machine h login "a b" password "p\"q\\r"`,
			[]netrcEntry{{machine: "h", login: "a b", password: `p"q\r`}}, ""},
		{"default and account", "machine h login u password p account acct\ndefault login anon password none\n",
			[]netrcEntry{{machine: "h", login: "u", password: "p"}, {isDefault: true, login: "anon", password: "none"}}, ""},
		{"macdef skipped", "macdef init\ncd /\nls\n\nmachine h login u password p\n",
			[]netrcEntry{{machine: "h", login: "u", password: "p"}}, ""},
		{"empty", "", nil, ""},
		{"login before machine", "login u password p", nil, "before any machine"},
		{"missing value", "machine h login", nil, "without a value"},
		{"unknown keyword", "machine h user u", nil, "unknown keyword"},
		{"unterminated quote", `machine h password "abc`, nil, "unterminated"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseNetrc(strings.NewReader(c.in))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("entry %d: got %+v, want %+v", i, got[i], c.want[i])
				}
			}
		})
	}
}

func TestFindEntry(t *testing.T) {
	entries := []netrcEntry{
		{machine: "reg.example:5000", login: "port", password: "1"},
		{machine: "reg.example", login: "alice", password: "2"},
		{machine: "reg.example", login: "bob", password: "3"},
		{isDefault: true, login: "anon", password: "4"},
	}
	cases := []struct{ registry, user, want string }{
		{"reg.example:5000", "", "port"},   // exact host:port first
		{"reg.example:5001", "", "alice"},  // then the host without port (enroot)
		{"reg.example", "bob", "bob"},      // USER@ selects the login
		{"reg.example:5000", "bob", "bob"}, // ... even over a host:port entry for someone else
		{"other.example", "", "anon"},      // default
		{"other.example", "carol", ""},     // nobody
	}
	for _, c := range cases {
		e := findEntry(entries, c.registry, c.user)
		got := ""
		if e != nil {
			got = e.login
		}
		if got != c.want {
			t.Errorf("findEntry(%s, %q) = %q, want %q", c.registry, c.user, got, c.want)
		}
	}
}

func TestEvalPassword(t *testing.T) {
	ctx := context.Background()
	for in, want := range map[string]string{
		"plain":                    "plain",
		"$(echo s3cret)":           "s3cret",
		"$(printf '%s' a  b)":      "ab",
		"$HOME_NOT_SET_X$(echo x)": "x",
	} {
		got, err := (&netrcEntry{password: in}).evalPassword(ctx)
		if err != nil || got != want {
			t.Errorf("eval %q = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"$(echo oops >&2; exit 3)", "$(echo oops >&2)`exit 2`", "$(echo oops >&2"} {
		_, err := (&netrcEntry{machine: "h", password: bad}).evalPassword(ctx)
		if !errors.Is(err, ErrCredentials) || !strings.Contains(err.Error(), "oops") && !strings.Contains(err.Error(), "exit status") {
			t.Fatalf("failing command %q: %v", bad, err)
		}
	}
}

func TestCredentialsTrust(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "credentials")
	if err := os.WriteFile(name, []byte("machine h login u password p\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := loadCredentials(name, "h:443", "")
	if err != nil || e == nil || e.password != "p" {
		t.Fatalf("load: %+v, %v", e, err)
	}
	os.Chmod(name, 0o620)
	if _, err := loadCredentials(name, "h", ""); !errors.Is(err, ErrCredentials) || !strings.Contains(err.Error(), "writable") {
		t.Fatalf("group-writable file: %v, want refusal", err)
	}
	if e, err := loadCredentials(filepath.Join(dir, "missing"), "h", ""); e != nil || err != nil {
		t.Fatalf("missing file: %+v, %v", e, err)
	}
}

// TestCredentialsFileBasicAuth pulls from a basic-auth registry with the
// password produced by a shell command in the credentials file.
func TestCredentialsFileBasicAuth(t *testing.T) {
	reg := newFakeRegistry(t)
	reg.user, reg.pass = "alice", "s3cret"
	reg.pushImage(t, "img", "v1", true, amd64, gzLayer(map[string]string{"a": "1"}))
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	write := func(s string) {
		if err := os.WriteFile(creds, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	// No credentials: an authentication error with the fix.
	p := newTestPuller(t, hermetic(t)...)
	if _, err := p.Resolve(ctx, reg.ref("img", "v1")); !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), ".credentials") {
		t.Fatalf("anonymous: %v, want ErrUnauthorized with a hint", err)
	}
	// The machine entry without port matches 127.0.0.1:PORT.
	write("machine 127.0.0.1 login alice password $(echo s3cret)\n")
	p = newTestPuller(t, hermetic(t, WithCredentialsFile(creds))...)
	img, err := p.Resolve(ctx, reg.ref("img", "v1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Fetch(ctx, img); err != nil {
		t.Fatal(err)
	}
	write("machine 127.0.0.1 login alice password wrong\n")
	p = newTestPuller(t, hermetic(t, WithCredentialsFile(creds))...)
	if _, err := p.Resolve(ctx, reg.ref("img", "v1")); !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "rejected") {
		t.Fatalf("wrong password: %v, want ErrUnauthorized", err)
	}
}
