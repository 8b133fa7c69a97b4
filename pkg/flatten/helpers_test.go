// SPDX-License-Identifier: Apache-2.0

package flatten

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"testing"
	"time"
)

// ent is one tar entry of a test layer.
type ent struct {
	h    tar.Header
	body string
}

func hdr(name string, flag byte, mode int64) tar.Header {
	return tar.Header{Name: name, Typeflag: flag, Mode: mode, ModTime: time.Unix(1000, 0), Format: tar.FormatPAX}
}

func file(p, body string) ent { return fileM(p, body, 0o644) }

func fileM(p, body string, mode int64) ent {
	h := hdr(p, tar.TypeReg, mode)
	h.Size = int64(len(body))
	return ent{h: h, body: body}
}

func dir(p string) ent              { return dirM(p, 0o755) }
func dirM(p string, mode int64) ent { return ent{h: hdr(p+"/", tar.TypeDir, mode)} }
func fifo(p string) ent             { return ent{h: hdr(p, tar.TypeFifo, 0o644)} }

func sym(p, target string) ent {
	h := hdr(p, tar.TypeSymlink, 0o777)
	h.Linkname = target
	return ent{h: h}
}

func hard(p, target string) ent {
	h := hdr(p, tar.TypeLink, 0o644)
	h.Linkname = target
	return ent{h: h}
}

func char(p string, major, minor int64) ent {
	h := hdr(p, tar.TypeChar, 0o666)
	h.Devmajor, h.Devminor = major, minor
	return ent{h: h}
}

// wh is the whiteout marker deleting p.
func wh(p string) ent {
	d, b := path.Split(p)
	return file(d+".wh."+b, "")
}

// opq is the opaque marker of directory d ("" for the root).
func opq(d string) ent {
	if d == "" {
		return file(whOpaque, "")
	}
	return file(d+"/"+whOpaque, "")
}

func (e ent) owner(uid, gid int) ent { e.h.Uid, e.h.Gid = uid, gid; return e }

func (e ent) xattr(k, v string) ent {
	if e.h.PAXRecords == nil {
		e.h.PAXRecords = map[string]string{}
	}
	e.h.PAXRecords[xattrPrefix+k] = v
	return e
}

func tarBytes(t testing.TB, ents []ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := e.h
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("tar header %s: %v", h.Name, err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatalf("tar body %s: %v", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// openers makes reopenable in-memory layers, top first; *opens counts the opens.
func openers(t testing.TB, layers [][]ent, opens *int) []LayerOpener {
	var out []LayerOpener
	for _, l := range layers {
		b := tarBytes(t, l)
		out = append(out, func() (io.ReadCloser, error) {
			if opens != nil {
				*opens++
			}
			return io.NopCloser(bytes.NewReader(b)), nil
		})
	}
	return out
}

// recSink records what it is given and checks the Sink contract.
type recSink struct {
	got   map[string]Entry
	body  map[string]string
	order []string
}

func newRecSink() *recSink { return &recSink{got: map[string]Entry{}, body: map[string]string{}} }

func (s *recSink) Add(e Entry, r io.Reader) error {
	if _, dup := s.got[e.Path]; dup {
		return fmt.Errorf("path %q added twice", e.Path)
	}
	if (r != nil) != (e.Type == Reg) {
		return fmt.Errorf("%s: content reader given for %v", e.Path, e.Type)
	}
	if e.Type == Hardlink {
		t, ok := s.got[e.Linkname]
		if !ok || t.Type == Hardlink || t.Type == Dir {
			return fmt.Errorf("%s: hardlink to %q, not an inode added before", e.Path, e.Linkname)
		}
	}
	if r != nil {
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if int64(len(b)) != e.Size {
			return fmt.Errorf("%s: read %d bytes, size %d", e.Path, len(b), e.Size)
		}
		s.body[e.Path] = string(b)
	}
	s.got[e.Path] = e
	s.order = append(s.order, e.Path)
	return nil
}

// describe renders an entry as the table tests spell it.
func (s *recSink) describe(p string) string {
	e := s.got[p]
	var d string
	switch e.Type {
	case Dir:
		d = fmt.Sprintf("dir %04o", e.Mode)
	case Reg:
		d = fmt.Sprintf("reg %04o %q", e.Mode, s.body[p])
	case Symlink:
		d = "sym " + e.Linkname
	case Hardlink:
		return "link " + e.Linkname
	case Fifo:
		d = fmt.Sprintf("fifo %04o", e.Mode)
	case Char, Block:
		d = fmt.Sprintf("%v %d", e.Type, e.Rdev)
	}
	if e.UID != 0 || e.GID != 0 {
		d += fmt.Sprintf(" %d:%d", e.UID, e.GID)
	}
	var xs []string
	for k, v := range e.Xattrs {
		xs = append(xs, k+"="+string(v))
	}
	sort.Strings(xs)
	for _, x := range xs {
		d += " " + x
	}
	return d
}

// tree renders the whole result, one "path: description" line per entry.
func (s *recSink) tree() string {
	var paths []string
	for p := range s.got {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	lines := make([]string, len(paths))
	for i, p := range paths {
		lines[i] = fmt.Sprintf("/%s: %s", p, s.describe(p))
	}
	return strings.Join(lines, "\n")
}

func flatten(t testing.TB, layers [][]ent, opts Options) (*recSink, Stats, error) {
	t.Helper()
	s := newRecSink()
	st, err := Flatten(context.Background(), openers(t, layers, nil), s, opts)
	return s, st, err
}
