// SPDX-License-Identifier: Apache-2.0

package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	imgspec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/gpyxis/gpyxis/internal/boundedio"
	"github.com/gpyxis/gpyxis/internal/tempname"
)

// Sentinel errors of the container store.
var (
	ErrExists   = errors.New("container already exists")
	ErrNotExist = errors.New("no such container")
	ErrRunning  = errors.New("container is running")
	ErrName     = errors.New("invalid container name")
)

// Store is a directory of named container root filesystems, enroot's DATA_PATH:
// NAME/ is the rootfs (with /.lock at its root, as enroot), .NAME.json what start
// needs of the image config.
type Store struct{ Dir string }

// CheckName refuses names that are not a single path component, as enroot does.
func CheckName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("%w: %q", ErrName, name)
	case strings.ContainsRune(name, '/'):
		return fmt.Errorf("%w: %q must not contain '/'", ErrName, name)
	case strings.HasPrefix(name, "."):
		return fmt.Errorf("%w: %q must not start with '.'", ErrName, name)
	case len(name) > 200:
		return fmt.Errorf("%w: %q is longer than 200 bytes", ErrName, name)
	}
	return nil
}

// Rootfs is the path of NAME's root filesystem.
func (s Store) Rootfs(name string) string { return filepath.Join(s.Dir, name) }

func (s Store) configPath(name string) string { return filepath.Join(s.Dir, "."+name+".json") }

// Lookup returns NAME's rootfs, or ErrNotExist with the command that creates it.
func (s Store) Lookup(name string) (string, error) {
	if err := CheckName(name); err != nil {
		return "", err
	}
	if err := s.trusted(); err != nil {
		return "", fmt.Errorf("container %s: %w", name, err)
	}
	dir := s.Rootfs(name)
	if err := s.lookupRootfs(name, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// List returns the container names, sorted.
func (s Store) List() ([]string, error) {
	if err := s.trusted(); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// saveConfig keeps what start needs of the image config beside the rootfs.
func (s Store) saveConfig(name string, c imgspec.ImageConfig) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	f, err := tempname.Create(s.Dir, configPrefix+tempLabel(name)+"-")
	if err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), s.configPath(name))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("save config: %w", err)
	}
	return nil
}

// loadConfig returns NAME's image config; an empty one if there is none (a rootfs
// made by another tool: /etc/rc then decides).
func (s Store) loadConfig(name string) imgspec.ImageConfig {
	var c imgspec.ImageConfig
	if b, err := boundedio.ReadFile(s.configPath(name), boundedio.Config); err == nil {
		_ = json.Unmarshal(b, &c)
	}
	return c
}
