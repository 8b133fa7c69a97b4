// SPDX-License-Identifier: Apache-2.0

package squashfs

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestDirTree squashes the host directory named by GPYXIS_SQUASHFS_TREE
// (root-owned, in filepath.WalkDir order, hardlinks detected by inode) with
// zstd level 3 and 1 MiB blocks, with and without duplicate detection, and
// logs the sizes next to mksquashfs' with the same settings. It is a
// measurement, opt-in only:
//
//	GPYXIS_SQUASHFS_TREE=/var/tmp/sqtree go test -run DirTree -v ./pkg/squashfs
//
// GPYXIS_SQUASHFS_MKSQUASHFS=1 also runs mksquashfs (with -no-duplicates
// and -always-use-fragments variants) for comparison, and
// GPYXIS_SQUASHFS_OUT=DIR keeps the images in DIR.
func TestDirTree(t *testing.T) {
	dir := os.Getenv("GPYXIS_SQUASHFS_TREE")
	if dir == "" {
		t.Skip("set GPYXIS_SQUASHFS_TREE=DIR to squash DIR and log the image size")
	}
	out := os.Getenv("GPYXIS_SQUASHFS_OUT")
	if out == "" {
		out = t.TempDir()
	}
	sizes := map[string]int64{}
	for _, c := range []struct {
		name string
		opts Options
	}{
		{"dedup", Options{Level: 3, BlockSize: 1 << 20}},
		{"no-duplicates", Options{Level: 3, BlockSize: 1 << 20, NoDuplicates: true}},
	} {
		img := filepath.Join(out, c.name+".sqfs")
		start := time.Now()
		squashHostDir(t, dir, img, c.opts)
		st, err := os.Stat(img)
		must(t, err)
		sizes[c.name] = st.Size()
		t.Logf("gpyxis %-14s %d bytes in %v", c.name, st.Size(), time.Since(start).Round(time.Millisecond))
	}
	if os.Getenv("GPYXIS_SQUASHFS_MKSQUASHFS") == "" {
		return
	}
	if _, err := exec.LookPath("mksquashfs"); err != nil {
		t.Skip("mksquashfs not found")
	}
	for _, v := range [][]string{nil, {"-no-duplicates"}, {"-always-use-fragments"}, {"-no-duplicates", "-always-use-fragments"}} {
		img := filepath.Join(out, "ref.sqfs")
		args := append([]string{dir, img, "-comp", "zstd", "-Xcompression-level", "3", "-b", "1M",
			"-all-root", "-noappend", "-quiet"}, v...)
		start := time.Now()
		if b, err := exec.Command("mksquashfs", args...).CombinedOutput(); err != nil {
			t.Fatalf("mksquashfs: %v\n%s", err, b)
		}
		st, err := os.Stat(img)
		must(t, err)
		t.Logf("mksquashfs %v: %d bytes in %v; gpyxis dedup/this %.4f, no-duplicates/this %.4f", v, st.Size(),
			time.Since(start).Round(time.Millisecond),
			float64(sizes["dedup"])/float64(st.Size()), float64(sizes["no-duplicates"])/float64(st.Size()))
	}
}

// squashHostDir adds everything below dir to a new image as root-owned
// entries: directories, regular files, symlinks, hardlinks (by inode),
// devices, fifos and sockets.
func squashHostDir(t *testing.T, dir, img string, opts Options) {
	f, err := os.Create(img)
	must(t, err)
	defer f.Close()
	w, err := NewWriter(f, opts)
	must(t, err)
	type ino struct{ dev, ino uint64 }
	seen := map[ino]string{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		e := Entry{Path: filepath.ToSlash(rel), Mode: uint32(st.Mode & 0o7777), ModTime: info.ModTime().Unix()}
		if !d.IsDir() && st.Nlink > 1 {
			k := ino{uint64(st.Dev), st.Ino}
			if first, ok := seen[k]; ok {
				return w.Add(Entry{Path: e.Path, Type: Hardlink, Linkname: first}, nil)
			}
			seen[k] = e.Path
		}
		switch m := info.Mode(); {
		case m.IsDir():
			e.Type = Dir
		case m.IsRegular():
			e.Type, e.Size = Reg, info.Size()
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			defer src.Close()
			return w.Add(e, src)
		case m&fs.ModeSymlink != 0:
			e.Type = Symlink
			if e.Linkname, err = os.Readlink(p); err != nil {
				return err
			}
		case m&fs.ModeNamedPipe != 0:
			e.Type = Fifo
		case m&fs.ModeSocket != 0:
			e.Type = Socket
		case m&fs.ModeCharDevice != 0:
			e.Type, e.Rdev = Char, st.Rdev
		case m&fs.ModeDevice != 0:
			e.Type, e.Rdev = Block, st.Rdev
		default:
			return fmt.Errorf("%s: unsupported mode %v", p, m)
		}
		return w.Add(e, nil)
	})
	must(t, err)
	must(t, w.Close())
}
