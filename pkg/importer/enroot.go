// SPDX-License-Identifier: Apache-2.0

package importer

import (
	"archive/tar"
	"bytes"
	"fmt"
	"path"
	"sort"
	"strings"

	imgspec "github.com/opencontainers/image-spec/specs-go/v1"
)

// File is one file that enroot's import writes into the image from its config.
type File struct {
	Path    string // relative to the image root
	Content string
}

// rcLocal is the empty /etc/rc.local enroot writes, word for word.
const rcLocal = `# This file is sourced by /etc/rc when the container starts.
# It can be used to manipulate the entrypoint or the command of the container.
`

// EnrootFiles returns the files enroot's import derives from an image config, with
// enroot's content, so that enroot and gpyxis start the image alike:
//
//	/etc/environment  the Env entries, one per line
//	/etc/fstab        one bind mount per Volume (${ENROOT_ROOTFS} is expanded at start)
//	/etc/rc           Labels as comments, cd WORKDIR, source rc.local, then exec
//	                  ENTRYPOINT + "$@" if arguments were given, else ENTRYPOINT + CMD
//	/etc/rc.local     empty but for a comment
//
// Labels are written sorted by key (enroot keeps the config's order).
func EnrootFiles(c imgspec.ImageConfig) []File {
	var env, fstab, rc strings.Builder
	for _, e := range c.Env {
		env.WriteString(e + "\n")
	}
	for _, v := range sortedKeys(c.Volumes) {
		fmt.Fprintf(&fstab, "${ENROOT_ROOTFS}%s %s none x-create=dir,bind,rw,nosuid,nodev\n", v, v)
	}
	for _, k := range sortedKeys(c.Labels) {
		fmt.Fprintf(&rc, "# %s %s\n", k, c.Labels[k])
	}
	if rc.Len() > 0 {
		rc.WriteString("\n")
	}
	wd, cmd := workdir(c), c.Cmd
	if len(c.Entrypoint) == 0 && len(c.Cmd) == 0 {
		cmd = []string{"/bin/sh"}
	}
	fmt.Fprintf(&rc, `mkdir -p "%s" 2> /dev/null
cd "%s" && unset OLDPWD || exit 1

if [ -s /etc/rc.local ]; then
    . /etc/rc.local
fi

if [ $# -gt 0 ]; then
    exec %s "$@"
else
    exec %s %s
fi
`, wd, wd, words(c.Entrypoint), words(c.Entrypoint), words(cmd))
	return []File{
		{Path: "etc/environment", Content: env.String()},
		{Path: "etc/fstab", Content: fstab.String()},
		{Path: "etc/rc", Content: rc.String()},
		{Path: "etc/rc.local", Content: rcLocal},
	}
}

// workdir is WORKDIR, or / when the image sets none.
func workdir(c imgspec.ImageConfig) string {
	if c.WorkingDir == "" {
		return "/"
	}
	return c.WorkingDir
}

// words quotes each word for the shell and joins them with spaces; enroot's template
// puts a space on each side of the (maybe empty) entrypoint, and so does ours.
func words(ws []string) string {
	q := make([]string, len(ws))
	for i, w := range ws {
		q[i] = shellQuote(w)
	}
	return strings.Join(q, " ")
}

// shellQuote single-quotes s for sh, as bash's ${x@Q} does for plain strings.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// configLayer packs EnrootFiles into a tar, the topmost layer of the import (enroot's
// layer 0): no directory entries, so the image's own /etc keeps its attributes.
func configLayer(c imgspec.ImageConfig) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range EnrootFiles(c) {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: f.Path, Mode: 0o644, Size: int64(len(f.Content)), Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("config layer: %w", err)
		}
		if _, err := tw.Write([]byte(f.Content)); err != nil {
			return nil, fmt.Errorf("config layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("config layer: %w", err)
	}
	return buf.Bytes(), nil
}

// workdirLayer is a tar holding WORKDIR and its parents as 0755 directories; it goes
// BELOW every image layer, so it only adds what the image lacks (enroot's mkdir -p).
func workdirLayer(c imgspec.ImageConfig) ([]byte, error) {
	var dirs []string
	for d := path.Clean("/" + c.WorkingDir); d != "/"; d = path.Dir(d) {
		dirs = append([]string{strings.TrimPrefix(d, "/") + "/"}, dirs...)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755}); err != nil {
			return nil, fmt.Errorf("workdir layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("workdir layer: %w", err)
	}
	return buf.Bytes(), nil
}
