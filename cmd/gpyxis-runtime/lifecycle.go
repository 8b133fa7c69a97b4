package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gpyxis/gpyxis/pkg/container"
	"github.com/gpyxis/gpyxis/pkg/importer"
	"github.com/gpyxis/gpyxis/pkg/mountspec"
	"github.com/gpyxis/gpyxis/pkg/registry"
	"github.com/gpyxis/gpyxis/pkg/squashfs"
)

// store opens the container store at --data-dir or the default data path.
func store(dataDir string) (container.Store, error) {
	if dataDir == "" {
		d, err := defaultDataDir()
		if err != nil {
			return container.Store{}, err
		}
		dataDir = d
	}
	return container.Store{Dir: dataDir}, nil
}

func runCreate(stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("create", flag.ContinueOnError)
	var pf pullFlags
	pf.register(fs)
	var name, dataDir string
	var force bool
	for _, n := range []string{"n", "name"} {
		fs.StringVar(&name, n, "", "container name (default: the image name, as enroot)")
	}
	for _, n := range []string{"f", "force"} {
		fs.BoolVar(&force, n, false, "replace an existing container of that name")
	}
	fs.StringVar(&dataDir, "data-dir", "", "where containers live (default $ENROOT_DATA_PATH or ~/.local/share/gpyxis)")
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		usageFor(stdout, fs, "create [OPTIONS] IMAGE", "Unpack a registry image or a squashfs file (IMAGE.sqsh) into a named container root filesystem.")
		return nil
	}
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: create takes one image", errUsage)
	}
	st, err := store(dataDir)
	if err != nil {
		return err
	}
	log := pf.logger()
	ctx, stop := signalContext()
	defer stop()
	if container.IsSquashfs(pos[0]) { // enroot create IMAGE.sqsh: the name defaults to the file's
		if name == "" {
			name = strings.TrimSuffix(filepath.Base(pos[0]), ".sqsh")
		}
		if err := st.CreateFromSquashfs(ctx, pos[0], name, force, log); err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, name)
		return err
	}
	ref, err := registry.ParseReference(pos[0])
	if err != nil {
		return err
	}
	if name == "" {
		name = strings.TrimSuffix(ref.OutputName(), ".sqsh")
	}
	opts, err := pf.options(log)
	if err != nil {
		return err
	}
	p, err := registry.NewPuller(opts...)
	if err != nil {
		return err
	}
	if err := st.Create(ctx, p, ref, name, force, log); err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, name)
	return err
}

func runStart(stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("start", flag.ContinueOnError)
	var o container.StartOptions
	var envs, mounts stringList
	var dataDir string
	for _, n := range []string{"r", "remap-root"} {
		fs.BoolVar(&o.RemapRoot, n, false, "appear as root (uid 0) inside the container")
	}
	for _, n := range []string{"w", "rw"} {
		fs.BoolVar(&o.Writable, n, false, "make the root filesystem writable")
	}
	for _, n := range []string{"e", "env"} {
		fs.Var(&envs, n, "set NAME=VALUE, or pass the host's NAME (repeatable)")
	}
	for _, n := range []string{"m", "mount"} {
		fs.Var(&mounts, n, "mount as enroot's --mount: SRC:DST[:TYPE[:OPTIONS]] (repeatable)")
	}
	fs.BoolVar(&o.NoEntrypoint, "no-entrypoint", false, "run the command alone, without the image's ENTRYPOINT and /etc/rc")
	fs.StringVar(&o.Workdir, "workdir", "", "working directory inside the container")
	fs.StringVar(&dataDir, "data-dir", "", "where containers live (default $ENROOT_DATA_PATH or ~/.local/share/gpyxis)")
	pos, err := parseUntilPositional(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		usageFor(stdout, fs, "start [OPTIONS] NAME [COMMAND [ARG...]]", "Run a command in a named container (see create).")
		return nil
	}
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return fmt.Errorf("%w: start needs a container name", errUsage)
	}
	if err := containerDefaults(fs, &o.RemapRoot, &o.Writable); err != nil {
		return err
	}
	if o.HookConfig, o.ConfDirs, err = hookSettings(); err != nil {
		return err
	}
	for _, m := range mounts {
		spec, err := mountspec.ParseEnrootFlag(m, nil)
		if err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		o.Mounts = append(o.Mounts, container.Mounts([]mountspec.Mount{spec})...)
	}
	o.Env, o.Args = envs, pos[1:]
	o.Stdin, o.Stdout, o.Stderr = os.Stdin, os.Stdout, os.Stderr
	st, err := store(dataDir)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	code, err := st.Start(ctx, pos[0], o)
	if err != nil {
		return err
	}
	if code != 0 {
		return exitCode(code)
	}
	return nil
}

func runList(stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	var fancy bool
	var dataDir string
	for _, n := range []string{"f", "fancy"} {
		fs.BoolVar(&fancy, n, false, "also show the processes running in each container")
	}
	fs.StringVar(&dataDir, "data-dir", "", "where containers live")
	if _, err := parseArgs(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usageFor(stdout, fs, "list [-f]", "List the containers.")
			return nil
		}
		return err
	}
	st, err := store(dataDir)
	if err != nil {
		return err
	}
	names, err := st.List()
	if err != nil {
		return err
	}
	if fancy {
		fmt.Fprintf(stdout, "%-24s %-8s %s\n", "NAME", "PID", "COMMAND")
	}
	for _, n := range names {
		if !fancy {
			fmt.Fprintln(stdout, n)
			continue
		}
		pids := st.Pids(n)
		if len(pids) == 0 {
			fmt.Fprintf(stdout, "%-24s %-8s\n", n, "-")
		}
		for _, pid := range pids {
			fmt.Fprintf(stdout, "%-24s %-8d %s\n", n, pid, container.ProcCommand(pid))
		}
	}
	return nil
}

func runRemove(stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("remove", flag.ContinueOnError)
	var force bool
	var dataDir string
	for _, n := range []string{"f", "force"} {
		fs.BoolVar(&force, n, false, "do not ask for confirmation")
	}
	fs.StringVar(&dataDir, "data-dir", "", "where containers live")
	names, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		usageFor(stdout, fs, "remove [-f] NAME...", "Delete containers (not running ones).")
		return nil
	}
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return fmt.Errorf("%w: remove needs container names", errUsage)
	}
	st, err := store(dataDir)
	if err != nil {
		return err
	}
	for _, n := range names {
		if !force && !confirm(fmt.Sprintf("Do you really want to delete %s? [y/N] ", n)) {
			return fmt.Errorf("%s not removed (answer y, or use -f)", n)
		}
		if err := st.Remove(n); err != nil {
			return err
		}
	}
	return nil
}

// confirm asks on a terminal; anything but a terminal answers no.
func confirm(question string) bool {
	if !isTerminal(os.Stdin) {
		return false
	}
	fmt.Fprint(os.Stderr, question)
	answer, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	return strings.EqualFold(strings.TrimSpace(answer), "y") || strings.EqualFold(strings.TrimSpace(answer), "yes")
}

func runExport(stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	var output, squashOpts, dataDir string
	var force bool
	for _, n := range []string{"o", "output"} {
		fs.StringVar(&output, n, "", "output file (default NAME.sqsh)")
	}
	for _, n := range []string{"f", "force"} {
		fs.BoolVar(&force, n, false, "replace the output file if it exists")
	}
	fs.StringVar(&squashOpts, "squash-options", "", "enroot-style mksquashfs options (default: the configured SQUASH_OPTIONS)")
	fs.StringVar(&dataDir, "data-dir", "", "where containers live")
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		usageFor(stdout, fs, "export [OPTIONS] NAME", "Write a container's root filesystem as a squashfs file.")
		return nil
	}
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: export takes one container name", errUsage)
	}
	if squashOpts == "" {
		if squashOpts, err = configuredSquashOptions(); err != nil {
			return err
		}
	}
	sq, _, err := importer.ParseSquashOptions(squashOpts, squashfs.Options{})
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if output == "" {
		output = pos[0] + ".sqsh"
	}
	if output, err = filepath.Abs(output); err != nil {
		return err
	}
	if !force {
		if _, err := os.Lstat(output); err == nil {
			return fmt.Errorf("%w: %s (remove it or use --force)", importer.ErrExists, output)
		}
	}
	st, err := store(dataDir)
	if err != nil {
		return err
	}
	return st.Export(pos[0], importer.Options{Output: output, Force: force, Squash: sq})
}
