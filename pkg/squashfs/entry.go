// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Type is the file type of an Entry.
type Type int

// File types. The zero value is invalid so that a forgotten Type is caught.
const (
	Dir Type = iota + 1
	Reg
	Symlink
	Hardlink
	Fifo
	Char
	Block
	Socket
)

// String returns a short name of the type.
func (t Type) String() string {
	names := [...]string{"", "dir", "reg", "symlink", "hardlink", "fifo", "char", "block", "socket"}
	if t > 0 && int(t) < len(names) {
		return names[t]
	}
	return fmt.Sprintf("Type(%d)", int(t))
}

// Entry describes one file system object to add to the image.
type Entry struct {
	// Path is slash-separated, relative to the image root and clean;
	// "" or "." is the root directory.
	Path string
	Type Type
	// Mode holds the permission bits including setuid, setgid and sticky
	// (07777); other bits are ignored.
	Mode     uint32
	UID, GID uint32
	// ModTime is in unix seconds; squashfs stores an unsigned 32-bit value,
	// so times before 1970 become 0 and after 2106 become 2^32-1.
	ModTime int64
	// Size is, for Reg, the number of bytes the content reader yields.
	Size int64
	// Linkname is the target of a Symlink, or for a Hardlink the path of
	// another entry (not a Dir) added before or after this one. A Hardlink
	// shares the inode of its target: its own Mode, owner, times and
	// xattrs are ignored.
	Linkname string
	// Rdev is the device number of a Char or Block entry, in unix.Mkdev
	// form. squashfs limits majors to 12 and minors to 20 bits.
	Rdev uint64
	// Xattrs are extended attributes; names must start with "user.",
	// "trusted." or "security.", the namespaces the kernel squashfs
	// supports.
	Xattrs map[string][]byte
}

// maxSymlink is the longest symlink target Linux accepts (PATH_MAX - 1).
const maxSymlink = 4095

var errBadPath = errors.New("path must be clean, relative and without \"..\"")

// cleanPath validates p and returns it with the root spelled "".
func cleanPath(p string) (string, error) {
	if p == "" || p == "." {
		return "", nil
	}
	if strings.HasPrefix(p, "/") || path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../") {
		return "", errBadPath
	}
	if strings.IndexByte(p, 0) >= 0 {
		return "", errors.New("path contains a NUL byte")
	}
	for name := range strings.SplitSeq(p, "/") {
		if len(name) > maxNameLen {
			return "", fmt.Errorf("name %.20q... longer than %d bytes", name, maxNameLen)
		}
	}
	return p, nil
}

// check validates the fields of e that depend on its type.
func (e *Entry) check() error {
	switch e.Type {
	case Dir, Fifo, Socket, Char, Block:
	case Reg:
		if e.Size < 0 {
			return fmt.Errorf("negative size %d", e.Size)
		}
	case Symlink:
		if e.Linkname == "" || len(e.Linkname) > maxSymlink {
			return fmt.Errorf("symlink target length %d not in 1..%d", len(e.Linkname), maxSymlink)
		}
	case Hardlink:
		if _, err := cleanPath(e.Linkname); err != nil || e.Linkname == "" || e.Linkname == "." {
			return fmt.Errorf("hardlink target %q: not a clean relative path of an entry", e.Linkname)
		}
	default:
		return fmt.Errorf("unknown type %d", int(e.Type))
	}
	if e.Type == Char || e.Type == Block {
		if _, err := encodeDev(e.Rdev); err != nil {
			return err
		}
	}
	return nil
}

// encodeDev converts a Linux dev_t to the 32-bit squashfs form, which is
// the kernel's "new" encoding: minor low byte, 12-bit major, minor high bits.
func encodeDev(dev uint64) (uint32, error) {
	major := (dev>>8)&0xfff | uint64(uint32(dev>>32)&^0xfff)
	minor := dev&0xff | uint64(uint32(dev>>12)&^0xff)
	if major > 0xfff || minor > 0xfffff {
		return 0, fmt.Errorf("device %d:%d does not fit squashfs' 12-bit major, 20-bit minor", major, minor)
	}
	return uint32(minor&0xff | major<<8 | (minor&^0xff)<<12), nil
}

// clampTime converts unix seconds to squashfs' unsigned 32-bit time.
func clampTime(t int64) uint32 {
	if t < 0 {
		return 0
	}
	if t > 1<<32-1 {
		return 1<<32 - 1
	}
	return uint32(t)
}
