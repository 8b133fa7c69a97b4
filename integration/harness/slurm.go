// SPDX-License-Identifier: Apache-2.0

package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Slurm is the cluster integration/infra/slurm-up.sh brought up.
type Slurm struct {
	Nodes     []string `json:"nodes"`     // node names, first one the controller's
	Partition string   `json:"partition"` // the default partition
	TestUser  string   `json:"test_user"` // the unprivileged user jobs can run as
	Conf      string   `json:"conf"`      // slurm.conf
}

// LoadSlurm reads the Slurm description and checks that every node is usable.
func LoadSlurm(dir string) (*Slurm, error) {
	b, err := os.ReadFile(filepath.Join(dir, "slurm.json"))
	if err != nil {
		return nil, fmt.Errorf("slurm not set up (%w): run sudo integration/infra/slurm-up.sh", err)
	}
	var s Slurm
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parse %s/slurm.json: %w", dir, err)
	}
	out, err := exec.Command("sinfo", "-h", "-N", "-o", "%N %T").Output()
	if err != nil {
		return nil, fmt.Errorf("slurm is not answering (sinfo: %w): run sudo integration/infra/slurm-up.sh", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.Contains(line, "down") || strings.Contains(line, "drain") {
			return nil, fmt.Errorf("slurm node not usable: %q: see /var/log/slurm", line)
		}
	}
	return &s, nil
}

// RequireSlurm returns the Slurm cluster, or skips t (fails it under
// GPYXIS_INFRA_REQUIRED=1) naming what is missing.
func (e *Env) RequireSlurm(t T) *Slurm {
	t.Helper()
	s, err := LoadSlurm(e.Dir)
	if err != nil {
		missing(t, err)
	}
	return s
}

// Plugin is the gpyxis SPANK plugin integration/infra/plugin-up.sh enabled in
// the harness Slurm.
type Plugin struct {
	Runtime     string `json:"runtime"`      // the gpyxis-runtime the plugin runs
	Plugin      string `json:"plugin"`       // spank_gpyxis.so
	Conf        string `json:"conf"`         // its plugstack.conf.d file
	RuntimePath string `json:"runtime_path"` // runtime_path= given to the plugin
	Args        string `json:"args"`         // extra plugstack arguments
}

// RequirePlugin returns the enabled plugin (and the cluster), or skips t
// (fails it under GPYXIS_INFRA_REQUIRED=1) naming what is missing.
func (e *Env) RequirePlugin(t T) (*Slurm, *Plugin) {
	t.Helper()
	s := e.RequireSlurm(t)
	var p Plugin
	b, err := os.ReadFile(filepath.Join(e.Dir, "plugin.json"))
	if err == nil {
		err = json.Unmarshal(b, &p)
	}
	if err == nil {
		_, err = os.Stat(p.Conf)
	}
	if err != nil {
		missing(t, fmt.Errorf("gpyxis plugin not enabled (%w): run make build && sudo integration/infra/plugin-up.sh", err))
	}
	return s, &p
}
