// SPDX-License-Identifier: Apache-2.0

package config

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fixture writes files under a temporary directory and returns their paths.
func fixture(t *testing.T, files ...string) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i, content := range files {
		p := filepath.Join(dir, strconv.Itoa(i)+".conf")
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

var baseEnv = []string{"HOME=/home/u", "PATH=/usr/bin"}

func load(t *testing.T, env []string, files ...string) (*Config, error) {
	t.Helper()
	uid := 1234
	return Load(LoadOptions{Files: fixture(t, files...), Environ: append(append([]string{}, baseEnv...), env...), SkipEnrootConf: true, UID: &uid, NumCPU: 7})
}

func TestDefaults(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want Config
	}{
		{"xdg unset", nil, Config{
			DataPath: "/home/u/.local/share/gpyxis", CachePath: "/home/u/.cache/gpyxis",
			RuntimePath: "/run/user/1234/gpyxis", TempPath: "/tmp", ConfigPath: "/home/u/.config/enroot",
		}},
		{"xdg set", []string{"XDG_DATA_HOME=/d", "XDG_CACHE_HOME=/c", "XDG_RUNTIME_DIR=/r", "XDG_CONFIG_HOME=/cf", "TMPDIR=/scratch/"}, Config{
			DataPath: "/d/gpyxis", CachePath: "/c/gpyxis", RuntimePath: "/r/gpyxis", TempPath: "/scratch", ConfigPath: "/cf/enroot",
		}},
		{"xdg relative ignored", []string{"XDG_DATA_HOME=rel", "TMPDIR=rel"}, Config{
			DataPath: "/home/u/.local/share/gpyxis", CachePath: "/home/u/.cache/gpyxis",
			RuntimePath: "/run/user/1234/gpyxis", TempPath: "/tmp", ConfigPath: "/home/u/.config/enroot",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			got := [5]string{c.DataPath, c.CachePath, c.RuntimePath, c.TempPath, c.ConfigPath}
			want := [5]string{tt.want.DataPath, tt.want.CachePath, tt.want.RuntimePath, tt.want.TempPath, tt.want.ConfigPath}
			if got != want {
				t.Errorf("paths = %q, want %q", got, want)
			}
			if c.SysconfPath != "/etc/enroot" || c.SquashOptions != "-comp lzo -noD -exit-on-error" || c.ZstdOptions != "-1" {
				t.Errorf("sysconf/squash/zstd = %q %q %q", c.SysconfPath, c.SquashOptions, c.ZstdOptions)
			}
			if c.MaxProcessors != 7 || c.MaxConnections != 10 || c.ConnectTimeout != 30 || c.TransferTimeout != 0 || c.TransferRetries != 0 {
				t.Errorf("ints = %d %d %d %d %d", c.MaxProcessors, c.MaxConnections, c.ConnectTimeout, c.TransferTimeout, c.TransferRetries)
			}
			if !c.LoginShell || c.RemapRoot || c.RootfsWritable || c.MountHome || c.RestrictDev || c.AllowSuperuser || c.AllowHTTP || c.Unshare.Net {
				t.Errorf("bools wrong: %+v", c)
			}
			for _, h := range HookNames {
				if !c.Hooks[h] {
					t.Errorf("hook %s off by default", h)
				}
			}
			if c.Source["GPYXIS_DATA_PATH"] != "default" || c.SharedCacheDir != "" {
				t.Errorf("source %q shared %q", c.Source["GPYXIS_DATA_PATH"], c.SharedCacheDir)
			}
		})
	}
}

func TestNoHome(t *testing.T) {
	uid := 987654 // no passwd entry
	_, err := Load(LoadOptions{Environ: []string{}, Files: []string{}, SkipEnrootConf: true, UID: &uid})
	if err == nil || !strings.Contains(err.Error(), "GPYXIS_DATA_PATH") {
		t.Fatalf("err = %v", err)
	}
	c, err := Load(LoadOptions{Environ: []string{"XDG_DATA_HOME=/d", "XDG_CACHE_HOME=/c", "XDG_CONFIG_HOME=/cf"}, Files: []string{}, SkipEnrootConf: true, UID: &uid})
	if err != nil || c.DataPath != "/d/gpyxis" {
		t.Fatalf("c=%v err=%v", c, err)
	}
}

func TestParsing(t *testing.T) {
	tests := []struct {
		name, file string
		get        func(*Config) any
		want       any
	}{
		{"space", "ENROOT_DATA_PATH /x", func(c *Config) any { return c.DataPath }, "/x"},
		{"tabs", "ENROOT_DATA_PATH\t\t/x\t", func(c *Config) any { return c.DataPath }, "/x"},
		{"equals", "ENROOT_DATA_PATH=/x", func(c *Config) any { return c.DataPath }, "/x"},
		{"spaced equals", "ENROOT_DATA_PATH = /x", func(c *Config) any { return c.DataPath }, "/x"},
		{"gpyxis spelling", "GPYXIS_DATA_PATH=/x", func(c *Config) any { return c.DataPath }, "/x"},
		{"comments and blanks", "# c\n\n   # indented\nGPYXIS_DATA_PATH /x # trailing\n", func(c *Config) any { return c.DataPath }, "/x"},
		{"later line wins", "ENROOT_DATA_PATH /x\nGPYXIS_DATA_PATH /y", func(c *Config) any { return c.DataPath }, "/y"},
		{"empty means default", "ENROOT_DATA_PATH /x\nENROOT_DATA_PATH=", func(c *Config) any { return c.DataPath }, "/home/u/.local/share/gpyxis"},
		{"words collapse", "ENROOT_SQUASH_OPTIONS -noI   -noD\t-no-duplicates", func(c *Config) any { return c.SquashOptions }, "-noI -noD -no-duplicates"},
		{"double quotes", `ENROOT_SQUASH_OPTIONS "-comp  zstd"`, func(c *Config) any { return c.SquashOptions }, "-comp  zstd"},
		{"single quotes literal", `ENROOT_SQUASH_OPTIONS '$HOME #x'`, func(c *Config) any { return c.SquashOptions }, "$HOME #x"},
		{"backslash", `ENROOT_SQUASH_OPTIONS a\$b`, func(c *Config) any { return c.SquashOptions }, "a$b"},
		{"int", "ENROOT_MAX_CONNECTIONS 4", func(c *Config) any { return c.MaxConnections }, 4},
		{"zero int", "ENROOT_MAX_PROCESSORS 0", func(c *Config) any { return c.MaxProcessors }, 0},
		{"unshare", "ENROOT_UNSHARE_PID y", func(c *Config) any { return c.Unshare.PID }, true},
		{"hook off", "GPYXIS_HOOK_APTFIX no", func(c *Config) any { return c.Hooks["aptfix"] }, false},
		{"shared cache", "GPYXIS_SHARED_CACHE_DIR /srv/cache/", func(c *Config) any { return c.SharedCacheDir }, "/srv/cache"},
		{"home tilde", "ENROOT_DATA_PATH ~/data", func(c *Config) any { return c.DataPath }, "/home/u/data"},
		{"home var", "ENROOT_DATA_PATH ${HOME}/d-$HOME", func(c *Config) any { return c.DataPath }, "/home/u/d-/home/u"},
		{"uid", "ENROOT_RUNTIME_PATH /run/enroot/user-$(id -u)/${UID}", func(c *Config) any { return c.RuntimePath }, "/run/enroot/user-1234/1234"},
		{"fallback", "ENROOT_TEMP_PATH ${SCRATCH:-/tmp}/x", func(c *Config) any { return c.TempPath }, "/tmp/x"},
		{"earlier key", "GPYXIS_DATA_PATH /base\nGPYXIS_CACHE_PATH ${ENROOT_DATA_PATH}/cache", func(c *Config) any { return c.CachePath }, "/base/cache"},
		{"default of key", "GPYXIS_CACHE_PATH ${GPYXIS_RUNTIME_PATH}/c", func(c *Config) any { return c.CachePath }, "/run/user/1234/gpyxis/c"},
		{"passthrough", "http_proxy http://p:3128\nNVIDIA_DRIVER_CAPABILITIES all", func(c *Config) any { return c.Environ["http_proxy"] + " " + c.Environ["NVIDIA_DRIVER_CAPABILITIES"] }, "http://p:3128 all"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, nil, tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.get(c); got != tt.want {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestBooleans(t *testing.T) {
	for _, f := range []string{"no", "n", "N", "No", "NO", "f", "F", "false", "False", "FALSE", "0", "off"} {
		c, err := load(t, []string{"ENROOT_LOGIN_SHELL=" + f}, "ENROOT_MOUNT_HOME "+f)
		if err != nil {
			t.Fatal(f, err)
		}
		if c.MountHome || c.LoginShell {
			t.Errorf("%q: not false", f)
		}
	}
	for _, v := range []string{"yes", "y", "Y", "true", "1", "on"} {
		c, err := load(t, nil, "GPYXIS_MOUNT_HOME "+v)
		if err != nil || !c.MountHome {
			t.Errorf("%q: %v %v", v, c.MountHome, err)
		}
	}
	// enroot treats any other set value as true: so do ENROOT_ variables, with a warning.
	c, err := load(t, []string{"ENROOT_REMAP_ROOT=enabled"})
	if err != nil || !c.RemapRoot || len(c.Warnings) != 1 {
		t.Errorf("lenient: %v %v %q", c.RemapRoot, err, c.Warnings)
	}
	// gpyxis files are strict.
	if _, err := load(t, nil, "ENROOT_REMAP_ROOT maybe"); !errors.Is(err, ErrInvalidValue) || !strings.Contains(err.Error(), ":1: ENROOT_REMAP_ROOT") {
		t.Errorf("strict: %v", err)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, file string
		want       error
		contains   string
	}{
		{"unknown key", "GPYXIS_DATA_PAHT /x", ErrUnknownKey, "did you mean GPYXIS_DATA_PATH?"},
		{"unknown enroot key", "\nENROOT_MOUNTHOME y", ErrUnknownKey, ":2: ENROOT_MOUNTHOME: unknown key (did you mean ENROOT_MOUNT_HOME?)"},
		{"unknown other", "FOO bar", ErrUnknownKey, "FOO"},
		{"command", "ENROOT_DATA_PATH /x/$(uname -n)", ErrCommandSubstitution, "$(uname -n)"},
		{"backquote", "ENROOT_DATA_PATH /x/`id -u`", ErrCommandSubstitution, "not allowed"},
		{"arith", "ENROOT_DATA_PATH /x/$((1+1))", ErrCommandSubstitution, ""},
		{"command in quotes", `ENROOT_DATA_PATH "/x/$(rm -rf /)"`, ErrCommandSubstitution, ""},
		{"command in fallback", `ENROOT_DATA_PATH ${X:-$(reboot)}`, ErrCommandSubstitution, ""},
		{"operator", "ENROOT_DATA_PATH /x; reboot", ErrSyntax, "shell operator"},
		{"undefined", "ENROOT_DATA_PATH ${NOPE}/x", ErrUndefined, "NOPE"},
		{"unterminated", `ENROOT_DATA_PATH "/x`, ErrSyntax, "unterminated"},
		{"bad line", "ENROOT-DATA /x", ErrSyntax, ""},
		{"bad int", "ENROOT_MAX_CONNECTIONS ten", ErrInvalidValue, "ten"},
		{"negative int", "ENROOT_CONNECT_TIMEOUT -1", ErrInvalidValue, ""},
		{"relative path", "ENROOT_DATA_PATH data", ErrInvalidValue, "absolute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, nil, tt.file)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("err = %v, want %v containing %q", err, tt.want, tt.contains)
			}
			var le *LineError
			if !errors.As(err, &le) || !strings.Contains(le.Where, ".conf:") {
				t.Errorf("no file:line in %v", err)
			}
		})
	}
}

func TestPrecedence(t *testing.T) {
	tests := []struct {
		name       string
		env        []string
		files      []string
		want, from string
	}{
		{"later file wins", nil, []string{"ENROOT_DATA_PATH /a", "GPYXIS_DATA_PATH /b"}, "/b", "1.conf:1"},
		{"earlier file kept", nil, []string{"ENROOT_DATA_PATH /a", "ENROOT_CACHE_PATH /c"}, "/a", "0.conf:1"},
		{"env over files", []string{"ENROOT_DATA_PATH=/env"}, []string{"GPYXIS_DATA_PATH /a"}, "/env", "env ENROOT_DATA_PATH"},
		{"gpyxis env over enroot env", []string{"ENROOT_DATA_PATH=/e", "GPYXIS_DATA_PATH=/g"}, nil, "/g", "env GPYXIS_DATA_PATH"},
		{"empty env ignored", []string{"ENROOT_DATA_PATH="}, []string{"ENROOT_DATA_PATH /a"}, "/a", "0.conf:1"},
		{"env value not expanded", []string{"GPYXIS_DATA_PATH=/$(x)"}, nil, "/$(x)", "env GPYXIS_DATA_PATH"},
		{"file sees env in expansion", []string{"ENROOT_DATA_PATH=/env"}, []string{"GPYXIS_CACHE_PATH ${GPYXIS_DATA_PATH}/c\nGPYXIS_DATA_PATH /f"}, "/env", "env ENROOT_DATA_PATH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.env, tt.files...)
			if err != nil {
				t.Fatal(err)
			}
			if c.DataPath != tt.want || !strings.HasSuffix(c.Source["GPYXIS_DATA_PATH"], tt.from) {
				t.Errorf("DataPath %q from %q, want %q from %q", c.DataPath, c.Source["GPYXIS_DATA_PATH"], tt.want, tt.from)
			}
		})
	}
	c, err := load(t, []string{"ENROOT_DATA_PATH=/env"}, "GPYXIS_CACHE_PATH ${GPYXIS_DATA_PATH}/c")
	if err != nil || c.CachePath != "/env/c" {
		t.Errorf("expansion saw %q, %v", c.CachePath, err)
	}
}

func TestEnrootFiles(t *testing.T) {
	paths := fixture(t,
		"ENROOT_RUNTIME_PATH /run/enroot/user-$(id -u)\nENROOT_STORAGE_BACKEND zfs\nENROOT_MOUNT_HOME yes\nENROOT_GZIP_PROGRAM pigz\nENROOT_DATA_PATH /x/$(uname -n)\nSSL_CERT_DIR /certs\nhttp_proxy http://p\nFOO bar\nENROOT_MOUNT_HOME y\n",
		"ENROOT_MOUNT_HOME n\nENROOT_RESTRICT_DEV whatever\n",
	)
	uid := 42
	c, err := Load(LoadOptions{
		EnrootFiles: []string{paths[0], filepath.Join(filepath.Dir(paths[0]), "[1-9].conf")},
		Files:       []string{},
		Environ:     []string{"HOME=/h", "http_proxy=http://env"},
		UID:         &uid,
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.RuntimePath != "/run/enroot/user-42" || c.MountHome || !c.RestrictDev || c.DataPath != "/h/.local/share/gpyxis" {
		t.Errorf("got runtime %q mounthome %v restrictdev %v data %q", c.RuntimePath, c.MountHome, c.RestrictDev, c.DataPath)
	}
	if c.Environ["SSL_CERT_DIR"] != "/certs" || c.Environ["http_proxy"] != "" {
		t.Errorf("environ %v", c.Environ)
	}
	want := []string{"ENROOT_STORAGE_BACKEND: unknown key", "ENROOT_GZIP_PROGRAM: not used", "$(uname -n)", "FOO: unknown key", "RESTRICT_DEV: \"whatever\" is not a boolean"}
	if len(c.Warnings) != len(want) {
		t.Fatalf("warnings %q", c.Warnings)
	}
	for i, w := range want {
		if !strings.Contains(c.Warnings[i], w) {
			t.Errorf("warning %d = %q, want %q", i, c.Warnings[i], w)
		}
	}
	// SkipEnrootConf leaves them out.
	c, err = Load(LoadOptions{EnrootFiles: paths, Files: []string{}, Environ: []string{"HOME=/h"}, SkipEnrootConf: true})
	if err != nil || c.MountHome || c.RestrictDev {
		t.Errorf("skip: %v %v", c, err)
	}
}

func TestSources(t *testing.T) {
	paths := fixture(t, "ENROOT_DATA_PATH /a\n", "# x\nGPYXIS_HOOK_NVIDIA off\n")
	c, err := Load(LoadOptions{Files: paths, Environ: []string{"HOME=/h", "ENROOT_REMAP_ROOT=y"}, SkipEnrootConf: true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"GPYXIS_DATA_PATH":   paths[0] + ":1",
		"GPYXIS_HOOK_NVIDIA": paths[1] + ":2",
		"GPYXIS_REMAP_ROOT":  "env ENROOT_REMAP_ROOT",
		"GPYXIS_CACHE_PATH":  "default",
	}
	for k, v := range want {
		if c.Source[k] != v {
			t.Errorf("Source[%s] = %q, want %q", k, c.Source[k], v)
		}
	}
	for _, k := range keys {
		if _, ok := c.Source[prefixGpyxis+k.name]; !ok && !k.ignored() {
			t.Errorf("no source for %s", k.name)
		}
	}
}

func TestDefaultFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "gpyxis"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "gpyxis", "gpyxis.conf"), []byte("GPYXIS_ALLOW_HTTP yes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(LoadOptions{Environ: []string{"HOME=/h", "XDG_CONFIG_HOME=" + dir}, SkipEnrootConf: true})
	if err != nil {
		t.Fatal(err)
	}
	if !c.AllowHTTP {
		t.Errorf("per-user file not read: %v", c.Source["GPYXIS_ALLOW_HTTP"])
	}
}

func TestSuggest(t *testing.T) {
	for in, want := range map[string]string{
		"ENROOT_CACHE_PTH":  "ENROOT_CACHE_PATH",
		"GPYXIS_HOOK_NVIDA": "GPYXIS_HOOK_NVIDIA",
		"GPYXIS_ZZZZZZZZZZ": "",
	} {
		if got := suggest(in); got != want {
			t.Errorf("suggest(%s) = %q, want %q", in, got, want)
		}
	}
}
