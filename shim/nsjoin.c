/* SPDX-License-Identifier: Apache-2.0 */
/* nsjoin.c: join a container's namespaces with setns(2).
 *
 * This is the only code in gpyxis that enters existing namespaces. It must
 * run in C, in a single-threaded process: setns(CLONE_NEWUSER) fails with
 * EINVAL in a multi-threaded process and setns(CLONE_NEWNS) with EINVAL in
 * one that shares its fs_struct, so no Go code can do it (setns(2)). The SPANK plugin calls it from slurm_spank_task_init; gpyxis-runtime
 * runs it from a constructor, before the Go runtime starts (nsjoin_linux.go).
 * pyxis does the same in pyxis_slurmstepd.c:1562-1683, enroot in
 * enroot-nsenter.c join_namespaces. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* setns, CLONE_NEW* */
#endif
#include "nsjoin.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef NS_GET_NSTYPE
#define NS_GET_NSTYPE _IO(0xb7, 0x3) /* linux/nsfs.h, Linux 4.11 */
#endif
#define GPX_MAX_NS 8

/* The join order. user first: a rootless joiner holds CAP_SYS_ADMIN over the
 * container's other namespaces only once it is in the user namespace that
 * owns them (setns needs it in the target's owner). cgroup before mnt: a
 * process that enters the mount namespace sees the container's /proc and
 * cgroupfs, whose view of /proc/self/cgroup must already be the container's
 * (pyxis, enroot do the same). mnt also resets root and cwd to the
 * container's pivoted root. ipc, uts and net are independent and last. */
static const struct {
	int flag, type;
	const char *name;
} gpx_ns[] = {
	{GPX_NS_USER, CLONE_NEWUSER, "user"}, {GPX_NS_CGROUP, CLONE_NEWCGROUP, "cgroup"},
	{GPX_NS_MNT, CLONE_NEWNS, "mnt"},     {GPX_NS_IPC, CLONE_NEWIPC, "ipc"},
	{GPX_NS_UTS, CLONE_NEWUTS, "uts"},    {GPX_NS_NET, CLONE_NEWNET, "net"},
};
#define GPX_NKINDS ((int)(sizeof(gpx_ns) / sizeof(gpx_ns[0])))

static int fail(char *err, size_t errlen, int e, const char *fmt, ...)
{
	va_list ap;
	size_t k;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	k = strlen(err);
	if (e != 0 && k < errlen)
		snprintf(err + k, errlen - k, ": %s", strerror(e));
	errno = e;
	return -1;
}

int gpx_join(const int fds[], int n, char *err, size_t errlen)
{
	int kind[GPX_MAX_NS], skip[GPX_MAX_NS];
	int i, k, last = -1, e = 0, ret = 0;
	char path[64];
	struct stat self, ns;

	if (n <= 0 || n > GPX_MAX_NS) {
		ret = fail(err, errlen, EINVAL, "%d namespaces to join", n);
		n = n < 0 ? 0 : n;
		goto out;
	}
	/* Classify every fd and decide what to skip before joining anything:
	 * after setns(mnt) /proc may no longer be the one we started with. */
	for (i = 0; i < n; i++) {
		int t = ioctl(fds[i], NS_GET_NSTYPE);
		if (t < 0) {
			ret = fail(err, errlen, errno, "fd %d: not a namespace", fds[i]);
			goto out;
		}
		for (k = 0; k < GPX_NKINDS && gpx_ns[k].type != t; k++)
			;
		if (k == GPX_NKINDS || k <= last) {
			ret = fail(err, errlen, EINVAL, "fd %d: namespace type %#x out of order", fds[i], t);
			goto out;
		}
		last = kind[i] = k;
		/* Already a member (st_dev/st_ino equal): setns into one's own
		 * user namespace fails with EINVAL, and the others are no-ops. */
		snprintf(path, sizeof(path), "/proc/self/ns/%s", gpx_ns[k].name);
		if (fstat(fds[i], &ns) < 0 || stat(path, &self) < 0) {
			ret = fail(err, errlen, errno, "stat %s namespace", gpx_ns[k].name);
			goto out;
		}
		skip[i] = ns.st_dev == self.st_dev && ns.st_ino == self.st_ino;
	}
	for (i = 0; i < n; i++) {
		if (skip[i])
			continue;
		if (setns(fds[i], gpx_ns[kind[i]].type) < 0) {
			ret = fail(err, errlen, errno, "setns %s", gpx_ns[kind[i]].name);
			goto out;
		}
	}
out:
	e = errno;
	for (i = 0; i < n; i++)
		close(fds[i]);
	errno = e;
	return ret;
}

int gpx_join_pid(pid_t pid, int flags, char *err, size_t errlen)
{
	int fds[GPX_MAX_NS], n = 0, k, e;
	char path[64];

	/* Open all first (as enroot-nsenter does): joining the mount namespace
	 * changes what /proc shows. */
	for (k = 0; k < GPX_NKINDS; k++) {
		if (!(flags & gpx_ns[k].flag))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, gpx_ns[k].name);
		fds[n] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[n] < 0) {
			e = errno;
			while (n > 0)
				close(fds[--n]);
			return fail(err, errlen, e, "open %s", path);
		}
		n++;
	}
	return gpx_join(fds, n, err, errlen);
}
