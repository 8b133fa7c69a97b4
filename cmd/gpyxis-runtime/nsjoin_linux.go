// SPDX-License-Identifier: Apache-2.0

package main

// The namespace join of `gpyxis-runtime exec` runs as a C constructor, before
// the Go runtime starts any thread: setns(CLONE_NEWUSER) and setns(CLONE_NEWNS)
// need a single-threaded process, which a Go program never is (setns(2):
// EINVAL otherwise; runc's nsenter and Apptainer's starter do the same). The constructor
// compiles shim/nsjoin.c, the primitive the SPANK plugin links too.
//
// It is armed by one environment variable and returns at once without it:
//
//	_GPYXIS_JOIN_FD=7,8,9   namespace fds to join, in join order (user,
//	                        cgroup, mnt[, ipc, uts, net]); they are closed
//	_GPYXIS_JOIN_PID=1234   join /proc/1234/ns/{user,cgroup,mnt,ipc,uts,net},
//	                        skipping those the process is already in
//
// After joining it chdirs to / (the container's root), unsets the variable and
// sets gpx_joined, which the Go side checks. On failure it prints
// "gpyxis-runtime: join container: <why>" to stderr and exits 1: a process that
// was asked to join must never go on running on the host.

/*
#cgo CFLAGS: -I${SRCDIR}/../../shim
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "nsjoin.c"

static int gpx_joined;

static int gpx_ctor_fail(const char *what, const char *err)
{
	fprintf(stderr, "gpyxis-runtime: join container: %s%s\n", what, err);
	_exit(1);
	return -1;
}

__attribute__((constructor)) static void gpx_join_ctor(void)
{
	char err[256] = "";
	const char *fdv = getenv("_GPYXIS_JOIN_FD"), *pidv = getenv("_GPYXIS_JOIN_PID");
	int fds[GPX_MAX_NS], n = 0;
	char *end;
	long v;

	if (fdv != NULL) {
		for (const char *s = fdv; *s != '\0'; s = end + (*end == ',')) {
			v = strtol(s, &end, 10);
			if (end == s || v < 0 || v > 1 << 20 || (*end != ',' && *end != '\0') || n == GPX_MAX_NS)
				gpx_ctor_fail("bad _GPYXIS_JOIN_FD=", fdv);
			fds[n++] = (int)v;
		}
		if (n == 0 || fdv[strlen(fdv) - 1] == ',')
			gpx_ctor_fail("bad _GPYXIS_JOIN_FD=", fdv);
		if (gpx_join(fds, n, err, sizeof(err)) < 0)
			gpx_ctor_fail("", err);
	} else if (pidv != NULL) {
		v = strtol(pidv, &end, 10);
		if (end == pidv || *end != '\0' || v <= 0)
			gpx_ctor_fail("bad _GPYXIS_JOIN_PID=", pidv);
		if (gpx_join_pid((pid_t)v, GPX_NS_ALL, err, sizeof(err)) < 0)
			gpx_ctor_fail("", err);
	} else {
		return;
	}
	// setns(CLONE_NEWNS) already moved root and cwd to the namespace's root;
	// make the cwd explicit rather than rely on it.
	if (chdir("/") < 0)
		gpx_ctor_fail("chdir /: ", strerror(errno));
	unsetenv("_GPYXIS_JOIN_FD");
	unsetenv("_GPYXIS_JOIN_PID");
	gpx_joined = 1;
}

static int gpx_was_joined(void) { return gpx_joined; }
*/
import "C"

// joinFDEnv and joinPIDEnv arm the constructor.
const (
	joinFDEnv  = "_GPYXIS_JOIN_FD"
	joinPIDEnv = "_GPYXIS_JOIN_PID"
)

// joined reports whether the constructor joined a container's namespaces.
func joined() bool { return C.gpx_was_joined() != 0 }

// canJoin reports whether this build has the constructor.
const canJoin = true
