// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/gpyxis/gpyxis/pkg/nodecheck"
)

const checkAbout = `
Report what this node offers gpyxis and what is missing, one line per
feature with its status (ok, missing, warn), what was found and the fix.
User namespaces, openat2 (Linux 5.6) and close_range (5.9) are required;
unprivileged overlay (5.11), idmapped mounts (5.12), FUSE, squashfs, the
cgroup version, seccomp and the Slurm release the plugin was built for are
reported as warnings. Exit status 0 when everything required is there, 1
otherwise. Run it as the users who run containers, or as root (user
namespaces are then probed as nobody).`

// checkReport is check's --format json output.
type checkReport struct {
	OK      bool               `json:"ok"`
	Version string             `json:"version"`
	Checks  []nodecheck.Result `json:"checks"`
}

func runCheck(stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	format := fs.String("format", "table", "output `FORMAT`: table or json")
	var opts nodecheck.Options
	fs.StringVar(&opts.Plugin, "plugin", "", "the Slurm plugin to read (`PATH`; default: the one plugstack.conf loads)")
	fs.StringVar(&opts.PlugstackConf, "plugstack", "", "Slurm's plugstack.conf (`PATH`; default /etc/slurm/plugstack.conf)")
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		usageFor(stdout, fs, "check [--format table|json]", checkAbout)
		return nil
	}
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("%w: check takes no arguments", errUsage)
	}
	if *format != "table" && *format != "json" {
		return fmt.Errorf("%w: check: --format %q: use table or json", errUsage, *format)
	}
	results := nodecheck.Run(opts)
	failed := nodecheck.Failures(results)
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(checkReport{OK: len(failed) == 0, Version: versionString(), Checks: results}); err != nil {
			return err
		}
	} else if err := printCheckTable(stdout, results); err != nil {
		return err
	}
	if len(failed) > 0 {
		names := make([]string, len(failed))
		for i, r := range failed {
			names[i] = r.Name
		}
		return fmt.Errorf("this node lacks what gpyxis requires: %s", strings.Join(names, ", "))
	}
	return nil
}

func printCheckTable(w io.Writer, results []nodecheck.Result) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSTATUS\tDETAIL")
	for _, r := range results {
		status := string(r.Status)
		if r.Required && r.Status != nodecheck.OK {
			status += " (required)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, status, r.Detail)
		if r.Fix != "" {
			fmt.Fprintf(tw, "\t\tfix: %s\n", r.Fix)
		}
	}
	return tw.Flush()
}
