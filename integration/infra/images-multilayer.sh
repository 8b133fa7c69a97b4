# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# debian:multilayer, the layer-merge torture test. Sourced by images-build.sh.
# Seven layers (OCI, gzip, GNU tar --format=posix with PAX headers) over the debian base:
#   1 debian
#   2 /opt/ml base: hardlink pair, symlinks (relative, absolute, dangling, to a dir), setuid
#     file, 0700 and 0000 dirs, a uid-1234 file, fifo, char device 1:3, names with spaces and
#     non-ASCII, empty file and dir, a user.* xattr, a path over 255 bytes; /etc/gpyxis-test
#   3 replace-me.txt v1->v2, a new file, /opt/ml 0755->0750, a hardlink to a layer-2 file
#     (cross-layer: its target is not in this tar)
#   4 whiteouts: delete-me.txt, resurrect.txt, /etc/motd (from the debian layer)
#   5 opaque-dir made opaque (+ new-a); dir-becomes-file is now a file and file-becomes-dir
#     a directory, with no whiteouts, as docker writes such changes; a sparse file just over
#     4 GiB (GNU sparse 1.0 PAX records; data at both ends)
#   6 empty (a tar holding only ./)
#   7 resurrect.txt again (v3); /etc/gpyxis-multilayer.expected, the merged tree's manifest
# The expected merged tree is integration/infra/images/multilayer.expected (hand-checked);
# integration/harness.Manifest writes the same format from any tree.

ML_EXPECTED=$INFRA_DIR/images/multilayer.expected

ml_tar() { # NAME DIR: a posix-format layer from DIR, xattrs included
	tar_dir "$2" "$BUILD/tmp/$1.tar" --format=posix --xattrs --xattrs-include='user.*' --sparse
}

ml_layer2() {
	local r=$BUILD/rootfs/ml2 ml
	rm -rf "$r" && ml=$r/opt/ml && mkdir -p "$ml" "$r/etc"
	chmod 0755 "$r/opt" "$ml" "$r/etc"
	printf 'v1\n' >"$ml/replace-me.txt"
	printf 'delete me\n' >"$ml/delete-me.txt"
	printf 'v1\n' >"$ml/resurrect.txt"
	mkdir -p "$ml/opaque-dir/sub" "$ml/dir-becomes-file" "$ml/empty-dir"
	printf 'old a\n' >"$ml/opaque-dir/old-a"
	printf 'old b\n' >"$ml/opaque-dir/old-b"
	printf 'old c\n' >"$ml/opaque-dir/sub/old-c"
	printf 'x\n' >"$ml/dir-becomes-file/x"
	printf 'i am a file\n' >"$ml/file-becomes-dir"
	printf 'linked\n' >"$ml/hardlink-a"
	ln "$ml/hardlink-a" "$ml/hardlink-b"
	ln -s hardlink-a "$ml/symlink-rel"
	ln -s /opt/ml/hardlink-a "$ml/symlink-abs"
	ln -s does-not-exist "$ml/symlink-dangling"
	ln -s ../ml/opaque-dir "$ml/symlink-dir"
	printf '#!/bin/sh\necho setuid\n' >"$ml/setuid-sh" && chmod 4755 "$ml/setuid-sh"
	mkdir "$ml/private-dir" && printf 'secret\n' >"$ml/private-dir/secret"
	chmod 0600 "$ml/private-dir/secret" && chmod 0700 "$ml/private-dir"
	mkdir "$ml/no-access" && printf 'inside\n' >"$ml/no-access/inside.txt" && chmod 0000 "$ml/no-access"
	printf 'owned\n' >"$ml/owned-1234" && chown 1234:1234 "$ml/owned-1234"
	mkfifo -m 0644 "$ml/fifo"
	mknod -m 0666 "$ml/null-dev" c 1 3
	printf 'spaces\n' >"$ml/name with spaces.txt"
	printf 'unicode\n' >"$ml/ünïcödé-名前.txt"
	: >"$ml/empty-file"
	printf 'xattr\n' >"$ml/xattr-file" && setfattr -n user.gpyxis -v hello "$ml/xattr-file"
	# A path of 300+ bytes (each name under NAME_MAX): tar needs PAX path records for it.
	local long
	long=$ml/long/$(printf 'a%.0s' {1..100})/$(printf 'b%.0s' {1..100})
	mkdir -p "$long" && printf 'long\n' >"$long/$(printf 'c%.0s' {1..100}).txt"
	printf 'multilayer\n' >"$r/etc/gpyxis-test"
	chmod 0644 "$ml"/*.txt "$ml/hardlink-a" "$ml/empty-file" "$ml/xattr-file" "$r/etc/gpyxis-test"
	ml_tar ml2 "$r"
	getfattr -n user.gpyxis "$ml/xattr-file" >/dev/null 2>&1 || die "$BUILD does not keep user.* xattrs; build on ext4/xfs/tmpfs"
}

ml_layer3() {
	local r=$BUILD/rootfs/ml3 ml
	rm -rf "$r" && ml=$r/opt/ml && mkdir -p "$ml" && chmod 0755 "$r/opt" && chmod 0750 "$ml"
	printf 'v2\n' >"$ml/replace-me.txt"
	printf 'new in layer 3\n' >"$ml/new-file.txt"
	chmod 0644 "$ml"/*.txt
	# Cross-layer hardlink: pack the pair, then delete the target's member so the tar keeps
	# only a link entry naming opt/ml/hardlink-a, which lives in layer 2.
	printf 'linked\n' >"$ml/hardlink-a" && chmod 0644 "$ml/hardlink-a"
	ln "$ml/hardlink-a" "$ml/hardlink-cross"
	ml_tar ml3 "$r"
	tar --delete -f "$BUILD/tmp/ml3.tar" opt/ml/hardlink-a
	[[ $(tar -tvf "$BUILD/tmp/ml3.tar") == *'opt/ml/hardlink-cross link to opt/ml/hardlink-a'* ]] ||
		die "layer 3 lost its cross-layer hardlink"
}

ml_layer4() {
	local r=$BUILD/rootfs/ml4 ml
	rm -rf "$r" && ml=$r/opt/ml && mkdir -p "$ml" "$r/etc" && chmod 0755 "$r/opt" "$r/etc" && chmod 0750 "$ml"
	: >"$ml/.wh.delete-me.txt"
	: >"$ml/.wh.resurrect.txt"
	: >"$r/etc/.wh.motd"
	ml_tar ml4 "$r"
}

ml_layer5() {
	local r=$BUILD/rootfs/ml5 ml
	rm -rf "$r" && ml=$r/opt/ml && mkdir -p "$ml/opaque-dir" "$ml/file-becomes-dir" && chmod 0755 "$r/opt"
	chmod 0750 "$ml" && chmod 0755 "$ml/opaque-dir" "$ml/file-becomes-dir"
	: >"$ml/opaque-dir/.wh..wh..opq"
	printf 'new a\n' >"$ml/opaque-dir/new-a"
	printf 'now a file\n' >"$ml/dir-becomes-file"
	printf 'child\n' >"$ml/file-becomes-dir/child"
	chmod 0644 "$ml/opaque-dir/new-a" "$ml/dir-becomes-file" "$ml/file-becomes-dir/child"
	# Not in layer 3: GNU tar 1.34 aborts on --delete in an archive holding a sparse member.
	# Sparse, just over 4 GiB (needs 64-bit sizes): data at the start and at the very end.
	printf 'head\n' >"$ml/sparse-4g"
	truncate -s $((4 * 1024 * 1024 * 1024 + 65536)) "$ml/sparse-4g"
	printf 'tail\n' | dd of="$ml/sparse-4g" bs=1 seek=$((4 * 1024 * 1024 * 1024 + 65536 - 5)) conv=notrunc status=none
	chmod 0644 "$ml/sparse-4g"
	ml_tar ml5 "$r"
}

ml_layer6() {
	rm -rf "$BUILD/rootfs/ml6" && mkdir -p "$BUILD/rootfs/ml6" && chmod 0755 "$BUILD/rootfs/ml6"
	ml_tar ml6 "$BUILD/rootfs/ml6"
}

ml_layer7() {
	local r=$BUILD/rootfs/ml7 ml
	rm -rf "$r" && ml=$r/opt/ml && mkdir -p "$ml" "$r/etc" && chmod 0755 "$r/opt" "$r/etc" && chmod 0750 "$ml"
	printf 'v3\n' >"$ml/resurrect.txt" && chmod 0644 "$ml/resurrect.txt"
	install -m 0644 "$ML_EXPECTED" "$r/etc/gpyxis-multilayer.expected"
	ml_tar ml7 "$r"
}

multilayer() {
	# The image carries the expected manifest: a newer one means a rebuild.
	if ! [ "$ML_EXPECTED" -nt "$RECORDS/debian_multilayer.json" ] && all_present debian:multilayer; then return 0; fi
	apt_install attr
	build_debian
	local n
	for n in 2 3 4 5 6 7; do
		# Layer 7 carries the expected manifest: rebuild it whenever that file changes.
		if [ $n = 7 ] && layer_cached ml7 && [ "$ML_EXPECTED" -nt "$LAYERS/ml7.json" ]; then rm -f "$LAYERS/ml7.json"; fi
		layer_cached "ml$n" && continue
		"ml_layer$n"
		layer_from_tar "ml$n" "$BUILD/tmp/ml$n.tar"
		rm -rf "$BUILD/rootfs/ml$n"
	done
	local m
	make_image m oci "$(jq -nc --arg p "$PATH_ENV" '{Env:[$p], Cmd:["bash"]}')" debian ml2 ml3 ml4 ml5 ml6 ml7
	publish debian multilayer "$m"
}
