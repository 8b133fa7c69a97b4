// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"fmt"
	"slices"
	"strings"
)

// xattrTable collects the distinct xattr sets of the image. A set is kept
// in its on-disk key/value encoding, which also serves as the dedup key.
type xattrTable struct {
	index map[string]uint32
	sets  []xattrSet
}

type xattrSet struct {
	kv    string
	count uint32
}

// encodeXattrs returns the on-disk form of m: per name, sorted, a type
// code, the name without its namespace prefix, and the value inline.
func encodeXattrs(m map[string][]byte) (string, error) {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	var b []byte
	for _, k := range names {
		code, suffix, ok := splitXattr(k)
		if !ok {
			return "", fmt.Errorf("xattr %q: namespace not user., trusted. or security.", k)
		}
		if len(suffix) > 0xffff || len(m[k]) > 1<<24 {
			return "", fmt.Errorf("xattr %q: name or value too long", k)
		}
		b = le16(b, code)
		b = le16(b, uint16(len(suffix)))
		b = append(b, suffix...)
		b = le32(b, uint32(len(m[k])))
		b = append(b, m[k]...)
	}
	return string(b), nil
}

func splitXattr(name string) (uint16, string, bool) {
	for _, p := range xattrPrefixes {
		if s, ok := strings.CutPrefix(name, p.prefix); ok && s != "" {
			return p.code, s, true
		}
	}
	return 0, "", false
}

// add registers an encoded set of count names and returns its id.
func (t *xattrTable) add(kv string, count int) uint32 {
	if id, ok := t.index[kv]; ok {
		return id
	}
	if t.index == nil {
		t.index = map[string]uint32{}
	}
	id := uint32(len(t.sets))
	t.index[kv] = id
	t.sets = append(t.sets, xattrSet{kv: kv, count: uint32(count)})
	return id
}

// tables returns the key/value stream, and the id table entries (one per
// set: reference into the key/value stream, count, size in bytes).
func (t *xattrTable) tables(c compressor) (kv []byte, ids []byte) {
	m := newMetaWriter(c)
	for _, s := range t.sets {
		ids = le64(ids, m.ref(m.upos()))
		ids = le32(ids, s.count)
		ids = le32(ids, uint32(len(s.kv)))
		m.write([]byte(s.kv))
	}
	kv, _ = m.finish()
	return kv, ids
}
