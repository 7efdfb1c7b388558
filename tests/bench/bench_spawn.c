/*
 * bench_spawn.c - wall time of whole fresh processes: the `pamtester`
 * login rows of `make bench`.  Several commands are run in turns, one
 * run of each per round, COUNT rounds after 3 warm-up rounds, so that a
 * neighbour's burst or a drift of the machine lands on all of them alike:
 * run one after the other, two 200-run series of the same command moved
 * by 30% on a shared machine, and a difference of two such series (the
 * module's own cost) by more than the cost itself.  Each command gets its
 * stdin from a file and may set environment variables.  Fails when any
 * run exits non-zero.
 *
 *   bench_spawn COUNT LABEL STDINFILE [VAR=VALUE...] PROGRAM [ARGS...]
 *                    [:: LABEL STDINFILE [VAR=VALUE...] PROGRAM [ARGS...]]...
 *
 * Prints LABEL_mean_ms, LABEL_p50_ms and LABEL_p99_ms for each command.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "bench_util.h"

#define MAX_CMDS 16

struct cmd {
	const char *label, *input;
	char **env;		/* VAR=VALUE words, up to prog */
	char **prog;		/* PROGRAM ARGS..., NULL-terminated */
	double *t, sum;
};

/* Splits argv at "::" into commands; each part is cut off with NULL. */
static int
parse(int argc, char **argv, struct cmd *c, int max)
{
	int n = 0;

	for (int i = 0; i < argc; n++) {
		if (n == max || argc - i < 3)
			return -1;
		c[n].label = argv[i];
		c[n].input = argv[i + 1];
		c[n].env = argv + i + 2;
		for (i += 2; i < argc && strchr(argv[i], '=') != NULL; i++)
			;
		c[n].prog = argv + i;
		for (; i < argc && strcmp(argv[i], "::") != 0; i++)
			;
		if (c[n].prog == argv + i)	/* no PROGRAM */
			return -1;
		if (i < argc)
			argv[i++] = NULL;
	}
	return n;
}

/* One run of c, in milliseconds; < 0 when it did not exit 0. */
static double
run(const struct cmd *c)
{
	double a = now_s();
	int st;
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(c->input, O_RDONLY);
		int null = open("/dev/null", O_WRONLY);

		if (fd < 0 || null < 0)
			_exit(126);
		dup2(fd, 0);
		dup2(null, 1);
		dup2(null, 2);
		for (char **e = c->env; e < c->prog; e++)
			putenv(*e);
		execvp(c->prog[0], c->prog);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid ||
	    !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "%s: %s failed (status %d)\n", c->label,
		    c->prog[0], st);
		return -1;
	}
	return (now_s() - a) * 1e3;
}

int
main(int argc, char **argv)
{
	struct cmd c[MAX_CMDS];
	long n;
	int k;

	if (argc < 5 || (n = atol(argv[1])) < 1 ||
	    (k = parse(argc - 2, argv + 2, c, MAX_CMDS)) < 1) {
		fprintf(stderr, "usage: see the comment at the top of bench_spawn.c\n");
		return 2;
	}
	for (int j = 0; j < k; j++) {
		c[j].sum = 0;
		if ((c[j].t = calloc((size_t)n, sizeof(double))) == NULL)
			return 1;
	}
	for (long i = -3; i < n; i++)
		for (int j = 0; j < k; j++) {
			double ms = run(&c[j]);

			if (ms < 0)
				return 1;
			if (i >= 0) {
				c[j].t[i] = ms;
				c[j].sum += ms;
			}
		}
	for (int j = 0; j < k; j++) {
		qsort(c[j].t, (size_t)n, sizeof(double), cmp_double);
		printf("%s_mean_ms %.2f\n%s_p50_ms %.2f\n%s_p99_ms %.2f\n",
		    c[j].label, c[j].sum / (double)n, c[j].label, c[j].t[n / 2],
		    c[j].label, c[j].t[(size_t)((double)n * 0.99)]);
	}
	return 0;
}
