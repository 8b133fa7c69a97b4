/* SPDX-License-Identifier: Apache-2.0 */
/* spawn.h: the fork-side half of the plugin's runtime call (spawn.c). */
#ifndef GPYXIS_SPAWN_H
#define GPYXIS_SPAWN_H

#include <sys/types.h>

/* What the child needs, all gathered before fork: slurmstepd is
 * multi-threaded, and a thread may hold malloc's or stdio's lock at the
 * fork, so the child may make async-signal-safe calls only. */
struct gpx_spawn {
	int in, log, sock, errw; /* fds >= 10 (gpx_high_fd), made 0, 1 and 2, 3, 4 */
	int switch_ids;          /* become uid, gid and gids */
	uid_t uid;
	gid_t gid, *gids;
	int ngids;
	unsigned maxfd;          /* close() bound where close_range is missing */
	const char *path;        /* the program */
	char **argv, **envp;
};

/* The child's failure stages, sent with errno ({stage, errno}, two ints)
 * over the error pipe, which the execve closes. */
enum { GPX_STAGE_FDS = 1, GPX_STAGE_IDS, GPX_STAGE_EXEC };

/* gpx_spawn_child runs in the forked child: it sets up fds 0 to 4, closes
 * every other fd, unblocks signals, switches ids if asked and executes
 * s->path; on failure it writes the stage and errno to the error pipe and
 * exits 127. Async-signal-safe. */
void gpx_spawn_child(const struct gpx_spawn *s) __attribute__((noreturn));

/* gpx_high_fd moves fd to a number >= 10, close-on-exec. Returns the new
 * fd, or -1 (fd is closed either way; -1 in gives -1). */
int gpx_high_fd(int fd);

/* gpx_fd_bound is the number below which every open fd lies, for the
 * close() fallback: RLIMIT_NOFILE's hard limit, at most 1 << 20. */
unsigned gpx_fd_bound(void);

#endif
