// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gpyxis/gpyxis/pkg/container"
	"github.com/gpyxis/gpyxis/pkg/importer"
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

const startAbout = `Run a command in a named container (see create), as enroot start does.

With --detach, run no command: set the container up and leave a holder process in
its namespaces, print the holder's PID and write its state file (default
$ENROOT_RUNTIME_PATH/holder.NAME.json); 'gpyxis-runtime exec PID|STATEFILE CMD'
then runs commands in it and 'gpyxis-runtime stop NAME|PID|STATEFILE' ends it.

--rc FILE runs FILE (a file or a pipe, read on the host) instead of the image's
/etc/rc: the command becomes '/bin/sh /proc/self/fd/4 COMMAND...', as enroot runs its
copy of the script. --conf FILE is an enroot configuration script, run by bash
(which must be installed): its environ() prints NAME=VALUE lines added to the
environment before --env, its mounts() prints fstab lines mounted after the image's
and before --mount, its hooks() runs on the host after the site hooks with
ENROOT_ROOTFS, ENROOT_PID, ENROOT_ENVIRON and ENROOT_MOUNTS set, and its rc() body
replaces /etc/rc unless --rc is given. Its #ENROOT_REMAP_ROOT=, #ENROOT_ROOTFS_WRITABLE=,
#ENROOT_MOUNT_HOME= and #ENROOT_RESTRICT_DEV= directives apply unless the command
line says otherwise.`

func runStart(stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("start", flag.ContinueOnError)
	var cf containerFlags
	cf.register(fs)
	var stateFile string
	var detach bool
	fs.BoolVar(&detach, "detach", false, "run no command: leave a holder process for exec, print its PID")
	fs.StringVar(&stateFile, "state", "", "with --detach: the holder's state `FILE` (default $ENROOT_RUNTIME_PATH/holder.NAME.json)")
	pos, err := parseUntilPositional(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		usageFor(stdout, fs, "start [OPTIONS] NAME [COMMAND [ARG...]]\n       gpyxis-runtime start --detach [OPTIONS] NAME", startAbout)
		return nil
	}
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return fmt.Errorf("%w: start needs a container name", errUsage)
	}
	if detach && (len(pos) > 1 || cf.o.RC != "") {
		return fmt.Errorf("%w: start --detach runs no command: drop the command and --rc (run commands with exec)", errUsage)
	}
	if stateFile != "" && !detach {
		return fmt.Errorf("%w: --state goes with --detach", errUsage)
	}
	if err := cf.complete(fs); err != nil {
		return err
	}
	o := cf.o
	o.Args = pos[1:]
	st, err := store(cf.dataDir)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	if detach {
		return startDetached(ctx, stdout, st, pos[0], o, stateFile)
	}
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
		fs.BoolVar(&fancy, n, false, "also show the processes running in each container (one line each)")
	}
	fs.StringVar(&dataDir, "data-dir", "", "where containers live")
	if _, err := parseArgs(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usageFor(stdout, fs, "list [-f]", listAbout)
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
		return listFancy(stdout, st, names, time.Now())
	}
	for _, n := range names {
		fmt.Fprintln(stdout, n)
	}
	return nil
}

const listAbout = `List the containers, one name per line. With -f, as enroot list -f: a table of
NAME, PID, COMM, STATE, STARTED, TIME (CPU time), MNTNS, USERNS (namespace inodes)
and COMMAND, one line per process running in the container; the name is on its
first process's line only.`

// listFancy writes enroot's `list -f` table.
func listFancy(w io.Writer, st container.Store, names []string, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPID\tCOMM\tSTATE\tSTARTED\tTIME\tMNTNS\tUSERNS\tCOMMAND")
	for _, n := range names {
		pids := st.Pids(n)
		slices.Sort(pids)
		name := n
		for _, pid := range pids {
			p, err := container.ReadProc(pid)
			if err != nil { // it exited meanwhile
				continue
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, p.Pid, cell(p.Comm), p.State,
				container.FormatStarted(p.Started, now), container.FormatCPU(p.CPU), nsCell(p.MntNS), nsCell(p.UserNS), cell(p.Command))
			name = ""
		}
		if name != "" { // nothing runs in it
			fmt.Fprintln(tw, name)
		}
	}
	return tw.Flush()
}

// cell keeps a table cell on its line and in its column.
func cell(s string) string { return strings.NewReplacer("\t", " ", "\n", " ").Replace(s) }

func nsCell(ino uint64) string {
	if ino == 0 {
		return "-"
	}
	return strconv.FormatUint(ino, 10)
}

const removeAbout = `Delete containers (not running ones). Without -f, ask for each: on a terminal
with a [y/N] prompt; otherwise the answer is read from standard input without a
prompt, as enroot's read does (echo y | gpyxis-runtime remove NAME), and an empty
or closed input (</dev/null) answers no at once. Containers not confirmed are
kept and the command fails.`

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
		usageFor(stdout, fs, "remove [-f] NAME...", removeAbout)
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
	ask := confirmer{in: bufio.NewReader(os.Stdin), prompt: os.Stderr, tty: isTerminal(os.Stdin)}
	var kept []string
	for _, n := range names {
		if !force {
			dir, err := st.Lookup(n)
			if err != nil {
				return err
			}
			if !ask.confirm(fmt.Sprintf("Do you really want to delete %s? [y/N] ", dir)) {
				kept = append(kept, n)
				continue
			}
		}
		if err := st.Remove(n); err != nil {
			return err
		}
	}
	if len(kept) > 0 {
		return fmt.Errorf("not removed: %s (answer y, or use -f)", strings.Join(kept, " "))
	}
	return nil
}

// confirmer asks yes/no questions as enroot's `read -p`: the prompt only on
// a terminal, the answer read from in whatever it is.
type confirmer struct {
	in     *bufio.Reader
	prompt io.Writer
	tty    bool
}

// confirm returns whether the answer to question is y or yes; end of input
// is no.
func (c confirmer) confirm(question string) bool {
	if c.tty {
		fmt.Fprint(c.prompt, question)
	}
	// ReadSlice stops at the reader's buffer: an endless line is a "no", not
	// a string that grows until memory runs out.
	b, err := c.in.ReadSlice('\n')
	line := string(b)
	if err != nil && line == "" {
		if c.tty {
			fmt.Fprintln(c.prompt)
		}
		return false
	}
	a := strings.TrimSpace(line)
	return strings.EqualFold(a, "y") || strings.EqualFold(a, "yes")
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
