// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/gpyxis/gpyxis/pkg/registry"
)

// progress draws one status line on a terminal: layers downloaded, then files squashed,
// with throughput. On anything but a terminal (or with --quiet) it draws nothing.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	on      bool
	last    time.Time
	start   time.Time
	layers  map[int]registry.ProgressEvent
	files   int64
	bytes   int64
	drawn   bool
	stopped bool
}

func newProgress(w *os.File, enabled bool) *progress {
	return &progress{w: w, on: enabled && isTerminal(w), start: time.Now(), layers: map[int]registry.ProgressEvent{}}
}

// layer records a download event (the puller serializes them).
func (p *progress) layer(ev registry.ProgressEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.layers[ev.Index] = ev
	p.draw(ev.Completed)
}

// squash records squashed file content.
func (p *progress) squash(files, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.files, p.bytes = files, bytes
	p.draw(false)
}

// draw redraws at most five times a second, or now when force is set.
func (p *progress) draw(force bool) {
	if !p.on || p.stopped || (!force && time.Since(p.last) < 200*time.Millisecond) {
		return
	}
	p.last = time.Now()
	secs := time.Since(p.start).Seconds()
	var line string
	if p.files == 0 {
		var done, total int64
		complete := 0
		for _, ev := range p.layers {
			done, total = done+ev.Done, total+ev.Total
			if ev.Completed {
				complete++
			}
		}
		line = fmt.Sprintf("Fetching layers: %d/%d done, %s of %s, %s/s", complete, len(p.layers),
			humanBytes(done), humanBytes(total), humanBytes(int64(float64(done)/max(secs, 0.001))))
	} else {
		line = fmt.Sprintf("Creating squashfs: %d files, %s, %s/s", p.files, humanBytes(p.bytes),
			humanBytes(int64(float64(p.bytes)/max(secs, 0.001))))
	}
	fmt.Fprintf(p.w, "\r\033[K%s", line)
	p.drawn = true
}

// done ends the status line; later events draw nothing.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn && !p.stopped {
		fmt.Fprint(p.w, "\r\033[K")
	}
	p.stopped = true
}
