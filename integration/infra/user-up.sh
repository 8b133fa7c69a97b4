#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# user-up.sh [USER]: makes sure the unprivileged test user exists (default tester), so that
# tests run rootless as a real user, not only as root.
. "$(dirname "$0")/lib.sh"
need_root
user=${1:-tester}
if ! id "$user" >/dev/null 2>&1; then
	log "creating unprivileged test user $user"
	useradd --create-home --shell /bin/bash --user-group "$user"
fi
