/*
 * cmd_doctor.c - `kztoken doctor [--json]`: one line per check, then
 * `all N checks ok` or `N problems found` (a warning is a problem to look
 * at too); non-zero exit (the worst verdict) when a check failed.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "kztoken.h"

struct tally {
	int checks, problems;
	json_t *list;		/* --json: the checks, else NULL */
};

static const char *const status_name[] = { "ok", "WARN", "FAIL" };

static void
on_check(void *arg, int status, const char *check, const char *detail)
{
	struct tally *t = arg;
	char c[64], d[1024];
	json_t *o;

	t->checks++;
	if (status != 0)
		t->problems++;
	if (t->list != NULL) {
		o = json_pack("{s:s, s:o*, s:o*}", "status", status == 0 ? "ok" :
		    status == 1 ? "warn" : "fail", "check", tool_json_str(check),
		    "detail", tool_json_str(detail));
		json_array_append_new(t->list, o);
		return;
	}
	printf("%-4s %-22s %s\n", status_name[status < 0 || status > 2 ? 2 :
	    status], kz_sanitize(c, sizeof(c), check, 0),
	    kz_sanitize(d, sizeof(d), detail, 0));
}

int
cmd_doctor(int argc, char **argv, const char *config)
{
	struct tally t = { 0 };
	char err[512];
	kz_ctx *ctx;
	kz_verdict v;
	bool json = argc == 2 && strcmp(argv[1], "--json") == 0;

	if (argc != 1 && !json) {
		fprintf(stderr, "usage: kztoken doctor [--json]\n");
		return EXIT_USAGE;
	}
	if (json)
		t.list = json_array();
	if (kz_ctx_open(&ctx, tool_config_path(config), err, sizeof(err)) !=
	    KZ_OK) {
		on_check(&t, 2, "config", err);
		v = EXIT_USAGE;
	} else {
		v = kz_doctor(ctx, on_check, &t);
		kz_ctx_close(ctx);
	}
	if (json) {
		json_t *o = json_pack("{s:o, s:i, s:i, s:b}", "checks", t.list,
		    "count", t.checks, "problems", t.problems, "ok",
		    t.problems == 0);

		tool_json_print(o);
		json_decref(o);
	} else if (t.problems == 0) {
		printf("all %d checks ok\n", t.checks);
	} else {
		printf("%d problem%s found\n", t.problems, t.problems == 1 ?
		    "" : "s");
	}
	return v;
}
