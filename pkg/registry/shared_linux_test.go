// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// nobody owns the entries a foreign user plants (root only).
const nobody = 65534

// sharedDir returns a fresh 1777 directory for a shared cache.
func sharedDir(t *testing.T) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(d, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o1777); err != nil {
		t.Fatal(err)
	}
	return d
}

// logBuffer is a logger whose text the test can read.
func logBuffer() (*slog.Logger, *bytes.Buffer) {
	var b bytes.Buffer
	return slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})), &b
}

// fetchWithin runs p.Fetch and fails the test if it has not returned after
// d: a blocking open cannot be cancelled by its context.
func fetchWithin(t *testing.T, d time.Duration, p *Puller, img *Image) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		done <- p.Fetch(ctx, img)
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(d + 5*time.Second):
		t.Fatalf("Fetch still running after %s: it hangs", d)
		return nil
	}
}

// sharedImage pushes a one-layer image and resolves it with p.
func sharedImage(t *testing.T, reg *fakeRegistry, p *Puller) *Image {
	t.Helper()
	reg.pushImage(t, "img", "v1", true, amd64, gzLayer(map[string]string{"a": "hello"}))
	img, err := p.Resolve(context.Background(), reg.ref("img", "v1"))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// layerReads checks that p serves layer 0 of img with its content.
func layerReads(t *testing.T, p *Puller, img *Image) {
	t.Helper()
	rc, err := p.OpenLayer(context.Background(), img, 0)
	if err != nil {
		t.Fatal(err)
	}
	if files, err := readLayer(t, rc); err != nil || files["a"] != "hello" {
		t.Fatalf("layer: %v, %v", files, err)
	}
}

func TestSharedCacheSharesDownloads(t *testing.T) {
	reg := newFakeRegistry(t)
	shared := sharedDir(t)
	a := newTestPuller(t, hermetic(t, WithSharedCacheDir(shared))...)
	img := sharedImage(t, reg, a)
	d := img.Layers[0].Digest
	if err := fetchWithin(t, 10*time.Second, a, img); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(shared, entryName(d)), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Mode&0o777 != 0o644 {
		t.Fatalf("published entry: mode %o, %v; want a 0644 regular file", st.Mode, err)
	}
	b := newTestPuller(t, hermetic(t, WithSharedCacheDir(shared))...)
	if err := fetchWithin(t, 10*time.Second, b, img); err != nil {
		t.Fatal(err)
	}
	if n := reg.gets(d); n != 1 {
		t.Fatalf("%d downloads, want 1 (the second puller copies from the shared cache)", n)
	}
	layerReads(t, b, img)
	// The copy is the second puller's own: the shared entry going away
	// does not affect it.
	os.Remove(filepath.Join(shared, entryName(d)))
	layerReads(t, b, img)
}

// TestSharedCacheCopyIn: across file systems (no hard link) a blob is
// copied into the shared directory; no temporary file is left.
func TestSharedCacheCopyIn(t *testing.T) {
	shared := sharedDir(t)
	s, err := openShared(shared, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	own := filepath.Join(t.TempDir(), "blob")
	os.WriteFile(own, []byte("data"), 0o644)
	if err := s.copyIn(own, "sha256-x"); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(shared)
	if len(ents) != 1 || ents[0].Name() != "sha256-x" {
		t.Fatalf("shared directory holds %v, want only sha256-x", ents)
	}
	if b, err := os.ReadFile(filepath.Join(shared, "sha256-x")); err != nil || string(b) != "data" {
		t.Fatalf("copied entry: %q, %v", b, err)
	}
	if err := s.copyIn(own, "sha256-x"); !errors.Is(err, unix.EEXIST) {
		t.Fatalf("copy over an existing entry: %v, want EEXIST (never replaced)", err)
	}
}

// TestSharedCacheHostileEntries plants what another user could put where a
// blob of the shared cache goes: the pull must neither hang nor fail, nor
// write through a link, and downloads the blob instead. The caller's own
// bad entry is replaced; another user's (root only) is left alone.
func TestSharedCacheHostileEntries(t *testing.T) {
	plants := map[string]func(t *testing.T, name string, size int64){
		"fifo": func(t *testing.T, name string, _ int64) {
			if err := unix.Mkfifo(name, 0o666); err != nil {
				t.Fatal(err)
			}
		},
		"garbage of the right size": func(t *testing.T, name string, size int64) {
			os.WriteFile(name, bytes.Repeat([]byte{'x'}, int(size)), 0o644)
		},
		"garbage of another size": func(t *testing.T, name string, _ int64) {
			os.WriteFile(name, []byte("garbage"), 0o644)
		},
		"directory": func(t *testing.T, name string, _ int64) { os.Mkdir(name, 0o755) },
		"unreadable file": func(t *testing.T, name string, size int64) {
			os.WriteFile(name, make([]byte, size), 0o000)
		},
	}
	for what, plant := range plants {
		for _, foreign := range []bool{false, true} {
			name := what
			if foreign {
				name += ", another user's"
			}
			t.Run(name, func(t *testing.T) {
				if foreign && os.Geteuid() != 0 {
					t.Skip("planting another user's entry needs root")
				}
				reg := newFakeRegistry(t)
				shared := sharedDir(t)
				log, out := logBuffer()
				p := newTestPuller(t, hermetic(t, WithSharedCacheDir(shared), WithLogger(log))...)
				img := sharedImage(t, reg, p)
				entry := filepath.Join(shared, entryName(img.Layers[0].Digest))
				plant(t, entry, img.Layers[0].Size)
				if foreign {
					os.Lchown(entry, nobody, nobody)
				}
				if err := fetchWithin(t, 10*time.Second, p, img); err != nil {
					t.Fatalf("fetch: %v\n%s", err, out)
				}
				if n := reg.gets(img.Layers[0].Digest); n != 1 {
					t.Fatalf("%d downloads, want 1", n)
				}
				layerReads(t, p, img)
				s, err := openShared(shared, log)
				if err != nil {
					t.Fatal(err)
				}
				f, err := s.open(img.Layers[0])
				good := false
				if err == nil && f != nil {
					good, _ = fileIs(f, img.Layers[0])
					f.Close()
				}
				if good == foreign {
					t.Fatalf("shared entry valid: %v, want %v (only the caller's own bad entry is replaced)", good, !foreign)
				}
			})
		}
	}
}

// TestSharedCacheLinkEntry: a symbolic link in place of a blob is neither
// followed for reading nor written through.
func TestSharedCacheLinkEntry(t *testing.T) {
	reg := newFakeRegistry(t)
	shared := sharedDir(t)
	p := newTestPuller(t, hermetic(t, WithSharedCacheDir(shared))...)
	img := sharedImage(t, reg, p)
	canary := filepath.Join(t.TempDir(), "canary")
	entry := filepath.Join(shared, entryName(img.Layers[0].Digest))
	os.Symlink(canary, entry)
	if err := fetchWithin(t, 10*time.Second, p, img); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(canary); err == nil {
		t.Fatal("the fetch created the link's target")
	}
	layerReads(t, p, img)
}

// TestSharedDirUnusable: a shared directory that is missing, a symbolic
// link, or another user's (root only) is not used, and the pull works.
func TestSharedDirUnusable(t *testing.T) {
	cases := map[string]func(t *testing.T) string{
		"missing": func(t *testing.T) string { return filepath.Join(t.TempDir(), "none") },
		"symbolic link": func(t *testing.T) string {
			l := filepath.Join(t.TempDir(), "link")
			os.Symlink(sharedDir(t), l)
			return l
		},
		"another user's": func(t *testing.T) string {
			if os.Geteuid() != 0 {
				t.Skip("needs root to make a directory of another user")
			}
			d := sharedDir(t)
			os.Chown(d, nobody, nobody)
			return d
		},
	}
	for name, dir := range cases {
		t.Run(name, func(t *testing.T) {
			d := dir(t)
			reg := newFakeRegistry(t)
			log, out := logBuffer()
			p := newTestPuller(t, hermetic(t, WithSharedCacheDir(d), WithLogger(log))...)
			img := sharedImage(t, reg, p)
			if err := fetchWithin(t, 10*time.Second, p, img); err != nil {
				t.Fatal(err)
			}
			layerReads(t, p, img)
			if !strings.Contains(out.String(), "shared cache not used") {
				t.Fatalf("no warning about the shared directory:\n%s", out)
			}
			if ents, _ := os.ReadDir(d); len(ents) != 0 {
				t.Fatalf("something was published in %s: %v", d, ents)
			}
		})
	}
}

// TestOwnCacheHostileEntries: in the user's own cache, a FIFO in place of a
// blob is replaced by the download, and a symbolic link in place of a lock
// file is refused with a clear error, never followed.
func TestOwnCacheHostileEntries(t *testing.T) {
	reg := newFakeRegistry(t)
	p := newTestPuller(t, hermetic(t)...)
	img := sharedImage(t, reg, p)
	d := img.Layers[0].Digest
	if err := unix.Mkfifo(p.cache.path(d), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := fetchWithin(t, 10*time.Second, p, img); err != nil {
		t.Fatal(err)
	}
	layerReads(t, p, img)

	p = newTestPuller(t, hermetic(t)...)
	canary := filepath.Join(t.TempDir(), "canary")
	os.Symlink(canary, filepath.Join(p.cache.locks, d.Encoded()+".lock"))
	err := fetchWithin(t, 10*time.Second, p, img)
	if err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("fetch with a linked lock file: %v, want an error naming the link", err)
	}
	if _, err := os.Lstat(canary); err == nil {
		t.Fatal("the lock was created at the link's target")
	}
}

// TestSharedCacheMountedEntry: a file mounted over an entry (as a user can
// with FUSE, whose open or read may never return) is not opened, even when
// it holds the right bytes. Root only: it bind-mounts.
func TestSharedCacheMountedEntry(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("bind-mounting a file needs root")
	}
	reg := newFakeRegistry(t)
	shared := sharedDir(t)
	a := newTestPuller(t, hermetic(t)...)
	img := sharedImage(t, reg, a)
	if err := fetchWithin(t, 10*time.Second, a, img); err != nil {
		t.Fatal(err)
	}
	entry := filepath.Join(shared, entryName(img.Layers[0].Digest))
	os.WriteFile(entry, nil, 0o644)
	if err := unix.Mount(a.cache.path(img.Layers[0].Digest), entry, "", unix.MS_BIND, ""); err != nil {
		t.Skipf("bind mount: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(entry, unix.MNT_DETACH) })
	p := newTestPuller(t, hermetic(t, WithSharedCacheDir(shared))...)
	if err := fetchWithin(t, 10*time.Second, p, img); err != nil {
		t.Fatal(err)
	}
	if n := reg.gets(img.Layers[0].Digest); n != 2 {
		t.Fatalf("%d downloads, want 2 (the mounted entry is not used)", n)
	}
	layerReads(t, p, img)
}
