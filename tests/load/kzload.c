/*
 * kzload.c - many authentications at once, for tests/load: N worker
 * processes each open one context and decide their share of the cases,
 * checking every verdict and reason and the time each decision took.
 * Uses only the public API of libkzauth.so.0.
 *
 *   kzload CONFIG CASEFILE NPROC DEADLINE_MS token|round
 *
 * A case is one line "VERDICT REASON[|REASON...] USER|- TOKEN".  With
 * "token" every occurrence of a token goes to the same worker (so the
 * provider sees each token at most once while cached); with "round" the
 * cases are dealt out in turn.  Prints one line per wrong or slow
 * decision, then "decisions N wrong N slow N crashed N max_ms X", and
 * exits 1 when anything went wrong.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "kzauth.h"

struct kcase {
	char *verdict, *reasons, *user, *token;
};

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static unsigned
hash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static int
reason_ok(const char *list, const char *r)
{
	size_t n = strlen(r);

	for (const char *p = list; p && *p; p = strchr(p, '|') ? strchr(p, '|') + 1 : NULL)
		if (strncmp(p, r, n) == 0 && (p[n] == '|' || p[n] == '\0'))
			return 1;
	return 0;
}

/* One worker: its cases, a line per problem, a summary line. */
static int
work(const char *config, struct kcase *c, size_t n, int w, int nproc,
    int by_token, double deadline, FILE *out)
{
	char err[512];
	kz_ctx *ctx;
	long done = 0, wrong = 0, slow = 0;
	double max = 0;

	if (kz_ctx_open(&ctx, config, err, sizeof(err)) != KZ_OK) {
		fprintf(out, "worker %d: %s\n", w, err);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned who = by_token ? hash(c[i].token) % (unsigned)nproc :
		    (unsigned)(i % (size_t)nproc);
		kz_request req = { .token = c[i].token,
			.token_len = strlen(c[i].token),
			.user = strcmp(c[i].user, "-") ? c[i].user : NULL,
			.service = "default", .log_service = "load" };
		kz_result res;
		double t;

		if (who != (unsigned)w)
			continue;
		t = now_ms();
		kz_decide(ctx, &req, &res);
		t = now_ms() - t;
		done++;
		if (t > max)
			max = t;
		if (strcmp(kz_verdict_name(res.verdict), c[i].verdict) != 0 ||
		    !reason_ok(c[i].reasons, kz_reason_name(res.reason))) {
			wrong++;
			fprintf(out, "WRONG case %zu fp=%s: want %s/%s, got "
			    "%s/%s (%s)\n", i + 1, res.fp, c[i].verdict,
			    c[i].reasons, kz_verdict_name(res.verdict),
			    kz_reason_name(res.reason), res.detail);
		}
		if (t > deadline) {
			slow++;
			fprintf(out, "SLOW case %zu fp=%s: %.0f ms (%s)\n",
			    i + 1, res.fp, t, res.detail);
		}
		kz_result_clear(&res);
	}
	kz_ctx_close(ctx);
	fprintf(out, "SUM %ld %ld %ld %.1f\n", done, wrong, slow, max);
	return 0;
}

int
main(int argc, char **argv)
{
	struct kcase *c = NULL;
	size_t n = 0, cap = 0;
	char line[20000];
	int nproc, crashed = 0;
	long done = 0, wrong = 0, slow = 0;
	double deadline, max = 0;
	FILE *f, *tmp;

	if (argc != 6 || (f = fopen(argv[2], "r")) == NULL) {
		fprintf(stderr, "usage: kzload CONFIG CASEFILE NPROC "
		    "DEADLINE_MS token|round\n");
		return 2;
	}
	nproc = atoi(argv[3]);
	deadline = atof(argv[4]);
	while (fgets(line, sizeof(line), f)) {
		char *save = NULL, *v = strtok_r(line, " \n", &save),
		    *r = strtok_r(NULL, " \n", &save),
		    *u = strtok_r(NULL, " \n", &save),
		    *t = strtok_r(NULL, "\n", &save);

		if (v == NULL || r == NULL || u == NULL || t == NULL)
			continue;
		if (n == cap && (c = realloc(c, (cap = cap ? 2 * cap : 256) *
		    sizeof(*c))) == NULL)
			return 2;
		c[n].verdict = strdup(v);
		c[n].reasons = strdup(r);
		c[n].user = strdup(u);
		c[n].token = strdup(t);
		n++;
	}
	fclose(f);
	explicit_bzero(line, sizeof(line));
	/* Workers write their reports to one temp file, a line at a time. */
	if ((tmp = tmpfile()) == NULL)
		return 2;
	setvbuf(tmp, NULL, _IOLBF, 0);
	for (int w = 0; w < nproc; w++) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(work(argv[1], c, n, w, nproc,
			    strcmp(argv[5], "token") == 0, deadline, tmp));
		if (pid < 0)
			return 2;
	}
	for (int st, w = 0; w < nproc; w++) {
		if (wait(&st) < 0)
			break;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			crashed++;
			fprintf(stdout, "CRASH worker status %d%s\n", st,
			    WIFSIGNALED(st) ? " (signal)" : "");
		}
	}
	rewind(tmp);
	while (fgets(line, sizeof(line), tmp)) {
		long d, wr, sl;
		double mx;

		if (sscanf(line, "SUM %ld %ld %ld %lf", &d, &wr, &sl, &mx) == 4) {
			done += d;
			wrong += wr;
			slow += sl;
			if (mx > max)
				max = mx;
		} else {
			fputs(line, stdout);
		}
	}
	printf("decisions %ld wrong %ld slow %ld crashed %d max_ms %.0f\n",
	    done, wrong, slow, crashed, max);
	return done != (long)n || wrong || slow || crashed;
}
