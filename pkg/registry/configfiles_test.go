// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gpyxis/gpyxis/internal/boundedio"
)

func TestNewPullerRefusesUnboundedConfigFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		opt  Option
		want string
	}{
		{WithAuthFile("/dev/zero"), "auth file: /dev/zero: a character device"},
		{WithAuthFile(fifo), "auth file: " + fifo + ": a FIFO"},
		{WithRegistriesConf("/dev/zero"), "registries.conf: /dev/zero: a character device"},
		{WithRegistriesConf(fifo), "registries.conf: " + fifo + ": a FIFO"},
	} {
		start := time.Now()
		_, err := NewPuller(WithCacheDir(t.TempDir()), tc.opt)
		if !errors.Is(err, boundedio.ErrNotRegular) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%q took %v", tc.want, d)
		}
	}
	if _, err := NewPuller(WithCacheDir(t.TempDir()), WithAuthFile(filepath.Join(dir, "missing.json"))); err != nil {
		t.Errorf("a missing auth file: %v", err)
	}
}

func TestNewPullerRefusesUnboundedCertificates(t *testing.T) {
	dir := t.TempDir()
	host := filepath.Join(dir, "certs.d", "reg:5000")
	if err := os.MkdirAll(host, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(host, "ca.crt"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := NewPuller(WithCacheDir(t.TempDir()), WithCertsDir(filepath.Join(dir, "certs.d")))
	if !errors.Is(err, boundedio.ErrNotRegular) || !strings.Contains(err.Error(), "certificate: ") {
		t.Errorf("certs.d FIFO: %v", err)
	}
	t.Setenv("SSL_CERT_FILE", "/dev/zero")
	if _, err := NewPuller(WithCacheDir(t.TempDir())); !errors.Is(err, boundedio.ErrNotRegular) || !strings.Contains(err.Error(), "/dev/zero") {
		t.Errorf("SSL_CERT_FILE=/dev/zero: %v", err)
	}
}
