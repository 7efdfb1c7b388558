/*
 * cmd_doctor.c - `kztoken doctor`: one line per check; non-zero exit
 * (the worst verdict) when something is wrong.
 */
#include <stdio.h>
#include <string.h>

#include "kztoken.h"

static void
on_check(void *arg, int status, const char *check, const char *detail)
{
	int *problems = arg;
	char c[64], d[1024];

	if (status == 2)
		(*problems)++;
	printf("%-4s %-22s %s\n", status == 0 ? "ok" : status == 1 ? "WARN" :
	    "FAIL", kz_sanitize(c, sizeof(c), check, 0),
	    kz_sanitize(d, sizeof(d), detail, 0));
}

int
cmd_doctor(int argc, char **argv, const char *config)
{
	char err[512];
	kz_ctx *ctx;
	int problems = 0;
	kz_verdict v;

	if (argc != 1) {
		fprintf(stderr, "usage: kztoken doctor\n");
		return EXIT_USAGE;
	}
	if (kz_ctx_open(&ctx, tool_config_path(config), err, sizeof(err)) !=
	    KZ_OK) {
		printf("%-4s %-22s %s\n", "FAIL", "config", tool_clean(err));
		return EXIT_USAGE;
	}
	v = kz_doctor(ctx, on_check, &problems);
	kz_ctx_close(ctx);
	if (problems > 0)
		printf("%d problem%s found\n", problems, problems == 1 ? "" : "s");
	return v;
}
