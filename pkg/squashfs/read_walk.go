// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Sink receives the entries of an image from Walk, one at a time.
//
// Add gets every entry once, a directory before its contents. content is
// non-nil only for Reg entries: it yields exactly e.Size bytes, is valid
// only until Add returns, and also implements SparseReader. A sink may
// return without reading all of it. For a Hardlink, Linkname is the Path
// of the entry already delivered for the same inode (the first name in
// walk order); its other fields except Path and Type are zero.
type Sink interface {
	Add(e Entry, content io.Reader) error
}

// SparseReader is implemented by the content readers Walk passes to
// Sink.Add. Sparse blocks (all-zero blocks the image does not store) read
// as zeros through Read; a sink that can make holes calls SkipSparse
// before each Read and seeks past the bytes it reports instead of writing
// them. Read never returns data from both a stored and a sparse block in
// one call, so no zero run is split unnoticed.
type SparseReader interface {
	io.Reader
	// SkipSparse advances past the sparse bytes at the current position
	// and returns how many there were (0 when the next byte is stored data
	// or at the end).
	SkipSparse() int64
}

// ReadOptions configures Walk. The zero value is valid.
type ReadOptions struct {
	// Workers is the number of goroutines decompressing data and fragment
	// blocks, default runtime.GOMAXPROCS(0). Blocks are decompressed ahead
	// of the sink, across files, in a bounded window of about 4 blocks
	// per worker.
	Workers int
	// Logger receives debug messages; nil means silent.
	Logger *slog.Logger
}

var errStopped = errors.New("squashfs walk stopped")

// Walk delivers every entry of the image to sink, in depth-first order
// with each directory before its contents and the entries of a directory
// sorted by name; the root comes first with Path "". File content is
// decompressed block by block by opts.Workers goroutines ahead of the
// sink, so memory stays bounded by the read-ahead window whatever the
// file sizes.
//
// Walk returns the first error of the sink (wrapped with the path), of
// reading the image, or ctx's error. A corrupt image yields an error,
// never a panic; entries delivered before it may be incomplete (a content
// reader returns the error too).
func (r *Reader) Walk(ctx context.Context, sink Sink, opts ReadOptions) error {
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	nslots := 4*workers + 4
	w := &walker{
		r:       r,
		ctx:     ctx,
		slots:   make(chan struct{}, nslots),
		jobs:    make(chan *blockJob, nslots),
		items:   make(chan *walkItem, 256),
		stop:    make(chan struct{}),
		nslots:  nslots,
		visited: map[uint64]bool{},
		links:   map[uint64]string{},
	}
	w.bufs.New = func() any { b := make([]byte, r.bs); return &b }
	if err := ctx.Err(); err != nil {
		return err
	}
	defer context.AfterFunc(ctx, w.halt)()
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(w.work)
	}
	var perr error
	pdone := make(chan struct{})
	go func() {
		defer close(pdone)
		perr = w.produce()
		close(w.jobs)
		close(w.items)
	}()
	err := w.consume(sink)
	if err != nil {
		w.halt()
	}
	<-pdone
	wg.Wait()
	if err == nil && perr != nil && !errors.Is(perr, errStopped) {
		err = perr
	}
	if errors.Is(err, errStopped) || (err == nil && ctx.Err() != nil) {
		err = ctx.Err()
	}
	log.Debug("squashfs image read", "entries", w.entries, "files", w.files,
		"bytes", w.bytes, "blocks", w.blocks.Load(), "sparse_bytes", w.sparse,
		"workers", workers, "seconds", time.Since(start).Seconds(), "err", err)
	return err
}

// walker is the state of one Walk. A producer goroutine walks the
// metadata, queues entries for the consumer (the goroutine calling Walk,
// which calls the sink) and data block jobs for the workers. Each block
// job holds one of nslots slots until the consumer has read it, which
// bounds the memory in flight.
type walker struct {
	r      *Reader
	ctx    context.Context
	slots  chan struct{}
	jobs   chan *blockJob
	items  chan *walkItem
	stop   chan struct{}
	once   sync.Once
	nslots int
	bufs   sync.Pool

	// Producer state.
	visited  map[uint64]bool   // directory inode references seen
	links    map[uint64]string // inode reference -> first path, for nlink > 1
	curFrag  *blockJob
	curFragN uint32

	// Statistics.
	entries, files int
	bytes, sparse  int64
	blocks         atomic.Int64
}

// blockJob is one block to decompress, or (zero > 0) a run of sparse bytes.
type blockJob struct {
	off   uint64
	word  uint32 // size word: compressed size, bit 24 = stored raw
	n     int    // expected size of a data block; 0 for a fragment block
	zero  int64
	buf   *[]byte
	data  []byte
	err   error
	done  chan struct{}
	refs  atomic.Int32 // fragment blocks: the producer and the files using it
	owned bool         // holds a slot
}

// walkItem is one entry for the consumer.
type walkItem struct {
	e       Entry
	blocks  chan *blockJob // Reg with data blocks: its jobs in order, closed after the last
	frag    *blockJob      // Reg with a tail in a fragment block
	fragOff uint32
	fragLen uint32
	err     error // set before blocks is closed when the producer failed
	abandon atomic.Bool
}

func (w *walker) halt() { w.once.Do(func() { close(w.stop) }) }

func (w *walker) stopped() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// work decompresses jobs until the producer closes the queue.
func (w *walker) work() {
	scratch := make([]byte, w.r.bs)
	for j := range w.jobs {
		if w.stopped() {
			j.err = errStopped
		} else {
			j.err = w.decode(j, scratch)
			w.blocks.Add(1)
		}
		close(j.done)
	}
}

func (w *walker) decode(j *blockJob, scratch []byte) error {
	r := w.r
	csize := uint64(j.word &^ dataUncompressed)
	what := "data block"
	if j.n == 0 {
		what = "fragment block"
	}
	if csize == 0 || csize > r.bs || j.word&^(dataUncompressed|(dataUncompressed-1)) != 0 {
		return corrupt("%s at %d: bad size word %#x", what, j.off, j.word)
	}
	j.buf = w.bufs.Get().(*[]byte)
	if j.word&dataUncompressed != 0 {
		j.data = (*j.buf)[:csize]
		if err := r.readAt(j.data, j.off); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	} else {
		src := scratch[:csize]
		if err := r.readAt(src, j.off); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		out, err := r.comp.decompress((*j.buf)[:0], src, int(r.bs))
		if err != nil {
			return corrupt("%s at %d: %v", what, j.off, err)
		}
		j.data = out
	}
	if j.n > 0 && len(j.data) != j.n {
		return corrupt("%s at %d holds %d bytes, want %d", what, j.off, len(j.data), j.n)
	}
	return nil
}

// acquire takes a slot for a job.
func (w *walker) acquire() error {
	select {
	case w.slots <- struct{}{}:
		return nil
	case <-w.stop:
		return errStopped
	}
}

// release returns a finished job's buffer and slot.
func (w *walker) release(j *blockJob) {
	if j.buf != nil {
		w.bufs.Put(j.buf)
		j.buf, j.data = nil, nil
	}
	if j.owned {
		j.owned = false
		<-w.slots
	}
}

// unref drops one hold of a fragment job and releases it after the last.
func (w *walker) unref(j *blockJob) {
	if j.refs.Add(-1) == 0 {
		<-j.done // workers finish every queued job
		w.release(j)
	}
}

func (w *walker) submit(j *blockJob) error {
	if err := w.acquire(); err != nil {
		return err
	}
	j.owned = true
	j.done = make(chan struct{})
	select {
	case w.jobs <- j:
		return nil
	case <-w.stop:
		<-w.slots
		return errStopped
	}
}

func (w *walker) send(it *walkItem) error {
	select {
	case w.items <- it:
		return nil
	case <-w.stop:
		return errStopped
	}
}

// produce walks the directory tree from the root.
func (w *walker) produce() error {
	defer func() {
		if w.curFrag != nil {
			w.unref(w.curFrag)
		}
	}()
	ref := w.r.sb.rootRef
	root, err := w.r.readInode(ref)
	if err != nil {
		return fmt.Errorf("root inode: %w", err)
	}
	if root.typ != Dir {
		return corrupt("root inode is a %s", root.typ)
	}
	return w.dir("", ref, root, 0)
}

// maxDepth bounds directory nesting (a path has at most PATH_MAX bytes).
const maxDepth = 2048

func (w *walker) dir(p string, ref uint64, in *inode, depth int) error {
	if w.visited[ref] {
		return corrupt("directory %q: loop in the directory tree", p)
	}
	if depth > maxDepth {
		return corrupt("directory %q nested more than %d deep", p, maxDepth)
	}
	w.visited[ref] = true
	ents, err := w.r.listing(in)
	if err != nil {
		return fmt.Errorf("%q: %w", p, err)
	}
	e, err := w.entry(p, in)
	if err != nil {
		return err
	}
	if err := w.send(&walkItem{e: e}); err != nil {
		return err
	}
	for _, de := range ents {
		cp := de.name
		if p != "" {
			cp = p + "/" + de.name
		}
		ci, err := w.r.readInode(de.ref)
		if err != nil {
			return fmt.Errorf("%q: %w", cp, err)
		}
		if ci.typ == Dir {
			if err := w.dir(cp, de.ref, ci, depth+1); err != nil {
				return err
			}
			continue
		}
		if ci.nlink > 1 {
			if first, ok := w.links[de.ref]; ok {
				if err := w.send(&walkItem{e: Entry{Path: cp, Type: Hardlink, Linkname: first}}); err != nil {
					return err
				}
				continue
			}
			w.links[de.ref] = cp
		}
		e, err := w.entry(cp, ci)
		if err != nil {
			return err
		}
		it := &walkItem{e: e}
		if ci.typ != Reg {
			err = w.send(it)
		} else {
			err = w.file(it, ci)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// entry converts an inode to an Entry.
func (w *walker) entry(p string, in *inode) (Entry, error) {
	e := Entry{Path: p, Type: in.typ, Mode: in.mode, UID: in.uid, GID: in.gid, ModTime: int64(in.mtime)}
	switch in.typ {
	case Reg:
		if in.size > math.MaxInt64 {
			return e, corrupt("%q: size %d", p, in.size)
		}
		e.Size = int64(in.size)
	case Symlink:
		e.Linkname = in.link
	case Char, Block:
		e.Rdev = decodeDev(in.rdev)
	}
	if in.xattr != noXattr {
		x, err := w.r.xattr.get(in.xattr)
		if err != nil {
			return e, fmt.Errorf("%q: %w", p, err)
		}
		e.Xattrs = x
	}
	return e, nil
}

// file queues a regular file and its block jobs.
func (w *walker) file(it *walkItem, in *inode) error {
	r := w.r
	if tail := in.size % r.bs; in.frag != noFragment && tail > 0 {
		fj, err := w.fragJob(in.frag)
		if err != nil {
			return err
		}
		fj.refs.Add(1)
		it.frag, it.fragOff, it.fragLen = fj, in.fragOff, uint32(tail)
	}
	if in.nblocks > 0 {
		it.blocks = make(chan *blockJob, w.nslots)
	}
	if err := w.send(it); err != nil {
		if it.frag != nil {
			w.unref(it.frag)
		}
		return err
	}
	if it.blocks == nil {
		return nil
	}
	err := w.fileBlocks(it, in)
	it.err = err
	close(it.blocks)
	return err
}

func (w *walker) fileBlocks(it *walkItem, in *inode) error {
	r := w.r
	off := in.start
	var zero int64
	put := func(j *blockJob) error {
		select {
		case it.blocks <- j:
			return nil
		case <-w.stop:
			return errStopped
		}
	}
	for i := range in.nblocks {
		if it.abandon.Load() {
			return nil
		}
		word := r.blockWord(in, i)
		n := min(r.bs, in.size-i*r.bs)
		if word == 0 {
			zero += int64(n)
			continue
		}
		if zero > 0 {
			if err := put(&blockJob{zero: zero}); err != nil {
				return err
			}
			zero = 0
		}
		j := &blockJob{off: off, word: word, n: int(n)}
		csize := uint64(word &^ dataUncompressed)
		if off > r.sb.bytesUsed || csize > r.sb.bytesUsed-off {
			return corrupt("%q: data block %d at %d beyond the image end", it.e.Path, i, off)
		}
		off += csize
		if err := w.submit(j); err != nil {
			return err
		}
		if err := put(j); err != nil {
			return err
		}
	}
	if zero > 0 {
		return put(&blockJob{zero: zero})
	}
	return nil
}

// fragJob returns the job decompressing fragment block n. Consecutive
// files usually share one, so the last is kept.
func (w *walker) fragJob(n uint32) (*blockJob, error) {
	if w.curFrag != nil && w.curFragN == n {
		return w.curFrag, nil
	}
	if w.curFrag != nil {
		w.unref(w.curFrag)
		w.curFrag = nil
	}
	fe := w.r.frags[n]
	j := &blockJob{off: fe.start, word: fe.size}
	j.refs.Store(1) // the producer's hold
	if err := w.submit(j); err != nil {
		return nil, err
	}
	w.curFrag, w.curFragN = j, n
	return j, nil
}

// consume hands the queued entries to the sink.
func (w *walker) consume(sink Sink) error {
	for {
		var it *walkItem
		var ok bool
		select {
		case it, ok = <-w.items:
			if !ok {
				return nil
			}
		case <-w.stop:
			return errStopped
		}
		w.entries++
		if it.e.Type != Reg {
			if err := sink.Add(it.e, nil); err != nil {
				return fmt.Errorf("%q: %w", it.e.Path, err)
			}
			continue
		}
		w.files++
		fr := &fileReader{w: w, it: it}
		err := sink.Add(it.e, fr)
		fr.close()
		if err == nil && fr.err != nil && fr.err != io.EOF {
			err = fr.err // a read error the sink did not pass on
		}
		if err != nil {
			return fmt.Errorf("%q: %w", it.e.Path, err)
		}
		w.bytes += fr.read
		w.sparse += fr.skipped
	}
}

// fileReader is the content reader of one regular file.
type fileReader struct {
	w          *walker
	it         *walkItem
	cur        *blockJob // the data block being read
	data       []byte    // its unread bytes
	zero       int64     // unread bytes of the current sparse run
	blocksDone bool
	tailDone   bool
	err        error
	read       int64
	skipped    int64
}

// next moves to the next block; data and zero are empty.
func (f *fileReader) next() error {
	w := f.w
	if f.cur != nil {
		w.release(f.cur)
		f.cur = nil
	}
	if f.it.blocks != nil && !f.blocksDone {
		var j *blockJob
		var ok bool
		select {
		case j, ok = <-f.it.blocks:
		case <-w.stop:
			return errStopped
		}
		if ok {
			if j.zero > 0 {
				f.zero = j.zero
				return nil
			}
			f.cur = j
			select {
			case <-j.done:
			case <-w.stop:
				return errStopped
			}
			if j.err != nil {
				return j.err
			}
			f.data = j.data
			return nil
		}
		f.blocksDone = true
		if f.it.err != nil {
			return f.it.err
		}
	}
	if j := f.it.frag; j != nil && !f.tailDone {
		f.tailDone = true
		select {
		case <-j.done:
		case <-w.stop:
			return errStopped
		}
		if j.err != nil {
			return j.err
		}
		end := uint64(f.it.fragOff) + uint64(f.it.fragLen)
		if end > uint64(len(j.data)) {
			return corrupt("%q: tail at %d..%d beyond its fragment block of %d bytes", f.it.e.Path, f.it.fragOff, end, len(j.data))
		}
		f.data = j.data[f.it.fragOff:end]
		return nil
	}
	return io.EOF
}

func (f *fileReader) Read(p []byte) (int, error) {
	for f.err == nil && len(f.data) == 0 && f.zero == 0 {
		f.err = f.next()
	}
	if len(p) == 0 && f.err == nil {
		return 0, nil
	}
	if len(f.data) > 0 {
		n := copy(p, f.data)
		f.data = f.data[n:]
		f.read += int64(n)
		return n, nil
	}
	if f.zero > 0 {
		n := int(min(int64(len(p)), f.zero))
		clear(p[:n])
		f.zero -= int64(n)
		f.read += int64(n)
		return n, nil
	}
	if errors.Is(f.err, errStopped) && f.w.ctx.Err() != nil {
		return 0, f.w.ctx.Err()
	}
	return 0, f.err
}

// SkipSparse implements SparseReader.
func (f *fileReader) SkipSparse() int64 {
	var n int64
	for f.err == nil && len(f.data) == 0 {
		if f.zero > 0 {
			n += f.zero
			f.zero = 0
			continue
		}
		f.err = f.next()
	}
	f.skipped += n
	f.read += n
	return n
}

// close drains what the sink did not read and releases the blocks.
func (f *fileReader) close() {
	w := f.w
	f.it.abandon.Store(true)
	if f.cur != nil {
		w.release(f.cur)
		f.cur = nil
	}
	if f.it.blocks != nil && !f.blocksDone {
		for j := range f.it.blocks {
			if j.zero == 0 {
				<-j.done
				w.release(j)
			}
		}
		f.blocksDone = true
	}
	if f.it.frag != nil {
		w.unref(f.it.frag)
		f.it.frag = nil
	}
	f.data = nil
	if f.err == nil {
		f.err = io.EOF // a late Read gets nothing
	}
}
