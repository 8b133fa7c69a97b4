# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# Shared helpers for the gpyxis integration harness. Sourced, never run.
# Everything here is idempotent and touches only paths and processes of our own.

set -euo pipefail

INFRA_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$INFRA_DIR/../.." && pwd)

# Locations; each can be overridden from the environment (the self-test does).
: "${GPX_ETC:=/etc/gpyxis-infra}"          # configs, certificates, credentials
: "${GPX_RUN:=/run/gpyxis-infra}"          # pidfiles; cleared on reboot like the processes
: "${GPX_LOG:=/var/log/gpyxis-infra}"      # daemon logs
: "${GPX_STATE:=/var/lib/gpyxis-infra}"    # registry storage, image build state, harness.json
: "${GPX_HARNESS:=$GPX_STATE/harness.json}" # what the Go tests read (see integration/harness)
: "${REG_USER:=testuser}"
: "${REG_PASS:=testpass}"
: "${REG_HOST:=127.0.0.1}"

REG_PLAIN_PORT=5000 REG_BASIC_PORT=5001 REG_TOKEN_PORT=5002 REG_TLS_PORT=5443 TOKEN_PORT=5004
export GPX_ETC GPX_RUN GPX_LOG GPX_STATE GPX_HARNESS REG_USER REG_PASS

log() { printf '%s [%s] %s\n' "$(date +%T)" "${0##*/}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

need_root() {
	[ "$(id -u)" = 0 ] || die "must run as root (it installs Debian packages and starts daemons); try: sudo $0"
}

# apt_install PKG...: installs the packages that are missing, nothing else.
apt_install() {
	local missing=() p
	for p in "$@"; do
		[[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == *'install ok installed'* ]] || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# The package lists may be missing or stale on a fresh machine: update once, on demand.
	if ! apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}" >"$GPX_LOG/apt.log" 2>&1; then
		apt-get -o DPkg::Lock::Timeout=600 update >>"$GPX_LOG/apt.log" 2>&1 || die "apt-get update failed, see $GPX_LOG/apt.log"
		apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}" >>"$GPX_LOG/apt.log" 2>&1 ||
			die "apt-get install ${missing[*]} failed, see $GPX_LOG/apt.log"
	fi
}

# debian_mirror prints the Debian mirror apt already uses, read at run time from
# the apt sources so that no mirror is ever written into the repository.
debian_mirror() {
	local f url=""
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		# deb822: the first URIs of a stanza whose Suites name the release itself (not -security).
		url=$(awk '
			/^[[:space:]]*$/ { if (uri != "" && ok) { print uri; exit } uri=""; ok=0; next }
			tolower($1) == "uris:" { uri=$2 }
			tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i !~ /-security$/) ok=1 }
			END { if (uri != "" && ok) print uri }' "$f" | head -n1)
		[ -n "$url" ] && break
	done
	if [ -z "$url" ]; then
		url=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
			awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) { print $i; exit } }')
	fi
	[ -n "$url" ] || die "no Debian mirror found in /etc/apt/sources.list{,.d}"
	printf '%s\n' "${url%/}"
}

# pid_alive PIDFILE [COMM]: true if the pidfile names a live process (with that command name).
pid_alive() {
	local pid
	[ -s "$1" ] || return 1
	pid=$(cat "$1")
	[ -d "/proc/$pid" ] || return 1
	[ -z "${2:-}" ] || [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "${2:0:15}" ]
}

# stop_pidfile PIDFILE [COMM]: stops only the process the pidfile names, never a broad kill.
stop_pidfile() {
	local f=$1 comm=${2:-} pid i
	if pid_alive "$f" "$comm"; then
		pid=$(cat "$f")
		log "stopping ${comm:-process} (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 50); do
			[ -d "/proc/$pid" ] || break
			sleep 0.1
		done
		[ -d "/proc/$pid" ] && kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$f"
}

# stop_pidfiles COMM PIDFILE...: stop_pidfile for several processes at once. An exited process
# counts as stopped while still a zombie: PID 1 of some VMs reaps orphans only every second or two.
stop_pidfiles() {
	local comm=$1 f pid pids=() left i s
	shift
	for f in "$@"; do
		if pid_alive "$f" "$comm"; then
			pid=$(cat "$f")
			pids+=("$pid")
			log "stopping $comm (pid $pid)"
			kill -TERM "$pid" 2>/dev/null || true
		fi
	done
	for i in $(seq 100); do
		left=()
		for pid in "${pids[@]}"; do
			s=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$pid/status" 2>/dev/null || true)
			case $s in "" | Z | X) ;; *) left+=("$pid") ;; esac
		done
		pids=("${left[@]}")
		[ ${#pids[@]} -eq 0 ] && break
		sleep 0.1
	done
	for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
	rm -f "$@"
}

# wait_for SECONDS CMD...: polls CMD (a function or command, evaluated each time) until it succeeds.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.1
	done
}

# port_free PORT: true if nothing listens on 127.0.0.1:PORT.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# go_bin prints the Go toolchain to use.
go_bin() {
	local g
	for g in "${GO:-}" "$(command -v go 2>/dev/null || true)" /usr/local/go/bin/go /usr/lib/go/bin/go; do
		[ -n "$g" ] && [ -x "$g" ] && { printf '%s\n' "$g"; return 0; }
	done
	return 1
}

mkdir -p "$GPX_LOG" "$GPX_RUN" 2>/dev/null || true
