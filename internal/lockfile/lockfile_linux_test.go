// SPDX-License-Identifier: Apache-2.0

package lockfile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestLock(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := Lock(context.Background(), p, unix.LOCK_EX)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(context.Background(), p, unix.LOCK_EX|unix.LOCK_NB); !errors.Is(err, unix.EWOULDBLOCK) {
		t.Fatalf("second exclusive lock, no wait: %v, want EWOULDBLOCK", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := Lock(ctx, p, unix.LOCK_SH); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shared lock while held: %v, want the deadline", err)
	}
	go func() { time.Sleep(50 * time.Millisecond); unlock() }()
	u2, err := Lock(context.Background(), p, unix.LOCK_SH)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	u3, err := Lock(context.Background(), p, unix.LOCK_SH|unix.LOCK_NB)
	if err != nil {
		t.Fatalf("two shared locks: %v", err)
	}
	u2()
	u3()
}

// TestLockRemoved: a waiter whose lock file its holder removed takes the
// lock of the file now at the path, so that it and a newcomer never both
// hold "the" lock.
func TestLockRemoved(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := Lock(context.Background(), p, unix.LOCK_EX)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan func())
	go func() {
		u, err := Lock(context.Background(), p, unix.LOCK_EX)
		if err != nil {
			t.Error(err)
		}
		got <- u
	}()
	time.Sleep(50 * time.Millisecond) // the waiter has opened the old file
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	newcomer, err := Lock(context.Background(), p, unix.LOCK_EX)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	select {
	case u := <-got:
		u()
		t.Fatal("the waiter took the removed file's lock while a newcomer holds the path's")
	case <-time.After(200 * time.Millisecond):
	}
	newcomer()
	select {
	case u := <-got:
		u()
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter never took the lock of the file at the path")
	}
}

// TestLockRefusesLink: a link where the lock file goes is neither followed
// (no file appears at its target) nor locked.
func TestLockRefusesLink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere")
	lock := filepath.Join(dir, "x.lock")
	if err := os.Symlink(target, lock); err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(context.Background(), lock, unix.LOCK_EX); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("Lock through a link: %v, want a refusal naming the link", err)
	}
	if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the link's target was created: %v", err)
	}
}
