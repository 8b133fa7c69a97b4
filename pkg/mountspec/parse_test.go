// SPDX-License-Identifier: Apache-2.0

package mountspec

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	env := map[string]string{"ENROOT_ROOTFS": "/data/rootfs", "SPACED": "a b", "EMPTY": ""}
	tests := []struct {
		name string
		line string
		want Mount // Line is filled in from line
	}{
		{
			name: "importer volume line",
			line: "${ENROOT_ROOTFS}/workspace/data /workspace/data none x-create=dir,bind,rw,nosuid,nodev",
			want: Mount{Source: "/data/rootfs/workspace/data", Target: "/workspace/data", FSType: "none",
				Flags: msBind | msNosuid | msNodev, Create: CreateDir},
		},
		{
			name: "tmpfs short form",
			line: "tmpfs /scratch",
			want: Mount{Source: "tmpfs", Target: "/scratch", FSType: "tmpfs"},
		},
		{
			name: "bind short form",
			line: "/src /dst",
			want: Mount{Source: "/src", Target: "/dst", FSType: "none", Flags: msBind | msRec, Create: CreateAuto},
		},
		{
			name: "options in the type field",
			line: "/src /dst bind,ro",
			want: Mount{Source: "/src", Target: "/dst", FSType: "none", Flags: msBind | msRdonly},
		},
		{
			name: "single known option in the type field",
			line: "/src\t/dst\tbind",
			want: Mount{Source: "/src", Target: "/dst", FSType: "none", Flags: msBind},
		},
		{
			name: "tmpfs source with options only gets type tmpfs",
			line: "tmpfs /x x-create=dir,size=1G",
			want: Mount{Source: "tmpfs", Target: "/x", FSType: "tmpfs", Create: CreateDir, Data: "size=1G"},
		},
		{
			name: "system tmpfs, pass in the freq column",
			line: "tmpfs /tmp tmpfs x-create=dir,rw,nosuid,nodev,mode=1777,slave -1",
			want: Mount{Source: "tmpfs", Target: "/tmp", FSType: "tmpfs", Flags: msNosuid | msNodev,
				PropagationFlags: msSlave, Data: "mode=1777", Create: CreateDir, Pass: -1},
		},
		{
			name: "system proc bind",
			line: "/proc /proc none x-create=dir,rbind,rw,nosuid,nodev,noexec,rslave 0 -1",
			want: Mount{Source: "/proc", Target: "/proc", FSType: "none",
				Flags: msBind | msRec | msNosuid | msNodev | msNoexec, PropagationFlags: msSlave,
				RecursivePropagation: msSlave, Create: CreateDir, Pass: -1},
		},
		{
			name: "passno wins over freq",
			line: "/a /b none bind 1 2",
			want: Mount{Source: "/a", Target: "/b", FSType: "none", Flags: msBind, Pass: 2},
		},
		{
			name: "machine-id: nofail silent private file",
			line: "/etc/machine-id /etc/machine-id none x-create=file,bind,ro,nosuid,nodev,private,nofail,silent",
			want: Mount{Source: "/etc/machine-id", Target: "/etc/machine-id", FSType: "none",
				Flags: msBind | msRdonly | msNosuid | msNodev | msSilent, PropagationFlags: msPrivate,
				Create: CreateFile, NoFail: true, Silent: true},
		},
		{
			name: "later rw clears ro",
			line: "/a /b none bind,ro,rw,noexec,exec,nosuid",
			want: Mount{Source: "/a", Target: "/b", FSType: "none", Flags: msBind | msNosuid},
		},
		{
			name: "loud after silent",
			line: "/a /b none bind,silent,loud",
			want: Mount{Source: "/a", Target: "/b", FSType: "none", Flags: msBind},
		},
		{
			name: "silent after loud keeps MS_SILENT but warns",
			line: "/a /b none bind,loud,silent",
			want: Mount{Source: "/a", Target: "/b", FSType: "none", Flags: msBind | msSilent},
		},
		{
			name: "propagation only",
			line: "none /x none rslave",
			want: Mount{Source: "none", Target: "/x", FSType: "none", PropagationFlags: msSlave,
				RecursivePropagation: msSlave, SkipMount: true},
		},
		{
			name: "rprivate does not make a bind recursive",
			line: "/a /b none bind,rprivate",
			want: Mount{Source: "/a", Target: "/b", FSType: "none", Flags: msBind,
				PropagationFlags: msPrivate, RecursivePropagation: msPrivate},
		},
		{
			name: "all propagation types",
			line: "/a /b none rbind,shared,rslave,private,runbindable",
			want: Mount{Source: "/a", Target: "/b", FSType: "none", Flags: msBind | msRec,
				PropagationFlags:     msShared | msSlave | msPrivate | msUnbindable,
				RecursivePropagation: msSlave | msUnbindable},
		},
		{
			name: "atime and misc flags",
			line: "/a /b none bind,noatime,nodiratime,relatime,strictatime,lazytime,iversion,sync,dirsync,mand,remount",
			want: Mount{Source: "/a", Target: "/b", FSType: "none",
				Flags: msBind | msNoatime | msNodiratime | msRelatime | msStrictatime | msLazytime |
					msIVersion | msSynchronous | msDirsync | msMandlock | msRemount},
		},
		{
			name: "atime clears noatime",
			line: "/a /b none bind,noatime,atime,nolazytime,norelatime,nostrictatime,diratime,async,nomand,noiversion,suid,dev",
			want: Mount{Source: "/a", Target: "/b", FSType: "none", Flags: msBind},
		},
		{
			name: "ignored fstab words",
			line: "/a /b none bind,defaults,auto,noauto,user,users,nouser,nousers,owner,noowner,group,nogroup",
			want: Mount{Source: "/a", Target: "/b", FSType: "none", Flags: msBind},
		},
		{
			name: "x-create file beats dir beats auto",
			line: "/a /b none x-create=auto,rbind,x-create=dir,x-create=file",
			want: Mount{Source: "/a", Target: "/b", FSType: "none", Flags: msBind | msRec, Create: CreateFile},
		},
		{
			name: "pyxis flags after defaults: dir beats auto",
			line: "/a /b x-create=auto,rbind,x-create=dir",
			want: Mount{Source: "/a", Target: "/b", FSType: "none", Flags: msBind | msRec, Create: CreateDir},
		},
		{
			name: "tmpfs data kept in order",
			line: "tmpfs /t tmpfs size=1G,nosuid,mode=1777,huge=within_size",
			want: Mount{Source: "tmpfs", Target: "/t", FSType: "tmpfs", Flags: msNosuid,
				Data: "size=1G,mode=1777,huge=within_size"},
		},
		{
			name: "empty options are skipped",
			line: "tmpfs /t tmpfs ,,size=1G,,",
			want: Mount{Source: "tmpfs", Target: "/t", FSType: "tmpfs", Data: "size=1G"},
		},
		{
			name: "umount",
			line: "umount /root x-detach",
			want: Mount{Source: "umount", Target: "/root", FSType: "none", Detach: true},
		},
		{
			name: "move",
			line: "/old /new none x-move",
			want: Mount{Source: "/old", Target: "/new", FSType: "none", Flags: msMove, Move: true},
		},
		{
			name: "octal escapes",
			line: `/my\040dir /a\011b\012c\134d\\e none bind`,
			want: Mount{Source: "/my dir", Target: "/a\tb\nc\\d\\e", FSType: "none", Flags: msBind},
		},
		{
			name: "generic octal escape",
			line: `\043hash /x\303\251 none bind`,
			want: Mount{Source: "#hash", Target: "/x\u00e9", FSType: "none", Flags: msBind},
		},
		{
			name: "dollar name is not substituted, unknown braces become empty",
			line: "$HOME/x${NOPE} /x${EMPTY}y none bind",
			want: Mount{Source: "$HOME/x", Target: "/xy", FSType: "none", Flags: msBind},
		},
		{
			name: "malformed braces stay",
			line: "${1X}/${A-b}/${ /t${ none bind",
			want: Mount{Source: "${1X}/${A-b}/${", Target: "/t${", FSType: "none", Flags: msBind},
		},
		{
			name: "substituted spaces stay in one field",
			line: "/${SPACED} /dst none bind",
			want: Mount{Source: "/a b", Target: "/dst", FSType: "none", Flags: msBind},
		},
		{
			name: "leading blanks and CRLF",
			line: " \t/a /b none bind\r\n",
			want: Mount{Source: "/a", Target: "/b", FSType: "none", Flags: msBind},
		},
		{
			name: "relative target",
			line: "/a mnt none bind",
			want: Mount{Source: "/a", Target: "mnt", FSType: "none", Flags: msBind},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok, err := Parse(tt.line, env)
			if err != nil || !ok {
				t.Fatalf("Parse(%q) = ok %v, err %v", tt.line, ok, err)
			}
			want := tt.want
			want.Line = strings.TrimSuffix(strings.TrimSuffix(tt.line, "\n"), "\r")
			if !reflect.DeepEqual(m, want) {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tt.line, m, want)
			}
			checkRoundTrip(t, m)
		})
	}
}

func TestParseSkips(t *testing.T) {
	for _, line := range []string{"", "\n", "   \t ", "# comment", "  # indented comment /a /b", "#/a /b none bind"} {
		m, ok, err := Parse(line, nil)
		if ok || err != nil {
			t.Errorf("Parse(%q) = %+v, %v, %v; want skipped", line, m, ok, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		line     string
		is       error
		contains []string
	}{
		{"/only-source", ErrInvalidEntry, []string{`mount entry "/only-source"`, "missing target", "SOURCE TARGET"}},
		{"/a /b none bind 0 0 extra", ErrInvalidEntry, []string{"7 fields", `\040`}},
		{`/a\x /b`, ErrBadEscape, []string{`bad escape: "\\x" is neither`, `\134`}},
		{`/a /b\`, ErrBadEscape, []string{`bad escape: "\\" is neither`}},
		{`/a\000 /b`, ErrBadEscape, []string{`\\000`, "byte value"}},
		{`/a\400 /b`, ErrBadEscape, []string{`\\400`}},
		{"/a /b none x-create=bogus", ErrBadOption, []string{`unknown x-create value "bogus"`, "x-create=dir, x-create=file or x-create=auto"}},
		{"/a /b none x-create", ErrBadOption, []string{`unknown x-create value ""`}},
		{"/a /b x-create=bogus", ErrBadOption, []string{`unknown x-create value "bogus"`}},
		{"/a /b none bind,x-systemd.automount", ErrBadOption, []string{`unknown option "x-systemd.automount"`, "x-detach"}},
		{"/a /b none bind x 0", ErrInvalidEntry, []string{`FREQ "x" is not an integer`, "-1"}},
		{"/a /b none bind 0 1x", ErrInvalidEntry, []string{`PASSNO "1x" is not an integer`}},
		{"/a\x00 /b", ErrInvalidEntry, []string{"NUL byte"}},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			_, _, err := Parse(tt.line, nil)
			wantError(t, err, tt.is, tt.contains...)
		})
	}
}

func TestParseErrorMessage(t *testing.T) {
	_, err := ParseFstab(strings.NewReader("# header\n/a /b none bind\n\n/c /d none x-create=dirs\n"), nil)
	want := `line 4: mount entry "/c /d none x-create=dirs": bad mount option: unknown x-create value "dirs": use x-create=dir, x-create=file or x-create=auto`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant    %s", err, want)
	}
}

func TestParseFstab(t *testing.T) {
	in := "# enroot system mounts\n" +
		"/proc /proc none x-create=dir,rbind,rw,nosuid,nodev,noexec,rslave -1\n" +
		"\n" +
		"tmpfs /tmp tmpfs x-create=dir,rw,nosuid,nodev,mode=1777,slave -1\n" +
		"${ENROOT_ROOTFS}/vol /vol none x-create=dir,bind,rw,nosuid,nodev" // no final newline
	ms, err := ParseFstab(strings.NewReader(in), map[string]string{"ENROOT_ROOTFS": "/r"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 3 {
		t.Fatalf("got %d mounts, want 3: %+v", len(ms), ms)
	}
	wantOrigins := []string{"line 2", "line 4", "line 5"}
	for i, m := range ms {
		if m.Origin != wantOrigins[i] {
			t.Errorf("mount %d origin %q, want %q", i, m.Origin, wantOrigins[i])
		}
	}
	if ms[2].Source != "/r/vol" || ms[2].Line != "${ENROOT_ROOTFS}/vol /vol none x-create=dir,bind,rw,nosuid,nodev" {
		t.Errorf("substitution: got source %q line %q", ms[2].Source, ms[2].Line)
	}
}

func TestParseFstabFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "10-test.fstab")
	if err := os.WriteFile(p, []byte("/a /b none bind\n/c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ParseFstabFile(p, nil)
	wantError(t, err, ErrInvalidEntry, p+`:2: mount entry "/c"`)

	if _, err := ParseFstabFile(filepath.Join(dir, "missing.fstab"), nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want not-exist", err)
	}
}

func TestParseEnrootFlag(t *testing.T) {
	tests := []struct {
		in   string
		want Mount
	}{
		{"/src:/dst", Mount{Source: "/src", Target: "/dst", FSType: "none", Flags: msBind | msRec, Create: CreateAuto}},
		{"/src:/dst:ro", Mount{Source: "/src", Target: "/dst", FSType: "none", Flags: msRdonly}},
		{"/src:/dst:none:bind,ro", Mount{Source: "/src", Target: "/dst", FSType: "none", Flags: msBind | msRdonly}},
		{"tmpfs:/x:tmpfs:size=1G", Mount{Source: "tmpfs", Target: "/x", FSType: "tmpfs", Data: "size=1G"}},
		{"tmpfs:/x", Mount{Source: "tmpfs", Target: "/x", FSType: "tmpfs"}},
		{"/a:/b:none:bind:0:-1", Mount{Source: "/a", Target: "/b", FSType: "none", Flags: msBind, Pass: -1}},
		{`/a\040b:/c`, Mount{Source: "/a b", Target: "/c", FSType: "none", Flags: msBind | msRec, Create: CreateAuto}},
		{"/a::/b", Mount{Source: "/a", Target: "/b", FSType: "none", Flags: msBind | msRec, Create: CreateAuto}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			m, err := ParseEnrootFlag(tt.in, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			want.Line, want.Origin = tt.in, "--mount"
			if !reflect.DeepEqual(m, want) {
				t.Errorf("\n got %+v\nwant %+v", m, want)
			}
			checkRoundTrip(t, m)
		})
	}
	t.Run("no substitution with nil env", func(t *testing.T) {
		m, err := ParseEnrootFlag("${HOME}:/h", nil)
		if err != nil || m.Source != "${HOME}" {
			t.Errorf("got %q, %v", m.Source, err)
		}
		m, err = ParseEnrootFlag("${HOME}:/h", map[string]string{"HOME": "/home/u"})
		if err != nil || m.Source != "/home/u" {
			t.Errorf("with env: got %q, %v", m.Source, err)
		}
	})
}

func TestParseEnrootFlagErrors(t *testing.T) {
	tests := []struct {
		in       string
		is       error
		contains []string
	}{
		{"", ErrInvalidEntry, []string{`--mount: mount entry ""`, "SRC:DST"}},
		{"/a b:/c", ErrInvalidEntry, []string{`"/a b:/c"`, `\040`}},
		{"/a\t:/c", ErrInvalidEntry, nil},
		{"#x:/y", ErrInvalidEntry, []string{"comment", `\043`}},
		{"/a", ErrInvalidEntry, []string{`--mount: mount entry "/a": invalid mount entry: missing target`}},
		{":", ErrInvalidEntry, []string{`mount entry ":": invalid mount entry: the mount spec has an empty source and target`, "SRC:DST"}},
		{"::", ErrInvalidEntry, []string{"empty source and target"}},
		{":/x", ErrInvalidEntry, []string{"has an empty source:"}},
		{"/x:", ErrInvalidEntry, []string{"has an empty target:"}},
		{"/x::", ErrInvalidEntry, []string{"has an empty target:"}},
		{"/a:/b:none:x-create=no", ErrBadOption, []string{`mount entry "/a:/b:none:x-create=no"`}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseEnrootFlag(tt.in, nil)
			wantError(t, err, tt.is, tt.contains...)
		})
	}
}

func TestPropagations(t *testing.T) {
	m, _, err := Parse("/a /b none rbind,rprivate,slave,silent,runbindable,shared", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []uintptr{msShared | msSilent, msSlave | msSilent, msPrivate | msRec | msSilent, msUnbindable | msRec | msSilent}
	if got := m.Propagations(); !reflect.DeepEqual(got, want) {
		t.Errorf("Propagations() = %#x, want %#x", got, want)
	}
	m, _, _ = Parse("/a /b none bind", nil)
	if got := m.Propagations(); got != nil {
		t.Errorf("no propagation: got %#x", got)
	}
}

func TestSkipMount(t *testing.T) {
	tests := map[string]bool{
		"none /x none rslave":         true,
		"none /x none private,silent": true,
		"none /x none silent":         true, // enroot: flags only MS_SILENT
		"tmpfs /x tmpfs":              false,
		"tmpfs /x tmpfs rw":           false, // flags 0 -> mount
		"/a /b none rbind,rslave":     false,
		"umount /x x-detach":          false,
		"/a /b none x-move,private":   false,
	}
	for line, want := range tests {
		m, _, err := Parse(line, nil)
		if err != nil {
			t.Fatal(err)
		}
		if m.SkipMount != want {
			t.Errorf("%q: SkipMount = %v, want %v", line, m.SkipMount, want)
		}
	}
}

func TestCreateString(t *testing.T) {
	for c, want := range map[Create]string{CreateNone: "none", CreateDir: "dir", CreateFile: "file", CreateAuto: "auto", Create(9): "Create(9)"} {
		if got := c.String(); got != want {
			t.Errorf("%d: %q, want %q", int(c), got, want)
		}
	}
}

func TestStringForm(t *testing.T) {
	m, _, err := Parse(`/a\040b /#c tmpfs nosuid,size=1G 0 -1`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.String(), `/a\040b /#c tmpfs nosuid,size=1G 0 -1`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	m.Source = "#src"
	if got := m.String(); !strings.HasPrefix(got, `\043src `) {
		t.Errorf("leading # not escaped: %q", got)
	}
	checkRoundTrip(t, m)
	if got := (Mount{Source: "tmpfs", Target: "/t", FSType: "tmpfs"}).String(); got != "tmpfs /t tmpfs defaults" {
		t.Errorf("no options: %q", got)
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"/plain":     "/plain",
		"/a b":       `/a\040b`,
		"/t\tn\nr\r": `/t\011n\012r\015`,
		`/back\`:     `/back\134`,
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
		if back, err := unescapeField(want); err != nil || back != in {
			t.Errorf("unescape(%q) = %q, %v", want, back, err)
		}
	}
}

func TestSort(t *testing.T) {
	ms := []Mount{
		{Target: "/a", Pass: 0}, {Target: "/b", Pass: -1}, {Target: "/c", Pass: 2},
		{Target: "/d", Pass: 0}, {Target: "/e", Pass: -1},
	}
	Sort(ms)
	var got []string
	for _, m := range ms {
		got = append(got, m.Target)
	}
	if want := []string{"/b", "/e", "/a", "/d", "/c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Sort order %v, want %v", got, want)
	}
	sys := FilterPass(ms, PassSystem)
	if len(sys) != 2 || sys[0].Target != "/b" || sys[1].Target != "/e" {
		t.Errorf("FilterPass(-1) = %+v", sys)
	}
	if n := len(FilterPass(ms, PassDefault)); n != 2 {
		t.Errorf("FilterPass(0) has %d mounts, want 2", n)
	}
}
