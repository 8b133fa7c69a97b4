/* SPDX-License-Identifier: Apache-2.0 */
/* spawn_check.c: a test driver for spawn.c, built and run by pkg/spank's
 * tests, also with -DGPX_NO_CLOSE_RANGE (the close() fallback of kernels
 * before 5.9). Like slurmstepd it runs with fd 0 closed, so that the call's
 * own fds land low, and holds stray fds that are not close-on-exec, up to
 * the highest its limit allows. It spawns PROG [ARG...] as the plugin does
 * (as uid and gid 65534 when root) and prints one line: "fds N..." with the
 * executed program's fds and, when root, "ids UID GID GROUPS"; or, when the
 * child failed, "fail STAGE ERRNO". */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawn.h"

static void die(const char *what)
{
	perror(what);
	exit(2);
}

int main(int argc, char **argv)
{
	struct gpx_spawn s = { 0 };
	struct rlimit rl;
	int sv[2], ep[2], rec[2];
	char *envp[] = { "PATH=/usr/bin:/bin", NULL }, p[64], line[256];
	gid_t nobody = 65534;

	if (argc < 2)
		return 2;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	s.maxfd = gpx_fd_bound();
	close(0);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 || pipe2(ep, O_CLOEXEC) < 0)
		die("setup");
	int stray = open("/dev/null", O_RDONLY); /* inherited, as a slurmstepd fd would be */
	if (stray < 0 || fcntl(stray, F_DUPFD, 100) < 0 || fcntl(stray, F_DUPFD, s.maxfd - 1) < 0)
		die("stray fds");
	s.sock = sv[1] = gpx_high_fd(sv[1]);
	s.errw = ep[1] = gpx_high_fd(ep[1]);
	s.log = gpx_high_fd(memfd_create("log", MFD_CLOEXEC));
	s.in = gpx_high_fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
	if (s.sock < 0 || s.errw < 0 || s.log < 0 || s.in < 0)
		die("high fds");
	if (geteuid() == 0)
		s.switch_ids = 1, s.uid = 65534, s.gid = 65534, s.gids = &nobody, s.ngids = 1;
	s.path = argv[1], s.argv = argv + 1, s.envp = envp;
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0)
		gpx_spawn_child(&s);
	close(ep[1]);
	ssize_t n = read(ep[0], rec, sizeof(rec));
	if (n == sizeof(rec)) {
		printf("fail %d %d\n", rec[0], rec[1]);
	} else {
		/* The pipe closed at the execve: the fd table is the program's. */
		printf("fds");
		snprintf(p, sizeof(p), "/proc/%d/fd", (int)pid);
		DIR *d = opendir(p);
		int fds[64], nfds = 0;
		for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;)
			if (e->d_name[0] != '.' && nfds < 64)
				fds[nfds++] = atoi(e->d_name);
		for (int i = 0; i < nfds; i++) /* readdir's order is the kernel's: sort */
			for (int j = i + 1; j < nfds; j++)
				if (fds[j] < fds[i]) {
					int t = fds[i];
					fds[i] = fds[j], fds[j] = t;
				}
		for (int i = 0; i < nfds; i++)
			printf(" %d", fds[i]);
		if (d != NULL)
			closedir(d);
		snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
		FILE *f = fopen(p, "r");
		unsigned uid = 0, gid = 0;
		char groups[128] = "";
		while (s.switch_ids && f != NULL && fgets(line, sizeof(line), f) != NULL) {
			sscanf(line, "Uid: %u", &uid);
			sscanf(line, "Gid: %u", &gid);
			if (!strncmp(line, "Groups:", 7))
				sscanf(line + 7, " %127[0-9 ]", groups);
		}
		if (f != NULL)
			fclose(f);
		if (s.switch_ids)
			printf(" ids %u %u %s", uid, gid, groups);
		printf("\n");
		kill(pid, SIGKILL);
	}
	waitpid(pid, NULL, 0);
	return 0;
}
