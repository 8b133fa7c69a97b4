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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <slurm/spank.h>

#include "nsjoin.h"

#ifndef GPYXIS_RUNTIME
#define GPYXIS_RUNTIME "/usr/local/bin/gpyxis-runtime"
#endif
#ifndef SECCOMP_FILTER_FLAG_SPEC_ALLOW
#define SECCOMP_FILTER_FLAG_SPEC_ALLOW (1UL << 2)
#endif
#define MAX_FDS 8

SPANK_PLUGIN(gpyxis, 1);

/* A growing buffer of NUL-terminated KEY=VALUE records. */
struct buf {
	char *p;
	size_t len, cap;
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
} g = { .runtime = GPYXIS_RUNTIME };

static int buf_add(struct buf *b, const char *key, const char *val)
{
	size_t n = strlen(key) + 1 + strlen(val) + 1;
	if (b->len + n > b->cap) {
		size_t cap = (b->len + n) * 2;
		char *p = realloc(b->p, cap);
		if (p == NULL)
			return -1;
		b->p = p, b->cap = cap;
	}
	b->len += sprintf(b->p + b->len, "%s=%s", key, val) + 1;
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

/* child runs in the forked process: fd 3 is the socket, 1 and 2 the log. */
static void child(struct call *c, int sock, spank_t sp)
{
	sigset_t all;
	char path[PATH_MAX] = "PATH=/usr/local/bin:/usr/bin:/bin";
	char *argv[] = { "gpyxis-runtime", "spank", (char *)c->op, NULL };
	char *envp[] = { path, NULL };
	int null = open("/dev/null", O_RDONLY);

	if (getenv("PATH") != NULL)
		snprintf(path, sizeof(path), "PATH=%s", getenv("PATH"));
	if (null < 0 || dup2(null, 0) < 0 || dup2(c->logfd, 1) < 0 || dup2(c->logfd, 2) < 0 ||
	    dup2(sock, 3) < 0)
		_exit(126);
	/* slurmstepd runs at oom_score_adj -1000; an import must be killable. */
	int fd = open("/proc/self/oom_score_adj", O_WRONLY);
	if (fd >= 0)
		(void)!write(fd, "0", 1), close(fd);
	syscall(SYS_close_range, 4U, ~0U, 0U);
	/* Tasks may inherit blocked signals; exec keeps the mask. */
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	if (c->as_user && geteuid() == 0) {
		uid_t uid;
		gid_t gid, *gids = NULL;
		int n = 0;
		if (job_ids(sp, &uid, &gid) < 0) {
			fprintf(stderr, "cannot get the job's uid and gid\n");
			_exit(125);
		}
		if (spank_get_item(sp, S_JOB_SUPPLEMENTARY_GIDS, &gids, &n) != ESPANK_SUCCESS)
			n = 0;
		/* Groups first: after setreuid we could no longer change them. */
		if (setgroups(n, gids) < 0 || setregid(gid, gid) < 0 || setreuid(uid, uid) < 0) {
			fprintf(stderr, "cannot switch to uid %u gid %u: %s\n", uid, gid, strerror(errno));
			_exit(125);
		}
	}
	execve(g.runtime, argv, envp);
	fprintf(stderr, "cannot execute %s: %s\n", g.runtime, strerror(errno));
	_exit(127);
}

/* run forks the runtime, sends the request, collects the reply and waits.
 * Returns 0 if the runtime exited 0. */
static int run(struct call *c, spank_t sp, char **env)
{
	int sv[2];
	pid_t pid;
	char data[65536];
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int) * MAX_FDS)];
	} cm;

	c->nfds = 0;
	c->logfd = memfd_create("gpyxis-log", MFD_CLOEXEC);
	add_context(c, sp, env);
	if (c->logfd < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		slurm_error("gpyxis: cannot set up the runtime call: %m");
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		slurm_error("gpyxis: fork: %m");
		close(sv[0]), close(sv[1]);
		return -1;
	}
	if (pid == 0)
		child(c, sv[1], sp);
	close(sv[1]);
	/* The runtime reads the whole request before it answers: no deadlock. */
	for (size_t off = 0; off < c->req.len;) {
		ssize_t n = write(sv[0], c->req.p + off, c->req.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break; /* the child died; its status tells */
		off += n;
	}
	shutdown(sv[0], SHUT_WR);
	for (;;) {
		struct iovec iov = { data, sizeof(data) };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = cm.space, .msg_controllen = sizeof(cm.space) };
		ssize_t n = recvmsg(sv[0], &msg, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (struct cmsghdr *h = CMSG_FIRSTHDR(&msg); h != NULL; h = CMSG_NXTHDR(&msg, h)) {
			if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
				continue;
			int k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (int i = 0; i < k; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
				if (c->nfds < MAX_FDS)
					c->fds[c->nfds++] = fd;
				else
					close(fd);
			}
		}
		if (c->rep.len + n > c->rep.cap) {
			char *p = realloc(c->rep.p, (c->rep.len + n) * 2);
			if (p == NULL)
				break;
			c->rep.p = p, c->rep.cap = (c->rep.len + n) * 2;
		}
		memcpy(c->rep.p + c->rep.len, data, n), c->rep.len += n;
	}
	close(sv[0]);
	while (waitpid(pid, &c->status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0 ? 0 : -1;
}

/* messages prints the message records; on failure also the runtime's log. */
static void messages(struct call *c, int failed)
{
	for (size_t off = 0; off < c->rep.len; off += strlen(c->rep.p + off) + 1) {
		char *r = c->rep.p + off;
		if (memchr(r, '\0', c->rep.len - off) == NULL)
			break; /* a truncated last record */
		if (!strncmp(r, "error=", 6) || !strncmp(r, "warning=", 8))
			slurm_error("gpyxis: %s", strchr(r, '=') + 1);
		else if (!strncmp(r, "info=", 5))
			slurm_info("gpyxis: %s", r + 5);
		else if (!strncmp(r, "verbose=", 8))
			slurm_verbose("gpyxis: %s", r + 8);
		else if (!strncmp(r, "log=", 4))
			slurm_spank_log("gpyxis: %s", r + 4);
	}
	if (!failed)
		return;
	if (WIFSIGNALED(c->status))
		slurm_error("gpyxis: gpyxis-runtime terminated with signal %d", WTERMSIG(c->status));
	off_t size = lseek(c->logfd, 0, SEEK_END);
	if (size <= 0)
		return;
	char *log = mmap(NULL, size, PROT_READ, MAP_PRIVATE, c->logfd, 0);
	if (log == MAP_FAILED)
		return;
	slurm_error("gpyxis: printing gpyxis-runtime log:");
	for (char *s = log, *end = log + size; s < end;) {
		char *nl = memchr(s, '\n', end - s);
		int len = nl ? nl - s : end - s;
		slurm_error("gpyxis:     %.*s", len, s);
		s += len + 1;
	}
	munmap(log, size);
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
	size_t n = strlen(hex) / 2;
	unsigned char *prog = malloc(n ? n : 1);
	if (prog == NULL || n % sizeof(struct sock_filter) != 0) {
		free(prog);
		errno = EINVAL;
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		sscanf(hex + 2 * i, "%2hhx", &prog[i]);
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
	const char *dir = NULL, *seccomp = NULL;
	int fds_expected = 0;

	for (size_t off = 0; off < c->rep.len; off += strlen(c->rep.p + off) + 1) {
		char *r = c->rep.p + off;
		if (!strncmp(r, "fds=", 4))
			fds_expected = atoi(r + 4);
		else if (!strncmp(r, "chdir=", 6))
			dir = r + 6;
		else if (!strncmp(r, "seccomp=", 8))
			seccomp = r + 8;
	}
	if (fds_expected != c->nfds) {
		slurm_error("gpyxis: expected %d namespace fds from gpyxis-runtime, got %d", fds_expected, c->nfds);
		return -1;
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
	for (size_t off = 0; off < c->rep.len; off += strlen(c->rep.p + off) + 1) {
		char *r = c->rep.p + off, *eq;
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
		for (size_t off = 0; off < c.rep.len; off += strlen(c.rep.p + off) + 1) {
			if (!strcmp(c.rep.p + off, "enabled=1"))
				g.enabled = 1;
			else if (!strncmp(c.rep.p + off, "unmount=", 8))
				snprintf(g.unmount, sizeof(g.unmount), "%s", c.rep.p + off + 8);
			else if (!strncmp(c.rep.p + off, "remove=", 7))
				snprintf(g.remove, sizeof(g.remove), "%s", c.rep.p + off + 7);
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
