/* SPDX-License-Identifier: Apache-2.0 */
/* spawn.c: the child side of the plugin's runtime call. Between fork and
 * execve only async-signal-safe calls: slurmstepd is multi-threaded. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "spawn.h"

__attribute__((noreturn)) static void fail(int fd, int stage)
{
	int rec[2] = { stage, errno };
	(void)!write(fd, rec, sizeof(rec));
	_exit(127);
}

void gpx_spawn_child(const struct gpx_spawn *s)
{
	sigset_t all;

	/* The sources are all >= 10: no dup2 here overwrites a later one. */
	if (dup2(s->in, 0) < 0 || dup2(s->log, 1) < 0 || dup2(s->log, 2) < 0 ||
	    dup2(s->sock, 3) < 0 || dup2(s->errw, 4) < 0 || fcntl(4, F_SETFD, FD_CLOEXEC) < 0)
		fail(s->errw, GPX_STAGE_FDS);
	/* slurmstepd runs at oom_score_adj -1000; an import must be killable. */
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd >= 0)
		(void)!write(fd, "0", 1), close(fd);
	/* No slurmstepd fd may reach the runtime (it may run as the user).
	 * Kernels before 5.9 lack close_range: close them one by one, up to
	 * the bound taken before the fork (walking /proc/self/fd allocates).
	 * GPX_NO_CLOSE_RANGE builds the fallback alone, for its test. */
#if defined(SYS_close_range) && !defined(GPX_NO_CLOSE_RANGE)
	if (syscall(SYS_close_range, 5U, ~0U, 0U) < 0)
#endif
		for (unsigned i = 5; i < s->maxfd; i++)
			close(i);
	/* Tasks may inherit blocked signals; exec keeps the mask. */
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	/* Raw syscalls: glibc's wrappers signal every thread of the process it
	 * remembers, and only this thread survived the fork. Groups first:
	 * after setresuid they could no longer change. */
	if (s->switch_ids &&
	    (syscall(SYS_setgroups, s->ngids, s->gids) < 0 ||
	     syscall(SYS_setresgid, s->gid, s->gid, s->gid) < 0 ||
	     syscall(SYS_setresuid, s->uid, s->uid, s->uid) < 0))
		fail(4, GPX_STAGE_IDS);
	execve(s->path, s->argv, s->envp);
	fail(4, GPX_STAGE_EXEC);
}

int gpx_high_fd(int fd)
{
	if (fd < 0)
		return -1;
	/* slurmstepd may run with 0, 1 or 2 closed: a source fd there would be
	 * overwritten by the child's dup2 onto 0 to 4. */
	int h = fcntl(fd, F_DUPFD_CLOEXEC, 10);
	close(fd);
	return h;
}

unsigned gpx_fd_bound(void)
{
	struct rlimit rl;
	unsigned bound = 1U << 20; /* the kernel's default nr_open */
	/* The hard limit: fds opened under a higher soft limit stay below it. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY && rl.rlim_max < bound)
		bound = rl.rlim_max;
	return bound;
}
