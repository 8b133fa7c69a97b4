#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# slurm.sh [N]: container overhead of a Slurm step with the gpyxis plugin, on the harness
# Slurm (plugin-up.sh must have enabled it), N runs each, as ratios against plain srun:
#   srun -n8 true                                   plain step (baseline)
#   srun -n8 --container-image=debian true          unnamed, warm: overlay of the node's cached tree
#   srun -n8 --container-image=/x.sqsh true         the same from a squashfs file
#   ... with GPYXIS_ROOTFS_CACHE=false              unnamed, cache off: unpacked anew each step
#   srun -n8 --container-name=bench true            named, existing rootfs: holder + 8 joins
#   srun -n1 --container-name=bench true            the same with one task
#   srun -n2 --container-image=debian true          with shared_rootfs_cache= (as root only)
# The per-task join cost is (named -n8 - named -n1) / 7: the extra tasks do nothing else.
. "$(dirname "$0")/../infra/lib.sh"
N=${1:-5}
PLUGIN_JSON=$GPX_STATE/plugin.json
[ -s "$PLUGIN_JSON" ] || die "plugin not enabled: run make build && sudo integration/infra/plugin-up.sh"
BIN=$(jq -r .runtime "$PLUGIN_JSON")
IMAGE="127.0.0.1:$REG_PLAIN_PORT#debian:bookworm"
D=$(mktemp -d "${BENCH_DIR:-/var/tmp}/gpyxis-slurm.XXXXXX")
chmod 0755 "$D"
trap 'rm -rf "$D" 2>/dev/null || { chmod -R u+w "$D"; rm -rf "$D"; }' EXIT
mkdir -p "$D/cfg/gpyxis"
# shellcheck disable=SC2016 # $(hostname) is for the runtime's configuration parser
printf 'ENROOT_ALLOW_HTTP y\nENROOT_DATA_PATH %s/data-$(hostname)\n' "$D" >"$D/cfg/gpyxis/gpyxis.conf"
mkdir -p "$D/nocache/gpyxis"
cp "$D/cfg/gpyxis/gpyxis.conf" "$D/nocache/gpyxis/" && echo 'GPYXIS_ROOTFS_CACHE n' >>"$D/nocache/gpyxis/gpyxis.conf"
export XDG_CONFIG_HOME=$D/cfg XDG_CACHE_HOME=$D/cache
# Named containers live on one node: pin every step to the first.
NODE=$(jq -r '.nodes[0]' "$GPX_STATE/slurm.json")
S=(srun -N1 -w "$NODE" -O --chdir="$D")

"$BIN" import --quiet --insecure -o "$D/debian.sqsh" "docker://$IMAGE" >/dev/null || die "import failed"
"${S[@]}" --container-image="$IMAGE" --container-name=bench true || die "container step failed"

# per_run CMD...: mean wall time of CMD over N runs, in milliseconds.
per_run() {
	local start end i
	"$@" >"$D/last.log" 2>&1 || { cat "$D/last.log" >&2; die "$* failed"; }
	start=$(date +%s%N)
	for i in $(seq "$N"); do "$@" >"$D/last.log" 2>&1 || { cat "$D/last.log" >&2; die "$* failed"; }; done
	end=$(date +%s%N)
	echo $(((end - start) / N / 1000000))
}

plain=$(per_run "${S[@]}" -n8 true)
plain2=$(per_run "${S[@]}" -n2 true)
unnamed=$(per_run "${S[@]}" -n8 --container-image="$IMAGE" true)
unnamed2=$(per_run "${S[@]}" -n2 --container-image="$IMAGE" true)
sqsh=$(per_run "${S[@]}" -n8 --container-image="$D/debian.sqsh" true)
sqsh2=$(per_run "${S[@]}" -n2 --container-image="$D/debian.sqsh" true)
nocache=$(XDG_CONFIG_HOME=$D/nocache per_run "${S[@]}" -n8 --container-image="$IMAGE" true)
named8=$(per_run "${S[@]}" -n8 --container-name=bench true)
named1=$(per_run "${S[@]}" -n1 --container-name=bench true)
# The shared node cache (plugstack shared_rootfs_cache=): root's tree, mounted idmapped for
# each step. Rewriting plugstack.conf needs root; the previous arguments are restored.
shared2=-1
if [ "$(id -u)" = 0 ]; then
	prev=$(jq -r .args "$PLUGIN_JSON")
	pstack() { PLUGSTACK_ARGS=$1 "$INFRA_DIR/plugin-up.sh" "$BIN" "$(jq -r .plugin "$PLUGIN_JSON")" >/dev/null 2>&1; }
	pstack "${prev:+$prev }shared_rootfs_cache=$D/shared" || die "enabling the shared cache failed"
	shared2=$(per_run "${S[@]}" -n2 --container-image="$IMAGE" true)
	pstack "$prev" || die "restoring the plugstack arguments ($prev) failed"
fi
ratio() { echo "$1 / ($plain + 0.001)" | bc -l; }
printf '\nSlurm step overhead, mean of %d runs, %d cores, Slurm %s\n' "$N" "$(nproc)" "$(srun --version | awk '{print $2}')"
printf '%-52s %6d ms\n' "srun -n8 true (baseline)" "$plain"
printf '%-52s %6d ms  %5.1fx\n' "srun -n8 --container-image=debian true (warm)" "$unnamed" "$(ratio "$unnamed")"
printf '%-52s %6d ms  %5.1fx\n' "srun -n8 --container-image=debian.sqsh true (warm)" "$sqsh" "$(ratio "$sqsh")"
printf '%-52s %6d ms  %5.1fx\n' "srun -n8 ... debian true, GPYXIS_ROOTFS_CACHE=n" "$nocache" "$(ratio "$nocache")"
printf '%-52s %6d ms\n' "srun -n2 true (baseline)" "$plain2"
printf '%-52s %6d ms  %5.1fx  (+%d ms)\n' "srun -n2 --container-image=debian true (warm)" "$unnamed2" "$(echo "$unnamed2 / ($plain2 + 0.001)" | bc -l)" "$((unnamed2 - plain2))"
printf '%-52s %6d ms  %5.1fx  (+%d ms)\n' "srun -n2 --container-image=debian.sqsh true (warm)" "$sqsh2" "$(echo "$sqsh2 / ($plain2 + 0.001)" | bc -l)" "$((sqsh2 - plain2))"
[ "$shared2" -ge 0 ] && printf '%-52s %6d ms  %5.1fx  (+%d ms)\n' "srun -n2 ... debian true, shared_rootfs_cache (warm)" "$shared2" "$(echo "$shared2 / ($plain2 + 0.001)" | bc -l)" "$((shared2 - plain2))"
printf '%-52s %6d ms  %5.1fx\n' "srun -n8 --container-name=bench true (existing)" "$named8" "$(ratio "$named8")"
printf '%-52s %6d ms\n' "srun -n1 --container-name=bench true (existing)" "$named1"
printf 'per-task join: %.1f ms ((named -n8 - named -n1) / 7)\n' "$(echo "($named8 - $named1) / 7" | bc -l)"
