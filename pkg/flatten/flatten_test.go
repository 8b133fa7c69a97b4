// SPDX-License-Identifier: Apache-2.0

package flatten

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
)

func lines(ls ...string) string { return strings.Join(ls, "\n") }

// TestRules checks each merge rule on small layer stacks, top layer first.
func TestRules(t *testing.T) {
	cases := []struct {
		name   string
		layers [][]ent
		opts   Options
		want   string
	}{{
		name:   "one layer",
		layers: [][]ent{{dir("a"), file("a/f", "x"), sym("a/s", "f"), fifo("a/p")}},
		want:   lines("/: dir 0755", "/a: dir 0755", "/a/f: reg 0644 \"x\"", "/a/p: fifo 0644", "/a/s: sym f"),
	}, {
		name:   "upper file shadows lower",
		layers: [][]ent{{fileM("f", "new", 0o600)}, {file("f", "old"), file("g", "g")}},
		want:   lines("/: dir 0755", "/f: reg 0600 \"new\"", "/g: reg 0644 \"g\""),
	}, {
		name:   "topmost dir entry decides, lower children stay",
		layers: [][]ent{{dirM("d", 0o700), file("d/up", "u")}, {dirM("d", 0o755), file("d/low", "l")}},
		want:   lines("/: dir 0755", "/d: dir 0700", "/d/low: reg 0644 \"l\"", "/d/up: reg 0644 \"u\""),
	}, {
		name:   "implicit parent takes attributes from below",
		layers: [][]ent{{file("d/up", "u")}, {dirM("d", 0o750).owner(7, 8)}},
		want:   lines("/: dir 0755", "/d: dir 0750 7:8", "/d/up: reg 0644 \"u\""),
	}, {
		name:   "parent no layer describes",
		layers: [][]ent{{file("x/y/z", "z")}},
		want:   lines("/: dir 0755", "/x: dir 0755", "/x/y: dir 0755", "/x/y/z: reg 0644 \"z\""),
	}, {
		name:   "root attributes from a lower layer",
		layers: [][]ent{{file("x", "x")}, {dirM(".", 0o700)}},
		want:   lines("/: dir 0700", "/x: reg 0644 \"x\""),
	}, {
		name:   "whiteout hides lower, not its own layer",
		layers: [][]ent{{wh("a"), wh("b"), file("b", "mine")}, {file("a", "a"), file("b", "b"), file("c", "c")}},
		want:   lines("/: dir 0755", "/b: reg 0644 \"mine\"", "/c: reg 0644 \"c\""),
	}, {
		name:   "whiteout of a directory subtree",
		layers: [][]ent{{dir("d"), wh("d/sub")}, {dir("d"), dir("d/sub"), file("d/sub/x", "x"), dir("d/sub/deep"), file("d/sub/deep/y", "y"), file("d/keep", "k")}},
		want:   lines("/: dir 0755", "/d: dir 0755", "/d/keep: reg 0644 \"k\""),
	}, {
		name:   "resurrect after whiteout",
		layers: [][]ent{{file("r", "v3")}, {wh("r")}, {file("r", "v1")}},
		want:   lines("/: dir 0755", "/r: reg 0644 \"v3\""),
	}, {
		name: "opaque dir with upper and lower children",
		layers: [][]ent{
			{file("o/top", "t")},
			{dirM("o", 0o750), opq("o"), file("o/mid", "m")},
			{dirM("o", 0o700), file("o/old", "o"), dir("o/sub"), file("o/sub/old2", "o2")},
		},
		want: lines("/: dir 0755", "/o: dir 0750", "/o/mid: reg 0644 \"m\"", "/o/top: reg 0644 \"t\""),
	}, {
		name:   "opaque root",
		layers: [][]ent{{opq(""), file("new", "n")}, {file("old", "o")}},
		want:   lines("/: dir 0755", "/new: reg 0644 \"n\""),
	}, {
		name:   "dir over lower file",
		layers: [][]ent{{dir("d"), file("d/child", "c")}, {file("d", "was a file")}},
		want:   lines("/: dir 0755", "/d: dir 0755", "/d/child: reg 0644 \"c\""),
	}, {
		name:   "file over lower dir",
		layers: [][]ent{{file("d", "now a file")}, {dir("d"), file("d/x", "x")}},
		want:   lines("/: dir 0755", "/d: reg 0644 \"now a file\""),
	}, {
		name:   "dir over file over dir",
		layers: [][]ent{{file("d/c", "c")}, {file("d", "f")}, {dirM("d", 0o700), file("d/x", "x")}},
		want:   lines("/: dir 0755", "/d: dir 0755", "/d/c: reg 0644 \"c\""),
	}, {
		name:   "symlink over lower dir hides its tree",
		layers: [][]ent{{sym("lib", "usr/lib")}, {dir("lib"), file("lib/x", "x")}},
		want:   lines("/: dir 0755", "/lib: sym usr/lib"),
	}, {
		name:   "hardlink in one layer, and chained",
		layers: [][]ent{{file("a", "x"), hard("b", "a"), hard("c", "./b")}},
		want:   lines("/: dir 0755", "/a: reg 0644 \"x\"", "/b: link a", "/c: link a"),
	}, {
		name:   "cross-layer hardlink to a visible target",
		layers: [][]ent{{hard("c", "a")}, {file("a", "x")}},
		want:   lines("/: dir 0755", "/a: reg 0644 \"x\"", "/c: link a"),
	}, {
		name:   "cross-layer hardlink to a shadowed target",
		layers: [][]ent{{file("a", "new")}, {hard("c", "a")}, {file("a", "old"), hard("b", "a")}},
		want:   lines("/: dir 0755", "/a: reg 0644 \"new\"", "/b: link c", "/c: reg 0644 \"old\""),
	}, {
		name:   "cross-layer hardlink to a link below",
		layers: [][]ent{{hard("d", "b")}, {file("a", "x"), hard("b", "a")}},
		want:   lines("/: dir 0755", "/a: reg 0644 \"x\"", "/b: link a", "/d: link a"),
	}, {
		name:   "cross-layer hardlink, target whited out in its own layer",
		layers: [][]ent{{hard("c", "a")}, {wh("a"), file("a", "same layer")}, {file("a", "old")}},
		want:   lines("/: dir 0755", "/a: reg 0644 \"same layer\"", "/c: link a"),
	}, {
		name:   "hardlink to a target its own layer whites out, whiteout first",
		layers: [][]ent{{wh("a"), hard("l", "a")}, {file("a", "old")}},
		want:   lines("/: dir 0755", "/l: reg 0644 \"old\""),
	}, {
		name:   "hardlink to a target its own layer whites out, link first",
		layers: [][]ent{{hard("l", "a"), wh("a")}, {file("a", "old")}},
		want:   lines("/: dir 0755", "/l: reg 0644 \"old\""),
	}, {
		name:   "hardlink in an opaque dir's layer to a lower child",
		layers: [][]ent{{dir("d"), opq("d"), hard("l", "d/a")}, {dir("d"), file("d/a", "a")}},
		want:   lines("/: dir 0755", "/d: dir 0755", "/l: reg 0644 \"a\""),
	}, {
		name:   "dev/ excluded, dev kept, hardlink out of dev keeps content",
		layers: [][]ent{{dir("dev"), char("dev/null", 1, 3), dir("dev/shm"), file("dev/x", "x"), hard("y", "dev/x")}},
		opts:   Options{ExcludeDevDir: true},
		want:   lines("/: dir 0755", "/dev: dir 0755", "/y: reg 0644 \"x\""),
	}, {
		name:   "devices skipped, still hiding lower",
		layers: [][]ent{{char("c", 1, 3), char("dev/null", 1, 3)}, {file("c", "lower")}},
		opts:   Options{SkipDevices: true},
		want:   lines("/: dir 0755", "/dev: dir 0755"),
	}, {
		name:   "devices kept",
		layers: [][]ent{{char("c", 1, 3), ent{h: hdr("b", tar.TypeBlock, 0o660)}}},
		want:   lines("/: dir 0755", "/b: block 0", "/c: char 259"),
	}, {
		name:   "all root",
		layers: [][]ent{{dir("d").owner(5, 6), file("d/f", "x").owner(1000, 1000)}},
		opts:   Options{AllRoot: true},
		want:   lines("/: dir 0755", "/d: dir 0755", "/d/f: reg 0644 \"x\""),
	}, {
		name:   "owners kept",
		layers: [][]ent{{file("f", "x").owner(1000, 100)}},
		want:   lines("/: dir 0755", "/f: reg 0644 \"x\" 1000:100"),
	}, {
		name:   "default xattr filter keeps user.*",
		layers: [][]ent{{file("f", "x").xattr("user.a", "1").xattr("security.capability", "cap").xattr("trusted.t", "t")}},
		want:   lines("/: dir 0755", "/f: reg 0644 \"x\" user.a=1"),
	}, {
		name:   "custom xattr filter",
		layers: [][]ent{{file("f", "x").xattr("user.a", "1").xattr("security.capability", "cap")}},
		opts:   Options{XattrFilter: func(string) bool { return true }},
		want:   lines("/: dir 0755", "/f: reg 0644 \"x\" security.capability=cap user.a=1"),
	}, {
		name:   "setuid and odd names",
		layers: [][]ent{{fileM("./bin/su", "s", 0o4755), dirM("/tmp", 0o1777), file("name with spaces", "")}},
		want:   lines("/: dir 0755", "/bin: dir 0755", "/bin/su: reg 4755 \"s\"", "/name with spaces: reg 0644 \"\"", "/tmp: dir 1777"),
	}, {
		name:   "duplicate entry in a layer keeps the first",
		layers: [][]ent{{file("f", "first"), file("f", "second")}},
		want:   lines("/: dir 0755", "/f: reg 0644 \"first\""),
	}, {
		name:   "global header skipped",
		layers: [][]ent{{{h: tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "g", PAXRecords: map[string]string{"comment": "hi"}}}, file("f", "x")}},
		want:   lines("/: dir 0755", "/f: reg 0644 \"x\""),
	}, {
		name:   "empty image",
		layers: [][]ent{{}, {}},
		want:   lines("/: dir 0755"),
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, _, err := flatten(t, c.layers, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.tree(); got != c.want {
				t.Errorf("got\n%s\nwant\n%s", got, c.want)
			}
		})
	}
}

func TestRereadForShadowedSameLayerTarget(t *testing.T) {
	var opens int
	s := newRecSink()
	layers := [][]ent{{file("a", "new")}, {file("a", "old"), hard("b", "a"), hard("c", "a"), file("z", "z")}}
	st, err := Flatten(context.Background(), openers(t, layers, &opens), s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := lines("/: dir 0755", "/a: reg 0644 \"new\"", "/b: reg 0644 \"old\"", "/c: link b", "/z: reg 0644 \"z\"")
	if got := s.tree(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if st.Rereads != 1 || opens != 3 {
		t.Errorf("rereads %d, opens %d; want 1 and 3", st.Rereads, opens)
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name   string
		layers [][]ent
		want   string // in the error text
		is     error
	}{
		{name: "dotdot", layers: [][]ent{{file("../x", "x")}}, want: `layer 0: entry "../x"`, is: ErrUnsafePath},
		{name: "absolute dotdot", layers: [][]ent{{}, {file("/../x", "x")}}, want: `layer 1: entry "/../x"`, is: ErrUnsafePath},
		{name: "inner dotdot", layers: [][]ent{{file("a/../../x", "x")}}, is: ErrUnsafePath},
		{name: "hardlink target dotdot", layers: [][]ent{{hard("x", "../etc/passwd")}}, is: ErrUnsafePath},
		{name: "hardlink to missing", layers: [][]ent{{hard("l", "gone")}, {file("other", "")}}, want: "hardlink l: target gone not found"},
		{name: "hardlink to whited-out target", layers: [][]ent{{hard("l", "t")}, {wh("t")}, {file("t", "")}}, want: "hardlink l: target t not found"},
		{name: "hardlink to a child hidden by an opaque dir", layers: [][]ent{{hard("l", "d/a")}, {dir("d"), opq("d")}, {dir("d"), file("d/a", "a")}}, want: "hardlink l: target d/a not found"},
		{name: "hardlink below a replaced parent", layers: [][]ent{{hard("l", "d/t")}, {file("d", "")}, {file("d/t", "")}}, want: "target d/t not found"},
		{name: "hardlink to dir", layers: [][]ent{{hard("l", "d")}, {dir("d")}}, want: "hardlink l: target d is a directory"},
		{name: "hardlink to dir same layer", layers: [][]ent{{dir("d"), hard("l", "d")}}, want: "target d is a directory"},
		{name: "hardlink to itself", layers: [][]ent{{hard("l", "./l")}}, want: "hardlink to itself"},
		{name: "hardlink cycle", layers: [][]ent{{hard("a", "b"), hard("b", "a")}}, want: "hardlink cycle"},
		{name: "unknown type", layers: [][]ent{{{h: hdr("x", 'D', 0o755)}}}, want: "unsupported tar entry type"},
		{name: "aufs metadata", layers: [][]ent{{dir(".wh..wh.plnk"), file(".wh..wh.plnk/123", "")}}, want: "aufs metadata"},
		{name: "inside aufs metadata", layers: [][]ent{{file("a/.wh..wh.plnk/123", "")}}, want: "aufs metadata"},
		{name: "whiteout of nothing", layers: [][]ent{{file("d/.wh.", "")}}, want: "whiteout names no file"},
		{name: "root as file", layers: [][]ent{{file(".", "")}}, want: "root is not a directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := flatten(t, c.layers, Options{})
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) || c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %q, want it to contain %q and be %v", err, c.want, c.is)
			}
		})
	}
}

// lazySink reads nothing.
type lazySink struct{}

func (lazySink) Add(Entry, io.Reader) error { return nil }

func TestSinkMustConsume(t *testing.T) {
	_, err := Flatten(context.Background(), openers(t, [][]ent{{file("f", "xyz")}}, nil), lazySink{}, Options{})
	if err == nil || !strings.Contains(err.Error(), "sink left 3 of 3 bytes unread") {
		t.Fatalf("error %v", err)
	}
}

func TestContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Flatten(ctx, openers(t, [][]ent{{file("f", "x")}}, nil), newRecSink(), Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

func TestStats(t *testing.T) {
	layers := [][]ent{{file("a", "new"), wh("gone"), hard("l", "a")}, {file("a", "old"), file("gone", "g"), char("c", 1, 3)}}
	_, st, err := flatten(t, layers, Options{SkipDevices: true})
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{Entries: 3, Files: 1, Bytes: 3, Hardlinks: 1, Whiteouts: 1, Skipped: 3}
	if st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
}

func TestDuplicateWarns(t *testing.T) {
	var log strings.Builder
	opts := Options{Logger: slog.New(slog.NewTextHandler(&log, nil))}
	s, _, err := flatten(t, [][]ent{{dir("d"), dir("d"), file("f", "1"), file("f", "2")}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := log.String(); strings.Count(got, "duplicate entry") != 1 || !strings.Contains(got, "path=f") {
		t.Errorf("log %q: want one warning, about f", got)
	}
	if s.body["f"] != "1" {
		t.Errorf("f = %q, want the first", s.body["f"])
	}
}
