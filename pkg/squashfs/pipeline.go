// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sync"
)

// slot carries one data or fragment block through the pipeline: the Add
// goroutine fills it, a worker compresses it, the block writer writes it in
// submission order and returns it to the free list. The fixed number of
// slots bounds the bytes in flight to about 2 * slots * block size.
type slot struct {
	in   []byte // block contents, len = bytes valid
	out  []byte // compression buffer, reused
	res  []byte // bytes to write: out, in, or nil for a sparse block
	word uint32 // size word for the block list or fragment table

	frag  bool      // a fragment block rather than a file block
	file  *fileData // file block: owner
	index int       // file block: index in file.blocks
	zero  bool      // file block: all zeros, stored as a hole
	run   int       // zero file blocks: how many from index (0 means 1)
	dupOf *fileData // no block: drop file's blocks and share dupOf's
	done  chan struct{}
}

// fragEntry is one fragment table entry.
type fragEntry struct {
	start uint64
	word  uint32
}

// pipeline compresses blocks in parallel and writes them in order.
type pipeline struct {
	comp  compressor
	zero  []byte
	free  chan *slot
	work  chan *slot
	order chan *slot
	wg    sync.WaitGroup
	wdone chan struct{}

	// Owned by the block writer goroutine until wdone is closed.
	out    *bufio.Writer
	f      *os.File // under out, for rewinding
	pos    uint64
	frags  []fragEntry
	sparse uint64 // blocks stored as holes
	stored uint64 // bytes of blocks written
	cut    uint64 // bytes written, then cut off again for duplicates

	mu  sync.Mutex
	err error
}

func newPipeline(f *os.File, out *bufio.Writer, pos uint64, comp compressor, blockSize, workers int) *pipeline {
	n := 2*workers + 1
	p := &pipeline{
		comp:  comp,
		zero:  make([]byte, blockSize),
		free:  make(chan *slot, n),
		work:  make(chan *slot, n),
		order: make(chan *slot, n),
		wdone: make(chan struct{}),
		out:   out,
		f:     f,
		pos:   pos,
	}
	for range n {
		p.free <- &slot{in: make([]byte, 0, blockSize), done: make(chan struct{}, 1)}
	}
	p.wg.Add(workers)
	for range workers {
		go p.worker()
	}
	go p.writer()
	return p
}

// get returns an empty slot, waiting for one to come free.
func (p *pipeline) get() (*slot, error) {
	s := <-p.free
	if err := p.error(); err != nil {
		p.free <- s
		return nil, err
	}
	s.in, s.res, s.frag, s.file, s.index, s.zero, s.run, s.dupOf = s.in[:0], nil, false, nil, 0, false, 0, nil
	return s, nil
}

// submit queues a filled slot for compression and writing.
func (p *pipeline) submit(s *slot) {
	p.work <- s
	p.order <- s
}

func (p *pipeline) worker() {
	defer p.wg.Done()
	for s := range p.work {
		p.compress(s)
		s.done <- struct{}{}
	}
}

func (p *pipeline) compress(s *slot) {
	if s.zero || s.dupOf != nil {
		s.res, s.word = nil, 0
		return
	}
	c, ok := p.comp.compress(s.out, s.in)
	s.out = c[:0]
	if ok {
		s.res, s.word = c, uint32(len(c))
		return
	}
	s.res, s.word = s.in, uint32(len(s.in))|dataUncompressed
}

// writer writes finished slots in submission order and records where
// each block went.
func (p *pipeline) writer() {
	defer close(p.wdone)
	for s := range p.order {
		<-s.done
		if s.dupOf != nil {
			p.dropDuplicate(s.file, s.dupOf)
			p.free <- s
			continue
		}
		p.record(s)
		if p.error() == nil && len(s.res) > 0 {
			if _, err := p.out.Write(s.res); err != nil {
				p.fail(fmt.Errorf("write data block: %w", err))
			}
		}
		p.pos += uint64(len(s.res))
		p.free <- s
	}
}

func (p *pipeline) record(s *slot) {
	switch {
	case s.frag:
		p.frags = append(p.frags, fragEntry{start: p.pos, word: s.word})
	default:
		if s.index == 0 {
			s.file.start = p.pos
		}
		s.file.blocks[s.index] = s.word
		if s.word == 0 {
			p.sparse += uint64(max(s.run, 1))
		}
	}
	p.stored += uint64(len(s.res))
}

// dropDuplicate cuts the blocks of f, the last ones written, off the
// output and makes f share the blocks of orig, an earlier file with the
// same content. orig's blocks were recorded before f's.
func (p *pipeline) dropDuplicate(f, orig *fileData) {
	if n := p.pos - f.start; n > 0 && p.error() == nil {
		if err := p.truncate(f.start); err != nil {
			p.fail(fmt.Errorf("drop duplicate blocks: %w", err))
		}
		p.stored -= n
		p.cut += n
	}
	for _, w := range f.blocks {
		if w == 0 {
			p.sparse--
		}
	}
	p.pos = f.start
	f.start, f.blocks = orig.start, orig.blocks
}

// truncate makes off the end of the output, discarding what was written
// after it, buffered or not.
func (p *pipeline) truncate(off uint64) error {
	if err := p.out.Flush(); err != nil {
		return err
	}
	if err := p.f.Truncate(int64(off)); err != nil {
		return err
	}
	_, err := p.f.Seek(int64(off), io.SeekStart)
	return err
}

func (p *pipeline) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
}

func (p *pipeline) error() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// finish drains the pipeline and stops its goroutines. The block writer's
// results may be read after it returns.
func (p *pipeline) finish() error {
	close(p.work)
	close(p.order)
	p.wg.Wait()
	<-p.wdone
	return p.error()
}
