/*
 * cmd_list.c - `kztoken list`: every enrollment, its state and expiries.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "kztoken.h"

const char *
tool_when(int64_t t, char *buf, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL)
		snprintf(buf, n, "-");
	else
		strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static json_t *
info_json(const kz_enrollment_info *e)
{
	json_t *o = json_pack("{so so so so ss sI sI sI sI ss}",
	    "name", tool_json_str(e->name),
	    "provider", tool_json_str(e->provider),
	    "kind", tool_json_str(e->kind),
	    e->kind[0] == 'g' ? "group" : "user", tool_json_str(e->subject),
	    "state", kz_enr_state_name(e->state),
	    "refresh_token_expiry", (json_int_t)e->refresh_exp,
	    "access_token_expiry", (json_int_t)e->access_exp,
	    "enrolled_at", (json_int_t)e->enrolled_at,
	    "last_refresh", (json_int_t)e->last_refresh,
	    "refresh_token_fp", e->refresh_fp);

	if (o != NULL && e->endpoint_url[0])
		json_object_set_new(o, "endpoint_url",
		    tool_json_str(e->endpoint_url));
	if (o != NULL && e->message[0])
		json_object_set_new(o, "message", tool_json_str(e->message));
	return o;
}

/* For the table: every text field fit for the terminal. */
static void
clean_info(kz_enrollment_info *e)
{
	tool_clean(e->name);
	tool_clean(e->provider);
	tool_clean(e->kind);
	tool_clean(e->subject);
	tool_clean(e->refresh_fp);
	tool_clean(e->endpoint_url);
	tool_clean(e->message);
}

int
cmd_list(int argc, char **argv, const char *config)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	kz_enrollment_info *v = NULL;
	bool json = false;
	kz_result res;
	kz_ctx *ctx;
	size_t n = 0;
	int c, rc;
	char a[32], r[32];

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'j')
			goto usage;
		json = true;
	}
	if (optind != argc)
		goto usage;
	if ((ctx = tool_open(config)) == NULL)
		return EXIT_USAGE;
	rc = kz_enrollment_list(ctx, &v, &n, &res);
	if (rc != KZ_OK)
		fprintf(stderr, "kztoken list: %s\n", tool_clean(res.detail));
	if (json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, info_json(&v[i]));
		tool_json_print(arr);
		json_decref(arr);
	} else if (n == 0 && rc == KZ_OK) {
		printf("no enrollments in the store\n");
	} else {
		printf("%-16s %-5s %-16s %-10s %-8s %-20s %-20s\n", "NAME",
		    "KIND", "GROUP/USER", "PROVIDER", "STATE", "ACCESS-EXPIRES",
		    "REFRESH-EXPIRES");
		for (size_t i = 0; i < n; i++) {
			clean_info(&v[i]);
			printf("%-16s %-5s %-16s %-10s %-8s %-20s %-20s\n",
			    v[i].name, v[i].kind, v[i].subject, v[i].provider,
			    kz_enr_state_name(v[i].state),
			    tool_when(v[i].access_exp, a, sizeof(a)),
			    v[i].refresh_exp ? tool_when(v[i].refresh_exp, r,
			    sizeof(r)) : "unknown");
			if (v[i].message[0] && v[i].state != KZ_ENR_ACTIVE)
				printf("  %s: %s\n", v[i].name, v[i].message);
		}
	}
	free(v);
	kz_result_clear(&res);
	kz_ctx_close(ctx);
	return rc;
usage:
	fprintf(stderr, "usage: kztoken list [--json]\n");
	return EXIT_USAGE;
}
