/*
 * cmd_check.c - `kztoken check`: the whole pipeline on a token read from
 * stdin; --explain prints every step, and only the fingerprint.  With
 * --device, the token comes from a login with a browser (RFC 8628), as
 * pam_kztoken's device_flow gets it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "kztoken.h"

struct explain {
	bool on;
	json_t *steps;
};

static void
on_step(void *arg, const char *step, int ok, const char *detail)
{
	struct explain *e = arg;
	char clean[512];

	if (e->steps != NULL)
		json_array_append_new(e->steps, json_pack("{ss ss so*}", "step",
		    step, "result", ok > 0 ? "pass" : ok == 0 ? "fail" : "info",
		    "detail", tool_json_str(detail)));
	if (e->on)
		printf("  %-14s %-4s %s\n", step, ok > 0 ? "pass" : ok == 0 ?
		    "FAIL" : "info", kz_sanitize(clean, sizeof(clean), detail,
		    0));
}

static json_t *
names(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, tool_json_str(v[i]));
	return a;
}

/* The device flow at a terminal: the instructions on stderr, Enter on
 * stdin, then the poll and the decision of the token it brings. */
static void
device_check(kz_ctx *ctx, const kz_request *req, kz_result *res)
{
	kz_device *dev = NULL;
	char line[256];

	if (kz_device_start(ctx, req, &dev, res) != KZ_OK)
		return;
	fputs(kz_device_prompt(dev), stderr);
	fflush(stderr);
	if (fgets(line, sizeof(line), stdin) == NULL) {
		kz_device_free(dev);
		kz_result_clear(res);
		/* no Enter, no poll: nothing was decided */
		res->verdict = KZ_UNAUTHENTICATED;
		res->reason = KZ_R_NONE;
		snprintf(res->detail, sizeof(res->detail), "no Enter on stdin");
		return;
	}
	kz_result_clear(res);
	kz_device_poll(ctx, dev, req, res);
	kz_device_free(dev);
}

static void
print_json(const kz_result *r, json_t *steps)
{
	json_t *o = json_pack("{ss ss ss so so* so* so* so* so* so so sI}",
	    "verdict", kz_verdict_name(r->verdict),
	    "reason", kz_reason_name(r->reason),
	    "fingerprint", r->fp, "detail", tool_json_str(r->detail),
	    "user", tool_json_str(r->id.user), "sub", tool_json_str(r->id.sub),
	    "iss", tool_json_str(r->id.iss), "kid", tool_json_str(r->id.kid),
	    "provider", tool_json_str(r->id.provider),
	    "groups", names(r->id.groups, r->id.ngroups),
	    "scopes", names(r->id.scopes, r->id.nscopes),
	    "exp", (json_int_t)r->id.exp);

	if (o != NULL && steps != NULL)
		json_object_set(o, "steps", steps);
	tool_json_print(o);
	json_decref(o);
}

int
cmd_check(int argc, char **argv, const char *config)
{
	static const struct option opts[] = {
		{ "service", required_argument, NULL, 's' },
		{ "user", required_argument, NULL, 'u' },
		{ "explain", no_argument, NULL, 'e' },
		{ "json", no_argument, NULL, 'j' },
		{ "device", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	struct explain ex = { 0 };
	const char *service = "default", *user = NULL;
	bool json = false, device = false;
	kz_request req = { 0 };
	kz_result res;
	kz_ctx *ctx;
	char *tok = NULL;
	size_t len = 0;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': service = optarg; break;
		case 'u': user = optarg; break;
		case 'e': ex.on = true; break;
		case 'j': json = true; break;
		case 'd': device = true; break;
		default:
			fprintf(stderr, "usage: kztoken check [--service S] "
			    "[--user U] [--explain] [--json] [--device] < token"
			    "\n");
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "kztoken check: the token is read from stdin, "
		    "never from the command line\n");
		return EXIT_USAGE;
	}
	if ((ctx = tool_open(config)) == NULL)
		return EXIT_USAGE;
	/* Read up to the cap plus one, so an over-long token is reported as
	 * too_long by the pipeline, not silently cut. */
	if (!device)
		tok = tool_read_secret(NULL, kz_ctx_max_token_length(ctx) + 1,
		    &len);
	if (!device && tok == NULL) {
		fprintf(stderr, "kztoken check: token on stdin is longer than "
		    "max_token_length (%zu)\n", kz_ctx_max_token_length(ctx));
		kz_ctx_close(ctx);
		return KZ_UNAUTHENTICATED;
	}
	if (json && ex.on)
		ex.steps = json_array();
	if (ex.on || json) {
		if (json)
			ex.on = false;
		kz_ctx_set_trace(ctx, on_step, &ex);
	}
	if (ex.on) {
		char s1[128], s2[128];

		printf("kztoken check: service %s, user %s\n",
		    kz_sanitize(s1, sizeof(s1), service, 1),
		    kz_sanitize(s2, sizeof(s2), user ? user : "(any)", 1));
	}
	/* What a paste from an HTTP header or an empty pipe looks like:
	 * say so rather than let it be one more "malformed". */
	if (!device && len == 0)
		fprintf(stderr, "kztoken check: no token on stdin\n");
	if (len > 7 && strncasecmp(tok, "Bearer ", 7) == 0) {
		fprintf(stderr, "kztoken check: ignoring the \"Bearer \" in "
		    "front of the token (an Authorization header's prefix)\n");
		memmove(tok, tok + 7, len - 7 + 1);
		len -= 7;
	}
	req.token = tok;
	req.token_len = len;
	req.user = user;
	req.service = service;
	req.flags = KZ_REQ_VIA_CHECK;	/* never taken for a login */
	if (device)
		device_check(ctx, &req, &res);
	else
		kz_decide(ctx, &req, &res);
	if (json) {
		print_json(&res, ex.steps);
	} else {
		printf("%s%s reason=%s fp=%s user=%s%s%s\n", ex.on ? "\n" : "",
		    kz_verdict_name(res.verdict), kz_reason_name(res.reason),
		    res.fp, res.id.user ? tool_clean(res.id.user) : "-",
		    res.detail[0] ? ": " : "", tool_clean(res.detail));
	}
	json_decref(ex.steps);
	c = (int)res.verdict;
	kz_result_clear(&res);
	kz_free_secret(tok);
	kz_ctx_close(ctx);
	return c;
}
