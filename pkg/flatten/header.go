// SPDX-License-Identifier: Apache-2.0

package flatten

import (
	"archive/tar"
	"errors"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrUnsafePath is returned for an entry or hardlink name with a ".."
// component: such a name can only serve to write outside the image root.
var ErrUnsafePath = errors.New("path has a \"..\" component")

// cleanPath turns a tar name into an Entry path: no leading "./" or "/", no
// trailing "/", "" for the root. Any ".." component is refused rather than
// resolved, so "a/../b" fails too: no sane layer writer produces one.
func cleanPath(name string) (string, error) {
	for rest := name; rest != ""; {
		var comp string
		comp, rest, _ = strings.Cut(rest, "/")
		if comp == ".." {
			return "", ErrUnsafePath
		}
	}
	return strings.TrimPrefix(path.Clean("/"+name), "/"), nil
}

// parent returns the directory holding p; ok is false for the root.
func parent(p string) (dir string, ok bool) {
	if p == "" {
		return "", false
	}
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", true
	}
	return p[:i], true
}

// under reports whether p lies strictly below dir.
func under(p, dir string) bool {
	if dir == "" {
		return p != ""
	}
	return len(p) > len(dir) && p[len(dir)] == '/' && strings.HasPrefix(p, dir)
}

// entryType maps a tar type flag; archive/tar has already folded long names,
// PAX records and the old '\x00' regular type.
func entryType(flag byte) (Type, error) {
	switch flag {
	case tar.TypeReg, tar.TypeGNUSparse, tar.TypeCont:
		// 'S' is an old GNU sparse file that archive/tar expands; '7'
		// (contiguous) is a regular file to every extractor.
		return Reg, nil
	case tar.TypeDir:
		return Dir, nil
	case tar.TypeSymlink:
		return Symlink, nil
	case tar.TypeLink:
		return Hardlink, nil
	case tar.TypeChar:
		return Char, nil
	case tar.TypeBlock:
		return Block, nil
	case tar.TypeFifo:
		return Fifo, nil
	}
	return 0, fmt.Errorf("unsupported tar entry type %q", flag)
}

// toEntry builds the Entry for a non-hardlink header at path p.
func (f *flattener) toEntry(p string, t Type, h *tar.Header) Entry {
	e := Entry{
		Path:    p,
		Type:    t,
		Mode:    uint32(h.Mode) & 07777,
		UID:     uint32(h.Uid),
		GID:     uint32(h.Gid),
		ModTime: h.ModTime.Unix(),
		Xattrs:  f.xattrs(h),
	}
	switch t {
	case Reg:
		e.Size = h.Size
	case Symlink:
		e.Linkname = h.Linkname
	case Char, Block:
		e.Rdev = unix.Mkdev(uint32(h.Devmajor), uint32(h.Devminor))
	}
	if f.opts.AllRoot {
		e.UID, e.GID = 0, 0
	}
	return e
}

// xattrPrefix marks extended attributes in PAX records (GNU tar and
// archive/tar both write it). archive/tar also copies these records into the
// deprecated Header.Xattrs, so reading PAXRecords alone sees them all.
const xattrPrefix = "SCHILY.xattr."

func (f *flattener) xattrs(h *tar.Header) map[string][]byte {
	var m map[string][]byte
	for k, v := range h.PAXRecords {
		name, ok := strings.CutPrefix(k, xattrPrefix)
		if !ok || !f.opts.XattrFilter(name) {
			continue
		}
		if m == nil {
			m = make(map[string][]byte)
		}
		m[name] = []byte(v)
	}
	return m
}

const (
	whPrefix = ".wh."         // OCI whiteout: .wh.NAME deletes NAME from lower layers
	whMeta   = ".wh..wh."     // aufs metadata; only the opaque marker is OCI
	whOpaque = ".wh..wh..opq" // OCI opaque marker: hides the lower layers' children of its directory
)

// whiteoutKind classifies the base name of p. For a plain whiteout it returns
// the path deleted. Other aufs metadata names (.wh..wh.plnk, .wh..wh.aufs) are
// an error, as in enroot's aufs2ovlfs: they only come from aufs-era docker
// exports, whose hardlink bookkeeping we could not honour anyway.
func whiteoutKind(p string) (isWhiteout, opaque bool, victim string, err error) {
	dir, _ := parent(p)
	base := p[strings.LastIndexByte(p, '/')+1:]
	if !strings.HasPrefix(base, whPrefix) {
		if strings.HasPrefix(p, whMeta) || strings.Contains(p, "/"+whMeta) {
			return false, false, "", errors.New("entry inside aufs metadata")
		}
		return false, false, "", nil
	}
	switch name := strings.TrimPrefix(base, whPrefix); {
	case base == whOpaque:
		return true, true, dir, nil
	case strings.HasPrefix(base, whMeta):
		return true, false, "", errors.New("unsupported aufs metadata entry")
	case name == "" || name == "." || name == "..":
		return true, false, "", errors.New("whiteout names no file")
	default:
		return true, false, path.Join(dir, name), nil
	}
}
