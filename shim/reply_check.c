/* SPDX-License-Identifier: Apache-2.0 */
/* reply_check.c: a test driver for reply.c, built and run by pkg/spank's
 * protocol tests (with AddressSanitizer where the compiler has it, so that
 * a read one byte past a reply fails the test). Each case on stdin is a
 * 4-byte little-endian length, a 4-byte fd count and the reply's bytes; for
 * each, one line on stdout: "ok N" (N records) or "error MSG". With the
 * argument "version" it prints GPX_PROTOCOL and the limits instead. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"

static uint32_t le32(const unsigned char *b)
{
	return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
}

int main(int argc, char **argv)
{
	unsigned char hdr[8];
	char err[8192];

	if (argc > 1 && !strcmp(argv[1], "version")) {
		printf("%d %d %d %d\n", GPX_PROTOCOL, GPX_MAX_REPLY, GPX_MAX_FDS, GPX_MAX_PATH);
		return 0;
	}
	while (fread(hdr, 1, sizeof(hdr), stdin) == sizeof(hdr)) {
		size_t len = le32(hdr), off = 0;
		int nfds = (int)le32(hdr + 4), n = 0;
		/* Exactly len bytes: the sanitizer sees any read past them. */
		char *p = malloc(len ? len : 1);
		if (p == NULL || fread(p, 1, len, stdin) != len)
			return 2;
		if (gpx_reply_check(len ? p : NULL, len, nfds, err, sizeof(err)) < 0) {
			printf("error %s\n", err);
		} else {
			while (gpx_reply_next(p, len, &off) != NULL)
				n++;
			printf("ok %d\n", n);
		}
		free(p);
	}
	return 0;
}
