// SPDX-License-Identifier: Apache-2.0

package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpyxis/gpyxis/internal/pathtrust"
)

// The user's gpyxis.conf sets paths, proxies and CAs: one others can write
// is refused, naming it; the user's own is read.
func TestUserConfigTrusted(t *testing.T) {
	home := t.TempDir()
	dir := filepath.Join(home, "gpyxis")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "gpyxis.conf")
	if err := os.WriteFile(f, []byte("GPYXIS_DATA_PATH /x/data\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	uid := os.Geteuid()
	load := func() (*Config, error) {
		return Load(LoadOptions{Environ: []string{"XDG_CONFIG_HOME=" + home, "HOME=" + home}, SkipEnrootConf: true, UID: &uid})
	}
	c, err := load()
	if err != nil {
		t.Fatal(err)
	}
	if c.DataPath != "/x/data" {
		t.Errorf("DATA_PATH %q, want the file's /x/data", c.DataPath)
	}
	os.Chmod(f, 0o666)
	if _, err := load(); !errors.Is(err, pathtrust.ErrUntrusted) || !strings.Contains(err.Error(), f) {
		t.Errorf("a file others can write: %v, want a refusal naming %s", err, f)
	}
	os.Chmod(f, 0o600)
	os.Chmod(dir, 0o777)
	if _, err := load(); !errors.Is(err, pathtrust.ErrUntrusted) {
		t.Errorf("a directory others can write: %v, want a refusal", err)
	}
}
