// SPDX-License-Identifier: Apache-2.0

package registry

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gpyxis/gpyxis/internal/boundedio"
)

// checkConfigFiles refuses, before containers/image reads them whole, the
// auth and registries.conf files that would block (a FIFO), never end (a
// device such as /dev/zero) or be too large to be configuration: named ones
// and the per-user defaults it would fall back to. Missing files are fine.
func checkConfigFiles(o *options) error {
	home, _ := os.UserHomeDir()
	var auth, conf []string
	if o.authFile != "" {
		auth = append(auth, o.authFile)
	} else {
		if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
			auth = append(auth, filepath.Join(d, "containers/auth.json"))
		}
		if d, err := os.UserConfigDir(); err == nil {
			auth = append(auth, filepath.Join(d, "containers/auth.json"))
		}
		docker := filepath.Join(home, ".docker")
		if d := os.Getenv("DOCKER_CONFIG"); d != "" {
			docker = d
		}
		auth = append(auth, filepath.Join(docker, "config.json"), filepath.Join(home, ".dockercfg"))
	}
	if o.registriesConf != "" {
		conf = append(conf, o.registriesConf)
		drop, _ := filepath.Glob(filepath.Join(o.registriesConf+".d", "*.conf"))
		conf = append(conf, drop...)
	} else if home != "" {
		user := filepath.Join(home, ".config/containers/registries.conf")
		drop, _ := filepath.Glob(filepath.Join(home, ".config/containers/registries.conf.d", "*.conf"))
		conf = append(append(conf, user), drop...)
	}
	// Certificates: those of a named certs.d tree and of SSL_CERT_FILE and
	// SSL_CERT_DIR, which crypto/x509 reads whole (CA bundles run to a few
	// hundred KiB, hence the larger limit).
	var certs []string
	if o.certsDir != "" {
		certs, _ = filepath.Glob(filepath.Join(o.certsDir, "*", "*"))
	}
	if f := os.Getenv("SSL_CERT_FILE"); f != "" {
		certs = append(certs, f)
	}
	for _, d := range filepath.SplitList(os.Getenv("SSL_CERT_DIR")) {
		if d != "" {
			m, _ := filepath.Glob(filepath.Join(d, "*"))
			certs = append(certs, m...)
		}
	}
	for _, c := range []struct {
		what  string
		paths []string
		limit int64
	}{{"auth file", auth, boundedio.Config}, {"registries.conf", conf, boundedio.Config}, {"certificate", certs, boundedio.Script}} {
		for _, p := range c.paths {
			if c.what == "certificate" {
				if fi, err := os.Stat(p); err == nil && fi.IsDir() {
					continue // crypto/x509 skips directories
				}
			}
			f, err := boundedio.Open(p, c.limit)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return fmt.Errorf("%s: %w", c.what, err)
			}
			f.Close()
		}
	}
	return nil
}
