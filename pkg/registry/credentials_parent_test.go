// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gpyxis/gpyxis/internal/pathtrust"
)

// A credentials file in a directory others can write to is refused: they
// could replace it with one whose '$' password runs their command.
func TestCredentialsParentTrust(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "enroot")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, ".credentials")
	if err := os.WriteFile(f, []byte("machine reg.example login u password p\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if e, err := loadCredentials(f, "reg.example", ""); err != nil || e == nil {
		t.Fatalf("own file: %v %v", e, err)
	}
	os.Chmod(dir, 0o777)
	if _, err := loadCredentials(f, "reg.example", ""); !errors.Is(err, pathtrust.ErrUntrusted) {
		t.Errorf("file in a 0777 directory: %v, want a refusal", err)
	}
	if e, err := loadCredentials(filepath.Join(t.TempDir(), "none", ".credentials"), "reg.example", ""); err != nil || e != nil {
		t.Errorf("missing file: %v %v, want none", e, err)
	}
}
