// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"fmt"
	"path"
	"strings"
)

// node is one directory entry kept in memory until Close. It is kept small:
// a 121k-entry image holds one node per entry plus the path map.
type node struct {
	name   string // last path element; shares memory with the map key
	parent *node
	kids   []*node // Dir only
	file   *fileData
	link   string // Symlink target or Hardlink target path

	typ      Type
	implicit bool // a Dir created for a child, attributes not yet given
	mode     uint16
	uid, gid uint32
	mtime    uint32
	rdev     uint32
	xattr    uint32 // index into the xattr sets, or noXattr

	// Set by Close.
	owner *node  // for Hardlink: the node whose inode it shares
	ino   uint32 // inode number, 1..N, for inode owners
	nlink uint32
	ref   uint64 // inode reference: block offset << 16 | offset in block
}

// fileData is the data layout of a regular file.
type fileData struct {
	size    uint64
	start   uint64   // offset of the first data block; set by the block writer
	blocks  []uint32 // size word per block; set by the block writer
	frag    uint32   // fragment index or noFragment
	fragOff uint32   // offset of the tail in the uncompressed fragment block
}

// tree is the set of entries added so far, addressed by clean path.
type tree struct {
	root  *node
	nodes map[string]*node
	links []*node // Hardlink nodes, resolved at Close
}

func newTree() *tree {
	root := &node{typ: Dir, implicit: true, mode: 0o755, xattr: noXattr}
	return &tree{root: root, nodes: map[string]*node{"": root}}
}

// insert places e at p, creating missing parents. It returns the node to
// fill, which is an existing implicit dir when e is a Dir given late.
func (t *tree) insert(p string, typ Type) (*node, error) {
	if n, ok := t.nodes[p]; ok {
		if n.typ == Dir && n.implicit && typ == Dir {
			n.implicit = false
			return n, nil
		}
		if n.typ == Dir && n.implicit {
			return nil, fmt.Errorf("%s: is a parent of earlier entries, cannot be %s", p, typ)
		}
		return nil, fmt.Errorf("%s: duplicate path", p)
	}
	parent, err := t.dir(parentOf(p))
	if err != nil {
		return nil, err
	}
	n := &node{name: p[strings.LastIndexByte(p, '/')+1:], parent: parent, typ: typ, xattr: noXattr}
	parent.kids = append(parent.kids, n)
	t.nodes[p] = n
	if typ == Hardlink {
		t.links = append(t.links, n)
	}
	return n, nil
}

// dir returns the directory at p, creating it and its parents implicitly.
func (t *tree) dir(p string) (*node, error) {
	if n, ok := t.nodes[p]; ok {
		if n.typ != Dir {
			return nil, fmt.Errorf("parent %s is a %s, not a directory", p, n.typ)
		}
		return n, nil
	}
	parent, err := t.dir(parentOf(p))
	if err != nil {
		return nil, err
	}
	n := &node{name: path.Base(p), parent: parent, typ: Dir, implicit: true, mode: 0o755, xattr: noXattr}
	parent.kids = append(parent.kids, n)
	t.nodes[p] = n
	return n, nil
}

// parentOf returns the clean parent path of a non-root path.
func parentOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ""
	}
	return p[:i]
}

// resolveLinks points every Hardlink at the inode owner it names and counts
// the owners' links.
func (t *tree) resolveLinks() error {
	for _, l := range t.links {
		target := l
		for hops := 0; target.typ == Hardlink; hops++ {
			next, ok := t.nodes[target.link]
			if !ok {
				return fmt.Errorf("hardlink %s: target %s not added", l.path(), target.link)
			}
			if hops > len(t.links) {
				return fmt.Errorf("hardlink %s: cycle through %s", l.path(), target.link)
			}
			target = next
		}
		if target.typ == Dir {
			return fmt.Errorf("hardlink %s: target %s is a directory", l.path(), l.link)
		}
		l.owner = target
		target.nlink++
	}
	return nil
}

// path rebuilds the slash-separated path of n for error messages.
func (n *node) path() string {
	if n.parent == nil {
		return "/"
	}
	if n.parent.parent == nil {
		return n.name
	}
	return n.parent.path() + "/" + n.name
}
