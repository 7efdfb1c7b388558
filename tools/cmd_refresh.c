/*
 * cmd_refresh.c - `kztoken refresh` (what the systemd timer runs) and
 * `kztoken token` (a valid access token for scripts).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kztoken.h"

/* Refreshes one enrollment and says what happened; returns the verdict. */
static kz_verdict
refresh_one(kz_ctx *ctx, const char *name, unsigned flags, bool progress)
{
	kz_enrollment_info after;
	kz_result res, r2 = { 0 };
	kz_verdict v;
	char when[32];

	char shown[80];

	v = kz_enrollment_refresh(ctx, name, flags, &res);
	kz_sanitize(shown, sizeof(shown), name, 0);
	tool_clean(res.detail);
	if (progress)
		fprintf(stderr, "\r\033[K");	/* clear the progress line */
	if (v != KZ_OK) {
		fprintf(stderr, "kztoken refresh: %s: %s\n", shown, res.detail);
	} else if (kz_enrollment_get(ctx, name, &after, &r2) == KZ_OK) {
		printf("%s: %s, access token valid until %s\n", shown,
		    res.detail, tool_when(after.access_exp, when, sizeof(when)));
	}
	kz_result_clear(&r2);
	kz_result_clear(&res);
	return v;
}

int
cmd_refresh(int argc, char **argv, const char *config)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "if-due", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	kz_enrollment_info *v = NULL;
	bool all = false, progress;
	unsigned flags = 0;
	kz_verdict worst = KZ_OK, one;
	kz_result res;
	kz_ctx *ctx;
	size_t n = 0;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a': all = true; break;
		case 'd': flags |= KZ_REFRESH_IF_DUE; break;
		default: goto usage;
		}
	}
	if (all ? optind != argc : optind + 1 != argc)
		goto usage;
	if ((ctx = tool_open(config)) == NULL)
		return EXIT_USAGE;
	if (!all) {
		worst = refresh_one(ctx, argv[optind], flags, false);
		kz_ctx_close(ctx);
		return worst;
	}
	if ((worst = kz_enrollment_list(ctx, &v, &n, &res)) != KZ_OK)
		fprintf(stderr, "kztoken refresh: %s\n", tool_clean(res.detail));
	kz_result_clear(&res);
	progress = tool_is_tty() && n > 1;
	for (size_t i = 0; i < n; i++) {
		if (progress) {
			fprintf(stderr, "\r\033[K[%zu/%zu] refreshing %s ...",
			    i + 1, n, tool_clean(v[i].name));
			fflush(stderr);
		}
		one = refresh_one(ctx, v[i].name, flags, progress);
		if (one > worst)
			worst = one;
	}
	if (n == 0 && worst == KZ_OK)
		printf("no enrollments in the store\n");
	free(v);
	kz_ctx_close(ctx);
	return worst;
usage:
	fprintf(stderr, "usage: kztoken refresh [NAME | --all] [--if-due]\n");
	return EXIT_USAGE;
}

int
cmd_token(int argc, char **argv, const char *config)
{
	kz_result res;
	kz_ctx *ctx;
	char *tok = NULL;
	int rc;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: kztoken token NAME\n");
		return EXIT_USAGE;
	}
	if ((ctx = tool_open(config)) == NULL)
		return EXIT_USAGE;
	rc = kz_enrollment_token(ctx, argv[1], 0, &tok, &res);
	if (rc == KZ_OK) {
		printf("%s\n", tok);
		fflush(stdout);
	} else {
		fprintf(stderr, "kztoken token: %s\n", tool_clean(res.detail));
	}
	kz_free_secret(tok);
	kz_result_clear(&res);
	kz_ctx_close(ctx);
	return rc;
}
