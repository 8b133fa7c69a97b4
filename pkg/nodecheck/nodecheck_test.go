// SPDX-License-Identifier: Apache-2.0

package nodecheck

import "testing"

func TestParseKernelRelease(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want KernelVersion
	}{
		{"6.1.0-18-amd64", KernelVersion{6, 1}},
		{"5.14.0-362.el9.x86_64", KernelVersion{5, 14}},
		{"4.18.0-513.el8.x86_64", KernelVersion{4, 18}},
		{"6.18.44-fc-v1300", KernelVersion{6, 18}},
		{"5.12-rc1", KernelVersion{5, 12}},
	} {
		got, err := ParseKernelRelease(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseKernelRelease(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "6", "x.1", "6.x"} {
		if _, err := ParseKernelRelease(bad); err == nil {
			t.Errorf("ParseKernelRelease(%q): no error", bad)
		}
	}
	if v := (KernelVersion{5, 11}); v.AtLeast(5, 12) || !v.AtLeast(5, 11) || !v.AtLeast(4, 20) {
		t.Errorf("5.11 AtLeast wrong")
	}
}

func TestSlurmVersion(t *testing.T) {
	// SLURM_VERSION_NUMBER of 22.05.8 and 23.11.10.
	if got := SlurmVersion(0x160508); got != "22.05.8" {
		t.Errorf("SlurmVersion(0x160508) = %q", got)
	}
	if got := SlurmVersion(23<<16 | 11<<8 | 10); got != "23.11.10" {
		t.Errorf("SlurmVersion(23.11.10) = %q", got)
	}
	if release("22.05.8") != "22.05" {
		t.Errorf("release(22.05.8) = %q", release("22.05.8"))
	}
}

func TestFailures(t *testing.T) {
	rs := []Result{
		{Name: "a", Status: OK, Required: true},
		{Name: "b", Status: Warn, Required: false},
		{Name: "c", Status: Missing, Required: true},
		{Name: "d", Status: Warn, Required: true},
	}
	f := Failures(rs)
	if len(f) != 2 || f[0].Name != "c" || f[1].Name != "d" {
		t.Errorf("Failures = %+v; want c and d", f)
	}
}
