// SPDX-License-Identifier: Apache-2.0

// Package mountspec parses container mount specifications and resolves mount
// targets inside a container root filesystem without escaping it.
//
// Three front-ends produce the same [Mount] value:
//
//   - [Parse], [ParseFstab] and [ParseFstabFile] read enroot fstab lines: the
//     format of /etc/enroot/mounts.d/*.fstab, of the image's /etc/fstab
//     written by the importer, and of hook output.
//   - [ParseEnrootFlag] reads one `enroot start --mount SRC:DST[:TYPE[:OPTS]]`
//     value (colon-separated fstab fields).
//   - [ParsePyxisMounts] reads a pyxis `--container-mounts` value
//     (SRC[:DST[:FLAGS]][,...], flags joined with "+").
//
// # enroot compatibility
//
// Behaviour follows enroot's bin/enroot-mount.c and src/runtime.sh (its fstab
// syntax, option table and mount passes) and pyxis' args.c (its
// --container-mounts syntax):
//
//   - Fields are SOURCE TARGET [TYPE [OPTIONS [FREQ [PASSNO]]]] separated by
//     spaces or tabs, as glibc getmntent(3) splits them. Blank lines and lines
//     whose first non-blank character is '#' are skipped.
//   - Field guessing (enroot mount_fstab): "tmpfs /dst" is a tmpfs; "/src /dst"
//     is "none rbind,x-create=auto"; "/src /dst OPTS" (the third field contains
//     a comma or is a known option) moves the third field to OPTIONS with type
//     "none". Deviation: a "tmpfs" source in that last form gets type "tmpfs",
//     so that pyxis' "tmpfs:/dst[:flags]" entries mount a tmpfs.
//   - PASSNO defaults to FREQ when it is 0 (enroot-mount). enroot mounts
//     pass -1 entries before the hooks and pass 0 entries after them, and
//     ignores any other pass; see [Sort] and [FilterPass].
//   - Options are applied left to right with enroot's table (later "rw"
//     clears an earlier "ro"); unknown options become the filesystem data
//     string. MS_REC is kept in [Mount.Flags] only when "rbind" is present;
//     propagation options go to [Mount.PropagationFlags], made recursive per
//     type by their "r" form ([Mount.Propagations]).
//   - x-create=file wins over x-create=dir, which wins over x-create=auto,
//     whatever the order (enroot tests hasmntopt in that order).
//   - ${NAME} is replaced from the environment map before the line is split,
//     as enroot's common::envsubst does for fstab files; an unset variable
//     becomes the empty string and the $NAME form is left untouched (enroot
//     only substitutes ${NAME}). Deviation: the value is inserted fstab-escaped,
//     so a value with spaces stays inside one field. enroot does not
//     substitute --mount values; pass a nil map to get the same.
//
// # Stricter than enroot
//
// enroot (through getmntent) silently accepts some mistakes that make the
// mount fail later or do something else than intended. This package rejects
// them with an [*Error] that names the entry and the fix: a backslash that
// is not an escape (\ooo octal or \\), a NUL byte, more than six fields, a
// non-integer FREQ or PASSNO, an unknown x-create value, an unknown "x-"
// option, and a --mount value that is a comment.
//
// # Target resolution
//
// [ResolveInRoot] resolves a target as if the root filesystem were "/":
// absolute symlinks restart at the root, ".." in a symlink cannot climb above
// it (it stays at the root, like openat2 RESOLVE_IN_ROOT), and missing
// trailing components are allowed so that x-create can make them. A ".." in
// the target as written that would climb above the root is an error wrapping
// EXDEV ("invalid cross-device link"), as enroot's realpathat reports and
// pyxis' "path escape attempt" test expects. A symlink loop is ELOOP.
// [CreateTarget] implements x-create like enroot's create_file: parents are
// created 0755 and the mountpoint itself with mode 0000, the marker enroot's
// export uses to skip leftover mountpoints. Nothing here needs privileges.
package mountspec
