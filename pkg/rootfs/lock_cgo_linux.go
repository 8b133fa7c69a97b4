// SPDX-License-Identifier: Apache-2.0

//go:build cgo

package rootfs

// The init's second stage enters a user and mount namespace of its own in a
// C constructor, before the Go runtime starts any thread: unshare(2) of a
// user namespace needs a single-threaded process, which a Go program never
// is. It is armed by lockEnv and does nothing without it.
//
// The new user namespace maps only the caller's own uid and gid (to the
// ids the variable names): an unprivileged process may write no more into
// its own maps, and the outer namespace maps nothing else either.

/*
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int gpx_locked;
static char gpx_lock_err[256];

static int gpx_write(const char *path, const char *data)
{
	size_t len = strlen(data);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, data, len);
	int saved = errno;
	close(fd);
	errno = saved;
	return n == (ssize_t)len ? 0 : -1;
}

__attribute__((constructor)) static void gpx_lock_ctor(void)
{
	char map[64];
	const char *step = "bad _GPYXIS_LOCK_MOUNTS", *v = getenv("_GPYXIS_LOCK_MOUNTS");
	unsigned inner_uid, inner_gid;
	uid_t uid = geteuid();
	gid_t gid = getegid();

	if (v == NULL)
		return;
	if (sscanf(v, "%u:%u", &inner_uid, &inner_gid) != 2) {
		errno = EINVAL;
		goto fail;
	}
	unsetenv("_GPYXIS_LOCK_MOUNTS");
	step = "unshare user, mount and cgroup namespaces";
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP) < 0)
		goto fail;
	// The files are opened after the unshare: a map file is bound to the
	// namespace its task was in when it was opened. setgroups must say
	// deny before an unprivileged gid_map write (it already does when
	// inherited so).
	step = "deny setgroups";
	if (gpx_write("/proc/self/setgroups", "deny") < 0)
		goto fail;
	step = "write uid_map";
	snprintf(map, sizeof(map), "%u %u 1\n", inner_uid, (unsigned)uid);
	if (gpx_write("/proc/self/uid_map", map) < 0)
		goto fail;
	step = "write gid_map";
	snprintf(map, sizeof(map), "%u %u 1\n", inner_gid, (unsigned)gid);
	if (gpx_write("/proc/self/gid_map", map) < 0)
		goto fail;
	gpx_locked = 1;
	return;
fail:
	snprintf(gpx_lock_err, sizeof(gpx_lock_err), "%s: %s", step, strerror(errno));
}

static int gpx_was_locked(void) { return gpx_locked; }
static const char *gpx_lock_error(void) { return gpx_lock_err; }
*/
import "C"

import "errors"

// canLockMounts reports whether this build has the constructor.
const canLockMounts = true

// lockedErr says why the constructor did not enter the new namespaces, or
// nil if it did.
func lockedErr() error {
	if C.gpx_was_locked() != 0 {
		return nil
	}
	if msg := C.GoString(C.gpx_lock_error()); msg != "" {
		return errors.New("lock mounts: " + msg)
	}
	return errors.New("lock mounts: the init was not re-executed with " + lockEnv)
}
