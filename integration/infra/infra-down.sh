#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# infra-down.sh: stops what infra-up.sh started, and only that (by pidfile, never a broad
# kill). PURGE=1 also deletes its state: registry storage, built images, certificates, logs.
. "$(dirname "$0")/lib.sh"
need_root

stop_pidfiles docker-registry "$GPX_RUN"/registry-*.pid
stop_pidfile "$GPX_RUN/tokenserver.pid" tokenserver
rm -f "$GPX_RUN/ready"
if [ "${PURGE:-0}" = 1 ]; then
	log "purging $GPX_STATE $GPX_ETC $GPX_LOG"
	rm -rf "${GPX_STATE:?}" "${GPX_ETC:?}" "${GPX_LOG:?}"
	rmdir "$GPX_RUN" 2>/dev/null || true
fi
