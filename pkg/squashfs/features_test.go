// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"path"
	"strings"
)

// want is what a path in an image must look like.
type want struct {
	typ        Type // never Hardlink: the type of the shared inode
	mode       uint32
	uid, gid   uint32
	size       int64
	sum        string // sha256 of a regular file's content
	link       string
	rdev       uint64
	mtime      int64
	nlink      uint32
	xattrs     map[string][]byte
	head, tail []byte // big sparse file: content at both ends, zeros between
}

// randBytes returns n incompressible bytes, the same for the same seed.
func randBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	_, _ = r.Read(b)
	return b
}

// textBytes returns n compressible bytes.
func textBytes(seed, n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "line %d of file %d: the quick brown fox jumps over the lazy dog\n", i, seed)
	}
	return b.Bytes()[:n]
}

// sparseReader yields head, then zeros, then tail, size bytes in all.
type sparseReader struct {
	head, tail []byte
	size, off  int64
}

func (s *sparseReader) Read(p []byte) (int, error) {
	if s.off >= s.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), s.size-s.off)]
	tailAt := s.size - int64(len(s.tail))
	for i := range p {
		o := s.off + int64(i)
		switch {
		case o < int64(len(s.head)):
			p[i] = s.head[o]
		case o >= tailAt:
			p[i] = s.tail[o-tailAt]
		default:
			// Fill the zero run in one go.
			end := min(int64(len(p)), tailAt-s.off)
			clear(p[i:end])
			s.off += end
			return int(end), nil
		}
	}
	s.off += int64(len(p))
	return len(p), nil
}

const bigSize = 4<<30 + 1000003

// featureItems returns entries covering the writer's features, in an
// order that adds children before parents and a hardlink before its target.
func featureItems(bs int, big bool) []item {
	xa := map[string][]byte{"user.foo": []byte("bar"), "trusted.overlay.opaque": []byte("y"), "user.empty": {}}
	items := []item{
		{e: Entry{Path: "deep/er/est/file", Type: Reg, Mode: 0o644, ModTime: 1700000000}, data: []byte("deep\n")},
		{e: Entry{Path: "deep/er", Type: Dir, Mode: 0o750, UID: 1234, GID: 1234, ModTime: 1600000000}},
		{e: Entry{Path: "", Type: Dir, Mode: 0o755, ModTime: 1650000000}},
		{e: Entry{Path: "empty-dir", Type: Dir, Mode: 0o755}},
		{e: Entry{Path: "closed", Type: Dir, Mode: 0}},
		{e: Entry{Path: "closed/inside", Type: Reg, Mode: 0o600}, data: []byte("x")},
		{e: Entry{Path: "tmp", Type: Dir, Mode: 0o1777}},
		{e: Entry{Path: "bin/su", Type: Reg, Mode: 0o4755}, data: textBytes(1, 3000)},
		{e: Entry{Path: "a-first/su-link", Type: Hardlink, Linkname: "bin/su", Xattrs: map[string][]byte{"user.ignored": nil}}},
		{e: Entry{Path: "bin/wall", Type: Reg, Mode: 0o2755, GID: 5}, data: textBytes(2, 100)},
		{e: Entry{Path: "sizes/0", Type: Reg, Mode: 0o644}},
		{e: Entry{Path: "sizes/1", Type: Reg, Mode: 0o644}, data: []byte{0}},
		{e: Entry{Path: "sizes/bs-1", Type: Reg, Mode: 0o644}, data: randBytes(3, bs-1)},
		{e: Entry{Path: "sizes/bs", Type: Reg, Mode: 0o644}, data: textBytes(4, bs)},
		{e: Entry{Path: "sizes/bs+1", Type: Reg, Mode: 0o644}, data: randBytes(5, bs+1)},
		{e: Entry{Path: "sizes/several", Type: Reg, Mode: 0o644}, data: textBytes(6, 5*bs+17)},
		{e: Entry{Path: "sizes/zeros", Type: Reg, Mode: 0o644}, data: make([]byte, 3*bs+5)},
		{e: Entry{Path: "sizes/compressible", Type: Reg, Mode: 0o644}, data: textBytes(7, 3<<20)},
		{e: Entry{Path: "sizes/random", Type: Reg, Mode: 0o644}, data: randBytes(8, 3<<20+99)},
		{e: Entry{Path: "links/rel", Type: Symlink, Linkname: "../sizes/1", Mode: 0o777}},
		{e: Entry{Path: "links/abs", Type: Symlink, Linkname: "/etc/passwd", Mode: 0o777}},
		{e: Entry{Path: "links/dangling", Type: Symlink, Linkname: "no/such/target", Mode: 0o777}},
		{e: Entry{Path: "links/long", Type: Symlink, Linkname: strings.Repeat("abcdefghi/", 400), Mode: 0o777}},
		{e: Entry{Path: "hl/one", Type: Hardlink, Linkname: "hl/target"}},
		{e: Entry{Path: "hl/target", Type: Reg, Mode: 0o640, UID: 65534, GID: 65534, ModTime: 1234567890}, data: textBytes(9, 5000)},
		{e: Entry{Path: "hl/two", Type: Hardlink, Linkname: "hl/one"}},
		{e: Entry{Path: "dev/null", Type: Char, Mode: 0o666, Rdev: mkdev(1, 3)}},
		{e: Entry{Path: "dev/sda", Type: Block, Mode: 0o660, GID: 6, Rdev: mkdev(8, 0)}},
		{e: Entry{Path: "dev/big", Type: Char, Mode: 0o600, Rdev: mkdev(300, 70000)}},
		{e: Entry{Path: "dev/fifo", Type: Fifo, Mode: 0o644, UID: 1234}},
		{e: Entry{Path: "dev/fifo-link", Type: Hardlink, Linkname: "dev/fifo"}},
		{e: Entry{Path: "dev/sock", Type: Socket, Mode: 0o755}},
		{e: Entry{Path: "dev/null-link", Type: Hardlink, Linkname: "dev/null"}},
		{e: Entry{Path: "links/rel-link", Type: Hardlink, Linkname: "links/rel"}},
		{e: Entry{Path: "xattr/file", Type: Reg, Mode: 0o644, Xattrs: xa}, data: []byte("with xattrs\n")},
		{e: Entry{Path: "xattr/same", Type: Reg, Mode: 0o644, Xattrs: xa}, data: []byte("same set\n")},
		{e: Entry{Path: "xattr", Type: Dir, Mode: 0o755, Xattrs: map[string][]byte{"user.dir": randBytes(10, 3000)}}},
		{e: Entry{Path: "names/with space", Type: Reg, Mode: 0o644}, data: []byte("space")},
		{e: Entry{Path: "names/ünïcødé ✓", Type: Reg, Mode: 0o644}, data: []byte("utf8")},
		{e: Entry{Path: "names/" + strings.Repeat("n", 255), Type: Reg, Mode: 0o644}, data: []byte("long")},
	}
	for i := range 10000 {
		p := fmt.Sprintf("big/entry-%05d-%s", i, strings.Repeat("x", i%40))
		it := item{e: Entry{Path: p, Type: Reg, Mode: 0o644, UID: uint32(i % 3), ModTime: int64(i)}}
		if i%7 == 0 {
			it.data = []byte(p)
		}
		if i%11 == 0 {
			it.e = Entry{Path: p, Type: Symlink, Linkname: "../sizes/" + fmt.Sprint(i), Mode: 0o777}
		}
		items = append(items, it)
	}
	if big {
		items = append(items, bigItem())
	}
	return items
}

func bigItem() item {
	head, tail := randBytes(11, 256<<10), randBytes(12, 300<<10)
	return item{
		e: Entry{Path: "sizes/sparse-4g", Type: Reg, Mode: 0o644, Size: bigSize},
		r: func() io.Reader { return &sparseReader{head: head, tail: tail, size: bigSize} },
	}
}

func mkdev(major, minor uint64) uint64 {
	return (major&0xfff)<<8 | (major&^0xfff)<<32 | minor&0xff | (minor&^0xff)<<12
}

// expected computes what the image built from items must contain.
func expected(items []item) map[string]*want {
	m := map[string]*want{"": {typ: Dir, mode: 0o755}}
	var links []Entry
	for _, it := range items {
		e := it.e
		p := e.Path
		if p == "" {
			m[""].mode, m[""].mtime = e.Mode, e.ModTime
			continue
		}
		for d := path.Dir(p); p != "" && d != "."; d = path.Dir(d) {
			if m[d] == nil {
				m[d] = &want{typ: Dir, mode: 0o755}
			}
		}
		if e.Type == Hardlink {
			links = append(links, e)
			continue
		}
		w := &want{typ: e.Type, mode: e.Mode, uid: e.UID, gid: e.GID, mtime: e.ModTime,
			link: e.Linkname, rdev: e.Rdev, nlink: 1, xattrs: e.Xattrs}
		if e.Type == Dir {
			w.nlink = 0
		}
		switch e.Type {
		case Reg:
			w.size = int64(len(it.data))
			sum := sha256.Sum256(it.data)
			w.sum = hex.EncodeToString(sum[:])
			if it.r != nil {
				w.size, w.sum = e.Size, "" // the caller fills in the sum
			}
			if sr, ok := it.reader().(*sparseReader); ok {
				w.head, w.tail = sr.head, sr.tail
			}
		case Symlink:
			w.size = int64(len(e.Linkname))
		}
		m[p] = w
	}
	for _, l := range links {
		target := l.Linkname
		for m[target] == nil {
			for _, o := range links {
				if o.Path == target {
					target = o.Linkname
				}
			}
		}
		m[l.Path] = m[target]
		m[target].nlink++
	}
	for p, w := range m {
		if w.typ == Dir {
			w.nlink += 2
			if parent := path.Dir(p); p != "" && parent == "." {
				m[""].nlink++
			} else if p != "" {
				m[parent].nlink++
			}
		}
	}
	return m
}
