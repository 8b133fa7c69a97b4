// SPDX-License-Identifier: Apache-2.0

package flatten

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
)

// Type is the kind of a merged filesystem object.
type Type int

// The object types an Entry can have. The zero Type is invalid so that a
// forgotten field never reads as a directory.
const (
	Dir Type = iota + 1
	Reg
	Symlink
	Hardlink // another name of an inode already added: see Entry.Linkname
	Fifo
	Char
	Block
	Socket // never produced from tar (tar cannot store sockets); here for sinks
)

var typeNames = [...]string{"invalid", "dir", "reg", "symlink", "hardlink", "fifo", "char", "block", "socket"}

func (t Type) String() string {
	if t < 0 || int(t) >= len(typeNames) {
		return "invalid"
	}
	return typeNames[t]
}

// Entry is one object of the merged image, as the sink receives it.
type Entry struct {
	Path     string // slash-separated, relative to the image root, cleaned, never ".."; "" is the root
	Type     Type
	Mode     uint32 // permission bits including setuid, setgid and sticky (07777)
	UID, GID uint32
	ModTime  int64  // unix seconds
	Size     int64  // Reg: the number of bytes the content reader yields
	Linkname string // Symlink: the target as stored in the tar; Hardlink: the Path of an entry already added
	Rdev     uint64 // Char and Block: the device number (unix.Mkdev)
	Xattrs   map[string][]byte
}

// A Hardlink entry sets only Path, Type and Linkname: the inode, with all its
// attributes, is the one of the Linkname entry, which is always a non-Hardlink
// entry that was added before.

// Sink receives the merged image. content is non-nil only for Reg entries, and
// Add must read it to the end (Flatten fails otherwise: a short read would
// silently truncate the file in the image).
//
// Entries come in no parent-before-child order: a directory whose attributes
// come from a lower layer is added after the children the upper layers hold,
// and directories that no layer describes are added last, as 0755 root:root.
type Sink interface {
	Add(e Entry, content io.Reader) error
}

// LayerOpener opens one layer as an uncompressed tar stream. Flatten may call
// it a second time for the same layer (see Stats.Rereads), so it must return
// the same bytes every time.
type LayerOpener func() (io.ReadCloser, error)

// Options tune Flatten. The zero value keeps owners and devices, keeps /dev
// and keeps only user.* extended attributes.
type Options struct {
	// AllRoot makes every entry owned by uid and gid 0, as enroot's
	// mksquashfs -all-root does. Default false: owners as in the tar.
	AllRoot bool
	// SkipDevices drops character and block devices anywhere (enroot's
	// unprivileged import cannot create them). They still hide what lower
	// layers hold at their path. Default false.
	SkipDevices bool
	// ExcludeDevDir drops everything below /dev, keeping /dev itself (enroot
	// extracts layers with --exclude dev/*). Other names of a hardlinked file
	// below /dev keep its content. Default false.
	ExcludeDevDir bool
	// XattrFilter selects the extended attributes to keep by name. Default:
	// only the "user." namespace, the one an unprivileged squashfuse serves.
	XattrFilter func(name string) bool
	// Logger receives warnings about malformed but tolerated layers. Default:
	// discard.
	Logger *slog.Logger
	// MaxBytes bounds the content of all regular files added, sparse files
	// counting their apparent size: a sink's cost (a squashfs block list, an
	// unpacked file's extent) follows it even where the layer stores little.
	// Default: $GPYXIS_MAX_IMAGE_SIZE (bytes, or with a K, M, G or T suffix),
	// else DefaultMaxBytes.
	MaxBytes int64
	// MaxEntries bounds the entries added (files, directories, links, each
	// an inode or a name for the sink to make). Default 0: no bound.
	MaxEntries int64

	maxBytesHint bool // MaxBytes is the default: the error names MaxBytesEnv
}

// DefaultMaxBytes is the default Options.MaxBytes: 4 TiB.
const DefaultMaxBytes = 4 << 40

// MaxBytesEnv names the environment variable that sets the default
// Options.MaxBytes.
const MaxBytesEnv = "GPYXIS_MAX_IMAGE_SIZE"

// ErrTooLarge is wrapped by the error of an image past Options.MaxBytes.
var ErrTooLarge = errors.New("image too large")

func (o Options) fill() Options {
	o.maxBytesHint = o.MaxBytes <= 0
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
		if n, err := parseSize(os.Getenv(MaxBytesEnv)); err == nil && n > 0 {
			o.MaxBytes = n
		}
	}
	if o.XattrFilter == nil {
		o.XattrFilter = func(name string) bool { return strings.HasPrefix(name, "user.") }
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Stats counts what Flatten did.
type Stats struct {
	Entries   int64 // entries added to the sink, synthesized directories included
	Files     int64 // Reg entries added (with content)
	Bytes     int64 // content bytes added
	Hardlinks int64 // Hardlink entries added
	Whiteouts int64 // whiteout and opaque markers read
	Skipped   int64 // tar entries not added: shadowed, hidden, devices, /dev/*, duplicates
	Rereads   int64 // extra passes over a layer to recover a hardlink target's content
}
