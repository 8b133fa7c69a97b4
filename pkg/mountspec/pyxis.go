// SPDX-License-Identifier: Apache-2.0

package mountspec

import (
	"strings"
)

// PyxisOrigin is the Origin of mounts from ParsePyxisMounts.
const PyxisOrigin = "--container-mounts"

// Default options pyxis puts before the user's flags (pyxis args.c
// add_mount).
const (
	pyxisPathOptions   = "x-create=auto,rbind"
	pyxisTmpfsOptions  = "x-create=dir"
	pyxisUmountOptions = "x-detach"
)

// ParsePyxisMounts parses a pyxis --container-mounts value (also the
// PYXIS_CONTAINER_MOUNTS variable) the way pyxis args.c does:
//
//   - entries are separated by ","; each is SRC[:DST[:FLAGS]], SRC alone
//     meaning SRC:SRC; FLAGS is everything after the second ":" with "+"
//     standing for ",";
//   - SRC starting with "." or "/" is a path, bound with
//     "x-create=auto,rbind" before the user's flags (so "bind" in FLAGS does
//     not make it non-recursive: enroot keeps MS_REC whenever "rbind" is
//     present); "tmpfs" gets "x-create=dir"; "umount" gets "x-detach";
//   - DST must start with "." or "/";
//   - identical entries are dropped (pyxis logs "skipping duplicate mount
//     entry").
//
// The messages of the returned [*Error] start with pyxis' own text, without
// its "pyxis: " prefix: "--container-mounts: argument required",
// "--container-mounts: invalid format: ENTRY", `mount source must be a
// relative path, an absolute path, "tmpfs" or "umount"`, "mount target must
// be a relative path or an absolute path". Options are then checked as for
// enroot fstab lines.
func ParsePyxisMounts(s string) ([]Mount, error) {
	if s == "" {
		return nil, &Error{Origin: PyxisOrigin, Err: ErrInvalidEntry,
			exact: PyxisOrigin + ": argument required",
			Hint:  "give SRC[:DST[:FLAGS]][,SRC[:DST[:FLAGS]]...]"}
	}
	var mounts []Mount
	seen := map[string]bool{}
	for _, entry := range strings.Split(s, ",") {
		line, err := pyxisLine(entry)
		if err != nil {
			return nil, err
		}
		if seen[line] {
			continue
		}
		seen[line] = true
		m, _, err := parseLine(line, PyxisOrigin, nil)
		if err != nil {
			if e, ok := err.(*Error); ok {
				e.Entry = entry
			}
			return nil, err
		}
		m.Line = entry
		mounts = append(mounts, m)
	}
	return mounts, nil
}

// pyxisLine turns one --container-mounts entry into the fstab line pyxis
// hands to enroot (pyxis args.c parse_mount_option and add_mount), with
// the paths fstab-escaped.
func pyxisLine(entry string) (string, error) {
	invalid := func() error {
		return &Error{Origin: PyxisOrigin, Entry: entry, Err: ErrInvalidEntry,
			exact: PyxisOrigin + ": invalid format: " + entry,
			Hint:  "write SRC[:DST[:FLAGS]] with a non-empty SRC and DST, for example /data:/data:ro"}
	}
	src, rest, hasDst := strings.Cut(entry, ":")
	if src == "" {
		return "", invalid()
	}
	dst, flags := src, ""
	if hasDst {
		dst, flags, _ = strings.Cut(rest, ":")
		if dst == "" {
			return "", invalid()
		}
	}
	var opts string
	switch {
	case src[0] == '.' || src[0] == '/':
		opts = pyxisPathOptions
	case src == "tmpfs":
		opts = pyxisTmpfsOptions
	case src == "umount":
		opts = pyxisUmountOptions
	default:
		return "", &Error{Origin: PyxisOrigin, Entry: entry, Err: ErrInvalidEntry,
			exact: `mount source must be a relative path, an absolute path, "tmpfs" or "umount"`,
			Hint:  `start a host path with "/" or "./"`}
	}
	if dst[0] != '.' && dst[0] != '/' {
		return "", &Error{Origin: PyxisOrigin, Entry: entry, Err: ErrInvalidEntry,
			exact: "mount target must be a relative path or an absolute path",
			Hint:  `start the target with "/", for example "/` + dst + `"`}
	}
	if flags != "" {
		opts += "," + strings.ReplaceAll(flags, "+", ",")
	}
	return escapeField(src) + " " + escapeField(dst) + " " + escapeField(opts), nil
}
