// SPDX-License-Identifier: Apache-2.0

package container

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	imgspec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/gpyxis/gpyxis/internal/lockfile"
	"github.com/gpyxis/gpyxis/internal/tempname"
	"github.com/gpyxis/gpyxis/pkg/namespaces"
	"github.com/gpyxis/gpyxis/pkg/registry"
)

// Create unpacks registry image ref into the store as NAME.
func (s Store) Create(ctx context.Context, p *registry.Puller, ref registry.Reference, name string, force bool, log *slog.Logger) error {
	return s.create(name, force, func(dir string) (imgspec.ImageConfig, error) {
		img, err := pull(ctx, p, ref)
		if err != nil {
			return imgspec.ImageConfig{}, err
		}
		return img.Config.Config, unpackImage(ctx, p, img, dir, log)
	})
}

// CreateFromSquashfs extracts a squashfs file (made by gpyxis, enroot or mksquashfs)
// into the store as NAME; its /etc/rc carries what the image config said.
func (s Store) CreateFromSquashfs(ctx context.Context, image, name string, force bool, log *slog.Logger) error {
	return s.create(name, force, func(dir string) (imgspec.ImageConfig, error) {
		return imgspec.ImageConfig{}, extractSquashfs(ctx, image, dir, log)
	})
}

// create builds NAME's rootfs with fill under a temporary name and renames it into
// place, so an interrupted create leaves nothing under NAME; force replaces an
// existing container that is not running.
func (s Store) create(name string, force bool, fill func(dir string) (imgspec.ImageConfig, error)) error {
	if err := CheckName(name); err != nil {
		return err
	}
	target := s.Rootfs(name)
	if _, err := os.Lstat(target); err == nil {
		if !force {
			return fmt.Errorf("%w: %s (remove it or use --force)", ErrExists, name)
		}
		if pids := s.Pids(name); len(pids) > 0 {
			return fmt.Errorf("%w: %s (pid %d)", ErrRunning, name, pids[0])
		}
	}
	if err := s.Ensure(); err != nil {
		return err
	}
	CollectTemporaries(s.Dir) // what killed creates and runs left; this create's own problem is its own error
	tmp, err := tempname.Mkdir(s.Dir, createPrefix+tempLabel(name)+"-")
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	defer RemoveRootfs(tmp) // a no-op once renamed
	cfg, err := fill(tmp)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, ".lock"), nil, 0o600); err != nil {
		return fmt.Errorf("create %s: lock file: %w", name, err)
	}
	if err := s.saveConfig(name, cfg); err != nil {
		return err
	}
	if force {
		if err := RemoveRootfs(target); err != nil {
			return fmt.Errorf("replace %s: %w", name, err)
		}
	}
	if err := os.Rename(tmp, target); err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	return nil
}

// StartOptions are RunOptions for a named container (Ref and DataDir unused).
type StartOptions = RunOptions

// Start runs a command in container NAME and returns its exit code. The rootfs lock
// is held while the container is set up, as enroot's `flock -w 30 /.lock`.
func (s Store) Start(ctx context.Context, name string, o StartOptions) (int, error) {
	dir, err := s.Lookup(name)
	if err != nil {
		return 0, err
	}
	if err := o.loadScripts(); err != nil {
		return 0, err
	}
	if err := namespaces.Check(); err != nil {
		return 0, err
	}
	unlock, err := lock(filepath.Join(dir, ".lock"), 30*time.Second)
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", name, err)
	}
	// The lock is held until the container runs: setup is what must not race.
	o.started = unlock
	return launch(ctx, dir, s.loadConfig(name), o)
}

// lock takes an exclusive flock on path, waiting up to timeout.
func lock(path string, timeout time.Duration) (func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	unlock, err := lockfile.Lock(ctx, path, unix.LOCK_EX)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("could not acquire rootfs lock %s within %s: another start holds it", path, timeout)
	}
	return unlock, err
}

// Pids lists the processes running in container NAME: those whose root has NAME's
// /.lock (same device and inode), which is how enroot's `list -f` finds them.
func (s Store) Pids(name string) []int {
	var want unix.Stat_t
	if unix.Stat(filepath.Join(s.Rootfs(name), ".lock"), &want) != nil {
		return nil
	}
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(fmt.Sprintf("/proc/%d/root/.lock", pid), &st) == nil && st.Dev == want.Dev && st.Ino == want.Ino {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Command returns a process's command line, for list.
func ProcCommand(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// Remove deletes containers; a running one is refused.
func (s Store) Remove(name string) error {
	dir, err := s.Lookup(name)
	if err != nil {
		return err
	}
	if pids := s.Pids(name); len(pids) > 0 {
		return fmt.Errorf("%w: %s (pid %d): stop it first", ErrRunning, name, pids[0])
	}
	// Renamed first so that a half-deleted tree never answers to NAME.
	gone, err := tempname.Name(removePrefix + tempLabel(name) + "-")
	if err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	gone = filepath.Join(s.Dir, gone)
	if err := os.Rename(dir, gone); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	os.Remove(s.configPath(name))
	if err := RemoveRootfs(gone); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	// Also what killed creates, runs and removes left beside it.
	CollectTemporaries(s.Dir)
	return nil
}
