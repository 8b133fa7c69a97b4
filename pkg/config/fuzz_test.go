// SPDX-License-Identifier: Apache-2.0

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Run longer with `go test -run '^$' -fuzz FuzzLoad ./pkg/config`.

// FuzzLoad parses a configuration file and an environment variable: any
// input gives a configuration or an error, never a panic, and an accepted
// file parses the same way twice.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"ENROOT_RUNTIME_PATH ${XDG_RUNTIME_DIR}/enroot\nENROOT_CACHE_PATH=${XDG_CACHE_HOME:-$HOME/.cache}/enroot\n",
		"ENROOT_DATA_PATH \"/data/$(id -u)\" # comment\n",
		"ENROOT_MAX_PROCESSORS $(nproc)\nENROOT_SQUASH_OPTIONS '-comp lzo -noD'\n",
		"ENROOT_REMAP_ROOT yes\nENROOT_ROOTFS_WRITABLE=no\n",
		"ENROOT_MOUNT_HOME ${UNSET-word}\nENROOT_TEMP_PATH ~/tmp\n",
		"ENROOT_CONNECT_TIMEOUT 30\nENROOT_TRANSFER_RETRIES x\n",
		"bad line\n", "ENROOT_X `id`\n", "ENROOT_Y $(rm -rf /)\n", "A=\"unterminated\n", "=\n", "#\n\n\t\n",
		"ENROOT_RUNTIME_PATH ${A:-${B:-$C}}\n", "ENROOT_CACHE_PATH \\$HOME\\ x\n",
	} {
		f.Add(s, "/home/u")
	}
	dir := f.TempDir()
	uid := 1000
	f.Fuzz(func(t *testing.T, content, home string) {
		if strings.ContainsRune(home, 0) {
			return
		}
		p := filepath.Join(dir, "fuzz.conf")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		opts := LoadOptions{Files: []string{p}, Environ: []string{"HOME=" + home, "XDG_RUNTIME_DIR=/run/user/1000"}, SkipEnrootConf: true, UID: &uid, NumCPU: 4}
		c1, err1 := Load(opts)
		c2, err2 := Load(opts)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("loaded once (%v), failed once (%v)", err1, err2)
		}
		if err1 != nil {
			if err1.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if c1 == nil || c2 == nil {
			t.Fatal("nil configuration without an error")
		}
	})
}

// FuzzExpand expands a value as enroot's `eval echo` would: never a panic,
// and a result without a command substitution left in it.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{
		"${HOME}/x", "$HOME", "'single $HOME'", `"double $HOME"`, `a\ b`, "~/x", "~", "a # c",
		"${X:-default}", "${X-d}", "${", "$", "$(id -u)", "$(", "`x`", "a;b", "a|b", "a && b", `"unterminated`,
		"${A:-${B}}", "$((1+1))", "${#X}", `\`, "\"$(nproc)\"",
	} {
		f.Add(s)
	}
	x := &expander{
		lookup: func(name string) (string, bool) {
			if name == "HOME" {
				return "/home/u", true
			}
			return "", false
		},
		command: func(cmd string) (string, bool, error) {
			if cmd == "id -u" || cmd == "nproc" {
				return "7", true, nil
			}
			return "", false, nil
		},
		home: func() (string, error) { return "/home/u", nil },
	}
	f.Fuzz(func(t *testing.T, v string) {
		out, err := x.expand(v)
		if err != nil {
			return
		}
		if strings.Contains(out, "$(") && !strings.Contains(v, `\$(`) && !strings.Contains(v, "'") {
			t.Fatalf("%q expanded to %q: a command left unexpanded", v, out)
		}
	})
}
