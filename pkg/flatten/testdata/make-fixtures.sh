#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Regenerates the GNU tar fixtures of this directory (see README.md). Needs root
# (mknod) and GNU tar; the output is deterministic for a given tar version.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

r=$tmp/root
mkdir -p "$r/d"
long=$r/d/$(printf 'l%.0s' {1..120})
mkdir "$long"
printf 'deep\n' >"$long/$(printf 'n%.0s' {1..120})"
printf 'a\n' >"$r/d/a"
ln "$r/d/a" "$r/d/a-link"
ln -s a "$r/d/sym"
mkfifo -m 0600 "$r/d/fifo"
mknod -m 0660 "$r/d/zero" c 1 5
printf 'head' >"$r/d/sparse"
truncate -s 1M "$r/d/sparse"
printf 'tail' | dd of="$r/d/sparse" bs=1 seek=$((1024 * 1024 - 4)) conv=notrunc status=none
chmod 4750 "$r/d/a"
chmod 0755 "$r" "$r/d" "$long" && chmod 0644 "$long"/n*
for fmt in gnu posix; do
	tar -C "$r" --format=$fmt --sparse --numeric-owner --owner=0 --group=0 \
		--mtime=@1700000000 --sort=name -cf "$here/$fmt.tar" .
done
