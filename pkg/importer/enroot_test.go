// SPDX-License-Identifier: Apache-2.0

package importer

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"

	imgspec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestEnrootFilesPytorchLike(t *testing.T) {
	files := EnrootFiles(imgspec.ImageConfig{
		Env:        []string{"PATH=/usr/bin:/bin", "PYTORCH_VERSION=2.5.0"},
		Entrypoint: []string{"/opt/nvidia/nvidia_entrypoint.sh"},
		Cmd:        []string{"/bin/bash"},
		WorkingDir: "/workspace",
		Volumes:    map[string]struct{}{"/workspace/data": {}, "/scratch": {}},
		Labels:     map[string]string{"org.opencontainers.image.title": "pytorch-like", "com.nvidia.build.id": "1"},
	})
	want := map[string]string{
		"etc/environment": "PATH=/usr/bin:/bin\nPYTORCH_VERSION=2.5.0\n",
		"etc/fstab": "${ENROOT_ROOTFS}/scratch /scratch none x-create=dir,bind,rw,nosuid,nodev\n" +
			"${ENROOT_ROOTFS}/workspace/data /workspace/data none x-create=dir,bind,rw,nosuid,nodev\n",
		"etc/rc": `# com.nvidia.build.id 1
# org.opencontainers.image.title pytorch-like

mkdir -p "/workspace" 2> /dev/null
cd "/workspace" && unset OLDPWD || exit 1

if [ -s /etc/rc.local ]; then
    . /etc/rc.local
fi

if [ $# -gt 0 ]; then
    exec '/opt/nvidia/nvidia_entrypoint.sh' "$@"
else
    exec '/opt/nvidia/nvidia_entrypoint.sh' '/bin/bash'
fi
`,
		"etc/rc.local": rcLocal,
	}
	checkFiles(t, files, want)
}

func TestEnrootFilesDefaults(t *testing.T) {
	// No entrypoint, no command, no workdir: enroot runs /bin/sh in /.
	files := EnrootFiles(imgspec.ImageConfig{})
	rc := `mkdir -p "/" 2> /dev/null
cd "/" && unset OLDPWD || exit 1

if [ -s /etc/rc.local ]; then
    . /etc/rc.local
fi

if [ $# -gt 0 ]; then
    exec  "$@"
else
    exec  '/bin/sh'
fi
`
	checkFiles(t, files, map[string]string{"etc/environment": "", "etc/fstab": "", "etc/rc": rc, "etc/rc.local": rcLocal})
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"a": "'a'", "it's": `'it'\''s'`, "": "''", "$HOME x": "'$HOME x'"} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func checkFiles(t *testing.T, files []File, want map[string]string) {
	t.Helper()
	if len(files) != len(want) {
		t.Fatalf("got %d files, want %d", len(files), len(want))
	}
	for _, f := range files {
		if w, ok := want[f.Path]; !ok || f.Content != w {
			t.Errorf("%s =\n%s\nwant\n%s", f.Path, f.Content, w)
		}
	}
}

func TestLayers(t *testing.T) {
	b, err := workdirLayer(imgspec.ImageConfig{WorkingDir: "/a/b/"})
	if err != nil {
		t.Fatal(err)
	}
	if got := tarNames(t, b); len(got) != 2 || got[0] != "a/" || got[1] != "a/b/" {
		t.Fatalf("workdir layer = %q, want [a/ a/b/]", got)
	}
	b, err = configLayer(imgspec.ImageConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if got := tarNames(t, b); len(got) != 4 || got[0] != "etc/environment" {
		t.Fatalf("config layer = %q", got)
	}
}

func tarNames(t *testing.T, b []byte) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}
