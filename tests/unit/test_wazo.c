/*
 * test_wazo.c - the wazo-auth dialect (DESIGN.md section 14) against the
 * test IdP's wazo mode: validation (valid, expired, unknown, revoked),
 * require_acl granted and not (403 -> missing_scope only for a bound
 * user), several ACLs through scopes/check, the token escaped in the URL
 * path, refresh (token_style = wazo), revocation, and no token in any log
 * or trace line although it travels in the URL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kztest.h"

static char logbuf[65536];

static void
capture(void *arg, int prio, const char *line)
{
	(void)arg;
	(void)prio;
	strncat(logbuf, line, sizeof(logbuf) - strlen(logbuf) - 2);
	strcat(logbuf, "\n");
}

static void
capture_trace(void *arg, const char *step, int ok, const char *detail)
{
	(void)ok;
	capture(arg, 0, step);
	capture(arg, 0, detail);
}

static kz_ctx *
wazo_ctx(const char *name)
{
	char extra[1024];

	snprintf(extra, sizeof(extra), "validation = wazo\n"
	    "wazo_url = %s/api/auth/0.1\n"
	    "token_style = wazo\n"
	    "[service phone]\nrequire_acl = calld.calls.read\n"
	    "[service admin]\nrequire_acl = confd.users.me.read, auth.admin\n",
	    kzt_idp_url());
	return kzt_ctx(name, extra);
}

/* A wazo-auth login at the IdP: the access token, and with rt the
 * refresh token of an offline login. */
static char *
login(const char *user, const char *acl_json, char **rt)
{
	char q[512], *body;
	json_t *o;
	char *tok;

	snprintf(q, sizeof(q), "{\"op\":\"login\",\"username\":\"%s\","
	    "\"acl\":%s%s}", user, acl_json, rt ? ",\"access_type\":"
	    "\"offline\",\"client_id\":\"host-fleet\"" : "");
	body = kzt_idp("POST", "/test/wazo", q);
	o = body ? json_loads(body, 0, NULL) : NULL;
	tok = kz_strdup(kz_json_str(o, "token"));
	if (rt != NULL)
		*rt = kz_strdup(kz_json_str(o, "refresh_token"));
	json_decref(o);
	free(body);
	assert_non_null(tok);
	return tok;
}

static void
wazo_op(const char *op, const char *key, const char *val)
{
	char q[512];

	snprintf(q, sizeof(q), "{\"op\":\"%s\",\"%s\":\"%s\"}", op, key, val);
	free(kzt_idp("POST", "/test/wazo", q));
}

static void
expect(kz_ctx *ctx, const char *tok, const char *user, const char *svc,
    kz_verdict v, kz_reason r)
{
	kz_result res;

	kzt_decide(ctx, tok, user, svc, &res);
	assert_decision(&res, v, r);
	if (v == KZ_OK || v == KZ_FORBIDDEN)
		assert_string_equal(res.id.user, user);
	kz_result_clear(&res);
}

static void
validation(void **state)
{
	kz_ctx *ctx = wazo_ctx("wazo-val");
	char *alice = login("alice", "[\"calld.#\"]", NULL);
	char *gone = login("alice", "[]", NULL);
	char *expired = login("alice", "[]", NULL);

	(void)state;
	expect(ctx, alice, "alice", NULL, KZ_OK, KZ_R_NONE);
	expect(ctx, alice, "bob", NULL, KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH);
	expect(ctx, "7d8f6c3e-1d2b-4c5a-9e8f-0a1b2c3d4e5f", "alice", NULL,
	    KZ_UNAUTHENTICATED, KZ_R_INACTIVE);
	wazo_op("expire", "token", expired);
	expect(ctx, expired, "alice", NULL, KZ_UNAUTHENTICATED, KZ_R_INACTIVE);
	expect(ctx, gone, "alice", NULL, KZ_OK, KZ_R_NONE);
	kz_ctx_close(ctx);
	/* revoked at wazo-auth (a fresh context: no cached answer) */
	{
		char path[256];

		snprintf(path, sizeof(path), "/api/auth/0.1/token/%s", gone);
		free(kzt_idp("DELETE", path, NULL));
	}
	ctx = wazo_ctx("wazo-val2");
	expect(ctx, gone, "alice", NULL, KZ_UNAUTHENTICATED, KZ_R_INACTIVE);
	kz_ctx_close(ctx);
	free(alice);
	free(gone);
	free(expired);
}

/* The token goes in the path percent-encoded: a '/' or '+' in a hostile
 * token cannot reach another resource. */
static void
token_escaped_in_path(void **state)
{
	kz_ctx *ctx = wazo_ctx("wazo-esc");
	struct kz_provider *p = kz_config_provider(ctx->cfg, "idp");
	char *alice = login("alice", "[]", NULL), hostile[128];
	char *url = kz_wazo_token_url(p, "/token/", "a/b+c~d.e_f-g", 13, "");

	(void)state;
	assert_non_null(strstr(url, "/api/auth/0.1/token/a%2Fb%2Bc~d.e_f-g"));
	kz_free_secret(url);
	/* a valid token with a path after it is no valid token */
	snprintf(hostile, sizeof(hostile), "%s/scopes/check", alice);
	expect(ctx, hostile, "alice", NULL, KZ_UNAUTHENTICATED, KZ_R_INACTIVE);
	kz_ctx_close(ctx);
	free(alice);
}

/* A token too long for a URL is no token wazo-auth could know: the
 * user's input is UNAUTHENTICATED/too_long, never the host's
 * misconfiguration (ERROR/config, PAM_SERVICE_ERR), and nothing is asked. */
static void
long_token_not_config_error(void **state)
{
	kz_ctx *ctx = wazo_ctx("wazo-long");
	char *tok = malloc(4097);

	(void)state;
	memset(tok, 'A', 3000);	/* 3000 unreserved bytes: URL > 2048 */
	tok[3000] = '\0';
	kzt_stats_reset();
	expect(ctx, tok, "alice", NULL, KZ_UNAUTHENTICATED, KZ_R_TOO_LONG);
	memset(tok, '/', 800);	/* 800 bytes, each %2F: 2400 in the URL */
	tok[800] = '\0';
	expect(ctx, tok, "alice", "phone", KZ_UNAUTHENTICATED, KZ_R_TOO_LONG);
	assert_int_equal(kzt_stat("/api/auth/0.1/token/*"), 0);
	kz_ctx_close(ctx);
	free(tok);
}

static void
acl(void **state)
{
	kz_ctx *ctx = wazo_ctx("wazo-acl");
	char *caller = login("alice", "[\"calld.calls.*\"]", NULL);
	char *other = login("alice", "[\"confd.#\"]", NULL);
	char *admin = login("alice", "[\"confd.users.me.read\",\"auth.*\"]",
	    NULL);
	char *half = login("alice", "[\"confd.users.me.read\"]", NULL);
	char *denied = login("alice", "[\"calld.#\",\"!calld.calls.read\"]",
	    NULL);

	(void)state;
	kzt_stats_reset();
	expect(ctx, caller, "alice", "phone", KZ_OK, KZ_R_NONE);
	/* validation, then the ACL: two requests */
	assert_int_equal(kzt_stat("/api/auth/0.1/token/*"), 2);
	expect(ctx, other, "alice", "phone", KZ_FORBIDDEN, KZ_R_MISSING_SCOPE);
	expect(ctx, denied, "alice", "phone", KZ_FORBIDDEN, KZ_R_MISSING_SCOPE);
	/* another user's token: no ACL is asked, and no FORBIDDEN */
	kzt_stats_reset();
	expect(ctx, other, "bob", "phone", KZ_UNAUTHENTICATED,
	    KZ_R_USER_MISMATCH);
	assert_int_equal(kzt_stat("/api/auth/0.1/token/*"), 0);	/* cached */
	/* several ACLs: one scopes/check, "me" and "*" matched server-side */
	kzt_stats_reset();
	expect(ctx, admin, "alice", "admin", KZ_OK, KZ_R_NONE);
	assert_int_equal(kzt_stat("/api/auth/0.1/token/*/scopes/check"), 1);
	expect(ctx, half, "alice", "admin", KZ_FORBIDDEN, KZ_R_MISSING_SCOPE);
	/* no require_acl: any valid token */
	expect(ctx, half, "alice", NULL, KZ_OK, KZ_R_NONE);
	kz_ctx_close(ctx);
	free(caller);
	free(other);
	free(admin);
	free(half);
	free(denied);
}

static void
refresh_and_revoke(void **state)
{
	kz_ctx *ctx = wazo_ctx("wazo-enr");
	char *rt = NULL, *rt2 = NULL, *at = NULL, *tok = NULL, q[256];
	char *first = login("alice", "[\"calld.#\",\"auth.users.me.tokens."
	    "host-fleet.delete\"]", &rt);
	char *body;
	kz_result res;

	(void)state;
	assert_non_null(rt);
	logbuf[0] = '\0';
	kz_ctx_set_log(ctx, capture, NULL);
	kz_ctx_set_trace(ctx, capture_trace, NULL);
	kz_ctx_set_debug(ctx, 1);
	assert_int_equal(kz_enroll(ctx, "w1", NULL, 0, "alice", rt, 0, &res),
	    KZ_OK);
	kz_result_clear(&res);
	assert_int_equal(kz_enrollment_token(ctx, "w1", 0, &at, &res), KZ_OK);
	kz_result_clear(&res);
	expect(ctx, at, "alice", "phone", KZ_OK, KZ_R_NONE);
	assert_int_equal(kz_enrollment_refresh(ctx, "w1", 0, &res), KZ_OK);
	kz_result_clear(&res);
	assert_int_equal(kz_enrollment_token(ctx, "w1", 0, &tok, &res), KZ_OK);
	kz_result_clear(&res);
	assert_string_not_equal(tok, at);
	expect(ctx, tok, "alice", NULL, KZ_OK, KZ_R_NONE);

	/* kztoken revoke: the refresh token is deleted at wazo-auth, and the
	 * last access token revoked */
	assert_int_equal(kz_enrollment_revoke(ctx, "w1", 0, &res), KZ_OK);
	kz_result_clear(&res);
	snprintf(q, sizeof(q), "{\"op\":\"refresh_state\",\"refresh_token\":"
	    "\"%s\"}", rt);
	body = kzt_idp("POST", "/test/wazo", q);
	assert_non_null(strstr(body, "\"deleted\""));
	free(body);
	kz_ctx_set_debug(ctx, 0);
	kz_ctx_set_trace(ctx, NULL, NULL);
	kz_ctx_set_log(ctx, NULL, NULL);
	kz_ctx_close(ctx);
	ctx = wazo_ctx("wazo-enr2");
	expect(ctx, tok, "alice", NULL, KZ_UNAUTHENTICATED, KZ_R_INACTIVE);

	/* a refresh token deleted at wazo-auth: the enrollment is revoked */
	free(login("alice", "[]", &rt2));
	assert_int_equal(kz_enroll(ctx, "w2", NULL, 0, "alice", rt2, 0, &res),
	    KZ_OK);
	kz_result_clear(&res);
	wazo_op("delete_refresh", "refresh_token", rt2);
	assert_int_equal(kz_enrollment_refresh(ctx, "w2", 0, &res),
	    KZ_UNAUTHENTICATED);
	assert_int_equal(res.reason, KZ_R_REVOKED);
	kz_result_clear(&res);
	kz_ctx_close(ctx);

	/* not one of them in any log or trace line, URL or not */
	assert_non_null(strstr(logbuf, "wazo"));
	assert_null(strstr(logbuf, rt));
	assert_null(strstr(logbuf, at));
	assert_null(strstr(logbuf, tok));
	assert_null(strstr(logbuf, first));
	free(first);
	kz_free_secret(rt);
	kz_free_secret(rt2);
	kz_free_secret(at);
	kz_free_secret(tok);
}

static void
config_rules(void **state)
{
	char err[512];
	struct kz_config *c = NULL;

	(void)state;
	assert_int_equal(kz_config_parse_string(&c, "t.conf",
	    "[provider w]\nvalidation = wazo\n", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "need wazo_url"));
	assert_int_equal(kz_config_parse_string(&c, "t.conf",
	    "[provider w]\nvalidation = introspect\naudience = x\n"
	    "introspection_url = https://a.example/i\nclient_id = c\n"
	    "[service s]\nrequire_acl = a.b\n", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "[service s] require_acl: needs a "
	    "provider with validation = wazo"));
	assert_int_equal(kz_config_parse_string(&c, "t.conf",
	    "[provider w]\nvalidation = wazo\nwazo_url = https://w.example/"
	    "api/auth/0.1\ntoken_style = wazo\n", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "token_style = wazo needs client_id"));
	assert_int_equal(kz_config_parse_string(&c, "t.conf",
	    "[provider w]\nvalidation = wazo\nwazo_url = https://w.example/"
	    "api/auth/0.1\n[service s]\nrequire_acl = a.b, c.#\n", err,
	    sizeof(err)), 0);
	kz_config_free(c);
	/* UTC times without a zone marker, microseconds optional */
	assert_int_equal(kz_wazo_time("2015-06-05T16:16:58.557595"),
	    1433521018);
	assert_int_equal(kz_wazo_time("2015-06-05T16:16:58"), 1433521018);
	assert_int_equal(kz_wazo_time("2015-06-05T16:16:58+02:00"), -1);
	assert_int_equal(kz_wazo_time("tomorrow"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(config_rules),
		cmocka_unit_test(validation),
		cmocka_unit_test(token_escaped_in_path),
		cmocka_unit_test(long_token_not_config_error),
		cmocka_unit_test(acl),
		cmocka_unit_test(refresh_and_revoke),
	};

	return cmocka_run_group_tests_name("wazo", tests, NULL, NULL);
}
