#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# start.sh [N]: start latency of a warm named container (`gpyxis-runtime start NAME true`)
# next to a bare `unshare -Urm chroot ROOTFS true` on the same rootfs, N runs each, as a
# ratio. Uses debian:bookworm from the harness registry.
. "$(dirname "$0")/../infra/lib.sh"
N=${1:-20}
BIN=${GPYXIS_RUNTIME:-$REPO_ROOT/bin/gpyxis-runtime}
[ -x "$BIN" ] || die "$BIN not built: run make"
DATA=$(mktemp -d "${BENCH_DIR:-/var/tmp}/gpyxis-start.XXXXXX")
trap '"$BIN" remove -f --data-dir "$DATA" deb >/dev/null 2>&1; rm -rf "$DATA"' EXIT
"$BIN" create --quiet --insecure --data-dir "$DATA" --name deb "docker://127.0.0.1:$REG_PLAIN_PORT#debian:bookworm" >/dev/null

# per_run CMD...: mean wall time of CMD over N runs, in milliseconds.
per_run() {
	local start end i
	"$@" >/dev/null 2>&1 || die "$* failed"
	start=$(date +%s%N)
	for i in $(seq "$N"); do "$@" >/dev/null 2>&1; done
	end=$(date +%s%N)
	echo $(((end - start) / N / 1000000))
}

g=$(per_run "$BIN" start --data-dir "$DATA" deb true)
b=$(per_run unshare -Urm chroot "$DATA/deb" /bin/true)
printf '\nstart latency, warm, mean of %d runs on %d cores\n' "$N" "$(nproc)"
printf '%-44s %6d ms\n' "gpyxis-runtime start deb true" "$g" "unshare -Urm chroot ROOTFS true (baseline)" "$b"
printf 'ratio: %.1fx the bare namespace+chroot baseline\n' "$(echo "$g / ($b + 0.001)" | bc -l)"
