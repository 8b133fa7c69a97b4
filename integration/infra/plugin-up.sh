#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# plugin-up.sh [RUNTIME [PLUGIN]]: installs a gpyxis build into the harness's own directory
# (/usr/local/lib/gpyxis-harness, root-owned and readable by every test user) and enables it
# in the harness Slurm with /etc/slurm/plugstack.conf.d/gpyxis.conf. PLUGSTACK_ARGS adds
# plugstack.conf arguments (e.g. "container_scope=job"). Slurm reads plugstack.conf at every
# step: no restart is needed. Defaults: bin/gpyxis-runtime and bin/spank_gpyxis.so.
. "$(dirname "$0")/lib.sh"
need_root

RUNTIME=${1:-$REPO_ROOT/bin/gpyxis-runtime}
PLUGIN=${2:-$REPO_ROOT/bin/spank_gpyxis.so}
DEST=${GPX_PLUGIN_DIR:-/usr/local/lib/gpyxis-harness}
CONF=/etc/slurm/plugstack.conf.d/gpyxis.conf
: "${PLUGSTACK_ARGS:=}"

[ -x "$RUNTIME" ] || die "$RUNTIME: not built (run make build)"
[ -f "$PLUGIN" ] || die "$PLUGIN: not built (run make plugin; it needs libslurm-dev)"
[ -d /etc/slurm/plugstack.conf.d ] || die "no /etc/slurm/plugstack.conf.d: run slurm-up.sh first"
install -d -m 0755 "$DEST"
# Copy to temporary names and rename: a step that is starting never sees half a file.
install -m 0755 "$RUNTIME" "$DEST/.gpyxis-runtime.new" && mv -f "$DEST/.gpyxis-runtime.new" "$DEST/gpyxis-runtime"
install -m 0755 "$PLUGIN" "$DEST/.spank_gpyxis.so.new" && mv -f "$DEST/.spank_gpyxis.so.new" "$DEST/spank_gpyxis.so"
RUNTIME_PATH=/run/gpyxis-harness
line="required $DEST/spank_gpyxis.so runtime=$DEST/gpyxis-runtime runtime_path=$RUNTIME_PATH"
[ -n "$PLUGSTACK_ARGS" ] && line+=" $PLUGSTACK_ARGS"
changed=no
[ "$(cat "$CONF" 2>/dev/null)" = "$line" ] || changed=yes
printf '%s\n' "$line" >"$CONF.tmp" && mv -f "$CONF.tmp" "$CONF"
if [ "$changed" = yes ]; then
	# slurmd loads the plugin stack once, at startup: its job epilog runs only then.
	nodes=$(jq -r '.nodes | length' "$GPX_STATE/slurm.json" 2>/dev/null || echo 1)
	RESTART_SLURMD=1 NODES=$nodes "$INFRA_DIR/slurm-up.sh" >&2
fi
jq -n --arg runtime "$DEST/gpyxis-runtime" --arg plugin "$DEST/spank_gpyxis.so" --arg conf "$CONF" \
	--arg rp "$RUNTIME_PATH" --arg args "$PLUGSTACK_ARGS" \
	'{runtime: $runtime, plugin: $plugin, conf: $conf, runtime_path: $rp, args: $args}' >"$GPX_STATE/plugin.json.tmp"
mv -f "$GPX_STATE/plugin.json.tmp" "$GPX_STATE/plugin.json"
log "plugin enabled: $line"
