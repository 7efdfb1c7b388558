/*
 * test_remote.c - opaque tokens checked by the provider: introspection
 * (RFC 7662) and tokeninfo, the decision cache, offline_grace, revocation
 * of JWTs by introspection, and every way a provider can misbehave.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kztest.h"

static kz_ctx *ctx;

static int
setup(void **state)
{
	(void)state;
	kzt_fault("none", NULL);
	/* cache_ttl 0: every decision asks the provider unless a test
	 * opens its own context with caching */
	ctx = kzt_ctx("remote", "validation = introspect\n"
	    "[kztoken]\ncache_ttl = 0\nnegative_cache_ttl = 0\n"
	    "[service sudo]\nrequire_group = ops-admins\n");
	return ctx == NULL;
}

static int
teardown(void **state)
{
	(void)state;
	kzt_fault("none", NULL);
	kz_ctx_close(ctx);
	return 0;
}

static int
clear_faults(void **state)
{
	(void)state;
	kzt_fault("none", NULL);
	return 0;
}

static void
decide_opaque(kz_ctx *c, const char *opaque_json, const char *user,
    const char *service, kz_verdict v, kz_reason r)
{
	char *tok = kzt_opaque(opaque_json);
	kz_result res;

	assert_non_null(tok);
	kzt_decide(c, tok, user, service, &res);
	assert_decision(&res, v, r);
	kz_result_clear(&res);
	free(tok);
}

static void
introspection(void **state)
{
	char *tok = kzt_opaque("{\"username\":\"alice\",\"groups\":[\"ops-admins\"],"
	    "\"scope\":\"openid login\"}");
	kz_result res;

	(void)state;
	kzt_decide(ctx, tok, "alice", "sudo", &res);
	assert_decision(&res, KZ_OK, KZ_R_NONE);
	assert_int_equal(res.id.source, KZ_SRC_INTROSPECT);
	assert_string_equal(res.id.user, "alice");
	assert_int_equal(res.id.ngroups, 1);
	assert_int_equal(res.id.nscopes, 2);
	kz_result_clear(&res);
	/* revoked at the provider: inactive from then on */
	{
		char body[256];

		snprintf(body, sizeof(body), "{\"token\":\"%s\"}", tok);
		free(kzt_idp("POST", "/test/revoke", body));
	}
	kzt_decide(ctx, tok, "alice", "sudo", &res);
	assert_decision(&res, KZ_UNAUTHENTICATED, KZ_R_INACTIVE);
	kz_result_clear(&res);
	free(tok);
	decide_opaque(ctx, "{\"username\":\"alice\",\"active\":false}", "alice",
	    NULL, KZ_UNAUTHENTICATED, KZ_R_INACTIVE);
	decide_opaque(ctx, "{\"username\":\"bob\"}", "alice", NULL,
	    KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH);
	decide_opaque(ctx, "{\"username\":\"alice\",\"groups\":[\"devs\"]}",
	    "alice", "sudo", KZ_FORBIDDEN, KZ_R_MISSING_GROUP);
	/* a refresh token is never a login */
	decide_opaque(ctx, "{\"username\":\"alice\",\"token_type\":"
	    "\"refresh_token\"}", "alice", NULL, KZ_UNAUTHENTICATED,
	    KZ_R_WRONG_TOKEN_TYPE);
	/* unknown to the provider */
	{
		kz_result r2;

		kzt_decide(ctx, "ThisTokenWasNeverIssuedByAnyone0123456789",
		    "alice", NULL, &r2);
		assert_decision(&r2, KZ_UNAUTHENTICATED, KZ_R_INACTIVE);
		kz_result_clear(&r2);
	}
}

static void
introspection_expiry(void **state)
{
	char j[200];

	(void)state;
	/* the provider still says active, but exp has passed: we check */
	snprintf(j, sizeof(j), "{\"username\":\"alice\",\"exp\":%ld}",
	    (long)time(NULL) - 3600);
	decide_opaque(ctx, j, "alice", NULL, KZ_UNAUTHENTICATED,
	    KZ_R_INACTIVE);
}

static void
wrong_client_secret(void **state)
{
	char extra[600], path[512];
	FILE *f;
	kz_ctx *c;

	(void)state;
	snprintf(path, sizeof(path), "%s/wrong.secret", kzt_dir());
	f = fopen(path, "w");
	fputs("not-the-secret\n", f);
	fclose(f);
	snprintf(extra, sizeof(extra), "validation = introspect\n"
	    "client_secret_file = %s\n", path);
	c = kzt_ctx("remote-badsecret", extra);
	decide_opaque(c, "{\"username\":\"alice\"}", "alice", NULL, KZ_ERROR,
	    KZ_R_CONFIG);
	kz_ctx_close(c);
}

static void
tokeninfo(void **state)
{
	const char *headers[] = { "Authorization", "X-Auth-Token",
		"accessToken" };

	(void)state;
	for (size_t i = 0; i < KZ_NELEM(headers); i++) {
		char extra[300], name[32];
		kz_ctx *c;

		snprintf(extra, sizeof(extra), "validation = tokeninfo\n"
		    "tokeninfo_url = %s/tokeninfo\ntokeninfo_header = %s\n"
		    "[kztoken]\ncache_ttl = 0\nnegative_cache_ttl = 0\n"
		    "[service sudo]\nrequire_group = ops-admins\n",
		    kzt_idp_url(), headers[i]);
		snprintf(name, sizeof(name), "tokeninfo-%zu", i);
		c = kzt_ctx(name, extra);
		decide_opaque(c, "{\"username\":\"alice\",\"groups\":"
		    "[\"ops-admins\"]}", "alice", "sudo", KZ_OK, KZ_R_NONE);
		decide_opaque(c, "{\"username\":\"alice\",\"groups\":[\"devs\"]}",
		    "alice", "sudo", KZ_FORBIDDEN, KZ_R_MISSING_GROUP);
		decide_opaque(c, "{\"username\":\"alice\",\"active\":false}",
		    "alice", NULL, KZ_UNAUTHENTICATED, KZ_R_INACTIVE);
		/* a 403 that names nobody proves nothing about whose
		 * token it is: a 401, never a FORBIDDEN that could pass
		 * authentication */
		decide_opaque(c, "{\"username\":\"alice\",\"tokeninfo_status\":403}",
		    "alice", NULL, KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH);
		decide_opaque(c, "{\"username\":\"alice\",\"tokeninfo_status\":403}",
		    "root", NULL, KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH);
		decide_opaque(c, "{\"username\":\"alice\",\"tokeninfo_status\":404}",
		    "alice", NULL, KZ_UNAUTHENTICATED, KZ_R_INACTIVE);
		decide_opaque(c, "{\"username\":\"alice\",\"tokeninfo_status\":401}",
		    "alice", NULL, KZ_UNAUTHENTICATED, KZ_R_INACTIVE);
		kz_ctx_close(c);
	}
}

/* Runs one opaque decision under a fault; checks verdict, reason, time. */
static void
under_fault(const char *mode, kz_verdict v, kz_reason r, long max_ms)
{
	char *tok = kzt_opaque("{\"username\":\"alice\"}");
	int64_t t0;
	kz_result res;

	kzt_fault(mode, "[\"/introspect\"]");
	t0 = kz_monotonic_ms();
	kzt_decide(ctx, tok, "alice", NULL, &res);
	if (kz_monotonic_ms() - t0 > max_ms)
		fail_msg("%s: took %lld ms, more than %ld", mode,
		    (long long)(kz_monotonic_ms() - t0), max_ms);
	kzt_fault("none", NULL);
	if (res.verdict != v || res.reason != r)
		fail_msg("fault %s: got %s/%s (%s)", mode,
		    kz_verdict_name(res.verdict), kz_reason_name(res.reason),
		    res.detail);
	kz_result_clear(&res);
	free(tok);
}

static void
provider_faults(void **state)
{
	(void)state;
	/* timeout = 2 in the config: the whole decision within 2 s + 1 s */
	under_fault("hang", KZ_UNAVAILABLE, KZ_R_TIMEOUT, 3000);
	under_fault("endless", KZ_UNAVAILABLE, KZ_R_TIMEOUT, 3000);
	under_fault("503", KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR, 3000);
	under_fault("500", KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR, 3000);
	under_fault("429", KZ_UNAVAILABLE, KZ_R_RATE_LIMITED, 3000);
	under_fault("reset", KZ_UNAVAILABLE, KZ_R_PROVIDER_UNREACHABLE, 3000);
	under_fault("badjson", KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR, 3000);
	under_fault("deepjson", KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR, 3000);
	under_fault("big2mb", KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR, 3000);
	under_fault("huge", KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR, 3000);
	under_fault("wrongtypes", KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR, 3000);
	under_fault("empty400", KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR, 3000);
}

static void
unreachable(void **state)
{
	kz_ctx *c = kzt_ctx("remote-closed", "validation = introspect\n"
	    "introspection_url = https://127.0.0.1:1/introspect\n");

	(void)state;
	decide_opaque(c, "{\"username\":\"alice\"}", "alice", NULL,
	    KZ_UNAVAILABLE, KZ_R_PROVIDER_UNREACHABLE);
	kz_ctx_close(c);
	/* plain http is refused unless allowed for loopback */
	{
		struct kz_config *cfg = NULL;
		char err[256];

		assert_int_equal(kz_config_parse_string(&cfg, "x",
		    "[provider a]\nvalidation = introspect\nclient_id = c\n"
		    "introspection_url = http://10.0.0.1/introspect\n"
		    "allow_http_loopback = true\n", err, sizeof(err)), -1);
		assert_non_null(strstr(err, "is not an https:// URL"));
	}
}

static void
cache_positive_negative(void **state)
{
	kz_ctx *c = kzt_ctx("remote-cache", "validation = introspect\n"
	    "[kztoken]\ncache_ttl = 300\nnegative_cache_ttl = 300\n"), *c2;
	char *ok = kzt_opaque("{\"username\":\"alice\"}");
	char *bad = kzt_opaque("{\"username\":\"alice\",\"active\":false}");
	kz_result res;

	(void)state;
	kzt_stats_reset();
	for (int i = 0; i < 5; i++) {
		kzt_decide(c, ok, "alice", NULL, &res);
		assert_decision(&res, KZ_OK, KZ_R_NONE);
		assert_int_equal(res.id.from_cache, i > 0);
		kz_result_clear(&res);
		kzt_decide(c, bad, "alice", NULL, &res);
		assert_decision(&res, KZ_UNAUTHENTICATED, KZ_R_INACTIVE);
		kz_result_clear(&res);
	}
	assert_int_equal(kzt_stat("/introspect"), 2);
	/* a new process (context) reads the disk cache */
	c2 = kzt_ctx("remote-cache", "validation = introspect\n"
	    "[kztoken]\ncache_ttl = 300\nnegative_cache_ttl = 300\n");
	kzt_decide(c2, ok, "alice", NULL, &res);
	assert_decision(&res, KZ_OK, KZ_R_NONE);
	assert_int_equal(res.id.from_cache, 1);
	kz_result_clear(&res);
	/* the binding is applied anew: a cached token is still alice's */
	kzt_decide(c2, ok, "bob", NULL, &res);
	assert_decision(&res, KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH);
	kz_result_clear(&res);
	assert_int_equal(kzt_stat("/introspect"), 2);
	kz_ctx_close(c);
	kz_ctx_close(c2);
	free(ok);
	free(bad);
}

static void
offline_grace(void **state)
{
	kz_ctx *c = kzt_ctx("remote-grace", "validation = introspect\n"
	    "[kztoken]\ncache_ttl = 1\noffline_grace = 300\n");
	kz_ctx *c0 = kzt_ctx("remote-nograce", "validation = introspect\n"
	    "[kztoken]\ncache_ttl = 1\noffline_grace = 0\n");
	char *tok = kzt_opaque("{\"username\":\"alice\"}");
	kz_result res;

	(void)state;
	kzt_decide(c, tok, "alice", NULL, &res);
	assert_decision(&res, KZ_OK, KZ_R_NONE);
	kz_result_clear(&res);
	kzt_decide(c0, tok, "alice", NULL, &res);
	assert_decision(&res, KZ_OK, KZ_R_NONE);
	kz_result_clear(&res);
	sleep(2);		/* past cache_ttl */
	kzt_fault("503", "[\"/introspect\"]");
	kzt_decide(c, tok, "alice", NULL, &res);
	assert_decision(&res, KZ_OK, KZ_R_NONE);
	kz_result_clear(&res);
	kzt_decide(c0, tok, "alice", NULL, &res);
	assert_decision(&res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR);
	kz_result_clear(&res);
	kzt_fault("none", NULL);
	kz_ctx_close(c);
	kz_ctx_close(c0);
	free(tok);
}

static void
jwt_revocation_check(void **state)
{
	kz_ctx *c = kzt_ctx("remote-rev", "revocation_check = introspect\n"
	    "[kztoken]\ncache_ttl = 0\n");
	char *tok = kzt_mint("{}"), body[2048];
	kz_result res;

	(void)state;
	kzt_decide(c, tok, "alice", NULL, &res);
	assert_decision(&res, KZ_OK, KZ_R_NONE);
	assert_int_equal(res.id.source, KZ_SRC_JWT);
	kz_result_clear(&res);
	snprintf(body, sizeof(body), "{\"token\":\"%s\"}", tok);
	free(kzt_idp("POST", "/test/revoke", body));
	kzt_decide(c, tok, "alice", NULL, &res);
	assert_decision(&res, KZ_UNAUTHENTICATED, KZ_R_REVOKED);
	kz_result_clear(&res);
	/* the provider down: a JWT that needs the online check is a 503 */
	free(tok);
	tok = kzt_mint("{}");
	kzt_fault("503", "[\"/introspect\"]");
	kzt_decide(c, tok, "alice", NULL, &res);
	kzt_fault("none", NULL);
	assert_decision(&res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR);
	kz_result_clear(&res);
	kz_ctx_close(c);
	free(tok);
}

static void
auto_routing(void **state)
{
	kz_ctx *c = kzt_ctx("remote-auto", "[kztoken]\ncache_ttl = 0\n");
	char *jwt = kzt_mint("{}"), *op = kzt_opaque("{\"username\":\"alice\"}");
	kz_result res;

	(void)state;
	kzt_stats_reset();
	kzt_decide(c, jwt, "alice", NULL, &res);
	assert_decision(&res, KZ_OK, KZ_R_NONE);
	assert_int_equal(res.id.source, KZ_SRC_JWT);
	kz_result_clear(&res);
	kzt_decide(c, op, "alice", NULL, &res);
	assert_decision(&res, KZ_OK, KZ_R_NONE);
	assert_int_equal(res.id.source, KZ_SRC_INTROSPECT);
	kz_result_clear(&res);
	/* the JWT never went to introspection */
	assert_int_equal(kzt_stat("/introspect"), 1);
	kz_ctx_close(c);
	free(jwt);
	free(op);
}

static void
twice_in_one_process(void **state)
{
	/* many contexts, opened and closed, each doing network work: no
	 * global state may trip a second pam_start */
	char *tok = kzt_opaque("{\"username\":\"alice\"}");

	(void)state;
	for (int i = 0; i < 20; i++) {
		kz_ctx *c = kzt_ctx("remote-loop", "validation = introspect\n"
		    "[kztoken]\ncache_ttl = 0\n");
		kz_result res;

		kzt_decide(c, tok, "alice", NULL, &res);
		assert_decision(&res, KZ_OK, KZ_R_NONE);
		kz_result_clear(&res);
		kz_ctx_close(c);
	}
	free(tok);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(introspection, clear_faults),
		cmocka_unit_test_teardown(introspection_expiry, clear_faults),
		cmocka_unit_test_teardown(wrong_client_secret, clear_faults),
		cmocka_unit_test_teardown(tokeninfo, clear_faults),
		cmocka_unit_test_teardown(provider_faults, clear_faults),
		cmocka_unit_test_teardown(unreachable, clear_faults),
		cmocka_unit_test_teardown(cache_positive_negative, clear_faults),
		cmocka_unit_test_teardown(offline_grace, clear_faults),
		cmocka_unit_test_teardown(jwt_revocation_check, clear_faults),
		cmocka_unit_test_teardown(auto_routing, clear_faults),
		cmocka_unit_test_teardown(twice_in_one_process, clear_faults),
	};

	return cmocka_run_group_tests_name("remote", tests, setup, teardown);
}
