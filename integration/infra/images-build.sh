#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# images-build.sh [IMAGE...]: builds the test images from Debian packages (never from a hub)
# and pushes them to the anonymous registry on 127.0.0.1:5000; the other registry variants
# share its storage. IMAGE is one of busybox, debian, multilayer, pytorch-like, big; the
# default is every image but big (big is for benchmarks: BIG=1 or name it). Images already
# in the registry with the digest we recorded are skipped; FORCE=1 rebuilds them.
. "$(dirname "$0")/lib.sh"
. "$INFRA_DIR/images-lib.sh"
need_root

PATH_ENV="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

all_present() {
	[ "${FORCE:-0}" = 1 ] && return 1
	local t
	for t in "$@"; do present "${t%%:*}" "${t#*:}" || return 1; done
}

# --- busybox: one layer from busybox-static, in every manifest flavour -------------------
build_busybox() {
	all_present busybox:latest busybox:oci busybox:zstd private/busybox:latest busybox:multiarch busybox:multiarch-v2 && return 0
	apt_install busybox-static
	local root=$BUILD/rootfs/busybox app
	if ! layer_cached busybox; then
		rm -rf "$root" && mkdir -p "$root"/{bin,etc,root,tmp}
		cp /bin/busybox "$root/bin/busybox"
		for app in $(/bin/busybox --list-full); do
			[ "$app" = bin/busybox ] && continue
			mkdir -p "$root/$(dirname "$app")"
			ln -sf /bin/busybox "$root/$app"
		done
		printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
		printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
		chmod 1777 "$root/tmp" && chmod 0700 "$root/root"
		layer_from_dir busybox "$root" --format=gnu
	fi
	if ! layer_cached busybox-zstd; then
		# The same tar, zstd-compressed: same diff_id, another blob.
		pigz -dc "$(blob_path "$(jq -r .digest "$LAYERS/busybox.json")")" >"$BUILD/tmp/busybox-zstd.tar"
		layer_from_tar busybox-zstd "$BUILD/tmp/busybox-zstd.tar" zstd
	fi
	local arch
	for arch in amd64 arm64; do
		layer_cached "arch-$arch" && continue
		rm -rf "$BUILD/rootfs/arch-$arch" && mkdir -p "$BUILD/rootfs/arch-$arch"
		echo "$arch" >"$BUILD/rootfs/arch-$arch/ARCH"
		layer_from_dir "arch-$arch" "$BUILD/rootfs/arch-$arch" --format=gnu
	done

	local cfg m
	cfg=$(jq -nc --arg p "$PATH_ENV" '{Env:[$p], Cmd:["sh"]}')
	make_image m v2s2 "$cfg" busybox && publish busybox latest "$m" && publish private/busybox latest "$m"
	make_image m oci "$cfg" busybox && publish busybox oci "$m"
	make_image m oci "$cfg" busybox-zstd && publish busybox zstd "$m"

	# Multi-platform: both entries are amd64 busybox binaries plus /ARCH naming the platform,
	# so platform selection is testable on amd64 with `cat /ARCH`.
	local amd arm amd2 arm2 att idx
	make_image amd oci "$cfg" busybox arch-amd64
	ARCH=arm64 VARIANT=v8 make_image arm oci "$cfg" busybox arch-arm64
	make_image amd2 v2s2 "$cfg" busybox arch-amd64
	ARCH=arm64 VARIANT=v8 make_image arm2 v2s2 "$cfg" busybox arch-arm64
	attestation att "$(jq -r .digest <<<"$amd")"
	make_index idx oci "$amd" "$arm" "$att" && publish busybox multiarch "$idx"
	make_index idx v2s2 "$amd2" "$arm2" && publish busybox multiarch-v2 "$idx"
}

# attestation OUTVAR SUBJECT-DIGEST: an in-toto attestation manifest for platform
# unknown/unknown, as buildx attaches to indexes; a client must never pick it.
attestation() {
	local -n _att=$1
	local layer cfg mblob mdigest
	printf '{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document","subject":[{"name":"busybox","digest":{"sha256":"%s"}}],"predicate":{}}\n' \
		"${2#sha256:}" >"$BUILD/tmp/att.json"
	layer=$(add_blob "$BUILD/tmp/att.json")
	echo '{"architecture":"unknown","os":"unknown","config":{},"rootfs":{"type":"layers","diff_ids":["'"$layer"'"]}}' >"$BUILD/tmp/attcfg.json"
	cfg=$(add_blob "$BUILD/tmp/attcfg.json")
	jq -nc --arg mt "$MT_OCI_MANIFEST" --arg c "$cfg" --argjson cs "$(stat -c %s "$(blob_path "$cfg")")" \
		--arg l "$layer" --argjson ls "$(stat -c %s "$(blob_path "$layer")")" '
		{schemaVersion:2, mediaType:$mt, config:{mediaType:"application/vnd.oci.image.config.v1+json", digest:$c, size:$cs},
		 layers:[{mediaType:"application/vnd.in-toto+json", digest:$l, size:$ls,
		          annotations:{"in-toto.io/predicate-type":"https://spdx.dev/Document"}}]}' >"$BUILD/tmp/attm.json"
	mdigest=$(add_blob "$BUILD/tmp/attm.json")
	_att=$(jq -nc --arg mt "$MT_OCI_MANIFEST" --arg d "$mdigest" --argjson s "$(stat -c %s "$(blob_path "$mdigest")")" \
		--arg subj "$2" '{mediaType:$mt, digest:$d, size:$s, platform:{architecture:"unknown", os:"unknown"},
		  annotations:{"vnd.docker.reference.type":"attestation-manifest", "vnd.docker.reference.digest":$subj}}')
}

# --- debian: debootstrap minbase from the machine's own mirror -----------------------------
debian_rootfs() {
	local root=$BUILD/rootfs/debian
	[ -f "$root/.gpyxis-complete" ] && return 0
	apt_install debootstrap
	local mirror
	mirror=$(debian_mirror)
	rm -rf "$root" && mkdir -p "$root" "$BUILD/debs"
	log "debootstrap --variant=minbase bookworm (mirror from apt sources)"
	# The mirror never reaches the log or the image: it is replaced by <mirror> in both.
	debootstrap --variant=minbase --cache-dir="$BUILD/debs" bookworm "$root" "$mirror" 2>&1 |
		sed "s|$mirror|<mirror>|g" >"$GPX_LOG/debootstrap.log" || die "debootstrap failed, see $GPX_LOG/debootstrap.log"
	[ -x "$root/bin/bash" ] || die "debootstrap produced no /bin/bash, see $GPX_LOG/debootstrap.log"
	echo '# offline test image: no package sources' >"$root/etc/apt/sources.list"
	rm -rf "${root:?}"/dev/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
		"$root"/var/lib/apt/lists/* "$root"/var/log/bootstrap.log "$root"/etc/machine-id
	touch "$root/.gpyxis-complete"
}

build_debian() {
	all_present debian:bookworm && return 0
	debian_rootfs
	layer_from_dir debian "$BUILD/rootfs/debian" --format=gnu --exclude=./.gpyxis-complete --exclude=.gpyxis-complete
	local m
	make_image m v2s2 "$(jq -nc --arg p "$PATH_ENV" '{Env:[$p], Cmd:["bash"]}')" debian
	publish debian bookworm "$m"
}

# --- pytorch-like: what NGC images look like to pyxis --------------------------------------
build_pytorch_like() {
	all_present pytorch-like:latest && return 0
	build_debian
	local root=$BUILD/rootfs/pytorch-like
	if ! layer_cached pytorch-like; then
		rm -rf "$root" && mkdir -p "$root/opt/nvidia" "$root/workspace" "$root/usr/local/lib/python3/dist-packages/torch"
		cat >"$root/opt/nvidia/nvidia_entrypoint.sh" <<'SH'
#!/bin/bash
# Prints a banner like NGC's entrypoint, then runs the command (bash by default).
echo
echo "== PyTorch (gpyxis test image) =="
echo "PyTorch Version ${PYTORCH_VERSION:-unknown}"
echo
if [ $# -eq 0 ]; then set -- /bin/bash; fi
exec "$@"
SH
		chmod 0755 "$root/opt/nvidia/nvidia_entrypoint.sh"
		echo 'This is the pytorch-like test image of gpyxis.' >"$root/workspace/README"
		printf "__version__ = '2.5.0'\ncuda = '12.6'\n" >"$root/usr/local/lib/python3/dist-packages/torch/version.py"
		layer_from_dir pytorch-like "$root" --format=gnu
	fi
	local cfg m
	cfg=$(jq -nc --arg p "$PATH_ENV" '{
		Env:[$p, "PYTORCH_VERSION=2.5.0", "CUDA_VERSION=12.6.0", "NVIDIA_VISIBLE_DEVICES=all",
		     "NVIDIA_DRIVER_CAPABILITIES=compute,utility,video",
		     "LD_LIBRARY_PATH=/usr/local/nvidia/lib:/usr/local/nvidia/lib64"],
		Entrypoint:["/opt/nvidia/nvidia_entrypoint.sh"], Cmd:["/bin/bash"], WorkingDir:"/workspace",
		Volumes:{"/workspace/data":{}, "/scratch":{}},
		Labels:{"com.nvidia.build.id":"gpyxis-test", "org.opencontainers.image.title":"pytorch-like"}}')
	make_image m v2s2 "$cfg" debian pytorch-like
	publish pytorch-like latest "$m"
}

# fetch_debs: a small .deb for the `dpkg -i` test inside a container (no network there).
fetch_debs() {
	ls "$GPX_STATE"/debs/hello_*.deb >/dev/null 2>&1 && return 0
	mkdir -p "$GPX_STATE/debs"
	(cd "$GPX_STATE/debs" && apt-get download hello >"$GPX_LOG/debs.log" 2>&1) ||
		{ apt-get update >>"$GPX_LOG/debs.log" 2>&1 && (cd "$GPX_STATE/debs" && apt-get download hello >>"$GPX_LOG/debs.log" 2>&1); } ||
		die "apt-get download hello failed, see $GPX_LOG/debs.log"
	chmod 0644 "$GPX_STATE"/debs/*.deb
}

build_multilayer() { . "$INFRA_DIR/images-multilayer.sh"; multilayer; }
build_big() { . "$INFRA_DIR/images-big.sh"; big; }

main() {
	mkdir -p "$GPX_STATE" "$BUILD/rootfs"
	# One build at a time: builds share $BUILD/tmp and the layer cache.
	exec 9>"$BUILD/.lock"
	flock -n 9 || { log "waiting for another images-build.sh to finish"; flock 9; }
	# skopeo, umoci and squashfs-tools are not used to build: tests use them to check images and outputs independently.
	apt_install jq pigz zstd curl tar attr skopeo umoci squashfs-tools
	init_store
	curl -sf -o /dev/null "$PUSH_REG/v2/" || die "no registry at $PUSH_REG: run registry-up.sh first"
	local images=("$@") i
	[ ${#images[@]} -gt 0 ] || images=(busybox debian multilayer pytorch-like)
	[ "${BIG:-0}" = 1 ] && [ $# -eq 0 ] && images+=(big)
	[ $# -eq 0 ] && fetch_debs
	for i in "${images[@]}"; do
		case $i in
		busybox | debian | multilayer | big) "build_$i" ;;
		pytorch-like) build_pytorch_like ;;
		*) die "unknown image $i (known: busybox debian multilayer pytorch-like big)" ;;
		esac
	done
	rm -rf "$BUILD/tmp"
}

main "$@"
