// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"io"
	"testing"
)

// endless is a line that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'y'
	}
	return len(p), nil
}

// TestConfirmEndlessLine: an answer without end is a no, read no further
// than the reader's buffer.
func TestConfirmEndlessLine(t *testing.T) {
	c := confirmer{in: bufio.NewReaderSize(endless{}, 4096), prompt: io.Discard}
	for range 3 {
		if c.confirm("delete? ") {
			t.Fatal("an endless line of y was a yes")
		}
	}
}
