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
	for _, c := range []struct {
		what  string
		paths []string
	}{{"auth file", auth}, {"registries.conf", conf}} {
		for _, p := range c.paths {
			f, err := boundedio.Open(p, boundedio.Config)
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
