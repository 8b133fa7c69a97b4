// SPDX-License-Identifier: Apache-2.0

package mountspec

import (
	"strings"
	"testing"
)

// Seeds also live in testdata/fuzz/<Name>/; run longer with
// `go test -run '^$' -fuzz FuzzParse ./pkg/mountspec`.

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"${ENROOT_ROOTFS}/workspace/data /workspace/data none x-create=dir,bind,rw,nosuid,nodev",
		"tmpfs /tmp tmpfs x-create=dir,rw,nosuid,nodev,mode=1777,slave -1",
		`/a\040b /c\134 none rbind,rprivate,silent,loud 0 -1`,
		"none /x none rslave",
		"umount /root x-detach",
		"/src /dst",
		"# comment",
		`\043x y bind`,
	} {
		f.Add(s, "/value with space")
	}
	f.Fuzz(func(t *testing.T, line, value string) {
		m, ok, err := Parse(line, map[string]string{"ENROOT_ROOTFS": value, "X": value})
		if err != nil || !ok {
			return
		}
		if m.Source == "" || m.Target == "" || m.FSType == "" {
			t.Fatalf("empty field in %+v from %q", m, line)
		}
		checkRoundTrip(t, m)
	})
}

func FuzzParseEnrootFlag(f *testing.F) {
	for _, s := range []string{"/src:/dst", "/a:/b:none:bind,ro:0:-1", "tmpfs:/x", `/a\040b:/c`, "#x:/y", "::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseEnrootFlag(s, nil)
		if err != nil {
			return
		}
		if m.Line != s || strings.ContainsAny(s, " \t\n") {
			t.Fatalf("accepted %q as %+v", s, m)
		}
		checkRoundTrip(t, m)
	})
}

func FuzzParsePyxisMounts(f *testing.F) {
	for _, s := range []string{
		"/home:/test-mnt", "/var/lib", "./:/test-mnt,/dev/null:/null", "/tmp:/mnt:unbindable+ro",
		"tmpfs:/scratch:size=1G+huge=within_size", "umount:/root", "devpts:/x", "/tmp:mnt", "/a:/b,,", ":",
		"/my dir:/x y:ro",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := ParsePyxisMounts(s)
		if err != nil {
			if ms != nil {
				t.Fatalf("mounts and error from %q", s)
			}
			return
		}
		if len(ms) == 0 {
			t.Fatalf("no mounts and no error from %q", s)
		}
		for _, m := range ms {
			if m.Origin != PyxisOrigin || !strings.Contains(s, m.Line) {
				t.Fatalf("bad origin/line in %+v from %q", m, s)
			}
			checkRoundTrip(t, m)
		}
	})
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "/plain", "/a b\tc\nd\\e\r", `\040`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := escapeField(s)
		if strings.ContainsAny(e, " \t\n\r") {
			t.Fatalf("escapeField(%q) = %q has blanks", s, e)
		}
		if strings.IndexByte(s, 0) >= 0 {
			return
		}
		back, err := unescapeField(e)
		if err != nil || back != s {
			t.Fatalf("unescape(escape(%q)) = %q, %v", s, back, err)
		}
	})
}
