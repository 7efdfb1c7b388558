/*
 * fuzz_answers.h - what the targets that play a provider share
 * (fuzz_provider.c with a faked kz_http_do, fuzz_http.c over a real
 * socket): the tokens they present and the two ways they ask.
 */
#ifndef FUZZ_ANSWERS_H
#define FUZZ_ANSWERS_H

#include "fuzz_common.h"

/* An opaque token, an HS256 JWT that verifies (so revocation_check
 * reaches introspection), and an RS256 JWT whose kid is unknown (so the
 * JWKS is fetched). */
#define OPAQUE "opaque-token-0123456789abcdef0123456789"	/* >= 32 */
#define HS256_JWT \
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." \
	"eyJpc3MiOiJodHRwczovL2lkcC50ZXN0IiwiYXVkIjoiaG9zdC1mbGVldCIsInN1YiI6InUtYWxpY2UiLCJwcmVmZXJyZWRfdXNlcm5hbWUiOiJhbGljZSIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjoyMDAwMDAwMDAwLCJqdGkiOiJqMSJ9." \
	"SIG"
#define RS256_JWT \
	"eyJhbGciOiJSUzI1NiIsImtpZCI6Im5ldyJ9.eyJpc3MiOiJodHRwczovL2lkcC50ZXN0In0." \
	"AAAA"

static __attribute__((unused)) void
decide(kz_ctx *ctx, const char *tok, const char *service)
{
	kz_request req = { .token = tok, .token_len = strlen(tok),
		.user = "alice", .service = service };
	kz_result res;

	kz_decide(ctx, &req, &res);
	if (getenv("FUZZ_VERBOSE"))	/* to see what a seed reaches */
		fprintf(stderr, "decide: %s/%s %s\n",
		    kz_verdict_name(res.verdict), kz_reason_name(res.reason),
		    res.detail);
	kz_result_clear(&res);
}

static __attribute__((unused)) void
refresh(kz_ctx *ctx, const char *name)
{
	struct kz_enr e = { 0 };
	kz_result res = { 0 };

	e.name = strdup(name);
	e.provider = strdup("p");
	e.subject = strdup("ops-admins");
	e.group = true;
	e.refresh_token = strdup("refresh-token-0123456789");
	e.refresh_exp = FUZZ_NOW + 86400;
	(void)kz_refresh_once(ctx, kz_config_provider(ctx->cfg, "p"), &e, 0,
	    &res);
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "refresh: %s/%s %s\n",
		    kz_verdict_name(res.verdict), kz_reason_name(res.reason),
		    res.detail);
	kz_result_clear(&res);
	kz_enr_clear(&e);
}

#endif
