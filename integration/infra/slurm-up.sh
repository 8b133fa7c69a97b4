#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# slurm-up.sh: installs Debian's Slurm (22.05) and munge and starts a one-machine cluster,
# daemons started by hand (no systemd needed): munged, slurmctld and one slurmd on 127.0.0.1.
# NODES=2 adds a second node "HOST-n2" in the network namespace gpx-n2 (veth 10.77.0.1/24 <->
# 10.77.0.2/24, its own hostname), with the registry ports relayed into it so that
# 127.0.0.1:5000... work unchanged in jobs there. Only network and hostname differ between
# the two nodes: filesystem, users, PIDs and cgroups are shared.
# A SPANK plugin is enabled by dropping /etc/slurm/plugstack.conf.d/NAME.conf; steps read it
# at once, slurmd (job prolog/epilog) after RESTART_SLURMD=1 slurm-up.sh (plugin-up.sh does).
# Idempotent: running daemons are left alone unless slurm.conf changed.
. "$(dirname "$0")/lib.sh"
need_root

: "${NODES:=1}"
: "${TEST_USER:=tester}"
SLURM_ETC=/etc/slurm
SLURM_CONF=$SLURM_ETC/slurm.conf
SLURM_LOG=/var/log/slurm
CTLD_STATE=/var/spool/slurmctld
SLURMD_SPOOL=/var/spool/slurmd
CTLD_PID=/run/slurmctld.pid
MUNGE_RUN=/run/munge
MUNGE_KEY=/etc/munge/munge.key
NETNS=gpx-n2
HOST_IF=gpx0 NS_IF=gpx1 HOST_ADDR=10.77.0.1 NS_ADDR=10.77.0.2
RELAY_PORTS="$REG_PLAIN_PORT $REG_BASIC_PORT $REG_TOKEN_PORT $REG_TLS_PORT $TOKEN_PORT"
CONF_MARK="# Written by gpyxis integration/infra/slurm-up.sh; rewritten on every run."
# Directories this script created, so that PURGE=1 slurm-down.sh removes those and nothing else.
CREATED=$GPX_STATE/slurm-created

case $NODES in 1 | 2) ;; *) die "NODES=$NODES: only 1 or 2 are supported" ;; esac

NODE1=$(hostname -s 2>/dev/null || hostname)
[ -n "$NODE1" ] || die "no hostname"
NODE2=$NODE1-n2
if [ "$NODES" = 2 ]; then ADDR1=$HOST_ADDR; else ADDR1=127.0.0.1; fi

install_packages() {
	local p=(slurm-wlm slurmctld slurmd slurm-client munge libslurm-dev jq)
	[ "$NODES" = 2 ] && p+=(socat iproute2)
	apt_install "${p[@]}"
	# On a systemd host the packaged units would start their own daemons with this
	# slurm.conf at the next boot; ours are started by hand and tracked by pidfile.
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
		systemctl disable --now slurmctld.service slurmd.service >/dev/null 2>&1 || true
	fi
}

# make_dir DIR MODE OWNER: creates DIR (recording it in $CREATED) or fixes its mode/owner.
make_dir() {
	if ! [ -d "$1" ]; then
		install -d -m "$2" -o "${3%:*}" -g "${3#*:}" "$1"
		mkdir -p "$GPX_STATE"
		grep -qxF "$1" "$CREATED" 2>/dev/null || printf '%s\n' "$1" >>"$CREATED"
	else
		chmod "$2" "$1" && chown "$3" "$1"
	fi
}

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
	local pidf=$GPX_RUN/munged.pid restart=${1:-no}
	if ! [ -s "$MUNGE_KEY" ]; then
		log "creating $MUNGE_KEY"
		install -d -m 0700 -o munge -g munge /etc/munge
		(umask 077 && head -c 1024 /dev/urandom >"$MUNGE_KEY.tmp")
		chown munge:munge "$MUNGE_KEY.tmp" && chmod 0400 "$MUNGE_KEY.tmp" && mv "$MUNGE_KEY.tmp" "$MUNGE_KEY"
		restart=yes
	fi
	if pid_alive "$pidf" munged; then
		[ "$restart" = yes ] || return 0
		stop_pidfile "$pidf" munged
	elif munge_works; then
		# A munged we did not start (a systemd unit, say) answers: use it, do not track it.
		[ "$restart" = yes ] && die "munge.key was created while a munged we did not start runs; restart it"
		return 0
	fi
	install -d -m 0755 -o munge -g munge "$MUNGE_RUN"
	# munged refuses to start over a stale socket: clear it only if its pidfile names no process.
	if [ -e "$MUNGE_RUN/munged.pid" ] && ! pid_alive "$MUNGE_RUN/munged.pid" munged; then
		rm -f "$MUNGE_RUN/munged.pid" "$MUNGE_RUN/munge.socket.2" "$MUNGE_RUN/munge.socket.2.lock"
	fi
	log "starting munged"
	# setpriv execs (runuser would stay as the parent); munged daemonises and writes its pidfile.
	setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged >>"$GPX_LOG/munged.start.log" 2>&1 ||
		die "munged did not start, see $GPX_LOG/munged.start.log and /var/log/munge/munged.log"
	wait_for 10 pid_alive "$MUNGE_RUN/munged.pid" munged || die "munged did not write its pidfile, see /var/log/munge/munged.log"
	cp "$MUNGE_RUN/munged.pid" "$pidf"
	wait_for 10 munge_works || die "munge -n | unmunge fails, see /var/log/munge/munged.log"
}

# node_hw prints the hardware part of a NodeName line from slurmd -C, RealMemory lowered
# by 5% so that the node is never drained for "Low RealMemory".
node_hw() {
	local line
	line=$(slurmd -C 2>/dev/null | grep -m1 '^NodeName=') || die "slurmd -C printed no NodeName line"
	awk '{ for (i = 2; i <= NF; i++) { if ($i ~ /^RealMemory=/) { split($i, a, "="); $i = "RealMemory=" int(a[2] * 0.95) }
		printf "%s%s", $i, (i < NF ? " " : "\n") } }' <<<"$line"
}

# write_file FILE MODE < CONTENT: replaces FILE if the content differs; returns 0 if it changed.
write_file() {
	cat >"$1.tmp"
	chmod "$2" "$1.tmp"
	if cmp -s "$1.tmp" "$1"; then rm -f "$1.tmp"; return 1; fi
	# Keep a foreign configuration once, in case this machine had its own.
	if [ -s "$1" ] && ! grep -qxF "$CONF_MARK" "$1" && ! [ -e "$1.gpx-orig" ]; then cp -p "$1" "$1.gpx-orig"; fi
	mv "$1.tmp" "$1"
}

# write_config: slurm.conf (+ cgroup.conf on a pure cgroup v2 host); returns 0 if either changed.
write_config() {
	local hw changed=1
	hw=$(node_hw)
	install -d -m 0755 "$SLURM_ETC" "$SLURM_ETC/plugstack.conf.d"
	{
		echo "$CONF_MARK"
		cat <<CONF
ClusterName=gpyxis
SlurmctldHost=$NODE1($ADDR1)
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=$CTLD_STATE
SlurmdSpoolDir=$SLURMD_SPOOL/%n
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=/run/slurmd-%n.pid
SlurmctldLogFile=$SLURM_LOG/slurmctld.log
SlurmdLogFile=$SLURM_LOG/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$SLURM_ETC/plugstack.conf
MailProg=/bin/true
NodeName=$NODE1 NodeAddr=$ADDR1 $hw Weight=1 State=UNKNOWN
CONF
		[ "$NODES" = 2 ] && echo "NodeName=$NODE2 NodeAddr=$NS_ADDR $hw Weight=2 State=UNKNOWN"
		echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
	} | write_file "$SLURM_CONF" 0644 && changed=0
	# slurmd 22.05 always initialises a cgroup plugin; on a pure v2 host it must not need systemd.
	if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
		printf '%s\nIgnoreSystemd=yes\nIgnoreSystemdOnFailure=yes\n' "$CONF_MARK" | write_file "$SLURM_ETC/cgroup.conf" 0644 && changed=0
	fi
	# The package ships plugstack.conf as this include already; write it only if missing.
	if ! grep -qs "plugstack.conf.d/\*.conf" "$SLURM_ETC/plugstack.conf"; then
		printf 'include %s/plugstack.conf.d/*.conf\n' "$SLURM_ETC" >>"$SLURM_ETC/plugstack.conf"
	fi
	return $changed
}

make_dirs() {
	make_dir "$SLURM_LOG" 0755 slurm:slurm
	make_dir "$CTLD_STATE" 0700 slurm:slurm
	make_dir "$SLURMD_SPOOL" 0755 root:root
	make_dir "$SLURMD_SPOOL/$NODE1" 0755 root:root
	[ "$NODES" = 2 ] && make_dir "$SLURMD_SPOOL/$NODE2" 0755 root:root
	return 0
}

# setup_netns: namespace gpx-n2 with a veth pair to the host (NODES=2 only).
setup_netns() {
	[ -e "/run/netns/$NETNS" ] || { log "creating network namespace $NETNS"; ip netns add "$NETNS"; }
	if ! ip link show "$HOST_IF" >/dev/null 2>&1; then
		ip link add "$HOST_IF" type veth peer name "$NS_IF" netns "$NETNS"
	fi
	# Not "ip ... | grep -q": with pipefail, grep -q exiting first makes ip fail on SIGPIPE.
	[[ $(ip addr show dev "$HOST_IF") == *"inet $HOST_ADDR/"* ]] || ip addr add "$HOST_ADDR/24" dev "$HOST_IF"
	ip link set "$HOST_IF" up
	[[ $(ip -n "$NETNS" addr show dev "$NS_IF") == *"inet $NS_ADDR/"* ]] || ip -n "$NETNS" addr add "$NS_ADDR/24" dev "$NS_IF"
	ip -n "$NETNS" link set "$NS_IF" up
	ip -n "$NETNS" link set lo up
}

# start_relays: 127.0.0.1:PORT in the namespace -> unix socket -> 127.0.0.1:PORT on the host.
# Unix sockets are not network-namespaced, so nothing leaves loopback.
start_relays() {
	local p sock hp np
	for p in $RELAY_PORTS; do
		sock=$GPX_RUN/relay-$p.sock hp=$GPX_RUN/relay-host-$p.pid np=$GPX_RUN/relay-ns-$p.pid
		pid_alive "$hp" socat || start-stop-daemon --start --background --make-pidfile --pidfile "$hp" \
			--output "$GPX_LOG/relay-host-$p.log" --exec /usr/bin/socat -- \
			"UNIX-LISTEN:$sock,fork,unlink-early,mode=0600" "TCP:127.0.0.1:$p"
		wait_for 5 test -S "$sock" || die "relay socket $sock did not appear, see $GPX_LOG/relay-host-$p.log"
		# nsenter (no --fork needed for a network namespace) execs socat: the pid stays socat's.
		pid_alive "$np" socat || start-stop-daemon --start --background --make-pidfile --pidfile "$np" \
			--output "$GPX_LOG/relay-ns-$p.log" --exec /usr/bin/nsenter -- --net="/run/netns/$NETNS" \
			/usr/bin/socat "TCP-LISTEN:$p,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$sock"
	done
}

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

# refuse_foreign PIDFILE COMM: dies if a daemon we did not start holds the pidfile.
refuse_foreign() {
	pid_alive "$1" "$2" && die "$2 (pid $(cat "$1"), $1) runs but was not started by this script; stop it and re-run"
	return 0
}

start_slurmctld() {
	local pidf=$GPX_RUN/slurmctld.pid
	pid_alive "$pidf" slurmctld && return 0
	refuse_foreign "$CTLD_PID" slurmctld
	rm -f "$CTLD_PID"
	log "starting slurmctld"
	/usr/sbin/slurmctld >>"$GPX_LOG/slurmctld.start.log" 2>&1 ||
		die "slurmctld did not start, see $GPX_LOG/slurmctld.start.log and $SLURM_LOG/slurmctld.log"
	wait_for 20 pid_alive "$CTLD_PID" slurmctld || die "slurmctld is not running, see $SLURM_LOG/slurmctld.log"
	cp "$CTLD_PID" "$pidf"
}

# start_slurmd NODE [netns]: slurmd -N NODE, in the namespace with its own hostname for node 2
# (nsenter --net, not "ip netns exec": that remounts /sys and slurmd then finds no cgroups).
start_slurmd() {
	local node=$1 pidf=$GPX_RUN/slurmd-$1.pid sys=/run/slurmd-$1.pid
	pid_alive "$pidf" slurmd && return 0
	refuse_foreign "$sys" slurmd
	rm -f "$sys"
	log "starting slurmd for node $node"
	if [ "${2:-}" = netns ]; then
		nsenter --net="/run/netns/$NETNS" unshare --uts sh -c 'hostname "$1" && exec /usr/sbin/slurmd -N "$1"' sh "$node" \
			>>"$GPX_LOG/slurmd-$node.start.log" 2>&1
	else
		/usr/sbin/slurmd -N "$node" >>"$GPX_LOG/slurmd-$node.start.log" 2>&1
	fi || die "slurmd ($node) did not start, see $GPX_LOG/slurmd-$node.start.log and $SLURM_LOG/slurmd-$node.log"
	wait_for 20 pid_alive "$sys" slurmd || die "slurmd ($node) is not running, see $SLURM_LOG/slurmd-$node.log"
	cp "$sys" "$pidf"
}

# nodes_ready: every configured node answers sinfo as idle (or busy with jobs).
nodes_ready() {
	local out n st
	out=$(sinfo -h -N -o '%N %T' 2>/dev/null) || return 1
	for n in "$NODE1" $([ "$NODES" = 2 ] && echo "$NODE2"); do
		st=$(awk -v n="$n" '$1 == n { print $2; exit }' <<<"$out")
		case $st in idle | mixed | allocated | completing) ;; *) return 1 ;; esac
	done
}

check_jobs() {
	local out want
	out=$(cd / && timeout 60 srun -Q -N1 -n2 hostname 2>&1) || die "srun -N1 -n2 hostname failed: $out"
	[ "$(grep -c . <<<"$out")" = 2 ] || die "srun -N1 -n2 hostname printed: $out"
	want=$(id -u "$TEST_USER")
	out=$(cd /tmp && timeout 60 setpriv --reuid="$TEST_USER" --regid="$TEST_USER" --init-groups srun -Q -n1 id -u 2>&1) ||
		die "srun as $TEST_USER failed: $out"
	[ "$out" = "$want" ] || die "srun -n1 id -u as $TEST_USER printed '$out', want $want"
	if [ "$NODES" = 2 ]; then
		out=$(cd / && timeout 60 srun -Q -N2 -l hostname 2>&1 | sort) || die "srun -N2 -l hostname failed: $out"
		[ "$out" = "0: $NODE1"$'\n'"1: $NODE2" ] || die "srun -N2 -l hostname printed: $out"
	fi
}

# write_slurm_json tells the Go tests (integration/harness) what is up.
write_slurm_json() {
	local nodes=("$NODE1")
	[ "$NODES" = 2 ] && nodes+=("$NODE2")
	jq -n --arg user "$TEST_USER" --arg conf "$SLURM_CONF" '{nodes: $ARGS.positional, partition: "debug", test_user: $user, conf: $conf}' \
		--args "${nodes[@]}" >"$GPX_STATE/slurm.json.tmp"
	chmod 0644 "$GPX_STATE/slurm.json.tmp" && mv "$GPX_STATE/slurm.json.tmp" "$GPX_STATE/slurm.json"
}

main() {
	local start=$SECONDS changed=no
	mkdir -p "$GPX_RUN" "$GPX_LOG" "$GPX_STATE"
	install_packages
	"$INFRA_DIR/user-up.sh" "$TEST_USER"
	start_munge
	make_dirs
	write_config && changed=yes
	if [ "$changed" = yes ] && { pid_alive "$GPX_RUN/slurmctld.pid" slurmctld || compgen -G "$GPX_RUN/slurmd-*.pid" >/dev/null; }; then
		log "$SLURM_CONF changed: restarting the Slurm daemons"
		stop_slurm_daemons
	fi
	# plugin-up.sh asks for this: slurmd decides at startup whether any SPANK plugin has
	# a job epilog (spank_has_epilog), so a newly enabled plugin needs a slurmd restart.
	if [ "${RESTART_SLURMD:-0}" = 1 ] && compgen -G "$GPX_RUN/slurmd-*.pid" >/dev/null; then
		log "restarting slurmd"
		local f
		for f in "$GPX_RUN"/slurmd-*.pid; do
			stop_pidfiles slurmd "$f"
			rm -f "/run/${f##*/}"
		done
	fi
	if [ "$NODES" = 2 ]; then
		setup_netns
		start_relays
	fi
	start_slurmctld
	start_slurmd "$NODE1"
	[ "$NODES" = 2 ] && start_slurmd "$NODE2" netns
	wait_for 60 nodes_ready ||
		die "nodes not idle after 60 s: $(sinfo -h -N -o '%N %T %E' 2>&1 | tr '\n' ';') see $SLURM_LOG/slurmctld.log and $SLURM_LOG/slurmd-*.log"
	check_jobs
	write_slurm_json
	log "Slurm up in $((SECONDS - start)) s: $NODES node(s) ($NODE1$([ "$NODES" = 2 ] && echo ", $NODE2")), partition debug; logs in $SLURM_LOG"
}

main "$@"
