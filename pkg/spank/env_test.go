// SPDX-License-Identifier: Apache-2.0

package spank

import (
	"reflect"
	"strings"
	"testing"
)

// lookupEnv returns the value of name in a KEY=VALUE list, and whether it
// appears exactly once.
func lookupEnv(t *testing.T, env []string, name string) (string, bool) {
	t.Helper()
	var value string
	n := 0
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			value = v
			n++
		}
	}
	if n > 1 {
		t.Errorf("%s appears %d times in %q", name, n, env)
	}
	return value, n == 1
}

// Cases from pyxis' tests/env.bats and tests/env_vars.bats.
func TestMergeEnvPyxisCases(t *testing.T) {
	image := []string{
		"PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:/usr/bin",
		"CUDA_VERSION=11.8.0",
		"LD_LIBRARY_PATH=/usr/local/nvidia/lib:/usr/local/nvidia/lib64",
		"HOME=/root",
	}
	host := []string{
		"PATH=/usr/bin:/bin",
		"FOO=bar",
		"TERM=dumb",
		"LANG=en_US.UTF-8",
		"LANGUAGE=en_US",
		"LC_ALL=C.UTF-8",
		"CUDA_VERSION=12.0.0",
		"LD_LIBRARY_PATH=/usr/local/cuda/lib64",
	}
	tests := []struct {
		name  string
		keep  []string
		want  map[string]string // "" value with absent=true means must be missing
		unset []string
	}{
		{"passthrough and image wins", nil, map[string]string{
			"FOO":             "bar",
			"TERM":            "dumb",
			"PATH":            "/usr/local/nvidia/bin:/usr/local/cuda/bin:/usr/bin",
			"CUDA_VERSION":    "11.8.0",
			"LD_LIBRARY_PATH": "/usr/local/nvidia/lib:/usr/local/nvidia/lib64",
			"HOME":            "/root",
		}, []string{"LANG", "LANGUAGE", "LC_ALL"}},
		{"--container-env CUDA_VERSION", []string{"CUDA_VERSION"}, map[string]string{
			"CUDA_VERSION":    "12.0.0",
			"LD_LIBRARY_PATH": "/usr/local/nvidia/lib:/usr/local/nvidia/lib64",
		}, []string{"LANG"}},
		{"--container-env CUDA_VERSION,LD_LIBRARY_PATH", []string{"CUDA_VERSION", "LD_LIBRARY_PATH"}, map[string]string{
			"CUDA_VERSION":    "12.0.0",
			"LD_LIBRARY_PATH": "/usr/local/cuda/lib64",
		}, nil},
		{"--container-env LD_LIBRARY_PATH,CUDA_VERSION", []string{"LD_LIBRARY_PATH", "CUDA_VERSION"}, map[string]string{
			"CUDA_VERSION":    "12.0.0",
			"LD_LIBRARY_PATH": "/usr/local/cuda/lib64",
		}, nil},
		{"--container-env LANG", []string{"LANG"}, map[string]string{
			"LANG": "en_US.UTF-8",
		}, []string{"LANGUAGE", "LC_ALL"}},
		{"--container-env LC_ALL,LANGUAGE", []string{"LC_ALL", "LANGUAGE"}, map[string]string{
			"LC_ALL":   "C.UTF-8",
			"LANGUAGE": "en_US",
		}, []string{"LANG"}},
		{"kept name the host lacks", []string{"HOME", "NOPE"}, map[string]string{
			"HOME": "/root",
		}, []string{"NOPE"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := MergeEnv(host, image, tc.keep)
			for name, want := range tc.want {
				v, ok := lookupEnv(t, got, name)
				if !ok || v != want {
					t.Errorf("%s = %q (present %v), want %q", name, v, ok, want)
				}
			}
			for _, name := range tc.unset {
				if v, ok := lookupEnv(t, got, name); ok {
					t.Errorf("%s = %q, want it unset", name, v)
				}
			}
		})
	}
}

func TestMergeEnvLocaleFromImage(t *testing.T) {
	// A dropped host LANG does not hide the image's own LANG.
	got := MergeEnv([]string{"LANG=en_US.UTF-8"}, []string{"LANG=C.UTF-8"}, nil)
	if !reflect.DeepEqual(got, []string{"LANG=C.UTF-8"}) {
		t.Errorf("got %q", got)
	}
	// A kept name the host lacks takes the container's value.
	got = MergeEnv(nil, []string{"CUDA_VERSION=11.8.0"}, []string{"CUDA_VERSION"})
	if !reflect.DeepEqual(got, []string{"CUDA_VERSION=11.8.0"}) {
		t.Errorf("got %q", got)
	}
	// A kept name set to the empty string on the host still wins.
	got = MergeEnv([]string{"X="}, []string{"X=image"}, []string{"X"})
	if !reflect.DeepEqual(got, []string{"X="}) {
		t.Errorf("got %q", got)
	}
}

func TestMergeEnvOrder(t *testing.T) {
	task := []string{"A=1", "LANG=C", "B=2", "A=3", "junk", "=x", "C=4"}
	ctr := []string{"D=5", "B=6", "E=7", "D=8"}
	got := MergeEnv(task, ctr, []string{"C"})
	want := []string{"A=3", "B=6", "C=4", "D=8", "E=7"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if task[0] != "A=1" || task[1] != "LANG=C" || ctr[0] != "D=5" {
		t.Error("inputs modified")
	}
	if got := MergeEnv(nil, nil, nil); len(got) != 0 {
		t.Errorf("empty merge gave %q", got)
	}
}

func TestPyTorch(t *testing.T) {
	base := []string{
		"PYTORCH_VERSION=2.3.0",
		"SLURM_PROCID=5",
		"SLURM_LOCALID=1",
		"SLURM_STEP_NODELIST=node[07,09-12]",
		"SLURM_JOB_NODELIST=node[01-12]",
		"SLURM_JOB_ID=123456",
		"SLURM_NTASKS=8",
		"SLURM_STEP_NUM_TASKS=6",
		"SLURM_STEP_NUM_NODES=2",
	}
	with := func(extra ...string) []string { return append(append([]string(nil), base...), extra...) }
	without := func(name string) []string {
		var out []string
		for _, kv := range base {
			if !strings.HasPrefix(kv, name+"=") {
				out = append(out, kv)
			}
		}
		return out
	}
	tests := []struct {
		name string
		env  []string
		want map[string]string // "-" means must be absent
	}{
		{"all derived", base, map[string]string{
			"RANK": "5", "LOCAL_RANK": "1", "MASTER_ADDR": "node07",
			"MASTER_PORT": "61984", "WORLD_SIZE": "8", "OMP_NUM_THREADS": "1",
		}},
		{"rank always replaced", with("RANK=0", "LOCAL_RANK=0"), map[string]string{"RANK": "5", "LOCAL_RANK": "1"}},
		{"existing values kept", with("MASTER_ADDR=head", "MASTER_PORT=29500", "WORLD_SIZE=2", "OMP_NUM_THREADS=4"), map[string]string{
			"MASTER_ADDR": "head", "MASTER_PORT": "29500", "WORLD_SIZE": "2", "OMP_NUM_THREADS": "4",
		}},
		{"job nodelist fallback", without("SLURM_STEP_NODELIST"), map[string]string{"MASTER_ADDR": "node01"}},
		{"malformed step nodelist falls back", with("SLURM_STEP_NODELIST=node["), map[string]string{"MASTER_ADDR": "node01"}},
		{"no nodelist", []string{"PYTORCH_VERSION=2", "SLURM_PROCID=5"}, map[string]string{"MASTER_ADDR": "-", "RANK": "5"}},
		{"world size fallback", without("SLURM_NTASKS"), map[string]string{"WORLD_SIZE": "6"}},
		{"no job id", without("SLURM_JOB_ID"), map[string]string{"MASTER_PORT": "-"}},
		{"bad job id", with("SLURM_JOB_ID=abc"), map[string]string{"MASTER_PORT": "-"}},
		{"one task per node", with("SLURM_STEP_NUM_TASKS=2"), map[string]string{"OMP_NUM_THREADS": "-"}},
		{"no node count", without("SLURM_STEP_NUM_NODES"), map[string]string{"OMP_NUM_THREADS": "-"}},
		{"no procid", without("SLURM_PROCID"), map[string]string{"RANK": "-", "LOCAL_RANK": "1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := PyTorch(tc.env)
			for name, want := range tc.want {
				v, ok := lookupEnv(t, got, name)
				switch {
				case want == "-" && ok:
					t.Errorf("%s = %q, want it unset", name, v)
				case want != "-" && (!ok || v != want):
					t.Errorf("%s = %q (present %v), want %q", name, v, ok, want)
				}
			}
		})
	}
}

func TestPyTorchMasterPort(t *testing.T) {
	for id, want := range map[string]string{
		"0": "61000", "1": "61001", "4535": "65535", "4536": "61000", "123456": "61984",
	} {
		env := PyTorch([]string{"PYTORCH_VERSION=", "SLURM_JOB_ID=" + id})
		if v, _ := lookupEnv(t, env, "MASTER_PORT"); v != want {
			t.Errorf("SLURM_JOB_ID=%s: MASTER_PORT=%q, want %q", id, v, want)
		}
	}
}

func TestPyTorchWithoutPyTorch(t *testing.T) {
	in := []string{"SLURM_PROCID=3", "SLURM_JOB_ID=7", "SLURM_STEP_NODELIST=n1"}
	got := PyTorch(in)
	if !reflect.DeepEqual(got, in) {
		t.Errorf("got %q, want the input unchanged", got)
	}
	got[0] = "X=1"
	if in[0] != "SLURM_PROCID=3" {
		t.Error("result shares the input's array")
	}
}

func TestPyTorchOrder(t *testing.T) {
	got := PyTorch([]string{
		"RANK=9", "PYTORCH_VERSION=2", "SLURM_PROCID=0", "SLURM_LOCALID=0",
		"SLURM_STEP_NODELIST=vm", "SLURM_JOB_ID=1", "SLURM_NTASKS=2",
		"SLURM_STEP_NUM_TASKS=2", "SLURM_STEP_NUM_NODES=1",
	})
	want := []string{
		"RANK=0", "PYTORCH_VERSION=2", "SLURM_PROCID=0", "SLURM_LOCALID=0",
		"SLURM_STEP_NODELIST=vm", "SLURM_JOB_ID=1", "SLURM_NTASKS=2",
		"SLURM_STEP_NUM_TASKS=2", "SLURM_STEP_NUM_NODES=1",
		"MASTER_ADDR=vm", "MASTER_PORT=61001", "WORLD_SIZE=2", "LOCAL_RANK=0", "OMP_NUM_THREADS=1",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestDiff(t *testing.T) {
	tests := []struct {
		name          string
		before, after []string
		set, unset    []string
	}{
		{"same", []string{"A=1", "B=2"}, []string{"B=2", "A=1"}, nil, nil},
		{"changed, added, removed",
			[]string{"A=1", "B=2", "C=3", "D=4"},
			[]string{"E=5", "B=2", "A=9", "D="},
			[]string{"E=5", "A=9", "D="}, []string{"C"}},
		{"from empty", nil, []string{"A=1"}, []string{"A=1"}, nil},
		{"to empty", []string{"A=1", "B=2"}, nil, nil, []string{"A", "B"}},
		{"duplicates count with the last value", []string{"A=1", "A=2"}, []string{"A=2"}, nil, nil},
		{"empty value differs from unset", []string{"A="}, []string{"A=", "B="}, []string{"B="}, nil},
		{"value with =", []string{"A=x=1"}, []string{"A=x=2"}, []string{"A=x=2"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, unset := Diff(tc.before, tc.after)
			if !reflect.DeepEqual(set, tc.set) || !reflect.DeepEqual(unset, tc.unset) {
				t.Errorf("got set %q unset %q; want set %q unset %q", set, unset, tc.set, tc.unset)
			}
		})
	}
}

func TestDiffMergeRoundTrip(t *testing.T) {
	task := []string{"PATH=/bin", "LANG=C", "FOO=bar", "CUDA_VERSION=12"}
	merged := PyTorch(MergeEnv(task, []string{"PATH=/usr/bin", "PYTORCH_VERSION=2", "CUDA_VERSION=11"}, []string{"CUDA_VERSION"}))
	set, unset := Diff(task, merged)
	if !reflect.DeepEqual(set, []string{"PATH=/usr/bin", "PYTORCH_VERSION=2"}) || !reflect.DeepEqual(unset, []string{"LANG"}) {
		t.Errorf("set %q unset %q", set, unset)
	}
}
