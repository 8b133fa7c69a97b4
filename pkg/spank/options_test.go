// SPDX-License-Identifier: Apache-2.0

package spank

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/gpyxis/gpyxis/pkg/mountspec"
)

// testGetenv returns a getenv over m.
func testGetenv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// testOpts builds option callbacks from "name=value" or "name" words.
func testOpts(words ...string) []Opt {
	var opts []Opt
	for _, w := range words {
		name, value, _ := strings.Cut(w, "=")
		opts = append(opts, Opt{Name: name, Value: value})
	}
	return opts
}

func mustParseOptions(t *testing.T, opts []Opt, vars map[string]string) (Options, []string) {
	t.Helper()
	o, warns, err := ParseOptions(opts, testGetenv(vars))
	if err != nil {
		t.Fatalf("ParseOptions: unexpected error %v", err)
	}
	return o, warns
}

func TestParseOptionsErrors(t *testing.T) {
	tests := []struct {
		name   string
		opts   []Opt
		vars   map[string]string
		msg    string
		option string
		env    string
	}{
		{"image empty", testOpts("container-image="), nil, "--container-image: argument required", "--container-image", ""},
		{"image twice", testOpts("container-image=a", "container-image=b"), nil, "--container-image specified multiple times", "--container-image", ""},
		{"workdir empty", testOpts("container-workdir="), nil, "--container-workdir: argument required", "--container-workdir", ""},
		{"workdir twice", testOpts("container-workdir=/a", "container-workdir=/b"), nil, "--container-workdir specified multiple times", "--container-workdir", ""},
		{"name empty", testOpts("container-name="), nil, "--container-name: argument required", "--container-name", ""},
		{"name twice", testOpts("container-name=a", "container-name=b"), nil, "--container-name specified multiple times", "--container-name", ""},
		{"name twice other flag", testOpts("container-name=a", "container-name=a:exec"), nil, "--container-name specified multiple times", "--container-name", ""},
		{"name empty name", testOpts("container-name=:exec"), nil, "--container-name: empty name", "--container-name", ""},
		{"name bad flag", testOpts("container-name=a:attach"), nil, `--container-name: flag must be "auto", "create", "exec" or "no_exec"`, "--container-name", ""},
		{"name two colons", testOpts("container-name=a:exec:x"), nil, `--container-name: flag must be "auto", "create", "exec" or "no_exec"`, "--container-name", ""},
		{"save empty", testOpts("container-save="), nil, "--container-save: argument required", "--container-save", ""},
		{"save dir", testOpts("container-save=/tmp/"), nil, "--container-save: target is a directory", "--container-save", ""},
		{"save root", testOpts("container-save=/"), nil, "--container-save: target is a directory", "--container-save", ""},
		{"save dot slash", testOpts("container-save=./"), nil, "--container-save: target is a directory", "--container-save", ""},
		{"save twice", testOpts("container-save=/a", "container-save=/b"), nil, "--container-save specified multiple times", "--container-save", ""},
		{"mount home both", testOpts("container-mount-home", "no-container-mount-home"), nil, "both --container-mount-home and --no-container-mount-home were specified", "--no-container-mount-home", ""},
		{"mount home both reversed", testOpts("no-container-mount-home", "container-mount-home"), nil, "both --container-mount-home and --no-container-mount-home were specified", "--container-mount-home", ""},
		{"remap root both", testOpts("container-remap-root", "no-container-remap-root"), nil, "both --container-remap-root and --no-container-remap-root were specified", "--no-container-remap-root", ""},
		{"entrypoint both", testOpts("no-container-entrypoint", "container-entrypoint"), nil, "both --container-entrypoint and --no-container-entrypoint were specified", "--container-entrypoint", ""},
		{"writable readonly", testOpts("container-readonly", "container-writable"), nil, "both --container-writable and --container-readonly were specified", "--container-writable", ""},
		{"env empty", testOpts("container-env="), nil, "--container-env: argument required", "--container-env", ""},
		{"env trailing comma", testOpts("container-env=FOO,"), nil, "--container-env: invalid format: FOO,", "--container-env", ""},
		{"env inner empty", testOpts("container-env=A,,B"), nil, "--container-env: invalid format: A,,B", "--container-env", ""},
		{"unshare empty", testOpts("container-unshare="), nil, "--container-unshare: argument required", "--container-unshare", ""},
		{"unshare unknown", testOpts("container-unshare=foo"), nil, "--container-unshare: unknown namespace 'foo'", "--container-unshare", ""},
		{"unshare net,foo", testOpts("container-unshare=net,foo"), nil, "--container-unshare: unknown namespace 'foo'", "--container-unshare", ""},
		{"unshare pid", testOpts("container-unshare=pid"), nil, "--container-unshare: unknown namespace 'pid'", "--container-unshare", ""},
		{"unshare empty element", testOpts("container-unshare=net,"), nil, "--container-unshare: empty namespace argument", "--container-unshare", ""},
		{"mounts empty", testOpts("container-mounts="), nil, "--container-mounts: argument required", "--container-mounts", ""},
		{"mounts colon", testOpts("container-mounts=:"), nil, "--container-mounts: invalid format: :", "--container-mounts", ""},
		{"mounts empty dst", testOpts("container-mounts=/tmp:"), nil, "--container-mounts: invalid format: /tmp:", "--container-mounts", ""},
		{"mounts bad source", testOpts("container-mounts=devpts:/dev/pts"), nil, `mount source must be a relative path, an absolute path, "tmpfs" or "umount"`, "--container-mounts", ""},
		{"mounts relative target", testOpts("container-mounts=/tmp:mnt"), nil, "mount target must be a relative path or an absolute path", "--container-mounts", ""},
		{"unknown option", testOpts("container-foo=1"), nil, "unknown option --container-foo", "--container-foo", ""},

		// Invalid fallbacks are validated like the options.
		{"env image empty", nil, map[string]string{"PYXIS_CONTAINER_IMAGE": ""}, "--container-image: argument required", "--container-image", "PYXIS_CONTAINER_IMAGE"},
		{"env mounts", testOpts("container-image=x"), map[string]string{"PYXIS_CONTAINER_MOUNTS": "/tmp:"}, "--container-mounts: invalid format: /tmp:", "--container-mounts", "PYXIS_CONTAINER_MOUNTS"},
		{"env workdir empty", testOpts("container-image=x"), map[string]string{"PYXIS_CONTAINER_WORKDIR": ""}, "--container-workdir: argument required", "--container-workdir", "PYXIS_CONTAINER_WORKDIR"},
		{"env name", nil, map[string]string{"PYXIS_CONTAINER_NAME": "a:bogus"}, `--container-name: flag must be "auto", "create", "exec" or "no_exec"`, "--container-name", "PYXIS_CONTAINER_NAME"},
		{"env save", testOpts("container-image=x"), map[string]string{"PYXIS_CONTAINER_SAVE": "out/"}, "--container-save: target is a directory", "--container-save", "PYXIS_CONTAINER_SAVE"},
		{"env env", testOpts("container-image=x"), map[string]string{"PYXIS_CONTAINER_ENV": ",A"}, "--container-env: invalid format: ,A", "--container-env", "PYXIS_CONTAINER_ENV"},
		{"env unshare", testOpts("container-image=x"), map[string]string{"PYXIS_CONTAINER_UNSHARE": "mnt"}, "--container-unshare: unknown namespace 'mnt'", "--container-unshare", "PYXIS_CONTAINER_UNSHARE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, warns, err := ParseOptions(tc.opts, testGetenv(tc.vars))
			if err == nil {
				t.Fatalf("no error; got %+v", o)
			}
			// mountspec's messages start with pyxis' text and go on with
			// the entry and a hint; all others are exactly pyxis' text.
			if got := err.Error(); got != tc.msg &&
				!(tc.option == "--container-mounts" && strings.HasPrefix(got, tc.msg)) {
				t.Errorf("error %q, want %q", got, tc.msg)
			}
			if !errors.Is(err, ErrInvalidOption) {
				t.Errorf("error does not match ErrInvalidOption")
			}
			var oe *OptionError
			if !errors.As(err, &oe) {
				t.Fatalf("error is %T, not *OptionError", err)
			}
			if oe.Option != tc.option || oe.Env != tc.env {
				t.Errorf("Option, Env = %q, %q; want %q, %q", oe.Option, oe.Env, tc.option, tc.env)
			}
			if !reflect.DeepEqual(o, Options{}) || warns != nil {
				t.Errorf("got options %+v and warnings %q with the error", o, warns)
			}
		})
	}
}

func TestMountsErrorUnwraps(t *testing.T) {
	_, _, err := ParseOptions(testOpts("container-image=x", "container-mounts=/a:/a,devpts:/x"), nil)
	var me *mountspec.Error
	if !errors.As(err, &me) {
		t.Fatalf("error %v does not unwrap to *mountspec.Error", err)
	}
	if !errors.Is(err, mountspec.ErrInvalidEntry) || !errors.Is(err, ErrInvalidOption) {
		t.Errorf("error %v: errors.Is fails for mountspec.ErrInvalidEntry or ErrInvalidOption", err)
	}
}

func TestParseOptionsValues(t *testing.T) {
	o, warns := mustParseOptions(t, testOpts(
		"container-image=nvcr.io#nvidia/pytorch:24.01-py3",
		"container-workdir=/work",
		"container-name=train",
		"container-save=out.sqsh",
		"container-mount-home",
		"no-container-remap-root",
		"container-entrypoint",
		"container-readonly",
		"container-entrypoint-log",
		"container-env=B,A",
		"container-env=A,C",
		"container-unshare=uts,net",
		"container-unshare=net",
	), nil)
	if len(warns) != 0 {
		t.Errorf("warnings %q", warns)
	}
	want := Options{
		Image: "nvcr.io#nvidia/pytorch:24.01-py3", Workdir: "/work",
		Name: "train", NameFlag: NameAuto, Save: "out.sqsh",
		MountHome: On, RemapRoot: Off, Entrypoint: On, Writable: Off,
		EntrypointLog: true,
		Env:           []string{"B", "A", "C"},
		Unshare:       []string{"net", "uts"},
	}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("got  %+v\nwant %+v", o, want)
	}
	if !o.Enabled() {
		t.Error("Enabled() = false with image and name")
	}
}

func TestParseOptionsDefaults(t *testing.T) {
	o, warns := mustParseOptions(t, nil, nil)
	if !reflect.DeepEqual(o, Options{}) || len(warns) != 0 {
		t.Errorf("got %+v, %q; want zero options, no warnings", o, warns)
	}
	if o.Enabled() {
		t.Error("Enabled() = true without image or name")
	}
	if o.MountHome != Unset || o.Writable != Unset {
		t.Error("tri-states not Unset by default")
	}
	o, _, err := ParseOptions(testOpts("container-image=x"), nil)
	if err != nil || o.Image != "x" {
		t.Errorf("nil getenv: %+v, %v", o, err)
	}
}

func TestParseOptionsIdenticalRepeats(t *testing.T) {
	o, _ := mustParseOptions(t, testOpts(
		"container-image=ubuntu", "container-image=ubuntu",
		"container-workdir=/w", "container-workdir=/w",
		"container-name=n:exec", "container-name=n:exec",
		"container-save=/s", "container-save=/s",
		"container-mount-home", "container-mount-home",
		"no-container-remap-root", "no-container-remap-root",
		"no-container-entrypoint", "no-container-entrypoint",
		"container-writable", "container-writable",
		"container-entrypoint-log", "container-entrypoint-log",
		"container-mounts=/a:/b", "container-mounts=/a:/b",
		"container-env=X", "container-env=X",
		"container-unshare=ipc", "container-unshare=ipc",
	), nil)
	if o.Image != "ubuntu" || o.Workdir != "/w" || o.Name != "n" || o.NameFlag != NameExec || o.Save != "/s" {
		t.Errorf("values: %+v", o)
	}
	if o.MountHome != On || o.RemapRoot != Off || o.Entrypoint != Off || o.Writable != On || !o.EntrypointLog {
		t.Errorf("switches: %+v", o)
	}
	if len(o.Mounts) != 1 || !reflect.DeepEqual(o.Env, []string{"X"}) || !reflect.DeepEqual(o.Unshare, []string{"ipc"}) {
		t.Errorf("lists: mounts %d, env %q, unshare %q", len(o.Mounts), o.Env, o.Unshare)
	}
}

func TestParseOptionsNameFlags(t *testing.T) {
	for arg, want := range map[string][2]string{
		"foo":         {"foo", NameAuto},
		"foo:":        {"foo", NameAuto},
		"foo:auto":    {"foo", NameAuto},
		"foo:create":  {"foo", NameCreate},
		"foo:exec":    {"foo", NameExec},
		"foo:no_exec": {"foo", NameNoExec},
		"123.0":       {"123.0", NameAuto},
	} {
		o, _ := mustParseOptions(t, testOpts("container-name="+arg), nil)
		if o.Name != want[0] || o.NameFlag != want[1] {
			t.Errorf("--container-name=%s: got %q, %q; want %q, %q", arg, o.Name, o.NameFlag, want[0], want[1])
		}
		if !o.Enabled() {
			t.Errorf("--container-name=%s: not enabled", arg)
		}
	}
}

func TestParseOptionsMounts(t *testing.T) {
	o, _ := mustParseOptions(t, testOpts(
		"container-image=x",
		"container-mounts=/data:/data:ro+nosuid,tmpfs:/scratch",
		"container-mounts=/data:/data:ro+nosuid,/var/lib",
		"container-mounts=/var/lib:/var/lib,umount:/root",
	), nil)
	var got []string
	for _, m := range o.Mounts {
		got = append(got, m.Source+">"+m.Target)
	}
	want := []string{"/data>/data", "tmpfs>/scratch", "/var/lib>/var/lib", "umount>/root"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mounts %q, want %q", got, want)
	}
	if o.Mounts[1].FSType != "tmpfs" || !o.Mounts[3].Detach {
		t.Errorf("tmpfs/umount entries not parsed by mountspec: %+v", o.Mounts)
	}
	if o.Mounts[2].Line != "/var/lib" {
		t.Errorf("duplicate kept the later spelling %q", o.Mounts[2].Line)
	}
}

func TestParseOptionsUnshareOrder(t *testing.T) {
	o, _ := mustParseOptions(t, testOpts("container-image=x", "container-unshare=uts,ipc,net,ipc"), nil)
	if !reflect.DeepEqual(o.Unshare, []string{"net", "ipc", "uts"}) {
		t.Errorf("unshare %q", o.Unshare)
	}
}

func TestEnvFallbacks(t *testing.T) {
	tests := []struct {
		name  string
		opts  []Opt
		vars  map[string]string
		check func(Options) bool
	}{
		{"IMAGE", nil, map[string]string{"PYXIS_CONTAINER_IMAGE": "ubuntu:22.04"},
			func(o Options) bool { return o.Image == "ubuntu:22.04" }},
		{"IMAGE cli wins", testOpts("container-image=ubuntu:24.04"), map[string]string{"PYXIS_CONTAINER_IMAGE": "ubuntu:22.04"},
			func(o Options) bool { return o.Image == "ubuntu:24.04" }},
		{"IMAGE invalid ignored under cli", testOpts("container-image=u"), map[string]string{"PYXIS_CONTAINER_IMAGE": ""},
			func(o Options) bool { return o.Image == "u" }},
		{"MOUNTS", testOpts("container-image=x"), map[string]string{"PYXIS_CONTAINER_MOUNTS": "/home:/test-mnt"},
			func(o Options) bool { return len(o.Mounts) == 1 && o.Mounts[0].Target == "/test-mnt" }},
		{"MOUNTS cli wins", testOpts("container-image=x", "container-mounts=/tmp:/mnt-cli"), map[string]string{"PYXIS_CONTAINER_MOUNTS": "/home:/mnt-env"},
			func(o Options) bool { return len(o.Mounts) == 1 && o.Mounts[0].Target == "/mnt-cli" }},
		{"WORKDIR", testOpts("container-image=x"), map[string]string{"PYXIS_CONTAINER_WORKDIR": "/usr/local/bin"},
			func(o Options) bool { return o.Workdir == "/usr/local/bin" }},
		{"WORKDIR cli wins", testOpts("container-image=x", "container-workdir=/tmp"), map[string]string{"PYXIS_CONTAINER_WORKDIR": "/usr/local/bin"},
			func(o Options) bool { return o.Workdir == "/tmp" }},
		{"NAME", nil, map[string]string{"PYXIS_CONTAINER_NAME": "env-test:no_exec"},
			func(o Options) bool { return o.Name == "env-test" && o.NameFlag == NameNoExec && o.Enabled() }},
		{"NAME cli wins", testOpts("container-name=env-test2"), map[string]string{"PYXIS_CONTAINER_NAME": "env-test"},
			func(o Options) bool { return o.Name == "env-test2" && o.NameFlag == NameAuto }},
		{"SAVE", testOpts("container-image=x"), map[string]string{"PYXIS_CONTAINER_SAVE": "./env-test.sqsh"},
			func(o Options) bool { return o.Save == "./env-test.sqsh" }},
		{"SAVE cli wins", testOpts("container-image=x", "container-save=./cli.sqsh"), map[string]string{"PYXIS_CONTAINER_SAVE": "./env.sqsh"},
			func(o Options) bool { return o.Save == "./cli.sqsh" }},
		{"MOUNT_HOME=1", testOpts("container-image=x"), map[string]string{"PYXIS_CONTAINER_MOUNT_HOME": "1"},
			func(o Options) bool { return o.MountHome == On }},
		{"MOUNT_HOME=0", testOpts("container-image=x"), map[string]string{"PYXIS_CONTAINER_MOUNT_HOME": "0"},
			func(o Options) bool { return o.MountHome == Off }},
		{"MOUNT_HOME cli wins", testOpts("container-image=x", "no-container-mount-home"), map[string]string{"PYXIS_CONTAINER_MOUNT_HOME": "1"},
			func(o Options) bool { return o.MountHome == Off }},
		{"REMAP_ROOT=yes", testOpts("container-image=x"), map[string]string{"PYXIS_CONTAINER_REMAP_ROOT": "yes"},
			func(o Options) bool { return o.RemapRoot == On }},
		{"REMAP_ROOT=n", testOpts("container-image=x"), map[string]string{"PYXIS_CONTAINER_REMAP_ROOT": "n"},
			func(o Options) bool { return o.RemapRoot == Off }},
		{"REMAP_ROOT cli wins", testOpts("container-image=x", "no-container-remap-root"), map[string]string{"PYXIS_CONTAINER_REMAP_ROOT": "1"},
			func(o Options) bool { return o.RemapRoot == Off }},
		{"ENTRYPOINT=true", testOpts("container-image=x"), map[string]string{"PYXIS_CONTAINER_ENTRYPOINT": "true"},
			func(o Options) bool { return o.Entrypoint == On }},
		{"ENTRYPOINT=false", testOpts("container-image=x"), map[string]string{"PYXIS_CONTAINER_ENTRYPOINT": "false"},
			func(o Options) bool { return o.Entrypoint == Off }},
		{"ENTRYPOINT cli wins", testOpts("container-image=x", "container-entrypoint"), map[string]string{"PYXIS_CONTAINER_ENTRYPOINT": "0"},
			func(o Options) bool { return o.Entrypoint == On }},
		{"ENTRYPOINT_LOG=1", testOpts("container-image=x"), map[string]string{"PYXIS_CONTAINER_ENTRYPOINT_LOG": "1"},
			func(o Options) bool { return o.EntrypointLog }},
		{"ENTRYPOINT_LOG=0", testOpts("container-image=x"), map[string]string{"PYXIS_CONTAINER_ENTRYPOINT_LOG": "0"},
			func(o Options) bool { return !o.EntrypointLog }},
		{"ENTRYPOINT_LOG cli wins", testOpts("container-image=x", "container-entrypoint-log"), map[string]string{"PYXIS_CONTAINER_ENTRYPOINT_LOG": "0"},
			func(o Options) bool { return o.EntrypointLog }},
		{"WRITABLE=1", testOpts("container-image=x"), map[string]string{"PYXIS_CONTAINER_WRITABLE": "1"},
			func(o Options) bool { return o.Writable == On }},
		{"WRITABLE=0", testOpts("container-image=x"), map[string]string{"PYXIS_CONTAINER_WRITABLE": "0"},
			func(o Options) bool { return o.Writable == Off }},
		{"WRITABLE cli wins", testOpts("container-image=x", "container-readonly"), map[string]string{"PYXIS_CONTAINER_WRITABLE": "1"},
			func(o Options) bool { return o.Writable == Off }},
		{"READONLY=1", testOpts("container-image=x"), map[string]string{"PYXIS_CONTAINER_READONLY": "1"},
			func(o Options) bool { return o.Writable == Off }},
		{"READONLY=0", testOpts("container-image=x"), map[string]string{"PYXIS_CONTAINER_READONLY": "0"},
			func(o Options) bool { return o.Writable == On }},
		{"READONLY cli wins", testOpts("container-image=x", "container-readonly"), map[string]string{"PYXIS_CONTAINER_READONLY": "0"},
			func(o Options) bool { return o.Writable == Off }},
		{"WRITABLE beats READONLY", testOpts("container-image=x"), map[string]string{"PYXIS_CONTAINER_WRITABLE": "1", "PYXIS_CONTAINER_READONLY": "1"},
			func(o Options) bool { return o.Writable == On }},
		{"READONLY after invalid WRITABLE", testOpts("container-image=x"), map[string]string{"PYXIS_CONTAINER_WRITABLE": "maybe", "PYXIS_CONTAINER_READONLY": "y"},
			func(o Options) bool { return o.Writable == Off }},
		{"ENV", testOpts("container-image=x"), map[string]string{"PYXIS_CONTAINER_ENV": "CUDA_VERSION,FOO"},
			func(o Options) bool { return reflect.DeepEqual(o.Env, []string{"CUDA_VERSION", "FOO"}) }},
		{"ENV cli replaces", testOpts("container-image=x", "container-env=LD_LIBRARY_PATH"), map[string]string{"PYXIS_CONTAINER_ENV": "CUDA_VERSION"},
			func(o Options) bool { return reflect.DeepEqual(o.Env, []string{"LD_LIBRARY_PATH"}) }},
		{"UNSHARE", testOpts("container-image=x"), map[string]string{"PYXIS_CONTAINER_UNSHARE": "net"},
			func(o Options) bool { return reflect.DeepEqual(o.Unshare, []string{"net"}) }},
		{"UNSHARE cli wins", testOpts("container-image=x", "container-unshare=ipc"), map[string]string{"PYXIS_CONTAINER_UNSHARE": "net"},
			func(o Options) bool { return reflect.DeepEqual(o.Unshare, []string{"ipc"}) }},
		{"bool garbage ignored", testOpts("container-image=x"), map[string]string{"PYXIS_CONTAINER_MOUNT_HOME": "TRUE", "PYXIS_CONTAINER_REMAP_ROOT": "", "PYXIS_CONTAINER_ENTRYPOINT": "2"},
			func(o Options) bool { return o.MountHome == Unset && o.RemapRoot == Unset && o.Entrypoint == Unset }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, _ := mustParseOptions(t, tc.opts, tc.vars)
			if !tc.check(o) {
				t.Errorf("unexpected result %+v", o)
			}
		})
	}
}

func TestBoolWords(t *testing.T) {
	for word, want := range map[string]Tri{
		"1": On, "true": On, "yes": On, "y": On,
		"0": Off, "false": Off, "no": Off, "n": Off,
		"on": Unset, "off": Unset, "Y": Unset, "True": Unset, " 1": Unset, "": Unset,
	} {
		o, _ := mustParseOptions(t, testOpts("container-image=x"), map[string]string{"PYXIS_CONTAINER_REMAP_ROOT": word})
		if o.RemapRoot != want {
			t.Errorf("PYXIS_CONTAINER_REMAP_ROOT=%q: got %v, want %v", word, o.RemapRoot, want)
		}
	}
}

func TestInvalidBoolWarning(t *testing.T) {
	_, warns := mustParseOptions(t, testOpts("container-image=x"), map[string]string{
		"PYXIS_CONTAINER_MOUNT_HOME": "maybe",
		"PYXIS_CONTAINER_WRITABLE":   "",
	})
	want := []string{"ignoring PYXIS_CONTAINER_MOUNT_HOME=maybe: not a boolean (use 1, true, yes, y, 0, false, no or n)"}
	if !reflect.DeepEqual(warns, want) {
		t.Errorf("warnings %q, want %q", warns, want)
	}
}

func TestIgnoredWarnings(t *testing.T) {
	const why = " because neither --container-image nor --container-name is set"
	tests := []struct {
		name    string
		opts    []Opt
		vars    map[string]string
		want    []string
		enabled bool
	}{
		{"all", testOpts(
			"container-mounts=/a:/a", "container-workdir=/w", "container-save=/s",
			"container-mount-home", "no-container-remap-root", "container-entrypoint",
			"container-entrypoint-log", "container-readonly",
			"container-env=A", "container-unshare=net",
		), nil, []string{
			"ignoring --container-mounts" + why,
			"ignoring --container-workdir" + why,
			"ignoring --container-save" + why,
			"ignoring --[no-]container-mount-home" + why,
			"ignoring --[no-]container-remap-root" + why,
			"ignoring --[no-]container-entrypoint" + why,
			"ignoring --container-entrypoint-log" + why,
			"ignoring --container-readonly" + why,
		}, false},
		{"writable", testOpts("container-writable"), nil, []string{"ignoring --container-writable" + why}, false},
		{"from environment", nil, map[string]string{"PYXIS_CONTAINER_MOUNTS": "/a", "PYXIS_CONTAINER_ENTRYPOINT_LOG": "0"},
			[]string{"ignoring --container-mounts" + why, "ignoring --container-entrypoint-log" + why}, false},
		{"env and unshare not warned", testOpts("container-env=A", "container-unshare=ipc"), nil, nil, false},
		{"enabled by image", testOpts("container-image=x", "container-workdir=/w"), nil, nil, true},
		{"enabled by name", testOpts("container-name=x", "container-workdir=/w"), nil, nil, true},
		{"enabled by env name", testOpts("container-workdir=/w"), map[string]string{"PYXIS_CONTAINER_NAME": "n"}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, warns := mustParseOptions(t, tc.opts, tc.vars)
			if !reflect.DeepEqual(warns, tc.want) {
				t.Errorf("warnings\n got %q\nwant %q", warns, tc.want)
			}
			if o.Enabled() != tc.enabled {
				t.Errorf("Enabled() = %v with warnings %q", o.Enabled(), warns)
			}
		})
	}
}

func TestTri(t *testing.T) {
	if Unset.Bool(true) != true || Unset.Bool(false) != false || On.Bool(false) != true || Off.Bool(true) != false {
		t.Error("Tri.Bool")
	}
	if Unset.String() != "unset" || On.String() != "on" || Off.String() != "off" || Tri(9).String() != "invalid" {
		t.Error("Tri.String")
	}
}
