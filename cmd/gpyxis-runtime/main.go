// SPDX-License-Identifier: Apache-2.0

// Command gpyxis-runtime is the gpyxis container runtime: it imports OCI images
// into squashfs files and runs containers for users and for the Slurm shim.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gpyxis/gpyxis/pkg/namespaces"
	"github.com/gpyxis/gpyxis/pkg/rootfs"
)

// errUsage marks errors caused by a bad command line; they exit with status 2.
var errUsage = errors.New("usage")

// command is one subcommand of gpyxis-runtime.
type command struct {
	name    string
	summary string
	run     func(stdout io.Writer, args []string) error
}

func commands() []command {
	return []command{
		{name: "import", summary: "pull an image and write it as a squashfs file (enroot import)", run: runImport},
		{name: "run", summary: "run a command in a temporary container of an image", run: runRun},
		{name: "exec", summary: "run a command in a running container (enroot exec)", run: runExec},
		{name: "create", summary: "unpack an image into a named container", run: runCreate},
		{name: "start", summary: "run a command in a named container (--detach: hold it for exec)", run: runStart},
		{name: "stop", summary: "stop a container holder started by start --detach", run: runStop},
		{name: "list", summary: "list containers (-f: with their processes)", run: runList},
		{name: "remove", summary: "delete containers", run: runRemove},
		{name: "export", summary: "write a container as a squashfs file", run: runExport},
		{name: "digest", summary: "print an image's manifest digest for this platform (enroot digest)", run: runDigest},
		{name: "cache", summary: "fill, list or clean the node's cache of unpacked images (add, list, gc, prune)", run: runCache},
		{name: "check", summary: "report what this node supports and what is missing, with the fix", run: runCheck},
		{name: "spank", summary: "(internal) the Slurm plugin's entry point", run: runSpank},
		{name: "version", summary: "print the version and build information", run: runVersion},
		{name: "help", summary: "show this help", run: func(w io.Writer, _ []string) error { return usage(w) }},
	}
}

func main() {
	// The container init is this binary re-executed in the new namespaces.
	if len(os.Args) > 1 && os.Args[1] == rootfs.InitArg {
		rootfs.InitMain()
		return
	}
	if len(os.Args) > 1 && os.Args[1] == namespaces.PauseArg {
		namespaces.PauseMain()
	}
	if err := run(os.Stdout, os.Args[1:]); err != nil {
		var code exitCode
		if errors.As(err, &code) { // the container's own status, passed on silently
			os.Exit(int(code))
		}
		fmt.Fprintf(os.Stderr, "gpyxis-runtime: %v\n", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// run dispatches args to a subcommand; it is main without the exit.
func run(stdout io.Writer, args []string) error {
	if len(args) == 0 {
		_ = usage(os.Stderr)
		return fmt.Errorf("%w: no command given (try 'gpyxis-runtime --help')", errUsage)
	}
	switch args[0] {
	case "-h", "--help":
		return usage(stdout)
	case "-v", "--version":
		return runVersion(stdout, args[1:])
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(stdout, args[1:])
		}
	}
	return fmt.Errorf("%w: unknown command %q (try 'gpyxis-runtime --help')", errUsage, args[0])
}

func usage(w io.Writer) error {
	fmt.Fprint(w, `Usage: gpyxis-runtime COMMAND [OPTIONS] [ARGS]

gpyxis-runtime imports OCI images into squashfs files and runs them as rootless
containers that share the host's network, PIDs, GPUs and InfiniBand. The Slurm
SPANK plugin (shim/spank.c) drives it for srun --container-image.

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	_, err := fmt.Fprint(w, `
Options:
  -h, --help     show this help
  -v, --version  same as 'version'
`)
	return err
}
