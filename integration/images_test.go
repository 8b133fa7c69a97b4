// SPDX-License-Identifier: Apache-2.0

package integration

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/pkg/blobinfocache/none"
	"go.podman.io/image/v5/types"

	"github.com/gpyxis/gpyxis/integration/harness"
)

// TestMultiarchPlatforms checks that both indexes pick a different image per platform,
// told apart by /ARCH, and that the attestation entry is never picked.
func TestMultiarchPlatforms(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	for _, tag := range []string{"multiarch", "multiarch-v2"} {
		env.RequireImage(t, "busybox", tag)
		for _, arch := range []string{"amd64", "arm64"} {
			t.Run(tag+"/"+arch, func(t *testing.T) {
				src, raw, mt := client{reg: reg}.fetchManifest(t, "busybox", tag)
				defer src.Close()
				list, err := manifest.ListFromBlob(raw, mt)
				if err != nil {
					t.Fatalf("parse index: %v", err)
				}
				d, err := list.ChooseInstance(&types.SystemContext{ArchitectureChoice: arch, OSChoice: "linux"})
				if err != nil {
					t.Fatalf("choose %s: %v", arch, err)
				}
				child, cmt, err := src.GetManifest(context.Background(), &d)
				if err != nil {
					t.Fatalf("get manifest %s: %v", d, err)
				}
				m, err := manifest.FromBlob(child, cmt)
				if err != nil {
					t.Fatalf("parse manifest: %v", err)
				}
				layers := m.LayerInfos()
				top := layers[len(layers)-1]
				rc, _, err := src.GetBlob(context.Background(), top.BlobInfo, none.NoCache)
				if err != nil {
					t.Fatalf("get layer: %v", err)
				}
				defer rc.Close()
				got, err := tarFile(t, rc, top.MediaType, "ARCH")
				if err != nil || got != arch+"\n" {
					t.Fatalf("/ARCH of the %s image = %q, %v; want %q", arch, got, err, arch+"\n")
				}
			})
		}
	}
}

// TestPytorchLikeConfig checks the image config fields that pyxis and enroot act on.
func TestPytorchLikeConfig(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	env.RequireImage(t, "pytorch-like", "latest")
	src, raw, mt := client{reg: reg}.fetchManifest(t, "pytorch-like", "latest")
	defer src.Close()
	m, err := manifest.FromBlob(raw, mt)
	if err != nil {
		t.Fatalf("parse manifest: %v", err)
	}
	var cfg struct {
		Config struct {
			Env        []string
			Entrypoint []string
			Cmd        []string
			WorkingDir string
			Volumes    map[string]struct{}
			Labels     map[string]string
		} `json:"config"`
	}
	if err := json.Unmarshal(fetchBlob(t, src, m.ConfigInfo()), &cfg); err != nil {
		t.Fatalf("parse config: %v", err)
	}
	c := cfg.Config
	if !slices.Contains(c.Env, "PYTORCH_VERSION=2.5.0") || !slices.Equal(c.Entrypoint, []string{"/opt/nvidia/nvidia_entrypoint.sh"}) ||
		!slices.Equal(c.Cmd, []string{"/bin/bash"}) || c.WorkingDir != "/workspace" || len(c.Volumes) == 0 || len(c.Labels) == 0 {
		t.Fatalf("pytorch-like config = %+v; want PYTORCH_VERSION, the NGC-style entrypoint, Cmd bash, WorkingDir, Volumes, Labels", c)
	}
}

// TestMultilayerMatchesExpected unpacks debian:multilayer with an independent tool
// (Debian's umoci, fed by skopeo) and compares the merged tree with the hand-written
// manifest in integration/infra/images/multilayer.expected, so later tests can trust it.
func TestMultilayerMatchesExpected(t *testing.T) {
	env := harness.Require(t)
	reg := env.RequireRegistry(t, "plain")
	env.RequireImage(t, "debian", "multilayer")
	if os.Geteuid() != 0 {
		t.Skip("needs root: umoci must create the image's device node and uid-1234 file as they are")
	}
	for _, tool := range []string{"skopeo", "umoci"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (integration/infra/images-build.sh installs it): %v", tool, err)
		}
	}
	expectedFile, err := harness.RepoFile("integration/infra/images/multilayer.expected")
	if err != nil {
		t.Fatal(err)
	}
	want, paths := readExpected(t, expectedFile)

	dir := t.TempDir()
	run(t, "skopeo", "copy", "--quiet", "--src-tls-verify=false",
		"docker://"+reg.Host()+"/debian:multilayer", "oci:"+filepath.Join(dir, "oci")+":ml")
	run(t, "umoci", "unpack", "--image", filepath.Join(dir, "oci")+":ml", filepath.Join(dir, "bundle"))
	got, err := harness.Manifest(filepath.Join(dir, "bundle", "rootfs"), paths...)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("merged tree of debian:multilayer differs from %s:\n%s", expectedFile, lineDiff(want, got))
	}
}

// readExpected returns the non-comment lines of an expected manifest and its "# paths:" list.
func readExpected(t *testing.T, path string) (string, []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var body strings.Builder
	var paths []string
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "# paths:"); ok {
			paths = strings.Fields(p)
		}
		if l != "" && !strings.HasPrefix(l, "#") {
			body.WriteString(l)
		}
	}
	if len(paths) == 0 {
		t.Fatalf("%s has no '# paths:' line", path)
	}
	return body.String(), paths
}

// lineDiff lists the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	for _, l := range w {
		if !slices.Contains(g, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range g {
		if !slices.Contains(w, l) {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
