// SPDX-License-Identifier: Apache-2.0

package boundedio

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestReadFileSmall(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("A=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := ReadFile(p, Config)
	if err != nil || string(b) != "A=1\n" {
		t.Fatalf("ReadFile = %q, %v", b, err)
	}
}

func TestOversizeRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(p, make([]byte, 2048), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(p, 1024)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "larger than 1 KiB") || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v, want a too-large error naming %s", err, p)
	}
	// A pipe that passes the limit is cut off too.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() { w.Write(make([]byte, 4096)); w.Close() }()
	if _, err := ReadFileOrPipe("/proc/self/fd/"+strconv.Itoa(int(r.Fd())), 1024); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("pipe: err = %v, want too large", err)
	}
	r.Close()
}

func TestDevicesRefused(t *testing.T) {
	for _, p := range []string{"/dev/zero", "/dev/full", "/dev/urandom", "/"} {
		start := time.Now()
		_, err := ReadFile(p, Config)
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("ReadFile(%s) = %v, want not a regular file", p, err)
		}
		if _, err := ReadFileOrPipe(p, Config); !errors.Is(err, ErrNotRegular) {
			t.Errorf("ReadFileOrPipe(%s) = %v, want not a regular file", p, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s took %v", p, d)
		}
	}
}

func TestFIFOReturnsFast(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	go func() {
		_, err := ReadFile(p, Config)
		done <- err
		// Where pipes are welcome, the open waits for the writer.
		go func() {
			if f, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
				f.WriteString("data")
				f.Close()
			}
		}()
		b, err := ReadFileOrPipe(p, Config)
		if err == nil && string(b) != "data" {
			err = errors.New("unexpected data " + string(b))
		}
		done <- err
	}()
	for i, want := range []error{ErrNotRegular, nil} {
		select {
		case err := <-done:
			if !errors.Is(err, want) && !(want == nil && err == nil) {
				t.Fatalf("read %d: err = %v, want %v", i, err, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("read %d of a FIFO without a writer blocked", i)
		}
	}
}

func TestDevNullIsEmpty(t *testing.T) {
	for _, read := range []func(string, int64) ([]byte, error){ReadFile, ReadFileOrPipe, ReadFileNoFollow} {
		if b, err := read("/dev/null", Config); err != nil || len(b) != 0 {
			t.Errorf("/dev/null: %q, %v", b, err)
		}
	}
}

func TestMissing(t *testing.T) {
	if _, err := ReadFile(filepath.Join(t.TempDir(), "none"), Config); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want not exist", err)
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{Config: "1 MiB", Script: "16 MiB", 4 << 40: "4 TiB", 1000: "1000 bytes"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestReader(t *testing.T) {
	for _, tc := range []struct {
		in   int
		fail bool
	}{{0, false}, {10, false}, {11, true}, {5000, true}} {
		b, err := io.ReadAll(Reader(bytes.NewReader(make([]byte, tc.in)), "x", 10))
		if tc.fail != errors.Is(err, ErrTooLarge) || len(b) > 10 {
			t.Errorf("%d bytes: got %d bytes, err %v", tc.in, len(b), err)
		}
		if !tc.fail && len(b) != tc.in {
			t.Errorf("%d bytes: got %d", tc.in, len(b))
		}
	}
}

func TestReadFileNoFollow(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFileNoFollow(p, Config); err != nil || string(b) != "x" {
		t.Fatalf("regular file: %q, %v", b, err)
	}
	l := filepath.Join(dir, "l")
	if err := os.Symlink(p, l); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFileNoFollow(l, Config); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "a symbolic link") {
		t.Errorf("symlink: %v", err)
	}
	z := filepath.Join(dir, "z")
	if err := os.Symlink("/dev/zero", z); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFileNoFollow(z, Config); err == nil {
		t.Error("a link to /dev/zero was read")
	}
}

// TestKindOfMode: a raw stat mode names the same type as its fs.FileMode.
func TestKindOfMode(t *testing.T) {
	for mode, want := range map[uint32]string{
		unix.S_IFREG | 0o644: "a regular file", unix.S_IFDIR: "a directory", unix.S_IFLNK: "a symbolic link",
		unix.S_IFCHR: "a character device", unix.S_IFBLK: "a block device", unix.S_IFIFO: "a FIFO",
		unix.S_IFSOCK: "a socket",
	} {
		if got := KindOfMode(mode); got != want {
			t.Errorf("KindOfMode(%#o) = %q, want %q", mode, got, want)
		}
	}
}
