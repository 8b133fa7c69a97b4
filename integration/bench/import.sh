#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# import.sh [REPO:TAG]: times `gpyxis-runtime import` against the classic pipeline that
# enroot drives, on the same image in one run, and prints ratios. Default image: big:latest
# from the harness registry (BIG=1 integration/infra/infra-up.sh builds it).
#   classic:   skopeo copy to an OCI layout, umoci raw unpack, mksquashfs -comp zstd
#              -Xcompression-level 3 -b 1M -all-root (all cores)
#   gpyxis:    gpyxis-runtime import, zstd level 3 and 1 MiB blocks, then uncompressed
# Each run starts from an empty cache. Needs root (umoci raw unpack keeps owners and devices).
. "$(dirname "$0")/../infra/lib.sh"
need_root
apt_install skopeo umoci squashfs-tools time bc

IMAGE=${1:-big:latest}
REG=127.0.0.1:$REG_PLAIN_PORT
BIN=${GPYXIS_RUNTIME:-$REPO_ROOT/bin/gpyxis-runtime}
[ -x "$BIN" ] || die "$BIN not built: run make"
WORK=$(mktemp -d "${BENCH_DIR:-/var/tmp}/gpyxis-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# measure NAME CMD...: runs CMD under GNU time, appends "wall user sys maxrss_kb" to $WORK/NAME.
measure() {
	local name=$1
	shift
	/usr/bin/time -o "$WORK/time.tmp" -f '%e %U %S %M' "$@" >"$WORK/$name.log" 2>&1 ||
		{ cat "$WORK/$name.log" >&2; die "$name: $* failed"; }
	cat "$WORK/time.tmp" >>"$WORK/$name.times"
}

# total NAME: wall, cpu (user+sys), peak RSS over the steps of NAME.
total() {
	awk '{ w += $1; c += $2 + $3; if ($4 > m) m = $4 } END { printf "%.1f %.1f %.0f", w, c, m / 1024 }' "$WORK/$1.times"
}

log "classic pipeline on $REG/$IMAGE"
measure classic skopeo copy --quiet --src-tls-verify=false "docker://$REG/$IMAGE" "oci:$WORK/oci:img"
measure classic umoci raw unpack --image "$WORK/oci:img" "$WORK/rootfs"
measure classic mksquashfs "$WORK/rootfs" "$WORK/classic.sqsh" -comp zstd -Xcompression-level 3 -b 1M -all-root -noappend -quiet -processors "$(nproc)"
rm -rf "$WORK/rootfs" "$WORK/oci"

ref="docker://$REG#$IMAGE"
log "gpyxis-runtime import, zstd-3, 1 MiB blocks"
measure zstd "$BIN" import --quiet --insecure --cache-dir "$WORK/cache-zstd" -o "$WORK/zstd.sqsh" \
	--squash-options "-comp zstd -Xcompression-level 3 -b 1M" "$ref"
rm -rf "$WORK/cache-zstd"
log "gpyxis-runtime import, uncompressed"
measure none "$BIN" import --quiet --insecure --cache-dir "$WORK/cache-none" -o "$WORK/none.sqsh" \
	--squash-options "-noI -noD -noF -noX -b 1M" "$ref"

read -r cw cc cm <<<"$(total classic)"
cs=$(stat -c %s "$WORK/classic.sqsh")
printf '\n%-28s %9s %9s %9s %12s\n' "$IMAGE on $(nproc) cores" "wall s" "cpu s" "rss MiB" "output MiB"
printf '%-28s %9s %9s %9s %12.1f\n' "classic (skopeo+umoci+mksquashfs)" "$cw" "$cc" "$cm" "$(echo "$cs / 1048576" | bc -l)"
for n in zstd none; do
	read -r w c m <<<"$(total $n)"
	s=$(stat -c %s "$WORK/$n.sqsh")
	printf '%-28s %9s %9s %9s %12.1f\n' "gpyxis import ($n)" "$w" "$c" "$m" "$(echo "$s / 1048576" | bc -l)"
	printf '  ratio to classic: wall %.2fx  cpu %.2fx  size %.3fx  (targets: wall <= 0.5x, size <= 1.02x for zstd, rss <= 512 MiB)\n' \
		"$(echo "$w / $cw" | bc -l)" "$(echo "$c / $cc" | bc -l)" "$(echo "$s / $cs" | bc -l)"
done
