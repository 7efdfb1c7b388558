/*
 * cmd_enroll.c - `kztoken enroll` and `kztoken revoke`.
 *
 * The refresh token comes from a file or stdin, never argv (where any
 * user could read it in /proc/PID/cmdline); on a terminal it is read
 * without echo.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "kztoken.h"

#define RT_MAX (16 * 1024)

/* One line from the terminal with echo off. */
static char *
read_tty_secret(void)
{
	struct termios old, quiet;
	char *buf = calloc(1, RT_MAX + 2);
	size_t n = 0;
	int c;

	if (buf == NULL)
		return NULL;
	fprintf(stderr, "Refresh token (not echoed): ");
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	while ((c = getchar()) != EOF && c != '\n' && n <= RT_MAX)
		buf[n++] = (char)c;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fputc('\n', stderr);
	if (n > RT_MAX) {
		explicit_bzero(buf, RT_MAX + 2);
		free(buf);
		return NULL;
	}
	while (n > 0 && (buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return buf;
}

int
cmd_enroll(int argc, char **argv, const char *config)
{
	static const struct option opts[] = {
		{ "provider", required_argument, NULL, 'p' },
		{ "group", required_argument, NULL, 'g' },
		{ "user", required_argument, NULL, 'u' },
		{ "refresh-token-file", required_argument, NULL, 'f' },
		{ "force", no_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};
	const char *provider = NULL, *group = NULL, *user = NULL, *file = NULL;
	unsigned flags = 0;
	kz_result res;
	kz_ctx *ctx;
	char *rt;
	size_t len;
	int c, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p': provider = optarg; break;
		case 'g': group = optarg; break;
		case 'u': user = optarg; break;
		case 'f': file = optarg; break;
		case 'F': flags |= KZ_ENROLL_FORCE; break;
		default: goto usage;
		}
	}
	if (optind + 1 != argc || (group == NULL) == (user == NULL)) {
		if (optind + 1 < argc)
			fprintf(stderr, "kztoken enroll: one NAME only; the "
			    "refresh token is read from --refresh-token-file "
			    "or stdin, never the command line\n");
		goto usage;
	}
	if ((ctx = tool_open(config)) == NULL)
		return EXIT_USAGE;
	if (file == NULL && isatty(STDIN_FILENO))
		rt = read_tty_secret();
	else
		rt = tool_read_secret(file, RT_MAX, &len);
	if (rt == NULL || *rt == '\0') {
		fprintf(stderr, "kztoken enroll: no refresh token read from "
		    "%s\n", file ? file : "stdin");
		kz_free_secret(rt);
		kz_ctx_close(ctx);
		return EXIT_USAGE;
	}
	rc = kz_enroll(ctx, argv[optind], provider, group != NULL,
	    group ? group : user, rt, flags, &res);
	kz_free_secret(rt);
	if (rc == KZ_OK) {
		kz_enrollment_info info;
		kz_result r2;

		if (kz_enrollment_get(ctx, argv[optind], &info, &r2) == KZ_OK &&
		    tool_clean(info.name) && tool_clean(info.kind) &&
		    tool_clean(info.subject) && tool_clean(info.provider))
			printf("enrolled %s: %s %s, provider %s, refresh token "
			    "fp=%s, state %s\n", info.name, info.kind,
			    info.subject, info.provider, info.refresh_fp,
			    kz_enr_state_name(info.state));
		kz_result_clear(&r2);
	} else {
		fprintf(stderr, "kztoken enroll: %s\n", tool_clean(res.detail));
	}
	kz_result_clear(&res);
	kz_ctx_close(ctx);
	return rc;
usage:
	fprintf(stderr, "usage: kztoken enroll NAME [--provider P] "
	    "(--group G | --user U) [--refresh-token-file F] [--force]\n");
	return EXIT_USAGE;
}

int
cmd_revoke(int argc, char **argv, const char *config)
{
	static const struct option opts[] = {
		{ "local-only", no_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	int local = 0, c, rc;
	kz_result res;
	kz_ctx *ctx;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'l')
			goto usage;
		local = 1;
	}
	if (optind + 1 != argc)
		goto usage;
	if ((ctx = tool_open(config)) == NULL)
		return EXIT_USAGE;
	rc = kz_enrollment_revoke(ctx, argv[optind], local, &res);
	if (rc == KZ_OK)
		printf("removed %s: %s\n", tool_clean(argv[optind]),
		    tool_clean(res.detail));
	else
		fprintf(stderr, "kztoken revoke: %s\n", tool_clean(res.detail));
	kz_result_clear(&res);
	kz_ctx_close(ctx);
	return rc;
usage:
	fprintf(stderr, "usage: kztoken revoke NAME [--local-only]\n");
	return EXIT_USAGE;
}
