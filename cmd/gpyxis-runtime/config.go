package main

import (
	"fmt"
	"os"
	"sync"

	"github.com/gpyxis/gpyxis/pkg/config"
)

// siteConfig is the configuration (files and ENROOT_*/GPYXIS_* variables), loaded
// once; its warnings go to stderr, the command's voice.
var siteConfig = sync.OnceValues(func() (*config.Config, error) {
	c, err := config.Load(config.LoadOptions{})
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	for _, w := range c.Warnings {
		fmt.Fprintf(os.Stderr, "gpyxis-runtime: warning: %s\n", w)
	}
	return c, nil
})

// explicit reports whether the configuration sets key (its GPYXIS_ name, without the
// prefix) rather than leaving the default: gpyxis keeps its own defaults (zstd, 4
// download jobs) where enroot's differ, unless a site asks for enroot's.
func explicit(c *config.Config, key string) bool {
	s, ok := c.Source["GPYXIS_"+key]
	return ok && s != "default"
}
