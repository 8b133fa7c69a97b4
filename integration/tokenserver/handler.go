// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"
)

// server issues registry bearer tokens.
type server struct {
	issuer        string
	service       string
	privatePrefix string
	ttl           time.Duration
	users         map[string]string
	signer        *signer
	now           func() time.Time
	log           *slog.Logger
}

// scope is one parsed "type:name:actions" request.
type scope struct {
	Type    string
	Class   string
	Name    string
	Actions []string
}

// tokenRequest is the transport-independent form of a GET or POST request.
type tokenRequest struct {
	service  string
	scopes   []string
	user     string
	password string
	hasCreds bool
}

// tokenResponse is the JSON body understood by docker and containers/image.
type tokenResponse struct {
	Token       string `json:"token"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	IssuedAt    string `json:"issued_at"`
}

var errBadCredentials = errors.New("bad credentials")

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc("GET /token", s.handleGet)
	mux.HandleFunc("POST /token", s.handlePost)
	return mux
}

func (s *server) handleGet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := tokenRequest{service: q.Get("service"), scopes: q["scope"]}
	if user, pass, ok := r.BasicAuth(); ok {
		req.user, req.password, req.hasCreds = user, pass, true
	} else if r.Header.Get("Authorization") != "" {
		s.unauthorized(w, "", "malformed authorization header")
		return
	}
	s.issue(w, req)
}

func (s *server) handlePost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, "invalid_request", "bad form")
		return
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "password":
	case "refresh_token":
		writeOAuthError(w, "unsupported_grant_type", "refresh tokens are not issued")
		return
	default:
		writeOAuthError(w, "unsupported_grant_type", fmt.Sprintf("grant_type %q", gt))
		return
	}
	req := tokenRequest{
		service:  r.PostForm.Get("service"),
		scopes:   r.PostForm["scope"],
		user:     r.PostForm.Get("username"),
		password: r.PostForm.Get("password"),
		hasCreds: true,
	}
	s.issue(w, req)
}

// issue authenticates, applies the access policy and writes the token.
func (s *server) issue(w http.ResponseWriter, req tokenRequest) {
	if req.service != "" && req.service != s.service {
		s.log.Warn("token request for unknown service", "service", req.service)
		writeRegistryError(w, http.StatusBadRequest, "UNSUPPORTED", "unknown service")
		return
	}
	account, err := s.authenticate(req)
	if err != nil {
		s.unauthorized(w, req.user, "bad credentials")
		return
	}
	scopes, err := parseScopes(req.scopes)
	if err != nil {
		s.log.Warn("token request with bad scope", "account", account, "err", err)
		writeRegistryError(w, http.StatusBadRequest, "UNSUPPORTED", err.Error())
		return
	}
	access := s.authorize(account, scopes)
	resp, err := s.newToken(account, access)
	if err != nil {
		s.log.Error("token signing failed", "err", err)
		writeRegistryError(w, http.StatusInternalServerError, "UNKNOWN", "token signing failed")
		return
	}
	s.log.Info("token issued", "account", account,
		"requested", strings.Join(req.scopes, " "), "granted", formatAccess(access))
	writeJSON(w, http.StatusOK, resp)
}

// authenticate returns the account name, "" for anonymous requests.
func (s *server) authenticate(req tokenRequest) (string, error) {
	if !req.hasCreds {
		return "", nil
	}
	want, ok := s.users[req.user]
	match := subtle.ConstantTimeCompare([]byte(want), []byte(req.password)) == 1
	if !ok || req.user == "" || !match {
		return "", errBadCredentials
	}
	return req.user, nil
}

// authorize applies the policy: known users get everything they asked for,
// anonymous clients get pull on non-private repositories only.
func (s *server) authorize(account string, scopes []scope) []*resourceActions {
	access := []*resourceActions{}
	for _, sc := range scopes {
		granted := s.grant(account, sc)
		if len(granted) == 0 {
			continue
		}
		access = append(access, &resourceActions{
			Type: sc.Type, Class: sc.Class, Name: sc.Name, Actions: granted,
		})
	}
	return access
}

func (s *server) grant(account string, sc scope) []string {
	if account != "" {
		return sc.Actions
	}
	if sc.Type == "repository" && !s.isPrivate(sc.Name) && slices.Contains(sc.Actions, "pull") {
		return []string{"pull"}
	}
	return nil
}

func (s *server) isPrivate(name string) bool {
	return s.privatePrefix != "" && strings.HasPrefix(name, s.privatePrefix)
}

func (s *server) newToken(account string, access []*resourceActions) (tokenResponse, error) {
	jti, err := randomID()
	if err != nil {
		return tokenResponse{}, err
	}
	now := s.now()
	claims := claimSet{
		Issuer:     s.issuer,
		Subject:    account,
		Audience:   s.service,
		IssuedAt:   now.Unix(),
		NotBefore:  now.Add(-time.Second).Unix(),
		Expiration: now.Add(s.ttl).Unix(),
		JWTID:      jti,
		Access:     access,
	}
	tok, err := s.signer.sign(claims)
	if err != nil {
		return tokenResponse{}, err
	}
	return tokenResponse{
		Token:       tok,
		AccessToken: tok,
		ExpiresIn:   int64(s.ttl / time.Second),
		IssuedAt:    now.UTC().Format(time.RFC3339),
	}, nil
}

func (s *server) unauthorized(w http.ResponseWriter, user, reason string) {
	s.log.Warn("token request rejected", "account", user, "reason", reason)
	w.Header().Set("WWW-Authenticate", `Basic realm="gpyxis-token"`)
	writeRegistryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
}

// parseScopes accepts repeated params, each holding space-separated scopes.
func parseScopes(params []string) ([]scope, error) {
	var out []scope
	for _, p := range params {
		for _, f := range strings.Fields(p) {
			sc, err := parseScope(f)
			if err != nil {
				return nil, err
			}
			out = append(out, sc)
		}
	}
	return out, nil
}

// parseScope splits "type:name:actions" at the first and last colon so
// that names with a registry port (host:5000/foo) survive.
func parseScope(s string) (scope, error) {
	first := strings.IndexByte(s, ':')
	last := strings.LastIndexByte(s, ':')
	if first <= 0 || last-first < 2 || last == len(s)-1 {
		return scope{}, fmt.Errorf("invalid scope %q", s)
	}
	sc := scope{Type: s[:first], Name: s[first+1 : last]}
	if i := strings.IndexByte(sc.Type, '('); i > 0 && strings.HasSuffix(sc.Type, ")") {
		sc.Type, sc.Class = sc.Type[:i], sc.Type[i+1:len(sc.Type)-1]
	}
	for _, a := range strings.Split(s[last+1:], ",") {
		if a != "" && !slices.Contains(sc.Actions, a) {
			sc.Actions = append(sc.Actions, a)
		}
	}
	if len(sc.Actions) == 0 {
		return scope{}, fmt.Errorf("invalid scope %q: no actions", s)
	}
	return sc, nil
}

func formatAccess(access []*resourceActions) string {
	parts := make([]string, 0, len(access))
	for _, a := range access {
		parts = append(parts, a.Type+":"+a.Name+":"+strings.Join(a.Actions, ","))
	}
	return strings.Join(parts, " ")
}

// loadUsers reads "name:password" lines; '#' comments and blanks are skipped.
func loadUsers(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open users: %w", err)
	}
	defer f.Close()
	users := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, pass, ok := strings.Cut(line, ":")
		if !ok || name == "" {
			return nil, fmt.Errorf("users %s:%d: want name:password", path, n)
		}
		users[name] = pass
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read users: %w", err)
	}
	return users, nil
}

func writeRegistryError(w http.ResponseWriter, status int, code, msg string) {
	type item struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	writeJSON(w, status, map[string][]item{"errors": {{Code: code, Message: msg}}})
}

func writeOAuthError(w http.ResponseWriter, code, desc string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
