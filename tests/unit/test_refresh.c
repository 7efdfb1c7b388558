/*
 * test_refresh.c - the refresh dialects against the test IdP: rotation
 * (grace and strict), invalid_grant -> revoked, invalid_client -> error,
 * a bare 400 -> error keeping the token, 5xx and 429 (Retry-After kept),
 * Kaizala milliseconds, 401 and the cached token served while the
 * provider is down.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kztest.h"

/* A new refresh-token chain at the IdP; the test stops without one. */
static char *
new_rt(const char *json)
{
	char *rt = kzt_refresh_token(json);

	assert_non_null(rt);
	return rt;
}

/* "current", "grace", "dead", "revoked", ... as the IdP sees rt */
static char *
rt_state(const char *rt)
{
	char q[256], *body;
	json_t *o;
	char *st;

	snprintf(q, sizeof(q), "{\"refresh_token\":\"%s\"}", rt);
	body = kzt_idp("POST", "/test/check_refresh", q);
	o = body ? json_loads(body, 0, NULL) : NULL;
	st = kz_strdup(kz_json_str(o, "state"));
	json_decref(o);
	free(body);
	return st;
}

static long
refresh_requests(void)
{
	char *body = kzt_idp("GET", "/test/stats", NULL);
	json_t *o = body ? json_loads(body, 0, NULL) : NULL;
	int64_t n = 0;

	kz_json_int(o, "refresh_attempts", &n);
	json_decref(o);
	free(body);
	return (long)n;
}

static kz_ctx *
ctx_for(const char *name, bool kaizala, const char *secret_file)
{
	const char *path = kaizala ? "/kaizala/token" : "/token";
	const char *style = kaizala ? "token_style = kaizala\n" : "";
	char extra[2048];
	int n;

	n = snprintf(extra, sizeof(extra), "token_url = %s%s\n%s",
	    kzt_idp_url(), path, style);
	/* a second provider: the same IdP through a connector whose secret
	 * is wrong */
	if (secret_file != NULL)
		snprintf(extra + n, sizeof(extra) - (size_t)n,
		    "[provider bad]\nvalidation = introspect\naudience = host-fleet\n"
		    "introspection_url = %s/introspect\ntoken_url = %s%s\n%s"
		    "client_id = host-fleet\nclient_secret_file = %s\n"
		    "ca_file = %s/ca.pem\n[kztoken]\nprovider = idp\n",
		    kzt_idp_url(), kzt_idp_url(), path, style, secret_file,
		    kzt_idp_dir());
	return kzt_ctx(name, extra);
}

static struct kz_enr
load(kz_ctx *ctx, const char *name)
{
	struct kz_enr e;
	char err[512];

	if (kz_store_load(ctx, name, &e, err, sizeof(err)) != 1)
		fail_msg("load %s: %s", name, err);
	return e;
}

static void
assert_rt_state(kz_ctx *ctx, const char *name, const char *want)
{
	struct kz_enr e = load(ctx, name);
	char *st = rt_state(e.refresh_token);

	if (st == NULL || strcmp(st, want) != 0)
		fail_msg("stored refresh token is %s, want %s", st, want);
	free(st);
	kz_enr_clear(&e);
}

static void
enroll_rotate_grace_and_strict(void **state)
{
	kz_ctx *ctx = ctx_for("rot", false, NULL);
	char *rt = new_rt("{\"username\":\"alice\",\"group\":\"ops-admins\"}");
	kz_result res;
	char *tok = NULL, *st;

	(void)state;
	assert_int_equal(kz_enroll(ctx, "r1", "idp", 1, "ops-admins", rt, 0,
	    &res), KZ_OK);
	kz_result_clear(&res);
	/* the IdP rotated: the enrolled token is superseded, the store has
	 * the new one */
	st = rt_state(rt);
	assert_string_equal(st, "grace");
	free(st);
	assert_rt_state(ctx, "r1", "current");
	for (int i = 0; i < 10; i++) {
		assert_int_equal(kz_enrollment_refresh(ctx, "r1", 0, &res),
		    KZ_OK);
		kz_result_clear(&res);
		assert_rt_state(ctx, "r1", "current");
	}
	free(kzt_idp("POST", "/test/mode", "{\"rotation\":\"strict\"}"));
	for (int i = 0; i < 5; i++) {
		assert_int_equal(kz_enrollment_refresh(ctx, "r1", 0, &res),
		    KZ_OK);
		kz_result_clear(&res);
		assert_rt_state(ctx, "r1", "current");
	}
	free(kzt_idp("POST", "/test/mode", "{\"rotation\":\"grace\"}"));
	/* not due: a token without any request */
	kzt_stats_reset();
	assert_int_equal(kz_enrollment_token(ctx, "r1", 0, &tok, &res), KZ_OK);
	assert_int_equal(kz_token_shape(tok, strlen(tok), 16384),
	    KZ_SHAPE_JWT);
	assert_int_equal(refresh_requests(), 0);
	assert_int_equal(kz_enrollment_refresh(ctx, "r1", KZ_REFRESH_IF_DUE,
	    &res), KZ_OK);
	assert_string_equal(res.detail, "not due");
	assert_int_equal(refresh_requests(), 0);
	kz_result_clear(&res);
	/* an active enrollment is not replaced without force */
	assert_int_equal(kz_enroll(ctx, "r1", "idp", 1, "ops-admins", rt, 0,
	    &res), KZ_ERROR);
	assert_non_null(strstr(res.detail, "--force"));
	kz_result_clear(&res);
	kz_free_secret(tok);
	kz_free_secret(rt);
	kz_ctx_close(ctx);
}

static void
invalid_grant_is_revoked(void **state)
{
	kz_ctx *ctx = ctx_for("rev", false, NULL);
	char *rt = new_rt("{\"username\":\"alice\"}"), q[256], *tok = NULL;
	struct kz_enr e;
	kz_result res;
	long before;

	(void)state;
	assert_int_equal(kz_enroll(ctx, "v1", NULL, 0, "alice", rt, 0, &res),
	    KZ_OK);
	kz_result_clear(&res);
	e = load(ctx, "v1");
	snprintf(q, sizeof(q), "{\"chain_of\":\"%s\"}", e.refresh_token);
	kz_enr_clear(&e);
	free(kzt_idp("POST", "/test/revoke", q));
	assert_int_equal(kz_enrollment_refresh(ctx, "v1", 0, &res),
	    KZ_UNAUTHENTICATED);
	assert_int_equal(res.reason, KZ_R_REVOKED);
	assert_string_equal(res.enrollment, "v1");
	kz_result_clear(&res);
	e = load(ctx, "v1");
	assert_int_equal(e.state, KZ_ENR_REVOKED);
	assert_null(e.access_token);
	assert_non_null(strstr(e.message, "invalid_grant"));
	kz_enr_clear(&e);
	/* revoked: nobody asks the provider again */
	before = refresh_requests();
	assert_int_equal(kz_enrollment_token(ctx, "v1", 0, &tok, &res),
	    KZ_UNAUTHENTICATED);
	assert_null(tok);
	assert_int_equal(refresh_requests(), before);
	kz_result_clear(&res);
	/* a revoked enrollment may be replaced (renewed) without force */
	kz_free_secret(rt);
	rt = new_rt("{\"username\":\"alice\"}");
	assert_int_equal(kz_enroll(ctx, "v1", NULL, 0, "alice", rt, 0, &res),
	    KZ_OK);
	kz_result_clear(&res);
	kz_free_secret(rt);
	kz_ctx_close(ctx);
}

static void
invalid_client_is_error(void **state)
{
	char path[512];
	kz_ctx *ctx;
	struct kz_enr e;
	kz_result res;
	char *rt = new_rt("{\"username\":\"alice\"}");
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/wrong_secret", kzt_dir());
	f = fopen(path, "w");
	fputs("not-the-secret\n", f);
	fclose(f);
	chmod(path, 0600);
	ctx = ctx_for("icl", false, path);
	/* enrolling through the bad connector: nothing stored */
	assert_int_equal(kz_enroll(ctx, "c1", "bad", 0, "alice", rt, 0, &res),
	    KZ_ERROR);
	assert_int_equal(res.reason, KZ_R_CONFIG);
	assert_non_null(strstr(res.detail, "invalid_client"));
	assert_non_null(strstr(res.detail, "host-fleet"));
	kz_result_clear(&res);
	assert_int_equal(kz_store_load(ctx, "c1", &e, path, sizeof(path)), 0);
	/* enrolled through the good one, then the connector breaks */
	assert_int_equal(kz_enroll(ctx, "c1", "idp", 0, "alice", rt, 0, &res),
	    KZ_OK);
	kz_result_clear(&res);
	e = load(ctx, "c1");
	free(e.provider);
	e.provider = strdup("bad");
	assert_int_equal(kz_store_save(ctx, &e, path, sizeof(path)), 0);
	kz_free_secret(rt);
	rt = strdup(e.refresh_token);
	kz_enr_clear(&e);
	assert_int_equal(kz_enrollment_refresh(ctx, "c1", 0, &res), KZ_ERROR);
	kz_result_clear(&res);
	e = load(ctx, "c1");
	assert_int_equal(e.state, KZ_ENR_ERROR);
	assert_string_equal(e.refresh_token, rt);	/* kept */
	assert_non_null(strstr(e.message, "host-fleet"));
	kz_enr_clear(&e);
	kz_free_secret(rt);
	kz_ctx_close(ctx);
}

static void
bare_400_and_5xx_keep_token(void **state)
{
	kz_ctx *ctx = ctx_for("b400", false, NULL);
	char *rt = new_rt("{\"username\":\"alice\"}"), *kept, *tok = NULL;
	struct kz_enr e;
	kz_result res;

	(void)state;
	assert_int_equal(kz_enroll(ctx, "b1", NULL, 0, "alice", rt, 0, &res),
	    KZ_OK);
	kz_result_clear(&res);
	e = load(ctx, "b1");
	kept = strdup(e.refresh_token);
	kz_enr_clear(&e);

	kzt_fault("empty400", "[\"/token\"]");
	assert_int_equal(kz_enrollment_refresh(ctx, "b1", 0, &res),
	    KZ_UNAVAILABLE);
	assert_non_null(strstr(res.detail, "HTTP 400"));
	kz_result_clear(&res);
	e = load(ctx, "b1");
	assert_int_equal(e.state, KZ_ENR_ERROR);
	assert_string_equal(e.refresh_token, kept);
	assert_non_null(strstr(e.message, "400"));
	kz_enr_clear(&e);

	/* 503: transient, state unchanged apart from the message; the still
	 * valid access token is served */
	kzt_fault("503", "[\"/token\"]");
	assert_int_equal(kz_enrollment_refresh(ctx, "b1", 0, &res),
	    KZ_UNAVAILABLE);
	kz_result_clear(&res);
	assert_int_equal(kz_enrollment_token(ctx, "b1", 0, &tok, &res), KZ_OK);
	assert_non_null(tok);
	kz_result_clear(&res);
	kz_free_secret(tok);

	/* answers with the wrong types: nothing adopted */
	kzt_fault("wrongtypes", "[\"/token\"]");
	assert_int_equal(kz_enrollment_refresh(ctx, "b1", 0, &res),
	    KZ_UNAVAILABLE);
	assert_int_equal(res.reason, KZ_R_PROVIDER_ERROR);
	kz_result_clear(&res);
	e = load(ctx, "b1");
	assert_string_equal(e.refresh_token, kept);
	kz_enr_clear(&e);

	kzt_fault("none", NULL);
	assert_int_equal(kz_enrollment_refresh(ctx, "b1", 0, &res), KZ_OK);
	kz_result_clear(&res);
	e = load(ctx, "b1");
	assert_int_equal(e.state, KZ_ENR_ACTIVE);
	assert_string_equal(e.message, "");
	kz_enr_clear(&e);
	free(kept);
	kz_free_secret(rt);
	kz_ctx_close(ctx);
}

static void
rate_limit_remembered(void **state)
{
	kz_ctx *ctx = ctx_for("r429", false, NULL);
	char *rt = new_rt("{\"username\":\"alice\"}"), q[256];
	struct kz_enr e;
	kz_result res;
	long before;

	(void)state;
	assert_int_equal(kz_enroll(ctx, "q1", NULL, 0, "alice", rt, 0, &res),
	    KZ_OK);
	kz_result_clear(&res);
	free(kzt_idp("POST", "/test/fault", "{\"mode\":\"429\",\"paths\":"
	    "[\"/token\"],\"count\":1,\"retry_after\":40}"));
	/* inside a login (no waiting): 429 is UNAVAILABLE/rate_limited */
	assert_int_equal(kz_enr_access(ctx, "q1", 0, true, NULL, &res),
	    KZ_UNAVAILABLE);
	assert_int_equal(res.reason, KZ_R_RATE_LIMITED);
	kz_result_clear(&res);
	e = load(ctx, "q1");
	assert_true(e.retry_after_until >= kz_now(ctx) + 38);
	kz_enr_clear(&e);
	before = refresh_requests();
	assert_int_equal(kz_enr_access(ctx, "q1", 0, true, NULL, &res),
	    KZ_UNAVAILABLE);
	assert_int_equal(res.reason, KZ_R_RATE_LIMITED);
	assert_int_equal(refresh_requests(), before);
	kz_result_clear(&res);
	/* a short Retry-After is waited out by an interactive caller */
	e = load(ctx, "q1");
	e.retry_after_until = 0;
	assert_int_equal(kz_store_save(ctx, &e, q, sizeof(q)), 0);
	kz_enr_clear(&e);
	free(kzt_idp("POST", "/test/fault", "{\"mode\":\"429\",\"paths\":"
	    "[\"/token\"],\"count\":1,\"retry_after\":1}"));
	assert_int_equal(kz_enrollment_refresh(ctx, "q1", 0, &res), KZ_OK);
	kz_result_clear(&res);
	kzt_fault("none", NULL);
	kz_free_secret(rt);
	kz_ctx_close(ctx);
}

static void
kaizala_dialect(void **state)
{
	kz_ctx *ctx = ctx_for("kai", true, NULL);
	char *rt = new_rt("{\"username\":\"alice\",\"expires_in\":600}");
	char q[256];
	struct kz_enr e;
	kz_result res;
	int64_t now;

	(void)state;
	now = kz_now(ctx);
	assert_int_equal(kz_enroll(ctx, "k1", NULL, 0, "alice", rt, 0, &res),
	    KZ_OK);
	kz_result_clear(&res);
	e = load(ctx, "k1");
	/* accessTokenExpiry arrives in ms; stored in s */
	assert_true(e.access_exp >= now + 595 && e.access_exp <= now + 605);
	assert_non_null(strstr(e.endpoint_url, "/kaizala/api"));
	assert_null(e.token_url);
	kz_enr_clear(&e);
	assert_rt_state(ctx, "k1", "current");

	/* 308: the endpoint moved; from then on its /token is used */
	free(kzt_idp("POST", "/test/mode", "{\"kaizala_move\":true}"));
	kzt_stats_reset();
	assert_int_equal(kz_enrollment_refresh(ctx, "k1", 0, &res), KZ_OK);
	kz_result_clear(&res);
	e = load(ctx, "k1");
	assert_non_null(strstr(e.token_url, "/kaizala/api2/token"));
	kz_enr_clear(&e);
	assert_int_equal(kz_enrollment_refresh(ctx, "k1", 0, &res), KZ_OK);
	kz_result_clear(&res);
	assert_int_equal(kzt_stat("/kaizala/token"), 1);
	assert_int_equal(kzt_stat("/kaizala/api2/token"), 2);

	/* 401 on the grant: revoked */
	e = load(ctx, "k1");
	snprintf(q, sizeof(q), "{\"chain_of\":\"%s\"}", e.refresh_token);
	kz_enr_clear(&e);
	free(kzt_idp("POST", "/test/revoke", q));
	assert_int_equal(kz_enrollment_refresh(ctx, "k1", 0, &res),
	    KZ_UNAUTHENTICATED);
	assert_int_equal(res.reason, KZ_R_REVOKED);
	kz_result_clear(&res);
	e = load(ctx, "k1");
	assert_int_equal(e.state, KZ_ENR_REVOKED);
	kz_enr_clear(&e);
	kz_free_secret(rt);
	kz_ctx_close(ctx);
}

static void
kaizala_rotation_off(void **state)
{
	kz_ctx *ctx = ctx_for("kaioff", true, NULL);
	char *rt = new_rt("{\"username\":\"alice\"}");
	struct kz_enr e;
	kz_result res;

	(void)state;
	free(kzt_idp("POST", "/test/mode", "{\"rotation\":\"off\"}"));
	assert_int_equal(kz_enroll(ctx, "k2", NULL, 0, "alice", rt, 0, &res),
	    KZ_OK);
	kz_result_clear(&res);
	free(kzt_idp("POST", "/test/mode", "{\"rotation\":\"grace\"}"));
	e = load(ctx, "k2");
	assert_string_equal(e.refresh_token, rt);	/* no refreshToken */
	kz_enr_clear(&e);
	kz_free_secret(rt);
	kz_ctx_close(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(enroll_rotate_grace_and_strict),
		cmocka_unit_test(invalid_grant_is_revoked),
		cmocka_unit_test(invalid_client_is_error),
		cmocka_unit_test(bare_400_and_5xx_keep_token),
		cmocka_unit_test(rate_limit_remembered),
		cmocka_unit_test(kaizala_dialect),
		cmocka_unit_test(kaizala_rotation_off),
	};

	return cmocka_run_group_tests_name("refresh", tests, NULL, NULL);
}
