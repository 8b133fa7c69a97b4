#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# slurm-down.sh: stops what slurm-up.sh started, and only that (by pidfile, never a broad
# kill): slurmd(s), slurmctld, the NODES=2 relays and namespace, munged if we started it.
# PURGE=1 also deletes slurm.conf (if ours), the Slurm state and the directories slurm-up.sh created.
. "$(dirname "$0")/lib.sh"
need_root

SLURM_ETC=/etc/slurm
CONF_MARK="# Written by gpyxis integration/infra/slurm-up.sh; rewritten on every run."
CREATED=$GPX_STATE/slurm-created
NETNS=gpx-n2

# stop_slurm_daemons: slurmd(s) and slurmctld from our pidfiles, and the pidfiles the daemons
# themselves leave behind (/run/slurmctld.pid, /run/slurmd-NODE.pid).
stop_slurm_daemons() {
	local f sys=()
	for f in "$GPX_RUN"/slurmd-*.pid; do [ -e "$f" ] && sys+=("/run/${f##*/}"); done
	[ -e "$GPX_RUN/slurmctld.pid" ] && sys+=(/run/slurmctld.pid)
	stop_pidfiles slurmd "$GPX_RUN"/slurmd-*.pid
	stop_pidfiles slurmctld "$GPX_RUN/slurmctld.pid"
	rm -f "${sys[@]}"
}

shopt -s nullglob
rm -f "$GPX_STATE/slurm.json" # the tests must not think Slurm is up
stop_slurm_daemons
stop_pidfiles socat "$GPX_RUN"/relay-*.pid
rm -f "$GPX_RUN"/relay-*.sock
# Deleting the namespace also deletes the veth pair (gpx1 lives in it, gpx0 is its peer).
if [ -e "/run/netns/$NETNS" ]; then
	log "deleting network namespace $NETNS"
	ip netns delete "$NETNS" || true
fi
stop_pidfiles munged "$GPX_RUN/munged.pid"

if [ "${PURGE:-0}" = 1 ]; then
	for f in "$SLURM_ETC/slurm.conf" "$SLURM_ETC/cgroup.conf"; do
		grep -qsxF "$CONF_MARK" "$f" && { log "removing $f"; rm -f "$f"; }
		[ -e "$f.gpx-orig" ] && mv "$f.gpx-orig" "$f"
	done
	# Our cluster's state, also where the package made the directory.
	rm -rf /var/spool/slurmctld/* /var/spool/slurmd/* 2>/dev/null || true
	if [ -s "$CREATED" ]; then
		# Deepest first, and only directories this script's counterpart made.
		sort -r "$CREATED" | while read -r d; do
			case $d in /*/*) log "removing $d"; rm -rf "${d:?}" ;; esac
		done
		rm -f "$CREATED"
	fi
fi
exit 0
