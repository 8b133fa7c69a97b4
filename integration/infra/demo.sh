#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# demo.sh: the main job on the harness: an unprivileged user runs a Slurm step in a
# container image, twice (cold: pull and unpack once per node; warm: the node image cache),
# through the gpyxis plugin that plugin-up.sh enabled. Run by `make up`.
. "$(dirname "$0")/lib.sh"
need_root
: "${TEST_USER:=tester}"
IMAGE="127.0.0.1:$REG_PLAIN_PORT#debian:bookworm"
[ -s "$GPX_STATE/plugin.json" ] || die "plugin not enabled: run integration/infra/plugin-up.sh"
D=$GPX_STATE/demo
# The demo user's own configuration: plain HTTP for the loopback registry only here.
install -d -m 0755 "$D"
install -d -o "$TEST_USER" -g "$TEST_USER" -m 0755 "$D/cfg" "$D/cfg/gpyxis" "$D/cache" "$D/data"
printf 'ENROOT_ALLOW_HTTP y\nENROOT_DATA_PATH %s/data\n' "$D" >"$D/cfg/gpyxis/gpyxis.conf"
node=$(jq -r '.nodes[0]' "$GPX_STATE/slurm.json")
step() {
	(cd /tmp && setpriv --reuid="$TEST_USER" --regid="$TEST_USER" --init-groups \
		env HOME="$(getent passwd "$TEST_USER" | cut -d: -f6)" USER="$TEST_USER" XDG_CONFIG_HOME="$D/cfg" XDG_CACHE_HOME="$D/cache" \
		srun -Q -N1 -w "$node" --container-image="$IMAGE" sh -c 'echo "$(id -un) (uid $(id -u)) in: $(grep PRETTY_NAME /etc/os-release)"')
}
for run in first second; do
	start=$(date +%s%N)
	step || die "srun --container-image=$IMAGE failed"
	log "$run step: $((($(date +%s%N) - start) / 1000000)) ms"
done
