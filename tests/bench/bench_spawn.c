/*
 * bench_spawn.c - wall time of a whole fresh process, run COUNT times
 * (after 3 warm-up runs), with stdin from a file each time: the
 * `pamtester` login measurements of `make bench`.  Fails when any run
 * exits non-zero.
 *
 *   bench_spawn COUNT STDINFILE PROGRAM [ARGS...]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "bench_util.h"

int
main(int argc, char **argv)
{
	long n;
	double *t, sum = 0;

	if (argc < 4 || (n = atol(argv[1])) < 1)
		return 2;
	t = calloc((size_t)n, sizeof(*t));
	for (long i = -3; i < n; i++) {
		double a = now_s();
		int st;
		pid_t pid = fork();

		if (pid == 0) {
			int fd = open(argv[2], O_RDONLY);
			int null = open("/dev/null", O_WRONLY);

			if (fd < 0 || null < 0)
				_exit(126);
			dup2(fd, 0);
			dup2(null, 1);
			dup2(null, 2);
			execvp(argv[3], argv + 3);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &st, 0) != pid ||
		    !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "%s failed (status %d)\n", argv[3], st);
			return 1;
		}
		if (i >= 0) {
			t[i] = (now_s() - a) * 1e3;
			sum += t[i];
		}
	}
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	printf("mean_ms %.2f\np50_ms %.2f\np99_ms %.2f\n", sum / (double)n,
	    t[n / 2], t[(size_t)(n * 0.99)]);
	return 0;
}
