# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# big:latest, an image for import benchmarks only (never part of the test suite). Sourced by
# images-build.sh. Docker v2s2, gzip, eight layers shaped like an NGC PyTorch image:
#   1 debian
#   2 big-lib     host /usr/lib/<arch>-linux-gnu as /opt/big/lib      (big shared libraries)
#   3 big-share   host /usr/share as /opt/big/share                   (~50k small files)
#   4 big-bin     host /usr/{bin,sbin,include,libexec} as /opt/big/*  (binaries, headers)
#   5 big-go      host /usr/local/go (and /usr/lib/go), same paths    (a toolchain, ~16k files)
#   6 big-py      generated site-packages, >= 30k small .py files, up to BIG_MIN_FILES entries
#   7 big-models  incompressible "safetensors" shards, up to BIG_TARGET_MB MiB uncompressed
#   8 big-top     /etc/big-release, /workspace
# Host layers depend on the machine's /usr, so the image (and any benchmark numbers) differ
# between machines. Each layer's uncompressed size and entry count are kept next to its
# descriptor ($LAYERS/NAME.stats) so that the generated layers can be sized to the targets.

: "${BIG_TARGET_MB:=4096}"   # uncompressed size of the whole image
: "${BIG_MIN_FILES:=120000}" # tar entries of the whole image
BIG_SHARD_MB=512             # largest weight shard
BIG_PY_MIN=30000             # generated .py files, at least
# Fixed key and IVs: the weights are the same bytes on every build and every machine.
BIG_KEY=67707978697362696762656e63686d6b
BIG_MTIME=@1735689600 # $CREATED: generated layers get the same digest on every build
BIG_LAYERS=(debian big-lib big-share big-bin big-go big-py big-models big-top)

# big_stats NAME: prints "BYTES ENTRIES" of the layer's tar. Recorded by big_pack with the
# digest they belong to; recomputed from the blob when missing or stale (the debian layer).
big_stats() {
	local f=$LAYERS/$1.stats d blob
	d=$(jq -r .digest "$LAYERS/$1.json")
	if ! [ -s "$f" ] || [ "$(cut -d' ' -f1 "$f")" != "$d" ]; then
		blob=$(blob_path "$d")
		echo "$d $(pigz -dc "$blob" | wc -c) $(pigz -dc "$blob" | tar -t | wc -l)" >"$f.tmp"
		mv "$f.tmp" "$f"
	fi
	cut -d' ' -f2,3 "$f"
}

# big_total FIELD NAME...: the sum of one field of big_stats (1 bytes, 2 entries) over layers.
big_total() {
	local field=$1 n=0 l s b e
	shift
	for l in "$@"; do
		s=$(big_stats "$l")
		read -r b e <<<"$s"
		if [ "$field" = 1 ]; then n=$((n + b)); else n=$((n + e)); fi
	done
	echo "$n"
}

# big_pack NAME: counts the entries of $BUILD/tmp/NAME.tar, then compresses it into the layer
# (which consumes the tar) and records the stats.
big_pack() {
	local tarfile=$BUILD/tmp/$1.tar bytes entries
	bytes=$(stat -c %s "$tarfile")
	entries=$(tar -tf "$tarfile" | wc -l)
	log "big: $1: $((bytes >> 20)) MiB uncompressed, $entries entries; compressing"
	layer_from_tar "$1" "$tarfile"
	echo "$(jq -r .digest "$LAYERS/$1.json") $bytes $entries" >"$LAYERS/$1.stats"
}

# big_host NAME TRANSFORM PATH...: a layer tarred straight from the host's / (no copy: disk is
# limited), PATHs (relative to /) renamed by the sed expression TRANSFORM. Like many real
# images it then has no entries for parents such as /opt. Missing PATHs are left out.
big_host() {
	local name=$1 xf=$2 p paths=() rc=0
	shift 2
	layer_cached "$name" && return 0
	for p in "$@"; do [ -e "/$p" ] && paths+=("$p"); done
	log "big: $name from ${paths[*]/#//}"
	# S: symlink targets stay as on the host; hard link targets are member names and follow.
	# -T /dev/null: an empty layer, not an error, when no PATH exists on this host.
	tar -C / --numeric-owner --sort=name --format=gnu ${xf:+--transform="$xf,S"} \
		-cf "$BUILD/tmp/$name.tar" -T /dev/null -- "${paths[@]}" || rc=$?
	# GNU tar exits 1 when a file changes while it is read (apt running beside us): fine here.
	[ $rc -le 1 ] || die "tar of ${paths[*]} for $name failed (exit $rc)"
	big_pack "$name"
}

# big_dir NAME: packs the staging dir $BUILD/rootfs/NAME into the layer and deletes the dir
# before compressing (the weights are big: tar, dir and blob at once would be three copies).
big_dir() {
	local root=$BUILD/rootfs/$1
	tar_dir "$root" "$BUILD/tmp/$1.tar" --format=gnu --owner=0 --group=0 --mtime="$BIG_MTIME"
	rm -rf "$root"
	big_pack "$1"
}

# The generator of big-py, with its own LCG (awk's rand differs between mawk and gawk): the
# same N gives the same files everywhere. mode=dirs prints the directories to create,
# mode=files writes the modules: 20 per directory, ~5 KiB of Python each, gzip ~6x.
BIG_PY_AWK='
function rnd(n) { seed = (seed * 16807) % 2147483647; return seed % n }
function dir(i) { return sprintf("gpx_synth_%03d/sub_%02d", int(i / 400), int(i / 20) % 20) }
function base(i) { return i % 20 == 0 ? "__init__.py" : sprintf("mod_%02d.py", i % 20) }
BEGIN {
	nw = split("tensor module layer weight bias grad state config buffer param shape dtype device cache index value batch scale", w, " ")
	seed = 20250101
	for (i = 0; i < N; i++) {
		if (mode == "dirs") { if (i % 20 == 0) print dir(i); continue }
		f = ROOT "/" dir(i) "/" base(i)
		printf "\"\"\"%s: generated filler for the gpyxis big:latest benchmark image.\"\"\"\n\nimport math\nimport os\nfrom typing import Any\n", dir(i) "/" base(i) > f
		lines = 40 + rnd(160)
		for (l = 0; l < lines; l += 7) {
			a = w[1 + rnd(nw)]; b = w[1 + rnd(nw)]
			printf "\n\ndef %s_%s_%d(x: Any, scale: float = %d.0) -> Any:\n", a, b, rnd(1000), 1 + rnd(9) > f
			printf "    \"\"\"Return the %s of the %s for x.\"\"\"\n", a, b > f
			printf "    %s = x * scale + %d\n    if %s > %d:\n        return %s - %d\n", a, rnd(100), a, rnd(1000), a, rnd(10) > f
			printf "    return math.sqrt(abs(%s)) if os.environ.get(\"%s\") else %s\n", a, toupper(b), a > f
		}
		close(f)
	}
}'

# big_py FILES: a python3.11 site-packages of FILES generated modules.
big_py() {
	local sp=$BUILD/rootfs/big-py/usr/local/lib/python3.11/site-packages
	rm -rf "$BUILD/rootfs/big-py" && mkdir -p "$sp"
	log "big: big-py: generating $1 .py files"
	awk -v N="$1" -v mode=dirs "$BIG_PY_AWK" | (cd "$sp" && xargs mkdir -p)
	awk -v N="$1" -v mode=files -v ROOT="$sp" "$BIG_PY_AWK"
	big_dir big-py
}

# big_shard FILE BYTES IV: a valid safetensors file, one U8 tensor of BYTES bytes of AES-CTR
# keystream: incompressible like real weights, yet reproducible and fast (AES-NI). openssl
# reads a finite input: `openssl ... | head -c` would die of SIGPIPE under pipefail.
big_shard() {
	local hdr len
	hdr=$(printf '{"__metadata__":{"format":"pt"},"weight":{"dtype":"U8","shape":[%d],"data_offsets":[0,%d]}}' "$2" "$2")
	# The header is an 8-byte little-endian length, then JSON padded with spaces to 8 bytes.
	while [ $((${#hdr} % 8)) -ne 0 ]; do hdr+=' '; done
	len=${#hdr}
	{
		# shellcheck disable=SC2059 # the format is the escaped length bytes
		printf "$(printf '\\x%02x\\x%02x\\x00\\x00\\x00\\x00\\x00\\x00' $((len & 255)) $((len >> 8)))"
		printf '%s' "$hdr"
		head -c "$2" /dev/zero | openssl enc -aes-128-ctr -nosalt -K "$BIG_KEY" -iv "$3"
	} >"$1"
}

# big_models BYTES: shards of at most BIG_SHARD_MB MiB adding up to BYTES (1 MiB at least, so
# the layer exists even when the host layers alone reach the target).
big_models() {
	local root=$BUILD/rootfs/big-models total=$1 n size i
	[ "$total" -ge $((1 << 20)) ] || total=$((1 << 20))
	n=$(((total + (BIG_SHARD_MB << 20) - 1) / (BIG_SHARD_MB << 20)))
	size=$(((total + n - 1) / n))
	log "big: big-models: $n shards of $((size >> 20)) MiB"
	rm -rf "$root" && mkdir -p "$root/opt/models"
	for i in $(seq "$n"); do
		big_shard "$(printf '%s/opt/models/model-%05d-of-%05d.safetensors' "$root" "$i" "$n")" "$size" "$(printf '%032x' "$i")"
	done
	big_dir big-models
}

big_top() {
	local root=$BUILD/rootfs/big-top
	rm -rf "$root" && mkdir -p "$root/etc" "$root/workspace"
	chmod 0755 "$root/etc" "$root/workspace"
	printf 'big:latest, the gpyxis import benchmark image (integration/infra/images-big.sh)\n' >"$root/etc/big-release"
	chmod 0644 "$root/etc/big-release"
	big_dir big-top
}

big() {
	all_present big:latest && return 0
	apt_install openssl
	build_debian
	layer_cached debian || die "debian:bookworm is in the registry but its layer is not cached; rerun with FORCE=1"
	local arch have l s b e z bytes=0 entries=0 zbytes=0
	arch=$(uname -m)
	big_host big-lib "s,^usr/lib/$arch-linux-gnu,opt/big/lib" "usr/lib/$arch-linux-gnu"
	big_host big-share 's,^usr/share,opt/big/share' usr/share
	big_host big-bin 's,^usr/,opt/big/' usr/bin usr/sbin usr/include usr/libexec
	big_host big-go '' usr/local/go usr/lib/go
	layer_cached big-top || big_top
	# The generated layers make up what the host layers lack: files first, then bytes.
	if ! layer_cached big-py; then
		have=$(big_total 2 debian big-lib big-share big-bin big-go big-top)
		big_py $((BIG_MIN_FILES - have > BIG_PY_MIN ? BIG_MIN_FILES - have : BIG_PY_MIN))
	fi
	if ! layer_cached big-models; then
		have=$(big_total 1 debian big-lib big-share big-bin big-go big-py big-top)
		big_models $(((BIG_TARGET_MB << 20) - have))
	fi

	for l in "${BIG_LAYERS[@]}"; do
		s=$(big_stats "$l")
		read -r b e <<<"$s"
		z=$(jq -r .size "$LAYERS/$l.json")
		log "big: layer $l: $((b >> 20)) MiB, $((z >> 20)) MiB gzip, $e entries"
		bytes=$((bytes + b)) entries=$((entries + e)) zbytes=$((zbytes + z))
	done
	log "big: total ${#BIG_LAYERS[@]} layers, $bytes bytes ($((bytes >> 20)) MiB) uncompressed, $zbytes bytes ($((zbytes >> 20)) MiB) compressed, $entries entries"
	# Cached layers may come from other knobs or another host: say so, still publish.
	[ "$bytes" -ge $((BIG_TARGET_MB << 20)) ] || log "big: warning: under BIG_TARGET_MB=$BIG_TARGET_MB (cached layers?)"
	[ "$entries" -ge "$BIG_MIN_FILES" ] || log "big: warning: under BIG_MIN_FILES=$BIG_MIN_FILES (cached layers?)"

	local cfg m
	cfg=$(jq -nc --arg p "$PATH_ENV" '{Env:[$p, "PYTORCH_VERSION=2.5.0"], Cmd:["/bin/bash"], WorkingDir:"/workspace"}')
	make_image m v2s2 "$cfg" "${BIG_LAYERS[@]}" && publish big latest "$m"
}
