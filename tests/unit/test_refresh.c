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
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
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
	char *q = NULL, *body;
	json_t *o;
	char *st;

	assert_true(asprintf(&q, "{\"refresh_token\":\"%s\"}", rt) > 0);
	body = kzt_idp("POST", "/test/check_refresh", q);
	free(q);
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

/* Retry-After as RFC 9110 10.2.3 has it: delay-seconds of any size (more
 * than a day is kept as a day, the longest wait remembered) or an
 * HTTP-date; a value that is neither gets the default. */
static void
retry_after_forms(void **state)
{
	kz_ctx *ctx = ctx_for("r429f", false, NULL);
	char *rt = new_rt("{\"username\":\"alice\"}"), q[256], date[64];
	struct kz_enr e;
	kz_result res;
	time_t at = time(NULL) + 3600;
	struct tm tm;
	struct {
		const char *value;
		int64_t lo, hi;	/* retry_after_until - now */
	} cases[] = {
		{ "200000", 86400 - 5, 86400 + 5 },
		{ "99999999999999999999", 86400 - 5, 86400 + 5 },
		{ date, 3600 - 30, 3600 + 30 },
		{ "-5", 30 - 5, 30 + 5 },
		{ "soon", 30 - 5, 30 + 5 },
	};

	(void)state;
	gmtime_r(&at, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	assert_int_equal(kz_enroll(ctx, "f1", NULL, 0, "alice", rt, 0, &res),
	    KZ_OK);
	kz_result_clear(&res);
	for (size_t i = 0; i < KZ_NELEM(cases); i++) {
		json_t *o = json_pack("{s:s, s:[s], s:i, s:s}", "mode", "429",
		    "paths", "/token", "count", 1, "retry_after",
		    cases[i].value);
		char *txt = json_dumps(o, JSON_COMPACT);
		int64_t wait;

		e = load(ctx, "f1");
		e.retry_after_until = 0;
		e.access_exp = 0;	/* due */
		assert_int_equal(kz_store_save(ctx, &e, q, sizeof(q)), 0);
		kz_enr_clear(&e);
		free(kzt_idp("POST", "/test/fault", txt));
		free(txt);
		json_decref(o);
		assert_int_equal(kz_enr_access(ctx, "f1", 0, true, NULL, &res),
		    KZ_UNAVAILABLE);
		assert_int_equal(res.reason, KZ_R_RATE_LIMITED);
		kz_result_clear(&res);
		e = load(ctx, "f1");
		wait = e.retry_after_until - kz_now(ctx);
		kz_enr_clear(&e);
		if (wait < cases[i].lo || wait > cases[i].hi)
			fail_msg("Retry-After: %s: remembered wait %lld s, want "
			    "%lld..%lld", cases[i].value, (long long)wait,
			    (long long)cases[i].lo, (long long)cases[i].hi);
	}
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

	/* 308: the endpoint moved; its Location is used from then on */
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

/* ---- Kaizala moves (issue 14): where a 308 or endpointUrl may take us ---- */

static kz_ctx *
kaizala_ctx(const char *name, const char *extra)
{
	char buf[1024];

	snprintf(buf, sizeof(buf), "token_url = %s/kaizala/token\n"
	    "token_style = kaizala\n%s", kzt_idp_url(), extra ? extra : "");
	return kzt_ctx(name, buf);
}

/* How many Kaizala token requests reached the IdP under a Host header
 * starting with host (NULL: any), and how many of those carried the
 * application secret; the record is cleared. */
static long
kaizala_seen(const char *host, long *with_secret)
{
	char *body = kzt_idp("POST", "/test/kaizala_seen", "{}");
	json_t *o = body ? json_loads(body, 0, NULL) : NULL, *it;
	size_t i;
	long n = 0;

	*with_secret = 0;
	json_array_foreach(json_object_get(o, "seen"), i, it) {
		const char *h = kz_json_str(it, "host");

		if (host != NULL && (h == NULL || strncmp(h, host,
		    strlen(host)) != 0))
			continue;
		n++;
		if (json_is_true(json_object_get(it, "secret")) ||
		    json_is_true(json_object_get(it, "refresh_token")))
			(*with_secret)++;
	}
	json_decref(o);
	free(body);
	return n;
}

static void
kaizala_enroll(kz_ctx *ctx, const char *name, char **rt)
{
	kz_result res;

	*rt = new_rt("{\"username\":\"alice\",\"expires_in\":600}");
	assert_int_equal(kz_enroll(ctx, name, NULL, 0, "alice", *rt, 0,
	    &res), KZ_OK);
	kz_result_clear(&res);
}

static void
kaizala_move_mode(const char *mode)
{
	char q[128];

	snprintf(q, sizeof(q), "{\"kaizala_move\":\"%s\"}", mode);
	free(kzt_idp("POST", "/test/mode", q));
}

/* Location only, then Location and a body: the new token URL is the
 * Location itself, kept with the configured URL it came from. */
static void
kaizala_moves_both_ways(void **state)
{
	kz_ctx *ctx = kaizala_ctx("kmove", NULL);
	const char *modes[] = { "location", "body" };
	char *rt, want[512], from[512], err[256];
	struct kz_enr e;
	kz_result res;
	long sec;

	(void)state;
	kaizala_enroll(ctx, "m1", &rt);
	snprintf(want, sizeof(want), "%s/kaizala/api2/token", kzt_idp_url());
	snprintf(from, sizeof(from), "%s/kaizala/token", kzt_idp_url());
	for (size_t i = 0; i < KZ_NELEM(modes); i++) {
		e = load(ctx, "m1");
		free(e.token_url);
		free(e.token_url_from);
		e.token_url = e.token_url_from = NULL;
		assert_int_equal(kz_store_save(ctx, &e, err, sizeof(err)), 0);
		kz_enr_clear(&e);
		kaizala_move_mode(modes[i]);
		kzt_stats_reset();
		assert_int_equal(kz_enrollment_refresh(ctx, "m1", 0, &res),
		    KZ_OK);
		kz_result_clear(&res);
		e = load(ctx, "m1");
		assert_string_equal(e.token_url, want);
		assert_string_equal(e.token_url_from, from);
		kz_enr_clear(&e);
		assert_int_equal(kz_enrollment_refresh(ctx, "m1", 0, &res),
		    KZ_OK);
		kz_result_clear(&res);
		assert_int_equal(kzt_stat("/kaizala/token"), 1);
		assert_int_equal(kzt_stat("/kaizala/api2/token"), 2);
	}
	assert_int_equal(kaizala_seen("localhost", &sec), 0);
	kz_free_secret(rt);
	kz_ctx_close(ctx);
}

/* A 308 to another host is refused: nothing is sent there, and the
 * enrollment stays as it was; allowed_hosts lets it through. */
static void
kaizala_foreign_move_refused(void **state)
{
	kz_ctx *ctx = kaizala_ctx("kforeign", NULL);
	char *rt, allow[300];
	const char *port = strrchr(kzt_idp_url(), ':');
	struct kz_enr e;
	kz_result res;
	long sec;

	(void)state;
	kaizala_enroll(ctx, "f1", &rt);
	kz_free_secret(rt);
	e = load(ctx, "f1");
	rt = kz_strdup(e.refresh_token);	/* as stored after enrolling */
	kz_enr_clear(&e);
	kaizala_seen(NULL, &sec);
	kaizala_move_mode("foreign");
	assert_int_equal(kz_enrollment_refresh(ctx, "f1", 0, &res),
	    KZ_UNAVAILABLE);
	assert_int_equal(res.reason, KZ_R_PROVIDER_ERROR);
	kz_result_clear(&res);
	assert_int_equal(kaizala_seen("localhost", &sec), 0);
	e = load(ctx, "f1");
	assert_null(e.token_url);
	assert_int_equal(e.state, KZ_ENR_ACTIVE);
	assert_string_equal(e.refresh_token, rt);
	kz_enr_clear(&e);
	/* an endpointUrl on another host is not adopted either */
	kaizala_move_mode("foreign_body");
	assert_int_equal(kz_enrollment_refresh(ctx, "f1", 0, &res), KZ_OK);
	kz_result_clear(&res);
	e = load(ctx, "f1");
	assert_null(strstr(e.endpoint_url, "localhost"));
	kz_enr_clear(&e);
	kz_ctx_close(ctx);

	/* the admin lists the host: the move is followed, secrets and all */
	snprintf(allow, sizeof(allow), "allowed_hosts = localhost%s\n", port);
	ctx = kaizala_ctx("kforeign", allow);
	kaizala_seen(NULL, &sec);
	kaizala_move_mode("foreign");
	assert_int_equal(kz_enrollment_refresh(ctx, "f1", 0, &res), KZ_OK);
	kz_result_clear(&res);
	assert_int_equal(kaizala_seen("localhost", &sec), 1);
	assert_int_equal(sec, 1);
	e = load(ctx, "f1");
	assert_non_null(strstr(e.token_url, "://localhost:"));
	kz_enr_clear(&e);
	kz_ctx_close(ctx);

	/* without the entry again, the kept move is dropped, not used */
	ctx = kaizala_ctx("kforeign", NULL);
	kaizala_seen(NULL, &sec);
	assert_int_equal(kz_enrollment_refresh(ctx, "f1", 0, &res), KZ_OK);
	kz_result_clear(&res);
	assert_int_equal(kaizala_seen("localhost", &sec), 0);
	assert_int_equal(kaizala_seen(NULL, &sec), 0);
	e = load(ctx, "f1");
	assert_null(e.token_url);
	kz_enr_clear(&e);
	kz_free_secret(rt);
	kz_ctx_close(ctx);
}

/* A kept move is dropped once the configured token_url is another. */
static void
kaizala_move_dropped_with_config(void **state)
{
	kz_ctx *ctx = kaizala_ctx("kdrop", NULL);
	char *rt, err[256], url[512];
	struct kz_enr e;
	kz_result res;

	(void)state;
	kaizala_enroll(ctx, "d1", &rt);
	e = load(ctx, "d1");
	snprintf(url, sizeof(url), "%s/kaizala/api2/token", kzt_idp_url());
	e.token_url = kz_strdup(url);
	snprintf(url, sizeof(url), "%s/old/kaizala/token", kzt_idp_url());
	e.token_url_from = kz_strdup(url);
	assert_int_equal(kz_store_save(ctx, &e, err, sizeof(err)), 0);
	kz_enr_clear(&e);
	kzt_stats_reset();
	assert_int_equal(kz_enrollment_refresh(ctx, "d1", 0, &res), KZ_OK);
	kz_result_clear(&res);
	assert_int_equal(kzt_stat("/kaizala/api2/token"), 0);
	assert_int_equal(kzt_stat("/kaizala/token"), 1);
	e = load(ctx, "d1");
	assert_null(e.token_url);
	assert_null(e.token_url_from);
	kz_enr_clear(&e);
	kz_free_secret(rt);
	kz_ctx_close(ctx);
}

static int64_t retry_offset;

static int64_t
retry_now(void)
{
	return (int64_t)time(NULL) + retry_offset;
}

/* A 429's Retry-After is kept; once it has passed, refreshes work. */
static void
kaizala_retry_after_passes(void **state)
{
	kz_ctx *ctx = kaizala_ctx("k429", NULL);
	char *rt;
	kz_result res;

	(void)state;
	ctx->now = retry_now;
	kaizala_enroll(ctx, "w1", &rt);
	free(kzt_idp("POST", "/test/fault", "{\"mode\":\"429\",\"paths\":"
	    "[\"/kaizala\"],\"count\":1,\"retry_after\":120}"));
	assert_int_equal(kz_enrollment_refresh(ctx, "w1", KZ_REFRESH_WAIT,
	    &res), KZ_UNAVAILABLE);
	assert_int_equal(res.reason, KZ_R_RATE_LIMITED);
	kz_result_clear(&res);
	kzt_stats_reset();
	retry_offset = 100;	/* not yet */
	assert_int_equal(kz_enrollment_refresh(ctx, "w1", 0, &res),
	    KZ_UNAVAILABLE);
	assert_int_equal(res.reason, KZ_R_RATE_LIMITED);
	kz_result_clear(&res);
	assert_int_equal(kzt_stat("/kaizala/token"), 0);
	retry_offset = 125;	/* passed */
	assert_int_equal(kz_enrollment_refresh(ctx, "w1", 0, &res), KZ_OK);
	kz_result_clear(&res);
	assert_int_equal(kzt_stat("/kaizala/token"), 1);
	retry_offset = 0;
	kz_free_secret(rt);
	kz_ctx_close(ctx);
}
/* Endpoints a discovery document names are used only on the discovery
 * URL's host or an allowed host: here the document is fetched from
 * localhost and names 127.0.0.1. */
static void
discovery_foreign_endpoints_refused(void **state)
{
	const char *port = strrchr(kzt_idp_url(), ':');
	char extra[512], allow[128];
	char *rt = new_rt("{\"username\":\"alice\"}");
	kz_ctx *ctx;
	kz_result res;

	(void)state;
	snprintf(allow, sizeof(allow), "allowed_hosts = 127.0.0.1%s\n", port);
	snprintf(extra, sizeof(extra), "discovery = https://localhost%s/"
	    ".well-known/openid-configuration\n%s", port, allow);
	ctx = kzt_ctx("discforeign", extra);
	assert_int_equal(kz_enroll(ctx, "df", NULL, 0, "alice", rt, 0, &res),
	    KZ_OK);
	kz_result_clear(&res);
	kz_ctx_close(ctx);

	snprintf(extra, sizeof(extra), "discovery = https://localhost%s/"
	    ".well-known/openid-configuration\n", port);
	ctx = kzt_ctx("discforeign", extra);
	kzt_stats_reset();
	assert_int_equal(kz_enrollment_refresh(ctx, "df", 0, &res), KZ_ERROR);
	assert_int_equal(res.reason, KZ_R_CONFIG);
	kz_result_clear(&res);
	assert_int_equal(kzt_stat("/token"), 0);
	kz_free_secret(rt);
	kz_ctx_close(ctx);
}
/* ---- end of Kaizala moves ---- */

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

/* ---- issue 12: enrollments survive every fault ---- */

static void
fault_answer(const char *spec)
{
	char body[2048];

	snprintf(body, sizeof(body), "{\"mode\":\"answer\",\"paths\":"
	    "[\"/token\"],\"count\":1,\"answer\":%s}", spec);
	free(kzt_idp("POST", "/test/fault", body));
}

static int64_t
last_answer(const char *what)
{
	char *body = kzt_idp("GET", "/test/stats", NULL);
	json_t *o = body ? json_loads(body, 0, NULL) : NULL;
	int64_t n = -1;

	kz_json_int(json_object_get(o, "last_answer"), what, &n);
	json_decref(o);
	free(body);
	return n;
}

static char *
stored_rt(kz_ctx *ctx, const char *name)
{
	struct kz_enr e = load(ctx, name);
	char *rt = strdup(e.refresh_token);

	kz_enr_clear(&e);
	return rt;
}

static void
enroll_one(kz_ctx *ctx, const char *name)
{
	char *rt = new_rt("{\"username\":\"alice\"}");
	kz_result res;

	assert_int_equal(kz_enroll(ctx, name, NULL, 0, "alice", rt, 0, &res),
	    KZ_OK);
	kz_result_clear(&res);
	kz_free_secret(rt);
}

/* Finding 8: a 200 cut short (at every byte, both ways a body can be
 * cut) keeps the rotated refresh token as soon as it arrived whole, and
 * the old one otherwise (still valid at a provider with a grace). */
static void
cut_answer_at_every_byte(void **state)
{
	static const char *const styles[] = { "length", "close" };
	kz_ctx *ctx = ctx_for("cut", false, NULL);
	kz_result res;
	char spec[160], *before, *after, *st;
	int64_t len, rt_end;

	(void)state;
	enroll_one(ctx, "c1");
	/* a short opaque access token keeps the body (and the test) short;
	 * the rotated refresh token comes after it, as the IdP sends it */
	fault_answer("{\"set\":{\"access_token\":\"at-short\"}}");
	assert_int_equal(kz_enrollment_refresh(ctx, "c1", 0, &res), KZ_OK);
	kz_result_clear(&res);
	len = last_answer("length");
	rt_end = last_answer("rt_end");
	assert_true(len > 100 && rt_end > 0 && rt_end <= len);
	before = stored_rt(ctx, "c1");
	for (size_t s = 0; s < KZ_NELEM(styles); s++) {
		for (int64_t n = 0; n < len; n++) {
			snprintf(spec, sizeof(spec), "{\"cut\":%lld,"
			    "\"cut_style\":\"%s\",\"set\":{\"access_token\":"
			    "\"at-short\"}}", (long long)n, styles[s]);
			fault_answer(spec);
			if (kz_enrollment_refresh(ctx, "c1", 0, &res) !=
			    KZ_UNAVAILABLE)
				fail_msg("%s cut at %lld: %s", styles[s],
				    (long long)n, res.detail);
			kz_result_clear(&res);
			after = stored_rt(ctx, "c1");
			if ((n >= rt_end) == (strcmp(before, after) == 0))
				fail_msg("%s cut at %lld of %lld (token ends at "
				    "%lld): rotated token %s", styles[s],
				    (long long)n, (long long)len,
				    (long long)rt_end, n >= rt_end ? "lost" :
				    "adopted from a partial string");
			if (n == rt_end || n + 1 == len) {
				st = rt_state(after);
				assert_string_equal(st, "current");
				free(st);
			}
			free(before);
			before = after;
		}
		assert_int_equal(last_answer("length"), len);
	}
	free(before);
	/* and the enrollment goes on */
	assert_int_equal(kz_enrollment_refresh(ctx, "c1", 0, &res), KZ_OK);
	kz_result_clear(&res);
	assert_rt_state(ctx, "c1", "current");
	kz_ctx_close(ctx);
}

/* Finding 4: any token a provider can send is stored: long, or with a
 * space (VSCHAR), and a long access token. */
static void
long_and_spaced_tokens_stored(void **state)
{
	kz_ctx *ctx = ctx_for("long", false, NULL);
	char big[20481], *body = NULL, *tok = NULL, *rt;
	struct kz_enr e;
	kz_result res;

	(void)state;
	enroll_one(ctx, "g1");
	fault_answer("{\"refresh_len\":20000}");
	assert_int_equal(kz_enrollment_refresh(ctx, "g1", 0, &res), KZ_OK);
	kz_result_clear(&res);
	e = load(ctx, "g1");
	assert_int_equal(strlen(e.refresh_token), 20000);
	kz_enr_clear(&e);
	assert_rt_state(ctx, "g1", "current");

	fault_answer("{\"refresh_token\":\"rotated with spaces 0123\"}");
	assert_int_equal(kz_enrollment_refresh(ctx, "g1", 0, &res), KZ_OK);
	kz_result_clear(&res);
	rt = stored_rt(ctx, "g1");
	assert_string_equal(rt, "rotated with spaces 0123");
	free(rt);
	/* and it is sent back as it came */
	assert_int_equal(kz_enrollment_refresh(ctx, "g1", 0, &res), KZ_OK);
	kz_result_clear(&res);
	assert_rt_state(ctx, "g1", "current");

	/* an access token of 20 KiB */
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_true(asprintf(&body, "{\"mode\":\"answer\",\"paths\":"
	    "[\"/token\"],\"count\":1,\"answer\":{\"set\":{"
	    "\"access_token\":\"%s\"}}}", big) > 0);
	free(kzt_idp("POST", "/test/fault", body));
	free(body);
	assert_int_equal(kz_enrollment_refresh(ctx, "g1", 0, &res), KZ_OK);
	kz_result_clear(&res);
	assert_int_equal(kz_enrollment_token(ctx, "g1", 0, &tok, &res), KZ_OK);
	assert_int_equal(strlen(tok), 20480);
	kz_result_clear(&res);
	kz_free_secret(tok);
	kz_ctx_close(ctx);
}

/* Finding 11: lifetimes are clamped, so no answer makes the enrollment
 * unreadable. */
static void
hostile_lifetimes_clamped(void **state)
{
	kz_ctx *ctx = ctx_for("life", false, NULL);
	int64_t now = kz_now(ctx);
	struct kz_enr e;
	kz_result res;
	kz_enrollment_info info;

	(void)state;
	enroll_one(ctx, "h1");
	fault_answer("{\"set\":{\"refresh_expires_in\":9223372036854775807,"
	    "\"expires_in\":9223372036854775807}}");
	assert_int_equal(kz_enrollment_refresh(ctx, "h1", 0, &res), KZ_OK);
	kz_result_clear(&res);
	e = load(ctx, "h1");
	assert_true(e.refresh_exp > now && e.refresh_exp < now + 11LL *
	    366 * 86400);
	assert_true(e.access_exp > now && e.access_exp < now + 11LL * 366 *
	    86400);
	kz_enr_clear(&e);
	/* a JWT-shaped rotated refresh token with exp -5:
	 * {"alg":"none"}.{"exp":-5}.sig */
	fault_answer("{\"refresh_token\":\"eyJhbGciOiJub25lIn0.eyJleHAiOi01fQ.c2ln\"}");
	assert_int_equal(kz_enrollment_refresh(ctx, "h1", 0, &res), KZ_OK);
	kz_result_clear(&res);
	assert_int_equal(kz_enrollment_get(ctx, "h1", &info, &res), KZ_OK);
	assert_int_equal(info.refresh_exp, 0);
	kz_result_clear(&res);
	kz_ctx_close(ctx);
}

/* Finding 9: a rotation without an access token leaves an enrollment in
 * state error that says so; the superseded token is never sent again;
 * refresh has no state gap either; a 429 at enroll is remembered. */
static void
enroll_without_access_token(void **state)
{
	kz_ctx *ctx = ctx_for("noat", false, NULL);
	char *rt = new_rt("{\"username\":\"alice\"}"), *rt2;
	struct kz_enr e;
	kz_result res;
	long before;

	(void)state;
	fault_answer("{\"drop\":[\"access_token\"]}");
	assert_int_equal(kz_enroll(ctx, "n1", NULL, 0, "alice", rt, 0, &res),
	    KZ_UNAVAILABLE);
	assert_non_null(strstr(res.detail, "kztoken refresh n1"));
	kz_result_clear(&res);
	e = load(ctx, "n1");
	assert_int_equal(e.state, KZ_ENR_ERROR);
	assert_non_null(strstr(e.message, "no usable access token"));
	kz_enr_clear(&e);
	assert_rt_state(ctx, "n1", "current");
	/* --force with the old token: refused, nothing sent */
	before = refresh_requests();
	assert_int_equal(kz_enroll(ctx, "n1", NULL, 0, "alice", rt,
	    KZ_ENROLL_FORCE, &res), KZ_ERROR);
	assert_non_null(strstr(res.detail, "already rotated"));
	kz_result_clear(&res);
	assert_int_equal(refresh_requests(), before);
	/* refresh fixes it */
	assert_int_equal(kz_enrollment_refresh(ctx, "n1", 0, &res), KZ_OK);
	kz_result_clear(&res);
	/* the same gap at refresh */
	fault_answer("{\"drop\":[\"access_token\"]}");
	assert_int_equal(kz_enrollment_refresh(ctx, "n1", 0, &res),
	    KZ_UNAVAILABLE);
	kz_result_clear(&res);
	e = load(ctx, "n1");
	assert_int_equal(e.state, KZ_ENR_ERROR);
	kz_enr_clear(&e);
	assert_rt_state(ctx, "n1", "current");

	/* a 429 at enroll is remembered: the next enroll asks nothing */
	rt2 = new_rt("{\"username\":\"alice\"}");
	free(kzt_idp("POST", "/test/fault", "{\"mode\":\"429\",\"paths\":"
	    "[\"/token\"],\"count\":1,\"retry_after\":100}"));
	assert_int_equal(kz_enroll(ctx, "n2", NULL, 0, "alice", rt2, 0, &res),
	    KZ_UNAVAILABLE);
	assert_int_equal(res.reason, KZ_R_RATE_LIMITED);
	kz_result_clear(&res);
	before = refresh_requests();
	assert_int_equal(kz_enroll(ctx, "n2", NULL, 0, "alice", rt2, 0, &res),
	    KZ_UNAVAILABLE);
	assert_int_equal(res.reason, KZ_R_RATE_LIMITED);
	kz_result_clear(&res);
	assert_int_equal(refresh_requests(), before);
	kz_free_secret(rt);
	kz_free_secret(rt2);
	kz_ctx_close(ctx);
}

static int64_t clock_offset;

static int64_t
fake_now(void)
{
	return (int64_t)time(NULL) + clock_offset;
}

/* Findings 2 and 3: a clock that was a year fast and is put right. */
static void
clock_put_right(void **state)
{
	kz_ctx *ctx = ctx_for("clock", false, NULL);
	char *tok = NULL;
	kz_result res;
	long before;

	(void)state;
	ctx->now = fake_now;
	enroll_one(ctx, "k1");
	clock_offset = 365LL * 86400;
	/* minted while fast */
	assert_int_equal(kz_enrollment_refresh(ctx, "k1", 0, &res), KZ_OK);
	kz_result_clear(&res);
	clock_offset = 0;
	before = refresh_requests();
	assert_int_equal(kz_enrollment_refresh(ctx, "k1", KZ_REFRESH_IF_DUE,
	    &res), KZ_OK);
	assert_string_equal(res.detail, "refreshed");
	kz_result_clear(&res);
	assert_int_equal(refresh_requests(), before + 1);

	/* a 429 while fast: its wait means nothing once the clock is right */
	clock_offset = 365LL * 86400;
	free(kzt_idp("POST", "/test/fault", "{\"mode\":\"429\",\"paths\":"
	    "[\"/token\"],\"count\":1,\"retry_after\":30}"));
	assert_int_equal(kz_enr_access(ctx, "k1", 0, true, NULL, &res),
	    KZ_UNAVAILABLE);
	assert_int_equal(res.reason, KZ_R_RATE_LIMITED);
	kz_result_clear(&res);
	clock_offset = 0;
	assert_int_equal(kz_enrollment_refresh(ctx, "k1", 0, &res), KZ_OK);
	kz_result_clear(&res);
	/* and a token of a clock that went back is not handed out as valid
	 * without a refresh */
	clock_offset = 365LL * 86400;
	assert_int_equal(kz_enrollment_refresh(ctx, "k1", 0, &res), KZ_OK);
	kz_result_clear(&res);
	clock_offset = 0;
	before = refresh_requests();
	assert_int_equal(kz_enrollment_token(ctx, "k1", 0, &tok, &res), KZ_OK);
	kz_result_clear(&res);
	assert_int_equal(refresh_requests(), before + 1);
	kz_free_secret(tok);
	kz_ctx_close(ctx);
}

/* Finding 5: a reader with a valid cached token never waits for the
 * lock (held here through another open file description). */
static void
reader_needs_no_lock(void **state)
{
	kz_ctx *ctx = ctx_for("nolock", false, NULL);
	char path[600], *tok = NULL;
	kz_result res;
	int64_t t0;
	int held;

	(void)state;
	enroll_one(ctx, "l1");
	snprintf(path, sizeof(path), "%s/nolock/store/l1.lock", kzt_dir());
	held = open(path, O_RDONLY);
	assert_true(held >= 0);
	assert_int_equal(flock(held, LOCK_EX), 0);
	t0 = kz_monotonic_ms();
	assert_int_equal(kz_enrollment_token(ctx, "l1", 0, &tok, &res), KZ_OK);
	kz_result_clear(&res);
	assert_int_equal(kz_enrollment_refresh(ctx, "l1", KZ_REFRESH_IF_DUE,
	    &res), KZ_OK);
	assert_string_equal(res.detail, "not due");
	kz_result_clear(&res);
	assert_true(kz_monotonic_ms() - t0 < 300);
	kz_free_secret(tok);
	close(held);
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
		cmocka_unit_test(retry_after_forms),
		cmocka_unit_test(kaizala_dialect),
		cmocka_unit_test(kaizala_rotation_off),
		cmocka_unit_test(kaizala_moves_both_ways),
		cmocka_unit_test(kaizala_foreign_move_refused),
		cmocka_unit_test(kaizala_move_dropped_with_config),
		cmocka_unit_test(kaizala_retry_after_passes),
		cmocka_unit_test(discovery_foreign_endpoints_refused),
		cmocka_unit_test(cut_answer_at_every_byte),
		cmocka_unit_test(long_and_spaced_tokens_stored),
		cmocka_unit_test(hostile_lifetimes_clamped),
		cmocka_unit_test(enroll_without_access_token),
		cmocka_unit_test(clock_put_right),
		cmocka_unit_test(reader_needs_no_lock),
	};

	return cmocka_run_group_tests_name("refresh", tests, NULL, NULL);
}
