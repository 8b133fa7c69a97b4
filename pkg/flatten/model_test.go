// SPDX-License-Identifier: Apache-2.0

package flatten

import (
	"archive/tar"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"
)

// The naive model: apply layers bottom-up to a map of path -> inode, as an
// extractor applies them to a directory (umoci unpack, docker's
// UnpackLayer), then drop what Options drop.

type inode struct {
	typ   Type
	mode  uint32
	uid   uint32
	mtime int64
	body  string // Reg
	link  string // Symlink target
	rdev  uint64
}

type model map[string]*inode

func newModel() model { return model{"": {typ: Dir, mode: 0o755}} }

// removeTree deletes p and everything below it.
func (m model) removeTree(p string) {
	for q := range m {
		if q == p || under(q, p) {
			delete(m, q)
		}
	}
	if p == "" {
		m[""] = &inode{typ: Dir, mode: 0o755}
	}
}

// put places ino at p: missing or non-directory parents become 0755
// directories, and whatever was at p goes unless both are directories.
func (m model) put(p string, ino *inode) {
	comps := strings.Split(p, "/")
	for i := 1; i < len(comps); i++ {
		a := strings.Join(comps[:i], "/")
		if cur := m[a]; cur == nil || cur.typ != Dir {
			m.removeTree(a)
			m[a] = &inode{typ: Dir, mode: 0o755}
		}
	}
	if cur := m[p]; cur != nil && (cur.typ != Dir || ino.typ != Dir) {
		m.removeTree(p)
	}
	m[p] = ino
}

// apply applies one layer. OCI: whiteouts apply only to the layers below, so
// they go first; then the entries in tar order.
func (m model) apply(ops []gop) error {
	for _, o := range ops {
		switch o.kind {
		case opWhiteout:
			m.removeTree(o.path)
		case opOpaque:
			for q := range m {
				if under(q, o.path) {
					delete(m, q)
				}
			}
		}
	}
	for _, o := range ops {
		switch o.kind {
		case opWhiteout, opOpaque:
		case opLink:
			ino := m[o.target]
			if ino == nil || ino.typ == Dir {
				return fmt.Errorf("bad link %s -> %s", o.path, o.target)
			}
			m.put(o.path, ino)
		default:
			ino := o.ino
			m.put(o.path, &ino)
		}
	}
	return nil
}

// render describes the model's tree as compareTrees expects, minus what opts
// drop.
func (m model) render(opts Options) map[string]string {
	keep := map[string]*inode{}
	for p, ino := range m {
		if opts.ExcludeDevDir && strings.HasPrefix(p, "dev/") || opts.SkipDevices && ino.typ == Char {
			continue
		}
		keep[p] = ino
	}
	groups := map[*inode]string{}
	count := map[*inode]int{}
	for p, ino := range keep {
		if g, ok := groups[ino]; !ok || p < g {
			groups[ino] = p
		}
		count[ino]++
	}
	out := map[string]string{}
	for p, ino := range keep {
		d := describeInode(*ino, opts.AllRoot)
		if ino.typ != Dir && count[ino] > 1 {
			d += " group=" + groups[ino]
		}
		out[p] = d
	}
	return out
}

func describeInode(ino inode, allRoot bool) string {
	uid := ino.uid
	if allRoot {
		uid = 0
	}
	return fmt.Sprintf("%v %04o uid=%d t=%d body=%q link=%q rdev=%d", ino.typ, ino.mode, uid, ino.mtime, ino.body, ino.link, ino.rdev)
}

// render describes what the sink got the same way.
func (s *recSink) render() map[string]string {
	inodeOf := func(p string) string {
		if e := s.got[p]; e.Type == Hardlink {
			return e.Linkname
		}
		return p
	}
	groups := map[string]string{}
	count := map[string]int{}
	for p := range s.got {
		i := inodeOf(p)
		if g, ok := groups[i]; !ok || p < g {
			groups[i] = p
		}
		count[i]++
	}
	out := map[string]string{}
	for p := range s.got {
		i := inodeOf(p)
		e := s.got[i]
		d := describeInode(inode{typ: e.Type, mode: e.Mode, uid: e.UID, mtime: e.ModTime, body: s.body[i], link: e.Linkname, rdev: e.Rdev}, false)
		if e.Type != Dir && count[i] > 1 {
			d += " group=" + groups[i]
		}
		out[p] = d
	}
	return out
}

func diffTrees(got, want map[string]string) string {
	var paths []string
	for p := range want {
		paths = append(paths, p)
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	var b strings.Builder
	for _, p := range paths {
		if got[p] != want[p] {
			fmt.Fprintf(&b, "/%s:\n  got  %s\n  want %s\n", p, got[p], want[p])
		}
	}
	return b.String()
}

// TestAgainstModel flattens random layer stacks and compares with the model.
func TestAgainstModel(t *testing.T) {
	seeds := 3000
	if testing.Short() {
		seeds = 500
	}
	for seed := range seeds {
		g := newGen(uint64(seed))
		layers, opts := g.stack()
		want := g.m.render(opts)
		var ents [][]ent
		for i := len(layers) - 1; i >= 0; i-- {
			ents = append(ents, layers[i].ents())
		}
		s, st, err := flatten(t, ents, opts)
		if err != nil {
			t.Fatalf("seed %d: %v\n%s", seed, err, dumpLayers(layers))
		}
		if st.Entries != int64(len(s.got)) {
			t.Fatalf("seed %d: Stats.Entries %d, sink got %d", seed, st.Entries, len(s.got))
		}
		if d := diffTrees(s.render(), want); d != "" {
			t.Fatalf("seed %d (%+v):\n%s\nlayers, bottom first:\n%s", seed, opts, d, dumpLayers(layers))
		}
	}
}

// The generator: random layers over a small set of paths, well-formed as a
// layer writer would make them, built bottom-up next to the model.

type opKind int

const (
	opFile opKind = iota
	opDir
	opSymlink
	opFifo
	opChar
	opLink
	opWhiteout
	opOpaque
)

type gop struct {
	kind   opKind
	path   string
	target string // opLink
	ino    inode
}

type glayer []gop

func (l glayer) ents() []ent {
	var out []ent
	for _, o := range l {
		var e ent
		switch o.kind {
		case opWhiteout:
			e = wh(o.path)
		case opOpaque:
			e = opq(o.path)
		case opLink:
			e = hard(o.path, o.target)
		case opDir:
			e = ent{h: hdr(o.path+"/", tar.TypeDir, int64(o.ino.mode))}
		case opFile:
			e = fileM(o.path, o.ino.body, int64(o.ino.mode))
		case opSymlink:
			e = sym(o.path, o.ino.link)
		case opFifo:
			e = fifo(o.path)
		case opChar:
			e = char(o.path, int64(o.ino.rdev>>8), int64(o.ino.rdev&0xff))
		}
		if o.kind != opWhiteout && o.kind != opOpaque && o.kind != opLink {
			e.h.Mode, e.h.Uid, e.h.ModTime = int64(o.ino.mode), int(o.ino.uid), time.Unix(o.ino.mtime, 0)
		}
		out = append(out, e)
	}
	return out
}

func dumpLayers(layers []glayer) string {
	var b strings.Builder
	for i, l := range layers {
		fmt.Fprintf(&b, "layer %d:\n", i)
		for _, o := range l {
			fmt.Fprintf(&b, "  %v %q %q %+v\n", o.kind, o.path, o.target, o.ino)
		}
	}
	return b.String()
}

type gen struct {
	r *rand.Rand
	m model
}

func newGen(seed uint64) *gen { return &gen{r: rand.New(rand.NewPCG(seed, 1)), m: newModel()} }

func (g *gen) stack() ([]glayer, Options) {
	opts := Options{AllRoot: g.r.IntN(8) == 0, SkipDevices: g.r.IntN(2) == 0, ExcludeDevDir: g.r.IntN(2) == 0}
	n := 1 + g.r.IntN(5)
	layers := make([]glayer, n)
	for i := range layers {
		layers[i] = g.layer()
		if err := g.m.apply(layers[i]); err != nil {
			panic(fmt.Sprintf("generator made a bad layer: %v\n%s", err, dumpLayers(layers[:i+1])))
		}
	}
	return layers, opts
}

func (g *gen) path() string {
	first := []string{"a", "b", "c", "dev"}
	comps := []string{first[g.r.IntN(len(first))]}
	for len(comps) < 3 && g.r.IntN(3) > 0 {
		comps = append(comps, []string{"a", "b", "c"}[g.r.IntN(3)])
	}
	return strings.Join(comps, "/")
}

func (g *gen) pick(xs ...uint32) uint32 { return xs[g.r.IntN(len(xs))] }

func (g *gen) ino(k opKind) inode {
	ino := inode{uid: g.pick(0, 1000), mtime: int64(g.r.IntN(3))}
	switch k {
	case opDir:
		ino.typ, ino.mode = Dir, g.pick(0o755, 0o700, 0o1777)
	case opFile:
		ino.typ, ino.mode, ino.body = Reg, g.pick(0o644, 0o600, 0o4755), fmt.Sprintf("c%d", g.r.IntN(4))
	case opSymlink:
		ino.typ, ino.mode, ino.link = Symlink, 0o777, fmt.Sprintf("t%d", g.r.IntN(3))
	case opFifo:
		ino.typ, ino.mode = Fifo, 0o644
	case opChar:
		ino.typ, ino.mode, ino.rdev = Char, 0o666, uint64(g.r.IntN(3))
	}
	return ino
}

// layer makes one layer against the current model state.
func (g *gen) layer() glayer {
	var l glayer
	if g.r.IntN(4) == 0 {
		l = append(l, gop{kind: opDir, path: "", ino: g.ino(opDir)})
	}
	weights := []int{30, 18, 8, 4, 4, 14, 12, 6} // by opKind
	for range g.r.IntN(9) {
		k := opKind(weighted(g.r, weights))
		p := g.path()
		switch {
		case k == opWhiteout:
			l = append(l, gop{kind: k, path: p})
		case k == opOpaque:
			if g.r.IntN(8) == 0 {
				p = ""
			}
			l = append(l, gop{kind: k, path: p})
		case !l.canPut(p, k == opDir):
		case k == opLink:
			if t, ok := g.linkTarget(l, p); ok {
				l = append(l, gop{kind: k, path: p, target: t})
			}
		default:
			l = append(l, gop{kind: k, path: p, ino: g.ino(k)})
		}
	}
	return g.dropBadLinks(l)
}

func weighted(r *rand.Rand, w []int) int {
	sum := 0
	for _, x := range w {
		sum += x
	}
	n := r.IntN(sum)
	for i, x := range w {
		if n < x {
			return i
		}
		n -= x
	}
	return len(w) - 1
}

func isEntry(k opKind) bool { return k != opWhiteout && k != opOpaque }

// canPut reports whether an entry at p keeps the layer well-formed: one entry
// per path, nothing under a non-directory of the same layer.
func (l glayer) canPut(p string, dir bool) bool {
	for _, o := range l {
		if !isEntry(o.kind) {
			continue
		}
		if o.path == p || o.kind != opDir && under(p, o.path) || !dir && under(o.path, p) {
			return false
		}
	}
	return true
}

// linkTarget picks a regular file (or hardlink) of this layer, or a regular
// file of the layers below.
func (g *gen) linkTarget(l glayer, p string) (string, bool) {
	var cands []string
	for _, o := range l {
		if (o.kind == opFile || o.kind == opLink) && o.path != p {
			cands = append(cands, o.path)
		}
	}
	for q, ino := range g.m {
		if ino.typ == Reg && q != p {
			cands = append(cands, q)
		}
	}
	if len(cands) == 0 {
		return "", false
	}
	sort.Strings(cands)
	return cands[g.r.IntN(len(cands))], true
}

// dropBadLinks removes the links to a lower-layer file that the layer also
// touches (replaces, deletes, or puts something under): where the link sits
// in the tar relative to that change would matter, which no real layer
// writer leaves to chance. Then links to dropped links go too.
func (g *gen) dropBadLinks(l glayer) glayer {
	for {
		out, dropped := glayer{}, false
		for i, o := range l {
			if o.kind == opLink && !g.validLink(l, i) {
				dropped = true
				continue
			}
			out = append(out, o)
		}
		if !dropped {
			return out
		}
		l = out
	}
}

func (g *gen) validLink(l glayer, i int) bool {
	t := l[i].target
	for j, o := range l {
		if j < i && isEntry(o.kind) && o.path == t {
			return o.kind == opFile || o.kind == opLink // same layer, earlier
		}
	}
	if ino := g.m[t]; ino == nil || ino.typ != Reg {
		return false
	}
	for j, o := range l {
		if j == i {
			continue
		}
		switch {
		case o.kind == opWhiteout && (o.path == t || under(t, o.path)),
			o.kind == opOpaque && under(t, o.path),
			isEntry(o.kind) && (o.path == t || under(o.path, t) || o.kind != opDir && under(t, o.path)):
			return false
		}
	}
	return true
}
