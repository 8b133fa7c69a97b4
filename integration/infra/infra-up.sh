#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# infra-up.sh: brings up everything the integration tests use, on loopback only:
# the four registry variants and the test images (BIG=1 adds big:latest, for benchmarks).
# Idempotent: a second run with everything up takes a few seconds. Writes $MARKER when
# the registries and small images are usable.
. "$(dirname "$0")/lib.sh"
need_root
: "${MARKER:=$GPX_RUN/ready}"

start=$SECONDS
rm -f "$MARKER"
# What building and unit-testing gpyxis needs beyond Go: cgo for the seccomp filter and
# the namespace join code, the kernel-facing test tools.
apt_install gcc libc6-dev pkg-config libseccomp-dev squashfs-tools busybox-static
# The unprivileged user that rootless tests switch to (unit tests too, so before them).
"$INFRA_DIR/user-up.sh" "${TEST_USER:-tester}"
# A second user, for the tests of users who do not trust each other (shared caches).
"$INFRA_DIR/user-up.sh" tester2
"$INFRA_DIR/registry-up.sh"
"$INFRA_DIR/images-build.sh"
# A real Slurm (slurmctld, slurmd, munged) for the shim's tests; SKIP_SLURM=1 leaves it out.
# Two nodes (the second in its own network and UTS namespace): multi-node steps are tested.
[ "${SKIP_SLURM:-0}" = 1 ] || NODES=${NODES:-2} "$INFRA_DIR/slurm-up.sh"
[ "${BIG:-0}" = 1 ] && "$INFRA_DIR/images-build.sh" big
date -u +%FT%TZ >"$MARKER"
log "harness up in $((SECONDS - start)) s; state in $GPX_STATE ($(du -sh "$GPX_STATE" 2>/dev/null | cut -f1))"
