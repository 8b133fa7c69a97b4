/* SPDX-License-Identifier: Apache-2.0 */
/* nsjoin.h: the one namespace join primitive of gpyxis, shared by the SPANK
 * plugin (task_init) and the gpyxis-runtime cgo constructor (exec).
 * See nsjoin.c. */
#ifndef GPYXIS_NSJOIN_H
#define GPYXIS_NSJOIN_H

#include <stddef.h>
#include <sys/types.h>

/* The namespaces gpx_join_pid opens, in join order. */
#define GPX_NS_USER   0x01
#define GPX_NS_CGROUP 0x02
#define GPX_NS_MNT    0x04
#define GPX_NS_IPC    0x08
#define GPX_NS_UTS    0x10
#define GPX_NS_NET    0x20
#define GPX_NS_ALL    0x3f

/* gpx_join enters the namespaces behind fds[0..n) in that order, which must
 * be user, cgroup, mnt, then ipc, uts, net (any subset, in that order). A
 * namespace the process is already in is skipped. All fds are closed, on
 * success and on failure. The process must be single-threaded. Returns 0,
 * or -1 with errno set and a message in err. */
int gpx_join(const int fds[], int n, char *err, size_t errlen);

/* gpx_join_pid opens /proc/PID/ns/X for each X in flags, all before joining
 * any, then calls gpx_join. */
int gpx_join_pid(pid_t pid, int flags, char *err, size_t errlen);

#endif
