// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	testService = "gpyxis-registry"
	testIssuer  = "gpyxis-token-issuer"
	testTTL     = 5 * time.Minute
)

type fixture struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
	srv  *server
	ts   *httptest.Server
}

func newKeyCert(t *testing.T) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gpyxis token signer"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	key, cert := newKeyCert(t)
	sg, err := newSigner(key, cert)
	if err != nil {
		t.Fatal(err)
	}
	srv := &server{
		issuer:        testIssuer,
		service:       testService,
		privatePrefix: "private/",
		ttl:           testTTL,
		users:         map[string]string{"testuser": "testpass:with:colons"},
		signer:        sg,
		now:           time.Now,
		log:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	ts := httptest.NewServer(srv.routes())
	t.Cleanup(ts.Close)
	return &fixture{key: key, cert: cert, srv: srv, ts: ts}
}

type decoded struct {
	resp   tokenResponse
	header jwtHeader
	claims claimSet
	parts  []string
}

// getToken issues GET /token; user "" means anonymous.
func (f *fixture) getToken(t *testing.T, user, pass string, scopes ...string) (*http.Response, []byte) {
	t.Helper()
	q := url.Values{"service": {testService}, "scope": scopes}
	req, err := http.NewRequest(http.MethodGet, f.ts.URL+"/token?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	return do(t, req)
}

// tokenOK issues GET /token and decodes a successful reply.
func (f *fixture) tokenOK(t *testing.T, user, pass string, scopes ...string) decoded {
	t.Helper()
	resp, body := f.getToken(t, user, pass, scopes...)
	return f.decode(t, resp, body)
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// decode parses the reply and verifies the JWT signature with the cert key.
func (f *fixture) decode(t *testing.T, resp *http.Response, body []byte) decoded {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var d decoded
	if err := json.Unmarshal(body, &d.resp); err != nil {
		t.Fatalf("decode reply: %v", err)
	}
	if d.resp.Token == "" || d.resp.Token != d.resp.AccessToken {
		t.Fatalf("token/access_token mismatch: %s", body)
	}
	d.parts = strings.Split(d.resp.Token, ".")
	if len(d.parts) != 3 {
		t.Fatalf("token has %d parts", len(d.parts))
	}
	mustUnmarshalSegment(t, d.parts[0], &d.header)
	mustUnmarshalSegment(t, d.parts[1], &d.claims)
	sig, err := base64.RawURLEncoding.DecodeString(d.parts[2])
	if err != nil {
		t.Fatalf("signature encoding: %v", err)
	}
	digest := sha256.Sum256([]byte(d.parts[0] + "." + d.parts[1]))
	pub := f.cert.PublicKey.(*rsa.PublicKey)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	return d
}

func mustUnmarshalSegment(t *testing.T, seg string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("segment encoding: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("segment json: %v", err)
	}
}

func TestAnonymousPullPublic(t *testing.T) {
	f := newFixture(t)
	d := f.tokenOK(t, "", "", "repository:busybox:pull,push")
	want := []*resourceActions{{Type: "repository", Name: "busybox", Actions: []string{"pull"}}}
	if !reflect.DeepEqual(d.claims.Access, want) {
		t.Fatalf("access = %+v, want %+v", d.claims.Access, want)
	}
	if d.claims.Subject != "" {
		t.Fatalf("sub = %q, want empty", d.claims.Subject)
	}
}

func TestAnonymousPullPrivateDenied(t *testing.T) {
	f := newFixture(t)
	d := f.tokenOK(t, "", "", "repository:private/busybox:pull")
	if len(d.claims.Access) != 0 {
		t.Fatalf("access = %+v, want empty", d.claims.Access)
	}
	if !strings.Contains(mustSegment(t, d.parts[1]), `"access":[]`) {
		t.Fatalf("claims lack empty access list: %s", mustSegment(t, d.parts[1]))
	}
}

func mustSegment(t *testing.T, seg string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUserGetsPrivatePullPush(t *testing.T) {
	f := newFixture(t)
	d := f.tokenOK(t, "testuser", "testpass:with:colons",
		"repository:private/busybox:pull,push", "registry:catalog:*")
	want := []*resourceActions{
		{Type: "repository", Name: "private/busybox", Actions: []string{"pull", "push"}},
		{Type: "registry", Name: "catalog", Actions: []string{"*"}},
	}
	if !reflect.DeepEqual(d.claims.Access, want) {
		t.Fatalf("access = %+v, want %+v", d.claims.Access, want)
	}
	if d.claims.Subject != "testuser" {
		t.Fatalf("sub = %q", d.claims.Subject)
	}
}

func TestAnonymousCatalogDenied(t *testing.T) {
	f := newFixture(t)
	d := f.tokenOK(t, "", "", "registry:catalog:*")
	if len(d.claims.Access) != 0 {
		t.Fatalf("access = %+v, want empty", d.claims.Access)
	}
}

func TestBadCredentials(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct{ user, pass string }{
		{"testuser", "wrong"}, {"nobody", "testpass:with:colons"}, {"testuser", ""},
	} {
		resp, body := f.getToken(t, c.user, c.pass, "repository:busybox:pull")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s: status %d, want 401", c.user, resp.StatusCode)
		}
		if got := resp.Header.Get("WWW-Authenticate"); got != `Basic realm="gpyxis-token"` {
			t.Fatalf("WWW-Authenticate = %q", got)
		}
		want := `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`
		if strings.TrimSpace(string(body)) != want {
			t.Fatalf("body = %s", body)
		}
	}
}

func TestUnknownService(t *testing.T) {
	f := newFixture(t)
	resp, _ := do(t, mustRequest(t, http.MethodGet, f.ts.URL+"/token?service=other&scope=repository:busybox:pull"))
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
}

func TestBadScope(t *testing.T) {
	f := newFixture(t)
	resp, _ := f.getToken(t, "", "", "repository:busybox")
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
}

func mustRequest(t *testing.T, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestClaimsAndHeader(t *testing.T) {
	f := newFixture(t)
	d := f.tokenOK(t, "", "", "repository:busybox:pull")
	if d.header.Type != "JWT" || d.header.SigningAlg != "RS256" || len(d.header.X5c) != 1 {
		t.Fatalf("header = %+v", d.header)
	}
	der, err := base64.StdEncoding.DecodeString(d.header.X5c[0])
	if err != nil {
		t.Fatalf("x5c not std base64: %v", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil || !leaf.Equal(f.cert) {
		t.Fatalf("x5c is not the signing cert (err %v)", err)
	}
	// What distribution does with rootcertbundle.
	roots := x509.NewCertPool()
	roots.AddCert(f.cert)
	opts := x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	if _, err := leaf.Verify(opts); err != nil {
		t.Fatalf("x5c does not chain to root bundle: %v", err)
	}
	c := d.claims
	if c.Issuer != testIssuer || c.Audience != testService || c.JWTID == "" {
		t.Fatalf("claims = %+v", c)
	}
	if got := time.Duration(c.Expiration-c.IssuedAt) * time.Second; got != testTTL {
		t.Fatalf("exp-iat = %s, want %s", got, testTTL)
	}
	if c.NotBefore > c.IssuedAt {
		t.Fatalf("nbf %d after iat %d", c.NotBefore, c.IssuedAt)
	}
	if d.resp.ExpiresIn != int64(testTTL/time.Second) {
		t.Fatalf("expires_in = %d", d.resp.ExpiresIn)
	}
	if _, err := time.Parse(time.RFC3339, d.resp.IssuedAt); err != nil {
		t.Fatalf("issued_at: %v", err)
	}
}

func TestParseScopes(t *testing.T) {
	got, err := parseScopes([]string{
		"repository:127.0.0.1:5000/foo/bar:pull,push",
		"repository:a:pull repository(plugin):b/c:push,push  registry:catalog:*",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []scope{
		{Type: "repository", Name: "127.0.0.1:5000/foo/bar", Actions: []string{"pull", "push"}},
		{Type: "repository", Name: "a", Actions: []string{"pull"}},
		{Type: "repository", Class: "plugin", Name: "b/c", Actions: []string{"push"}},
		{Type: "registry", Name: "catalog", Actions: []string{"*"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	for _, bad := range []string{"repository", "repository:foo", ":foo:pull", "repository::pull", "repository:foo:", "repository:foo:,"} {
		if _, err := parseScope(bad); err == nil {
			t.Errorf("parseScope(%q) succeeded", bad)
		}
	}
}

func TestMultipleScopesOverHTTP(t *testing.T) {
	f := newFixture(t)
	d := f.tokenOK(t, "", "",
		"repository:127.0.0.1:5000/foo/bar:pull,push",
		"repository:private/x:pull repository:library/alpine:pull")
	want := []*resourceActions{
		{Type: "repository", Name: "127.0.0.1:5000/foo/bar", Actions: []string{"pull"}},
		{Type: "repository", Name: "library/alpine", Actions: []string{"pull"}},
	}
	if !reflect.DeepEqual(d.claims.Access, want) {
		t.Fatalf("access = %+v, want %+v", d.claims.Access, want)
	}
}

func TestPostPasswordGrant(t *testing.T) {
	f := newFixture(t)
	post := func(form url.Values) (*http.Response, []byte) {
		resp, err := http.PostForm(f.ts.URL+"/token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	resp, body := post(url.Values{
		"grant_type": {"password"}, "username": {"testuser"}, "password": {"testpass:with:colons"},
		"service": {testService}, "scope": {"repository:private/a:pull,push repository:b:delete"},
		"client_id": {"docker"}, "access_type": {"offline"},
	})
	d := f.decode(t, resp, body)
	if len(d.claims.Access) != 2 || d.claims.Subject != "testuser" {
		t.Fatalf("claims = %+v", d.claims)
	}
	resp, _ = post(url.Values{"grant_type": {"password"}, "username": {"testuser"}, "password": {"x"}, "service": {testService}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: status %d", resp.StatusCode)
	}
	resp, body = post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "service": {testService}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "unsupported_grant_type") {
		t.Fatalf("refresh grant: status %d body %s", resp.StatusCode, body)
	}
}

func TestHealthz(t *testing.T) {
	f := newFixture(t)
	resp, body := do(t, mustRequest(t, http.MethodGet, f.ts.URL+"/healthz"))
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Fatalf("healthz: %d %q", resp.StatusCode, body)
	}
}

func TestValidateAddr(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:5004": true, "127.1.2.3:0": true, "[::1]:5004": true, "localhost:5004": true,
		"0.0.0.0:5004": false, ":5004": false, "[::]:5004": false, "10.0.0.1:5004": false,
		"example.com:5004": false, "127.0.0.1": false,
	} {
		if err := validateAddr(addr); (err == nil) != ok {
			t.Errorf("validateAddr(%q) = %v, want ok=%v", addr, err, ok)
		}
	}
	if _, err := parseFlags([]string{"-key", "k", "-cert", "c", "-addr", "0.0.0.0:5004"}); err == nil {
		t.Error("parseFlags accepted non-loopback -addr")
	}
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadSignerAndUsers(t *testing.T) {
	dir := t.TempDir()
	key, cert := newKeyCert(t)
	certPath := writePEM(t, dir, "cert.pem", "CERTIFICATE", cert.Raw)
	pk8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]string{
		"pkcs1": writePEM(t, dir, "k1.pem", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key)),
		"pkcs8": writePEM(t, dir, "k8.pem", "PRIVATE KEY", pk8),
	} {
		if _, err := loadSigner(p, certPath); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	other, _ := newKeyCert(t)
	otherPath := writePEM(t, dir, "other.pem", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(other))
	if _, err := loadSigner(otherPath, certPath); err == nil {
		t.Error("mismatched key and cert accepted")
	}

	usersPath := filepath.Join(dir, "users")
	data := "# fixture\n\ntestuser:pa:ss\n  other:x  \n"
	if err := os.WriteFile(usersPath, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	users, err := loadUsers(usersPath)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"testuser": "pa:ss", "other": "x"}; !reflect.DeepEqual(users, want) {
		t.Fatalf("users = %v", users)
	}
	if err := os.WriteFile(usersPath, []byte("nocolon\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadUsers(usersPath); err == nil {
		t.Error("malformed users line accepted")
	}
}

func TestServeShutdownAndPidfile(t *testing.T) {
	dir := t.TempDir()
	pidPath := filepath.Join(dir, "ts.pid")
	if err := writePidfile(pidPath); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(pidPath)
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("pidfile = %q, %v", b, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, f.srv.routes(), f.srv.log) }()
	resp, body := do(t, mustRequest(t, http.MethodGet, "http://"+ln.Addr().String()+"/healthz"))
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Fatalf("healthz: %d %q", resp.StatusCode, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
}
