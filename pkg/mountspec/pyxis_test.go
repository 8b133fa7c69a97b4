// SPDX-License-Identifier: Apache-2.0

package mountspec

import (
	"reflect"
	"strings"
	"testing"
)

func TestParsePyxisMounts(t *testing.T) {
	bindAuto := func(src, dst string, extra uintptr) Mount {
		return Mount{Source: src, Target: dst, FSType: "none", Flags: msBind | msRec | extra, Create: CreateAuto}
	}
	tests := []struct {
		in   string
		want []Mount // Origin is filled in; Line must be set
	}{
		{"/home:/test-mnt", []Mount{withLine(bindAuto("/home", "/test-mnt", 0), "/home:/test-mnt")}},
		{"/var/lib", []Mount{withLine(bindAuto("/var/lib", "/var/lib", 0), "/var/lib")}},
		{"./:/test-mnt", []Mount{withLine(bindAuto("./", "/test-mnt", 0), "./:/test-mnt")}},
		{"./tests/x:./y", []Mount{withLine(bindAuto("./tests/x", "./y", 0), "./tests/x:./y")}},
		{"/tmp:/mnt:ro", []Mount{withLine(bindAuto("/tmp", "/mnt", msRdonly), "/tmp:/mnt:ro")}},
		{"/tmp:/mnt:", []Mount{withLine(bindAuto("/tmp", "/mnt", 0), "/tmp:/mnt:")}},
		{"/tmp:/mnt:bind", []Mount{withLine(bindAuto("/tmp", "/mnt", 0), "/tmp:/mnt:bind")}}, // rbind stays
		{"/tmp:/mnt:unbindable+ro", []Mount{func() Mount {
			m := bindAuto("/tmp", "/mnt", msRdonly)
			m.PropagationFlags = msUnbindable
			return withLine(m, "/tmp:/mnt:unbindable+ro")
		}()}},
		{"/tmp:/mnt:rprivate+nosuid+x-create=dir", []Mount{func() Mount {
			m := bindAuto("/tmp", "/mnt", msNosuid)
			m.PropagationFlags, m.RecursivePropagation, m.Create = msPrivate, msPrivate, CreateDir
			return withLine(m, "/tmp:/mnt:rprivate+nosuid+x-create=dir")
		}()}},
		{"tmpfs:/mytmpfs", []Mount{{Source: "tmpfs", Target: "/mytmpfs", FSType: "tmpfs", Create: CreateDir, Line: "tmpfs:/mytmpfs"}}},
		{"tmpfs:/scratch:size=1G+huge=within_size", []Mount{{Source: "tmpfs", Target: "/scratch", FSType: "tmpfs",
			Create: CreateDir, Data: "size=1G,huge=within_size", Line: "tmpfs:/scratch:size=1G+huge=within_size"}}},
		{"umount:/root", []Mount{{Source: "umount", Target: "/root", FSType: "none", Detach: true, Line: "umount:/root"}}},
		{"/my dir:/dst\tx", []Mount{withLine(bindAuto("/my dir", "/dst\tx", 0), "/my dir:/dst\tx")}},
		{`/back\slash:/b\040`, []Mount{withLine(bindAuto(`/back\slash`, `/b\040`, 0), `/back\slash:/b\040`)}}, // pyxis escapes, so backslashes are literal
		{"/a:/b:ro:extra", []Mount{func() Mount {
			m := bindAuto("/a", "/b", 0)
			m.Data = "ro:extra" // pyxis keeps later colons in FLAGS; enroot passes it as data
			return withLine(m, "/a:/b:ro:extra")
		}()}},
		{"/a:/b,/dev/null:/null,/a:/b", []Mount{
			withLine(bindAuto("/a", "/b", 0), "/a:/b"),
			withLine(bindAuto("/dev/null", "/null", 0), "/dev/null:/null"),
		}},
		{"/a:/b,/a:/b:ro", []Mount{
			withLine(bindAuto("/a", "/b", 0), "/a:/b"),
			withLine(bindAuto("/a", "/b", msRdonly), "/a:/b:ro"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			ms, err := ParsePyxisMounts(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tt.want {
				tt.want[i].Origin = PyxisOrigin
			}
			if !reflect.DeepEqual(ms, tt.want) {
				t.Errorf("\n got %+v\nwant %+v", ms, tt.want)
			}
			for _, m := range ms {
				checkRoundTrip(t, m)
			}
		})
	}
}

func withLine(m Mount, line string) Mount { m.Line = line; return m }

func TestParsePyxisMountsErrors(t *testing.T) {
	const (
		srcMsg = `mount source must be a relative path, an absolute path, "tmpfs" or "umount"`
		dstMsg = "mount target must be a relative path or an absolute path"
	)
	tests := []struct {
		in       string
		is       error
		exact    string // the whole message, when given
		contains []string
	}{
		{in: "", is: ErrInvalidEntry, exact: "--container-mounts: argument required: give SRC[:DST[:FLAGS]][,SRC[:DST[:FLAGS]]...]"},
		{in: ":", is: ErrInvalidEntry, contains: []string{"--container-mounts: invalid format: :"}},
		{in: "/tmp:", is: ErrInvalidEntry, exact: "--container-mounts: invalid format: /tmp:: write SRC[:DST[:FLAGS]] with a non-empty SRC and DST, for example /data:/data:ro"},
		{in: ":/tmp", is: ErrInvalidEntry, contains: []string{"--container-mounts: invalid format: :/tmp"}},
		{in: "/a:/b,", is: ErrInvalidEntry, contains: []string{"--container-mounts: invalid format: "}},
		{in: "/a:/b,,/c:/d", is: ErrInvalidEntry, contains: []string{"--container-mounts: invalid format: "}},
		{in: "devpts:/mydevpts:ro", is: ErrInvalidEntry,
			exact: srcMsg + ` (entry "devpts:/mydevpts:ro"): start a host path with "/" or "./"`},
		{in: "/tmp:mnt:ro", is: ErrInvalidEntry,
			exact: dstMsg + ` (entry "/tmp:mnt:ro"): start the target with "/", for example "/mnt"`},
		{in: "tmpfs", is: ErrInvalidEntry, contains: []string{dstMsg}},
		{in: "/ok:/ok,home:/home", is: ErrInvalidEntry, contains: []string{srcMsg, `"home:/home"`}},
		{in: "/a:/b:x-create=bogus", is: ErrBadOption,
			exact: `--container-mounts: mount entry "/a:/b:x-create=bogus": bad mount option: unknown x-create value "bogus": use x-create=dir, x-create=file or x-create=auto`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			ms, err := ParsePyxisMounts(tt.in)
			if ms != nil {
				t.Errorf("mounts %+v returned with an error", ms)
			}
			wantError(t, err, tt.is, tt.contains...)
			if tt.exact != "" && err != nil && err.Error() != tt.exact {
				t.Errorf("message\n got %s\nwant %s", err, tt.exact)
			}
		})
	}
}

func TestPyxisMountsAreEnrootLines(t *testing.T) {
	// What pyxis hands enroot, and what enroot-mount makes of it, must
	// agree with parsing the same line directly.
	ms, err := ParsePyxisMounts("/x y:/z:ro+nosuid")
	if err != nil {
		t.Fatal(err)
	}
	direct, _, err := Parse(`/x\040y /z x-create=auto,rbind,ro,nosuid`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if semantic(ms[0]) != semantic(direct) {
		t.Errorf("pyxis %+v\ndirect %+v", ms[0], direct)
	}
	if !strings.Contains(ms[0].String(), `/x\040y /z none rbind,ro,nosuid,x-create=auto`) {
		t.Errorf("String() = %q", ms[0].String())
	}
}
