/* SPDX-License-Identifier: Apache-2.0 */
/* reply.c: the plugin's reader of gpyxis-runtime replies. Every access is
 * bounded by the received length: a runtime that died mid-send, or one
 * the job's user drives (a join runs as the user), must not make
 * slurmstepd read past the buffer or act on half a record. */
#include <stdio.h>
#include <string.h>

#include "reply.h"

const char *gpx_reply_next(const char *p, size_t len, size_t *off)
{
	if (p == NULL || *off >= len)
		return NULL;
	const char *r = p + *off, *nul = memchr(r, '\0', len - *off);
	if (nul == NULL)
		return NULL;
	*off = (size_t)(nul - p) + 1;
	return r;
}

/* digits parses a short decimal number; -1 if s is not one. */
static long digits(const char *s)
{
	long v = 0;
	size_t n = strlen(s);
	if (n == 0 || n > 9)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int mismatch(const char *have, char *err, size_t errlen)
{
	snprintf(err, errlen, "plugin protocol v%d but runtime speaks v%s: "
		 "install matching spank_gpyxis.so and gpyxis-runtime", GPX_PROTOCOL, have);
	return -1;
}

int gpx_reply_check(const char *p, size_t len, int nfds, char *err, size_t errlen)
{
	long fds = -1;
	size_t off = 0;

	if (len > GPX_MAX_REPLY) {
		snprintf(err, errlen, "reply of %zu bytes exceeds the limit of %d", len, GPX_MAX_REPLY);
		return -1;
	}
	/* An unversioned runtime refuses the request's version record and
	 * answers nothing. */
	if (len == 0)
		return mismatch("0", err, errlen);
	for (int i = 0; off < len; i++) {
		const char *r = gpx_reply_next(p, len, &off), *eq;
		if (r == NULL) {
			snprintf(err, errlen, "truncated reply: record %d is not NUL-terminated", i);
			return -1;
		}
		eq = strchr(r, '=');
		if (eq == NULL || eq == r) {
			snprintf(err, errlen, "malformed reply: record %d is not KEY=VALUE", i);
			return -1;
		}
		if (i == 0) {
			if (strncmp(r, "version=", 8) != 0)
				return mismatch("0", err, errlen);
			long v = digits(r + 8);
			if (v < 0) {
				snprintf(err, errlen, "malformed reply: bad version record");
				return -1;
			}
			if (v != GPX_PROTOCOL)
				return mismatch(r + 8, err, errlen);
		} else if (!strncmp(r, "fds=", 4)) {
			if (fds >= 0) {
				snprintf(err, errlen, "malformed reply: more than one fds record");
				return -1;
			}
			fds = digits(r + 4);
			if (fds < 0 || fds > GPX_MAX_FDS) {
				snprintf(err, errlen, "malformed reply: bad fds record");
				return -1;
			}
		} else if (!strncmp(r, "chdir=", 6) || !strncmp(r, "unmount=", 8) ||
			   !strncmp(r, "remove=", 7)) {
			size_t n = strlen(eq + 1);
			if (n == 0 || n > GPX_MAX_PATH) {
				snprintf(err, errlen, "malformed reply: %.*s path of %zu bytes",
					 (int)(eq - r), r, n);
				return -1;
			}
			if (r[0] != 'c' && eq[1] != '/') {
				snprintf(err, errlen, "malformed reply: %.*s path is not absolute",
					 (int)(eq - r), r);
				return -1;
			}
		}
	}
	if (fds < 0)
		fds = 0;
	if (fds != nfds) {
		snprintf(err, errlen, "expected %ld fds from gpyxis-runtime, got %d", fds, nfds);
		return -1;
	}
	return 0;
}

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long gpx_hex_decode(const char *s, unsigned char *out, size_t cap)
{
	size_t n = strlen(s);
	if (n % 2 != 0 || n / 2 > cap)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return (long)(n / 2);
}
