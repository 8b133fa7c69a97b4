// SPDX-License-Identifier: Apache-2.0

package namespaces

import "testing"

func TestParseIDMap(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want IDMap
	}{
		{"", Identity{}},
		{"identity", Identity{}},
		{"remap-root", RemapRoot{}},
	} {
		got, err := ParseIDMap(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseIDMap(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if got.String() != tc.want.String() {
			t.Errorf("String() = %q", got.String())
		}
	}
	if _, err := ParseIDMap("subuid"); err == nil {
		t.Error("ParseIDMap(subuid) succeeded")
	}
}

func TestInside(t *testing.T) {
	if got := (Identity{}).Inside(1001); got != 1001 {
		t.Errorf("Identity.Inside(1001) = %d", got)
	}
	if got := (RemapRoot{}).Inside(1001); got != 0 {
		t.Errorf("RemapRoot.Inside(1001) = %d", got)
	}
}
