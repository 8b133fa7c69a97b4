// SPDX-License-Identifier: Apache-2.0

// Package spank is the Go side of gpyxis' Slurm SPANK plugin (shim/spank.c).
//
// The plugin is thin: at each SPANK callback that needs a decision it forks
// `gpyxis-runtime spank OP` with a stream socket as fd 3, writes the job
// context as records (see [Request]), and applies the records and file
// descriptors that come back (see [Reply]): namespace fds to setns into, a
// directory to chdir to, a seccomp program, environment changes, and
// messages for the user. Everything else (option validation with pyxis'
// messages, container names, locking, import, create-once, the environment
// merge, save and cleanup) happens here.
//
// One container per node per step: every task's task_init asks to join; the
// first one, under the step's lock, creates the container (importing at
// most once per node), starts a holder process in its namespaces and records
// the step's state; the others find that state and join the same holder.
// The last task_exit (counted by the plugin in slurmstepd) releases the
// step: save, stop the holder, remove an unnamed container.
package spank
