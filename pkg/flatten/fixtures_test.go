// SPDX-License-Identifier: Apache-2.0

package flatten

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fixture(t *testing.T, name string) LayerOpener {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// checkSparse checks the 1 MiB sparse file and shortens it for tree().
func checkSparse(t *testing.T, s *recSink, p string) {
	t.Helper()
	b := s.body[p]
	if len(b) != 1<<20 || !strings.HasPrefix(b, "head") || !strings.HasSuffix(b, "tail") || strings.Trim(b[4:len(b)-4], "\x00") != "" {
		t.Errorf("%s: %d bytes, not head, zeros, tail", p, len(b))
	}
	s.body[p] = "<sparse>"
}

var (
	longDir  = "d/" + strings.Repeat("l", 120)
	longFile = longDir + "/" + strings.Repeat("n", 120)
)

func TestGNUTarFixtures(t *testing.T) {
	want := lines("/: dir 0755", "/d: dir 0755", `/d/a: reg 4750 "a\n"`, "/d/a-link: link d/a", "/d/fifo: fifo 0600",
		"/"+longDir+": dir 0755", "/"+longFile+`: reg 0644 "deep\n"`, `/d/sparse: reg 0644 "<sparse>"`, "/d/sym: sym a", "/d/zero: char 261")
	for _, name := range []string{"gnu.tar", "posix.tar"} {
		t.Run(name, func(t *testing.T) {
			s := newRecSink()
			if _, err := Flatten(context.Background(), []LayerOpener{fixture(t, name)}, s, Options{}); err != nil {
				t.Fatal(err)
			}
			checkSparse(t, s, "d/sparse")
			if got := s.tree(); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// TestGNUTarFixtureShadowedLinkTarget puts a layer replacing d/a over the GNU
// tar layer: its a-link must keep the old content, which takes a second read.
func TestGNUTarFixtureShadowedLinkTarget(t *testing.T) {
	s := newRecSink()
	layers := append(openers(t, [][]ent{{file("d/a", "new"), wh("d/sparse")}}, nil), fixture(t, "gnu.tar"))
	st, err := Flatten(context.Background(), layers, s, Options{SkipDevices: true})
	if err != nil {
		t.Fatal(err)
	}
	want := lines("/: dir 0755", "/d: dir 0755", `/d/a: reg 0644 "new"`, `/d/a-link: reg 4750 "a\n"`, "/d/fifo: fifo 0600",
		"/"+longDir+": dir 0755", "/"+longFile+`: reg 0644 "deep\n"`, "/d/sym: sym a")
	if got := s.tree(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if st.Rereads != 1 {
		t.Errorf("rereads %d, want 1", st.Rereads)
	}
}
