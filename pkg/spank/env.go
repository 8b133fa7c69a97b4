// SPDX-License-Identifier: Apache-2.0

package spank

import (
	"strconv"
	"strings"
)

// envList is an ordered environment: each name once, at the position of
// its first appearance, with the value of its last.
type envList struct {
	names []string
	vals  map[string]string
}

// parseEnv reads KEY=VALUE entries; entries without "=" or with an empty
// name are skipped.
func parseEnv(entries []string) *envList {
	e := &envList{vals: make(map[string]string, len(entries))}
	for _, kv := range entries {
		name, value, ok := strings.Cut(kv, "=")
		if ok && name != "" {
			e.set(name, value)
		}
	}
	return e
}

func (e *envList) set(name, value string) {
	if _, ok := e.vals[name]; !ok {
		e.names = append(e.names, name)
	}
	e.vals[name] = value
}

func (e *envList) get(name string) (string, bool) {
	v, ok := e.vals[name]
	return v, ok
}

func (e *envList) unset(name string) {
	if _, ok := e.vals[name]; !ok {
		return
	}
	delete(e.vals, name)
	for i, n := range e.names {
		if n == name {
			e.names = append(e.names[:i], e.names[i+1:]...)
			break
		}
	}
}

func (e *envList) list() []string {
	out := make([]string, 0, len(e.names))
	for _, n := range e.names {
		out = append(out, n+"="+e.vals[n])
	}
	return out
}

// localeVars are dropped from the task's environment before the merge
// unless --container-env names them, so that an image without the host's
// locale does not make programs complain.
var localeVars = []string{"LANG", "LANGUAGE", "LC_ALL"}

// MergeEnv returns the environment a task sees in the container, by pyxis'
// rules: task is the Slurm task's environment, container the container's
// (KEY=VALUE entries both), keep the --container-env names.
//
//   - LANG, LANGUAGE and LC_ALL are removed from the task's environment
//     unless keep names them;
//   - every container variable then replaces the task's, except that a
//     name in keep keeps the task's value when the task has one (the
//     container's value is used when it does not).
//
// The result lists the task's variables in the task's order, then the
// variables only the container has, in the container's order. A name given
// twice in one input takes its last value at its first position; entries
// without "=" are dropped. The inputs are not modified.
func MergeEnv(task, container, keep []string) []string {
	env := parseEnv(task)
	for _, n := range localeVars {
		if !contains(keep, n) {
			env.unset(n)
		}
	}
	ctr := parseEnv(container)
	for _, n := range ctr.names {
		if _, has := env.get(n); has && contains(keep, n) {
			continue
		}
		env.set(n, ctr.vals[n])
	}
	return env.list()
}

// PyTorch returns env (a task's final environment) with the variables
// PyTorch's distributed launcher expects, when PYTORCH_VERSION is set
// (pyxis' per-task remap plus enroot's 50-slurm-pytorch hook):
//
//   - RANK = SLURM_PROCID and LOCAL_RANK = SLURM_LOCALID, always replaced;
//   - only when not already set: MASTER_ADDR = the first host of
//     SLURM_STEP_NODELIST (else SLURM_JOB_NODELIST), MASTER_PORT =
//     SLURM_JOB_ID % 4536 + 61000, WORLD_SIZE = SLURM_NTASKS (else
//     SLURM_STEP_NUM_TASKS), and OMP_NUM_THREADS=1 when
//     SLURM_STEP_NUM_TASKS > SLURM_STEP_NUM_NODES.
//
// A variable whose input is missing or unparsable is left out. Replaced
// variables keep their position; new ones are appended in the order
// above. Without PYTORCH_VERSION, env is returned as it is (as a copy).
func PyTorch(env []string) []string {
	e := parseEnv(env)
	if _, ok := e.get("PYTORCH_VERSION"); !ok {
		return append([]string(nil), env...)
	}
	setDefault := func(name, value string, ok bool) {
		if _, has := e.get(name); ok && !has {
			e.set(name, value)
		}
	}
	addr, ok := masterAddr(e)
	setDefault("MASTER_ADDR", addr, ok)
	if id, err := strconv.ParseUint(getOr(e, "SLURM_JOB_ID"), 10, 64); err == nil {
		setDefault("MASTER_PORT", strconv.FormatUint(id%4536+61000, 10), true)
	}
	if n, ok := e.get("SLURM_NTASKS"); ok && n != "" {
		setDefault("WORLD_SIZE", n, true)
	} else if n, ok := e.get("SLURM_STEP_NUM_TASKS"); ok && n != "" {
		setDefault("WORLD_SIZE", n, true)
	}
	for _, v := range [][2]string{{"RANK", "SLURM_PROCID"}, {"LOCAL_RANK", "SLURM_LOCALID"}} {
		if val, ok := e.get(v[1]); ok && val != "" {
			e.set(v[0], val)
		}
	}
	tasks, errT := strconv.Atoi(getOr(e, "SLURM_STEP_NUM_TASKS"))
	nodes, errN := strconv.Atoi(getOr(e, "SLURM_STEP_NUM_NODES"))
	setDefault("OMP_NUM_THREADS", "1", errT == nil && errN == nil && tasks > nodes)
	return e.list()
}

// masterAddr returns the first host of the step's node list, or of the
// job's when the step's is missing or malformed.
func masterAddr(e *envList) (string, bool) {
	for _, name := range []string{"SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST"} {
		if list, ok := e.get(name); ok {
			if host, err := FirstHost(list); err == nil {
				return host, true
			}
		}
	}
	return "", false
}

func getOr(e *envList, name string) string {
	v, _ := e.get(name)
	return v
}

// Diff returns what turns environment before into after (KEY=VALUE
// entries both): set holds the KEY=VALUE entries of after whose name before
// lacks or has with another value, in after's order; unset the names
// before has and after lacks, in before's order. Duplicate names count
// with their last value.
func Diff(before, after []string) (set []string, unset []string) {
	o, n := parseEnv(before), parseEnv(after)
	for _, name := range n.names {
		if v, ok := o.get(name); !ok || v != n.vals[name] {
			set = append(set, name+"="+n.vals[name])
		}
	}
	for _, name := range o.names {
		if _, ok := n.get(name); !ok {
			unset = append(unset, name)
		}
	}
	return set, unset
}
