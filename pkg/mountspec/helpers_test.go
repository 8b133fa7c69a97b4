// SPDX-License-Identifier: Apache-2.0

package mountspec

import (
	"errors"
	"strings"
	"testing"
)

// semantic drops the fields that only describe where a mount came from.
func semantic(m Mount) Mount {
	m.Line, m.Origin = "", ""
	return m
}

// checkRoundTrip asserts that m.String() parses back to the same mount.
func checkRoundTrip(t *testing.T, m Mount) {
	t.Helper()
	s := m.String()
	if strings.ContainsAny(s, "\n\x00") {
		t.Fatalf("String() = %q: contains a newline or NUL", s)
	}
	back, ok, err := Parse(s, nil)
	if err != nil || !ok {
		t.Fatalf("Parse(String() = %q) = ok %v, err %v; mount %+v", s, ok, err, m)
	}
	if semantic(back) != semantic(m) {
		t.Fatalf("round trip through %q:\n got %+v\nwant %+v", s, semantic(back), semantic(m))
	}
}

// wantError checks err against the sentinel and message pieces of a case.
func wantError(t *testing.T, err error, is error, contains ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one matching %v %q", is, contains)
	}
	if is != nil && !errors.Is(err, is) {
		t.Errorf("error %q is not %v", err, is)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("error %q (%T) is not a *mountspec.Error", err, err)
	}
	for _, c := range contains {
		if !strings.Contains(err.Error(), c) {
			t.Errorf("error %q does not contain %q", err, c)
		}
	}
}
