/*
 * guardian.c - a refresh that nobody can cut off halfway.
 *
 * Between the provider's answer and the store write, a provider that
 * rotates refresh tokens without a grace period holds the only live
 * refresh token of the enrollment in our memory: a process killed then
 * loses the enrollment for good.  And the processes that refresh are the
 * easiest to kill: sudo, whose invoking user may signal it (its real uid is
 * the user's), and sshd's PAM child, which sshd terminates when the client
 * hangs up.  So a refresh runs in a worker process of its own:
 *
 *  - a new session, and every uid and gid root when we are root, so that
 *    neither the terminal nor the invoking user can signal it;
 *  - SIGTERM, SIGHUP, SIGINT, SIGQUIT and SIGPIPE ignored (in the worker
 *    only: the host process's signal handling is never touched);
 *  - it inherits the enrollment's lock (the same open file) and holds it
 *    until the store is written, whatever happens to the caller;
 *  - a double fork: the worker is reparented to init, so the host process
 *    is left no child of ours to reap;
 *  - libcurl connections of its own: the caller's are left untouched.
 *
 * The caller either waits for the outcome (bounded by its deadline) or,
 * when it holds a still valid access token, goes on at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

struct outcome {
	kz_verdict verdict;
	kz_reason reason;
	char detail[sizeof(((kz_result *)0)->detail)];
};

/* In the worker: beyond the reach of the caller's signals. */
static void
detach(kz_ctx *ctx)
{
	static const int deaf[] = { SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGPIPE,
		SIGTSTP, SIGTTIN, SIGTTOU };

	(void)setsid();
	/* Should this fail, the worker stays in reach of the invoking
	 * user, as the caller was; the refresh itself still runs. */
	if (geteuid() == 0 && (setgroups(0, NULL) != 0 ||
	    setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0))
		kz_debug(ctx, "refresh worker: could not take every uid");
	for (size_t i = 0; i < KZ_NELEM(deaf); i++)
		(void)signal(deaf[i], SIG_IGN);
}

static void
work(kz_ctx *ctx, kz_guard_fn fn, void *arg, int out)
{
	struct outcome o = { 0 };
	kz_result res = { 0 };
	ssize_t n;

	detach(ctx);
	/* The caller's libcurl handle and its live connections stay the
	 * caller's: a TLS stream used on both sides of a fork breaks. */
	ctx->http = NULL;
	o.verdict = fn(ctx, arg, &res);
	o.reason = res.reason;
	snprintf(o.detail, sizeof(o.detail), "%s", res.detail);
	do
		n = write(out, &o, sizeof(o));
	while (n < 0 && errno == EINTR);
	_exit(0);
}

/* Milliseconds the caller waits for the worker's outcome. */
static int
patience(kz_ctx *ctx, bool own_caller)
{
	long ms = ctx->deadline_ms != 0 ? kz_deadline_left(ctx) :
	    ctx->cfg->timeout * 1000L;

	/* a caller of its own (the CLI) allows for a short Retry-After */
	return (int)(ms + (own_caller ? 60000 : 1000));
}

static kz_verdict
await(kz_ctx *ctx, int in, bool own_caller, kz_result *res)
{
	struct pollfd pfd = { .fd = in, .events = POLLIN };
	int64_t until = kz_monotonic_ms() + patience(ctx, own_caller);
	struct outcome o;
	ssize_t n;

	for (;;) {
		int64_t left = until - kz_monotonic_ms();
		int rc;

		if (left <= 0)
			return kz_set(res, KZ_UNAVAILABLE, KZ_R_TIMEOUT, "the "
			    "refresh did not end within the deadline; it goes "
			    "on in the background");
		rc = poll(&pfd, 1, (int)left);
		if (rc > 0)
			break;
		if (rc < 0 && errno != EINTR)
			return kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "waiting for "
			    "the refresh: %s", strerror(errno));
	}
	do
		n = read(in, &o, sizeof(o));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(o))
		return kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR, "the "
		    "refresh ended without an outcome");
	o.detail[sizeof(o.detail) - 1] = '\0';
	return kz_set(res, o.verdict, o.reason, "%s", o.detail);
}

kz_verdict
kz_guard_run(kz_ctx *ctx, kz_guard_fn fn, void *arg, bool wait,
    bool own_caller, kz_result *res)
{
	int fds[2];
	pid_t pid;
	kz_verdict v;

	if (pipe2(fds, O_CLOEXEC) != 0)
		return fn(ctx, arg, res);	/* in-process, as before */
	if ((pid = fork()) < 0) {
		close(fds[0]);
		close(fds[1]);
		return fn(ctx, arg, res);
	}
	if (pid == 0) {
		pid_t worker;

		close(fds[0]);
		(void)setsid();
		/* the middle process exits at once; if the second fork
		 * fails, it does the work itself */
		if ((worker = fork()) > 0)
			_exit(0);
		work(ctx, fn, arg, fds[1]);
	}
	close(fds[1]);
	/* The host process may reap children itself (sshd does): then
	 * there is nothing left to wait for here. */
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	if (!wait) {
		close(fds[0]);
		return kz_set(res, KZ_OK, KZ_R_NONE, "refresh started in the "
		    "background");
	}
	v = await(ctx, fds[0], own_caller, res);
	close(fds[0]);
	return v;
}
