/* SPDX-License-Identifier: Apache-2.0 */
/* reply.h: the plugin's reader of gpyxis-runtime replies (see reply.c and
 * pkg/spank/protocol.go, whose ParseReply applies the same rules). */
#ifndef GPYXIS_REPLY_H
#define GPYXIS_REPLY_H

#include <stddef.h>

/* The wire protocol's version: the first record of the request and of the
 * reply is version=N. pkg/spank.ProtocolVersion must be the same number. */
#define GPX_PROTOCOL 1
/* The most fds a reply may pass (join: user, cgroup, mnt, ipc, uts, net). */
#define GPX_MAX_FDS 8
/* The largest reply the plugin takes: a join runs as the job's user, who
 * could make it send without end to a root slurmstepd. */
#define GPX_MAX_REPLY (16 << 20)
/* The longest path value (chdir, unmount, remove), without its NUL. */
#define GPX_MAX_PATH 4095

/* gpx_reply_check validates the len bytes of a reply before any record is
 * used: every record is KEY=VALUE and NUL-terminated within len, the first
 * is version=GPX_PROTOCOL, an fds=N record (at most one; none means 0)
 * matches the nfds fds received, and paths fit GPX_MAX_PATH. Returns 0, or
 * -1 with the reason in err. */
int gpx_reply_check(const char *p, size_t len, int nfds, char *err, size_t errlen);

/* gpx_reply_next returns the record at *off and moves *off past it; NULL at
 * the end, or at a record that is not NUL-terminated within len. */
const char *gpx_reply_next(const char *p, size_t len, size_t *off);

/* gpx_hex_decode decodes the hex digits of s (even length) into out, at most
 * cap bytes. Returns the byte count, or -1 for a bad digit, an odd length
 * or too many bytes. */
long gpx_hex_decode(const char *s, unsigned char *out, size_t cap);

#endif
