/* SPDX-License-Identifier: Apache-2.0 */
/* spank.c: the gpyxis SPANK plugin, a drop-in for pyxis.
 *
 * Thin on purpose: it registers pyxis' --container-* options, and at each
 * callback that needs a decision it forks `gpyxis-runtime spank OP`, writes
 * the job context to it over a socket (fd 3), and applies what comes back:
 * namespace fds to setns into (shared nsjoin.c), a directory, a seccomp
 * program and environment changes. Names, locks, import, the environment
 * merge, save and cleanup are all Go (pkg/spank, whose protocol.go documents
 * the records). Build: see the Makefile (`make plugin`). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <slurm/spank.h>

#include "nsjoin.h"
#include "reply.h"
#include "spawn.h"

#ifndef GPYXIS_RUNTIME
#define GPYXIS_RUNTIME "/usr/local/bin/gpyxis-runtime"
#endif
#ifndef SECCOMP_FILTER_FLAG_SPEC_ALLOW
#define SECCOMP_FILTER_FLAG_SPEC_ALLOW (1UL << 2)
#endif
#define MAX_FDS GPX_MAX_FDS

SPANK_PLUGIN(gpyxis, 1);

/* A growing buffer of NUL-terminated KEY=VALUE records. */
struct buf {
	char *p;
	size_t len, cap;
	int oom;          /* a record was lost: the buffer must not be sent */
};

static struct {
	struct buf opts;  /* opt= records from the option callbacks */
	int argc;
	char **argv;      /* plugstack arguments */
	char runtime[PATH_MAX];
	int enabled;      /* remote: the step runs in a container */
	uint32_t exited;  /* remote: tasks whose task_exit ran */
	int released;
	char unmount[PATH_MAX]; /* remote: setup's mount point to unmount at exit */
	char remove[PATH_MAX];  /* remote: setup's file to remove at exit */
	int kept[MAX_FDS]; /* remote: setup's fds, held until slurm_spank_exit */
	int nkept;
	char setup_err[PATH_MAX + 300]; /* remote: why setup's reply was unusable */
} g = { .runtime = GPYXIS_RUNTIME };

static int buf_add(struct buf *b, const char *key, const char *val)
{
	size_t n = strlen(key) + 1 + strlen(val) + 1;
	if (b->len + n > b->cap) {
		size_t cap = (b->len + n) * 2;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->oom = 1;
			return -1;
		}
		b->p = p, b->cap = cap;
	}
	size_t k = strlen(key), v = strlen(val);
	memcpy(b->p + b->len, key, k);
	b->p[b->len + k] = '=';
	memcpy(b->p + b->len + k + 1, val, v + 1);
	b->len += n;
	return 0;
}

/* --- options ---------------------------------------------------------- */

static int opt_cb(int val, const char *optarg, int remote);

#define OPT(name, arg, usage) { name, arg, usage, arg != NULL, __LINE__, opt_cb }
static struct spank_option options[] = {
	OPT("container-image", "[USER@][REGISTRY#]IMAGE[:TAG]|PATH",
	    "[gpyxis] the image to run the job in (registry image, or squashfs file path)"),
	OPT("container-mounts", "SRC:DST[:FLAGS][,SRC:DST...]",
	    "[gpyxis] bind mount[s] inside the container; flags joined with '+' (ro, rprivate, ...)"),
	OPT("container-workdir", "PATH", "[gpyxis] working directory inside the container"),
	OPT("container-name", "NAME[:FLAG]",
	    "[gpyxis] name the container (reused across steps); FLAG: auto, create, exec, no_exec"),
	OPT("container-save", "PATH", "[gpyxis] save the container as a squashfs file at the end of the step"),
	OPT("container-mount-home", NULL, "[gpyxis] bind mount the user's home directory"),
	OPT("no-container-mount-home", NULL, "[gpyxis] do not bind mount the user's home directory"),
	OPT("container-remap-root", NULL, "[gpyxis] appear as root (uid 0) inside the container"),
	OPT("no-container-remap-root", NULL, "[gpyxis] keep your own uid inside the container"),
	OPT("container-entrypoint", NULL, "[gpyxis] run the image's ENTRYPOINT"),
	OPT("no-container-entrypoint", NULL, "[gpyxis] do not run the image's ENTRYPOINT"),
	OPT("container-entrypoint-log", NULL, "[gpyxis] print the ENTRYPOINT's output"),
	OPT("container-writable", NULL, "[gpyxis] make the container filesystem writable"),
	OPT("container-readonly", NULL, "[gpyxis] make the container filesystem read-only"),
	OPT("container-env", "NAME[,NAME...]",
	    "[gpyxis] names of variables whose host value wins over the image's"),
	OPT("container-unshare", "NS[,NS...]", "[gpyxis] namespaces not shared with the host: net, ipc, uts"),
	SPANK_OPTIONS_TABLE_END
};

/* opt_cb records the callback as opt=NAME=VALUE; validation is Go's. */
static int opt_cb(int val, const char *optarg, int remote)
{
	(void)remote;
	for (struct spank_option *o = options; o->name != NULL; o++) {
		if (o->val != val)
			continue;
		size_t n = strlen(o->name) + 2 + (optarg ? strlen(optarg) : 0);
		char *rec = malloc(n);
		if (rec == NULL)
			return -1;
		snprintf(rec, n, "%s=%s", o->name, optarg ? optarg : "");
		int rv = buf_add(&g.opts, "opt", rec);
		free(rec);
		return rv;
	}
	return -1;
}

/* --- the runtime child ------------------------------------------------ */

struct call {
	const char *op;
	int as_user;      /* drop root to the job's uid, gid and groups */
	struct buf req;
	struct buf rep;   /* records received */
	int fds[MAX_FDS];
	int nfds;
	int logfd;        /* the child's stdout and stderr */
	int status;       /* waitpid status */
	int valid;        /* rep passed gpx_reply_check: its records may be used */
	char err[PATH_MAX + 256]; /* the plugin's own diagnosis of a failed call */
};

static void add_u32(struct buf *b, spank_t sp, const char *key, spank_item_t item)
{
	uint32_t v;
	char s[16];
	if (spank_get_item(sp, item, &v) == ESPANK_SUCCESS) {
		snprintf(s, sizeof(s), "%u", v);
		buf_add(b, key, s);
	}
}

/* job_ids gets the job's uid and gid: from SPANK, or in the job epilog,
 * where Slurm 22.05 answers only some items, from the environment slurmd
 * gives it (SLURM_JOB_UID, SLURM_JOB_GID). */
static int job_ids(spank_t sp, uid_t *uid, gid_t *gid)
{
	const char *u = getenv("SLURM_JOB_UID"), *g = getenv("SLURM_JOB_GID");
	if (spank_get_item(sp, S_JOB_UID, uid) == ESPANK_SUCCESS &&
	    spank_get_item(sp, S_JOB_GID, gid) == ESPANK_SUCCESS)
		return 0;
	if (spank_context() != S_CTX_JOB_SCRIPT || u == NULL || g == NULL)
		return -1;
	*uid = strtoul(u, NULL, 10), *gid = strtoul(g, NULL, 10);
	return 0;
}

/* add_context writes the job context records the callback can see. */
static void add_context(struct call *c, spank_t sp, char **env)
{
	static const char *ctx[] = { "error", "local", "remote", "allocator", "slurmd", "job_script" };
	uid_t uid;
	gid_t gid, *gids;
	int n, id;
	char s[32], **argv;

	snprintf(s, sizeof(s), "%d", GPX_PROTOCOL), buf_add(&c->req, "version", s);
	buf_add(&c->req, "op", c->op);
	n = spank_context();
	buf_add(&c->req, "ctx.context", n >= 0 && n <= 5 ? ctx[n] : "error");
	if (job_ids(sp, &uid, &gid) == 0) {
		snprintf(s, sizeof(s), "%u", uid), buf_add(&c->req, "ctx.uid", s);
		snprintf(s, sizeof(s), "%u", gid), buf_add(&c->req, "ctx.gid", s);
	}
	add_u32(&c->req, sp, "ctx.jobid", S_JOB_ID);
	if (spank_context() == S_CTX_JOB_SCRIPT && getenv("SLURM_JOB_ID") != NULL)
		buf_add(&c->req, "ctx.jobid", getenv("SLURM_JOB_ID"));
	add_u32(&c->req, sp, "ctx.stepid", S_JOB_STEPID);
	add_u32(&c->req, sp, "ctx.nodeid", S_JOB_NODEID);
	add_u32(&c->req, sp, "ctx.nnodes", S_JOB_NNODES);
	add_u32(&c->req, sp, "ctx.local_tasks", S_JOB_LOCAL_TASK_COUNT);
	add_u32(&c->req, sp, "ctx.total_tasks", S_JOB_TOTAL_TASK_COUNT);
	add_u32(&c->req, sp, "ctx.task_global_id", S_TASK_GLOBAL_ID);
	if (spank_get_item(sp, S_TASK_ID, &id) == ESPANK_SUCCESS)
		snprintf(s, sizeof(s), "%d", id), buf_add(&c->req, "ctx.task_id", s);
	if (spank_get_item(sp, S_JOB_ARGV, &n, &argv) == ESPANK_SUCCESS && n > 0)
		buf_add(&c->req, "ctx.argv0", argv[0]);
	if (spank_get_item(sp, S_JOB_SUPPLEMENTARY_GIDS, &gids, &n) == ESPANK_SUCCESS) {
		char *list = calloc(n + 1, 11); /* a gid is at most 10 digits, plus ',' */
		for (int i = 0, off = 0; list != NULL && i < n; i++)
			off += sprintf(list + off, "%s%u", i ? "," : "", gids[i]);
		if (list != NULL)
			buf_add(&c->req, "ctx.gids", list);
		free(list);
	}
	for (int i = 0; i < g.argc; i++)
		buf_add(&c->req, "arg", g.argv[i]);
	if (g.opts.len > 0) { /* opts records are already KEY=VALUE\0 */
		for (size_t off = 0; off < g.opts.len; off += strlen(g.opts.p + off) + 1)
			buf_add(&c->req, "opt", g.opts.p + off + 4);
	}
	for (char **e = env; e != NULL && *e != NULL; e++)
		buf_add(&c->req, "env", *e);
}

/* prepare gathers what the child needs and opens its fds. */
static int prepare(struct call *c, spank_t sp, struct gpx_spawn *s, int sv[2], int ep[2])
{
	/* Static: the child reads them; SPANK callbacks run one at a time. */
	static char *argv[4], path[PATH_MAX + 5], *envp[] = { path, NULL };
	const char *p = getenv("PATH");

	s->in = s->log = s->sock = s->errw = -1;
	argv[0] = "gpyxis-runtime", argv[1] = "spank", argv[2] = (char *)c->op;
	snprintf(path, sizeof(path), "PATH=%s", p != NULL ? p : "/usr/local/bin:/usr/bin:/bin");
	s->path = g.runtime, s->argv = argv, s->envp = envp;
	s->maxfd = gpx_fd_bound();
	if (c->as_user && geteuid() == 0) {
		s->switch_ids = 1;
		if (job_ids(sp, &s->uid, &s->gid) < 0) {
			snprintf(c->err, sizeof(c->err), "cannot get the job's uid and gid");
			return -1;
		}
		if (spank_get_item(sp, S_JOB_SUPPLEMENTARY_GIDS, &s->gids, &s->ngids) != ESPANK_SUCCESS)
			s->gids = NULL, s->ngids = 0;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    pipe2(ep, O_CLOEXEC) < 0) {
		snprintf(c->err, sizeof(c->err), "cannot set up the runtime call: %s", strerror(errno));
		return -1;
	}
	s->sock = sv[1] = gpx_high_fd(sv[1]);
	s->errw = ep[1] = gpx_high_fd(ep[1]);
	s->log = gpx_high_fd(dup(c->logfd));
	s->in = gpx_high_fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
	if (s->sock < 0 || s->errw < 0 || s->log < 0 || s->in < 0) {
		snprintf(c->err, sizeof(c->err), "cannot set up the runtime call: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* receive reads the reply and its fds to EOF. Returns 0, or -1 with c->err
 * set (the runtime is still waited for). */
static int receive(struct call *c, int sock)
{
	char data[65536];
	int extra = 0;
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int) * MAX_FDS)];
	} cm;

	for (;;) {
		struct iovec iov = { data, sizeof(data) };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = cm.space, .msg_controllen = sizeof(cm.space) };
		ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(c->err, sizeof(c->err), "read the runtime's reply: %s", strerror(errno));
			return -1;
		}
		for (struct cmsghdr *h = CMSG_FIRSTHDR(&msg); h != NULL; h = CMSG_NXTHDR(&msg, h)) {
			if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
				continue;
			size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
				if (c->nfds < MAX_FDS)
					c->fds[c->nfds++] = fd;
				else
					close(fd), extra = 1;
			}
		}
		/* CTRUNC: the kernel closed fds that did not fit. */
		if (extra || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
			snprintf(c->err, sizeof(c->err), "gpyxis-runtime passed more than %d fds", MAX_FDS);
			return -1;
		}
		if (n == 0)
			return 0;
		if (c->rep.len + n > GPX_MAX_REPLY) {
			snprintf(c->err, sizeof(c->err), "gpyxis-runtime's reply exceeds %d bytes", GPX_MAX_REPLY);
			return -1;
		}
		if (c->rep.len + n > c->rep.cap) {
			size_t cap = (c->rep.len + n) * 2;
			char *p = realloc(c->rep.p, cap);
			if (p == NULL) {
				snprintf(c->err, sizeof(c->err), "read the runtime's reply: out of memory");
				return -1;
			}
			c->rep.p = p, c->rep.cap = cap;
		}
		memcpy(c->rep.p + c->rep.len, data, n), c->rep.len += n;
	}
}

/* run forks the runtime, sends the request, collects the reply and waits.
 * Returns 0 if the runtime exited 0 and its reply is well-formed. */
static int run(struct call *c, spank_t sp, char **env)
{
	struct gpx_spawn s = { 0 };
	int sv[2] = { -1, -1 }, ep[2] = { -1, -1 }, rec[2], rv = -1;
	ssize_t n;
	pid_t pid;

	c->nfds = 0;
	c->logfd = memfd_create("gpyxis-log", MFD_CLOEXEC);
	add_context(c, sp, env);
	if (c->logfd < 0 || c->req.oom) {
		snprintf(c->err, sizeof(c->err), "cannot set up the runtime call: %s",
			 c->req.oom ? "out of memory" : strerror(errno));
		return -1;
	}
	if (prepare(c, sp, &s, sv, ep) < 0)
		goto out;
	pid = fork();
	if (pid < 0) {
		snprintf(c->err, sizeof(c->err), "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0)
		gpx_spawn_child(&s);
	close(sv[1]), close(ep[1]), close(s.log), close(s.in);
	sv[1] = ep[1] = s.log = s.in = -1;
	/* The error pipe closes at the execve; before it, the child's failure. */
	while ((n = read(ep[0], rec, sizeof(rec))) < 0 && errno == EINTR)
		;
	if (n == sizeof(rec)) {
		const char *what = rec[0] == GPX_STAGE_FDS ? "cannot set up the runtime's fds" :
				   rec[0] == GPX_STAGE_IDS ? "cannot switch to the job's uid and gid" :
				   "cannot execute";
		snprintf(c->err, sizeof(c->err), "%s%s%s: %s", what, rec[0] == GPX_STAGE_EXEC ? " " : "",
			 rec[0] == GPX_STAGE_EXEC ? g.runtime : "", strerror(rec[1]));
	} else {
		/* The runtime reads the whole request before it answers: no deadlock. */
		for (size_t off = 0; off < c->req.len;) {
			ssize_t w = write(sv[0], c->req.p + off, c->req.len - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				break; /* the runtime died; its status tells */
			off += w;
		}
		shutdown(sv[0], SHUT_WR);
		rv = receive(c, sv[0]);
	}
	close(sv[0]), sv[0] = -1;
	while (waitpid(pid, &c->status, 0) < 0 && errno == EINTR)
		;
	if (c->err[0] != '\0' || WIFSIGNALED(c->status))
		rv = -1;
	else if (c->rep.len == 0 && !(WIFEXITED(c->status) && WEXITSTATUS(c->status) <= 1))
		rv = -1; /* it crashed before answering: its log tells */
	else if (gpx_reply_check(c->rep.p, c->rep.len, c->nfds, c->err, sizeof(c->err)) == 0)
		c->valid = 1, rv = WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0 ? 0 : -1;
	else
		rv = -1;
out:
	for (int i = 0; i < 2; i++) {
		if (sv[i] >= 0)
			close(sv[i]);
		if (ep[i] >= 0)
			close(ep[i]);
	}
	if (s.log >= 0)
		close(s.log);
	if (s.in >= 0)
		close(s.in);
	return rv;
}

/* print_log prints the runtime's log line by line, its last 64 KiB at most.
 * It reads, never maps: a process of the job's user may still hold the
 * memfd and could shrink a mapped file under slurmstepd (SIGBUS). */
static void print_log(int fd)
{
	enum { MAX_LOG = 64 << 10 };
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size <= 0)
		return;
	off_t from = st.st_size > MAX_LOG ? st.st_size - MAX_LOG : 0;
	char *log = malloc(MAX_LOG);
	ssize_t n = log != NULL ? pread(fd, log, MAX_LOG, from) : -1;
	if (n > 0) {
		slurm_error("gpyxis: printing gpyxis-runtime log:");
		if (from > 0)
			slurm_error("gpyxis:     (%lld earlier bytes left out)", (long long)from);
	}
	for (char *s = log, *end = log + (n > 0 ? n : 0); s < end;) {
		char *nl = memchr(s, '\n', end - s);
		int len = nl ? nl - s : end - s;
		slurm_error("gpyxis:     %.*s", len, s);
		s += len + 1;
	}
	free(log);
}

/* messages prints the message records; on failure also the plugin's own
 * diagnosis and the runtime's log. */
static void messages(struct call *c, int failed)
{
	const char *r;
	/* A reply of another protocol version may mean something else. */
	for (size_t off = 0; !strstr(c->err, "plugin protocol") &&
	     (r = gpx_reply_next(c->rep.p, c->rep.len, &off)) != NULL;) {
		if (!strncmp(r, "error=", 6) || !strncmp(r, "warning=", 8))
			slurm_error("gpyxis: %s", strchr(r, '=') + 1);
		else if (!strncmp(r, "info=", 5))
			slurm_info("gpyxis: %s", r + 5);
		else if (!strncmp(r, "verbose=", 8))
			slurm_verbose("gpyxis: %s", r + 8);
		else if (!strncmp(r, "log=", 4))
			slurm_spank_log("gpyxis: %s", r + 4);
	}
	if (c->err[0] != '\0')
		slurm_error("gpyxis: %s", c->err);
	if (!failed)
		return;
	if (WIFSIGNALED(c->status))
		slurm_error("gpyxis: gpyxis-runtime terminated with signal %d", WTERMSIG(c->status));
	print_log(c->logfd);
}

static void call_free(struct call *c)
{
	for (int i = 0; i < c->nfds; i++)
		close(c->fds[i]);
	if (c->logfd >= 0)
		close(c->logfd);
	free(c->req.p), free(c->rep.p);
}

/* call runs op and prints its messages; returns 0 on success. */
static int call(spank_t sp, const char *op, int as_user, char **env, struct call *c)
{
	memset(c, 0, sizeof(*c));
	c->op = op, c->as_user = as_user, c->logfd = -1;
	int rv = run(c, sp, env);
	messages(c, rv != 0);
	return rv;
}

static char **job_env(spank_t sp)
{
	char **env = NULL;
	if (spank_get_item(sp, S_JOB_ENV, &env) != ESPANK_SUCCESS)
		return NULL;
	return env;
}

/* wanted is the cheap gate that keeps plain steps free of any runtime call:
 * a container option was given, or a PYXIS_CONTAINER_* variable is set. */
static int wanted(char **env)
{
	if (g.opts.len > 0)
		return 1;
	for (char **e = env; e != NULL && *e != NULL; e++)
		if (!strncmp(*e, "PYXIS_CONTAINER_", 16))
			return 1;
	return 0;
}

/* --- applying a join --------------------------------------------------- */

static int load_seccomp(const char *hex)
{
	size_t cap = strlen(hex) / 2;
	unsigned char *prog = malloc(cap ? cap : 1);
	long n = prog != NULL ? gpx_hex_decode(hex, prog, cap) : -1;
	/* fprog.len is 16 bits: a longer program would load cut short. */
	if (n <= 0 || n % sizeof(struct sock_filter) != 0 ||
	    n / sizeof(struct sock_filter) > BPF_MAXINSNS) {
		free(prog);
		errno = EINVAL;
		return -1;
	}
	struct sock_fprog fprog = { n / sizeof(struct sock_filter), (struct sock_filter *)prog };
	/* The task holds CAP_SYS_ADMIN in the container's user namespace, so no
	 * NO_NEW_PRIVS is needed; SPEC_ALLOW keeps speculation mitigations as
	 * they were (pyxis does the same), and old kernels lack the flag. */
	int rv = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_SPEC_ALLOW, &fprog);
	if (rv < 0 && errno == EINVAL)
		rv = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog);
	free(prog);
	return rv;
}

/* apply joins the namespaces, then changes directory, loads the filter and
 * edits the task's environment, in that order: the directory is resolved
 * inside the container, and the filter must not hinder the setns calls. */
static int apply(spank_t sp, struct call *c)
{
	char err[256];
	const char *dir = NULL, *seccomp = NULL, *r;

	/* run checked the reply (c->valid): the fds= count matches c->nfds. */
	for (size_t off = 0; (r = gpx_reply_next(c->rep.p, c->rep.len, &off)) != NULL;) {
		if (!strncmp(r, "chdir=", 6))
			dir = r + 6;
		else if (!strncmp(r, "seccomp=", 8))
			seccomp = r + 8;
	}
	if (c->nfds > 0) {
		int rv = gpx_join(c->fds, c->nfds, err, sizeof(err));
		c->nfds = 0; /* gpx_join closed them */
		if (rv < 0) {
			slurm_error("gpyxis: %s", err);
			return -1;
		}
	}
	/* setns(mnt) put the cwd at the container's root; a relative workdir is
	 * taken from there, as pyxis does. */
	if (dir != NULL && (chdir("/") < 0 || chdir(dir) < 0)) {
		slurm_error("gpyxis: couldn't chdir to %s: %m", dir);
		return -1;
	}
	if (seccomp != NULL && load_seccomp(seccomp) < 0) {
		slurm_error("gpyxis: seccomp filter failed: %m");
		return -1;
	}
	for (size_t off = 0; (r = gpx_reply_next(c->rep.p, c->rep.len, &off)) != NULL;) {
		char *eq;
		if (!strncmp(r, "setenv=", 7) && (eq = strchr(r + 7, '=')) != NULL) {
			*eq = '\0';
			int rv = spank_setenv(sp, r + 7, eq + 1, 1);
			*eq = '=';
			if (rv != ESPANK_SUCCESS) {
				slurm_error("gpyxis: spank_setenv %s failed", r + 7);
				return -1;
			}
		} else if (!strncmp(r, "unsetenv=", 9)) {
			spank_unsetenv(sp, r + 9);
		}
	}
	return 0;
}

/* --- callbacks --------------------------------------------------------- */

/* set_args keeps the plugstack arguments and takes runtime= from them. */
static void set_args(int ac, char **av)
{
	g.argc = ac, g.argv = av;
	for (int i = 0; i < ac; i++)
		if (!strncmp(av[i], "runtime=", 8))
			snprintf(g.runtime, sizeof(g.runtime), "%s", av[i] + 8);
}

int slurm_spank_init(spank_t sp, int ac, char **av)
{
	struct call c;
	int ctx = spank_context(), rv = 0;

	set_args(ac, av);
	if (ctx == S_CTX_SLURMD) { /* once per slurmd: check arguments, make runtime_path */
		rv = call(sp, "init", 0, NULL, &c);
		call_free(&c);
		return rv;
	}
	if (ctx != S_CTX_LOCAL && ctx != S_CTX_REMOTE && ctx != S_CTX_ALLOCATOR)
		return 0;
	/* sbatch_support=0 keeps the options out of sbatch and salloc (pyxis). */
	for (int i = 0; ctx == S_CTX_ALLOCATOR && i < ac; i++)
		if (!strcmp(av[i], "sbatch_support=0") || !strcmp(av[i], "sbatch_support=false") ||
		    !strcmp(av[i], "sbatch_support=no") || !strcmp(av[i], "sbatch_support=n"))
			return 0;
	for (struct spank_option *o = options; o->name != NULL; o++)
		if (spank_option_register(sp, o) != ESPANK_SUCCESS) {
			slurm_error("gpyxis: could not register option --%s", o->name);
			return -1;
		}
	return 0;
}

int slurm_spank_init_post_opt(spank_t sp, int ac, char **av)
{
	extern char **environ;
	struct call c;
	int rv = 0;
	(void)ac, (void)av;

	switch (spank_context()) {
	case S_CTX_LOCAL:
	case S_CTX_ALLOCATOR:
		if (!wanted(environ))
			return 0;
		rv = call(sp, "check", 0, environ, &c);
		break;
	case S_CTX_REMOTE:
		if (!wanted(job_env(sp)))
			return 0;
		/* As root: the runtime makes the user's runtime directory. */
		rv = call(sp, "setup", 0, job_env(sp), &c);
		/* Paths fit: gpx_reply_check bounds them by GPX_MAX_PATH. */
		const char *r;
		for (size_t off = 0; c.valid && (r = gpx_reply_next(c.rep.p, c.rep.len, &off)) != NULL;) {
			if (!strcmp(r, "enabled=1"))
				g.enabled = 1;
			else if (!strncmp(r, "unmount=", 8))
				snprintf(g.unmount, sizeof(g.unmount), "%s", r + 8);
			else if (!strncmp(r, "remove=", 7))
				snprintf(g.remove, sizeof(g.remove), "%s", r + 7);
		}
		/* A lock on the shared cache entry: slurmstepd holds it for the
		 * step (close-on-exec, so tasks do not). */
		for (int i = 0; i < c.nfds; i++) {
			if (g.nkept < MAX_FDS)
				g.kept[g.nkept++] = c.fds[i];
			else
				close(c.fds[i]);
		}
		c.nfds = 0;
		/* A setup error is reported again by every task's join, where it
		 * fails the step (Slurm ignores errors from earlier callbacks). */
		if (rv != 0)
			g.enabled = 1, rv = 0;
		/* A reply that could not be read may have lost an unmount record
		 * or a lock: the tasks fail rather than run without them. */
		if (!c.valid)
			snprintf(g.setup_err, sizeof(g.setup_err), "setup: %s",
				 c.err[0] != '\0' ? c.err : "gpyxis-runtime failed before answering");
		break;
	default:
		return 0;
	}
	call_free(&c);
	return rv;
}

int slurm_spank_task_init(spank_t sp, int ac, char **av)
{
	struct call c;
	(void)ac, (void)av;

	if (!g.enabled)
		return 0;
	if (g.setup_err[0] != '\0') {
		slurm_error("gpyxis: %s", g.setup_err);
		return -1;
	}
	int rv = call(sp, "join", 0, job_env(sp), &c);
	if (rv == 0)
		rv = apply(sp, &c);
	call_free(&c);
	return rv;
}

/* release runs the step's end once per node: save, stop, remove. */
static int release(spank_t sp)
{
	struct call c;
	if (!g.enabled || g.released)
		return 0;
	int rv = call(sp, "exit", 1, job_env(sp), &c);
	/* A cancelled step's processes are killed around task_exit, this call
	 * included: slurm_spank_exit then tries again, once they are gone. */
	g.released = rv == 0;
	call_free(&c);
	return rv;
}

int slurm_spank_task_exit(spank_t sp, int ac, char **av)
{
	uint32_t tasks = 0;
	(void)ac, (void)av;

	if (!g.enabled || spank_context() != S_CTX_REMOTE)
		return 0;
	if (spank_get_item(sp, S_JOB_LOCAL_TASK_COUNT, &tasks) != ESPANK_SUCCESS)
		return 0;
	if (++g.exited < tasks)
		return 0;
	return release(sp);
}

int slurm_spank_exit(spank_t sp, int ac, char **av)
{
	(void)ac, (void)av;
	if (spank_context() != S_CTX_REMOTE)
		return 0;
	/* A step whose tasks never all exited through task_exit still ends. */
	release(sp);
	/* Here, not in a runtime process: slurmstepd may be killing its
	 * descendants (proctrack/linuxproc) as the step ends. NOFOLLOW: the
	 * mount point is in the user's directory. */
	if (g.unmount[0] != '\0') {
		if (umount2(g.unmount, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT)
			slurm_error("gpyxis: unmount %s: %m", g.unmount);
		rmdir(g.unmount);
		g.unmount[0] = '\0';
	}
	if (g.remove[0] != '\0')
		unlink(g.remove), g.remove[0] = '\0';
	for (int i = 0; i < g.nkept; i++)
		close(g.kept[i]);
	g.nkept = 0;
	return 0;
}

int slurm_spank_job_epilog(spank_t sp, int ac, char **av)
{
	struct call c;
	int scoped = 0;
	/* Only container_scope=job has anything to clean (pyxis). */
	for (int i = 0; i < ac; i++)
		scoped |= !strcmp(av[i], "container_scope=job");
	if (!scoped)
		return 0;
	/* The job script context gets no slurm_spank_init call. */
	set_args(ac, av);
	/* Errors are logged, never returned: a failed epilog drains the node
	 * (pyxis#138). */
	call(sp, "epilog", 1, NULL, &c);
	call_free(&c);
	return 0;
}
