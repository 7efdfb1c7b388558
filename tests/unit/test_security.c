/*
 * test_security.c - the invariants that keep a refusal from turning into
 * an OK (issue 11): the end-of-decision binding check, the policy lookup
 * of login-shell services, cache entries that no two providers or kinds
 * of check can share, time claims that cannot overflow, name claims that
 * never fall back, user_map_only, and weak RSA keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>

#include "kztest.h"

static kz_ctx *ctx;

static int
setup(void **state)
{
	(void)state;
	ctx = kzt_ctx("security", "[service sudo]\nrequire_group = ops-admins\n"
	    "max_token_age = 600\n");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	kz_ctx_close(ctx);
	return 0;
}


/* ---- the end-of-decision invariant (kz_seal) ---- */

static void
fake_result(kz_result *res, kz_verdict v, const char *user)
{
	memset(res, 0, sizeof(*res));
	res->verdict = v;
	res->reason = v == KZ_FORBIDDEN ? KZ_R_MISSING_SCOPE : KZ_R_NONE;
	res->id.user = user ? strdup(user) : NULL;
}

static void
seal_refuses_unbound_verdicts(void **state)
{
	kz_request req = { .user = "root" };
	kz_result res;

	(void)state;
	kz_unbind(ctx);
	/* an OK or a FORBIDDEN that no binding stands behind */
	fake_result(&res, KZ_OK, "root");
	assert_int_equal(kz_seal(ctx, &req, KZ_OK, &res), KZ_ERROR);
	assert_decision(&res, KZ_ERROR, KZ_R_INTERNAL);
	kz_result_clear(&res);
	fake_result(&res, KZ_FORBIDDEN, NULL);
	assert_int_equal(kz_seal(ctx, &req, KZ_FORBIDDEN, &res), KZ_ERROR);
	kz_result_clear(&res);
	/* refusals pass through untouched */
	fake_result(&res, KZ_UNAUTHENTICATED, NULL);
	res.reason = KZ_R_EXPIRED;
	assert_int_equal(kz_seal(ctx, &req, KZ_UNAUTHENTICATED, &res),
	    KZ_UNAUTHENTICATED);
	assert_decision(&res, KZ_UNAUTHENTICATED, KZ_R_EXPIRED);
	kz_result_clear(&res);
}

static void
seal_checks_the_bound_user(void **state)
{
	kz_request req = { .user = "alice" };
	struct kz_provider *p = kz_config_provider(ctx->cfg, "idp");
	kz_result res;

	(void)state;
	/* bound to alice, reported for alice: stands */
	fake_result(&res, KZ_OK, "alice");
	assert_int_equal(kz_bind_user(ctx, p, "alice", &res), KZ_OK);
	assert_int_equal(kz_seal(ctx, &req, KZ_OK, &res), KZ_OK);
	/* the identity changed after the binding */
	free(res.id.user);
	res.id.user = strdup("root");
	assert_int_equal(kz_seal(ctx, &req, KZ_OK, &res), KZ_ERROR);
	kz_result_clear(&res);
	/* bound to alice, but root was asked for */
	fake_result(&res, KZ_FORBIDDEN, "alice");
	assert_int_equal(kz_bind_user(ctx, p, NULL, &res), KZ_OK);
	req.user = "root";
	assert_int_equal(kz_seal(ctx, &req, KZ_FORBIDDEN, &res), KZ_ERROR);
	kz_result_clear(&res);
	/* the pipeline said OK but the result says otherwise */
	fake_result(&res, KZ_UNAUTHENTICATED, "alice");
	req.user = "alice";
	assert_int_equal(kz_bind_user(ctx, p, "alice", &res), KZ_OK);
	assert_int_equal(kz_seal(ctx, &req, KZ_OK, &res), KZ_ERROR);
	kz_result_clear(&res);
	kz_unbind(ctx);
}

/* ---- policy lookup (DESIGN.md section 6) ---- */

static const char *
policy_of(const struct kz_config *c, const char *service)
{
	const struct kz_service *s = kz_config_service(c, service);

	return s ? s->name : "(none)";
}

static void
login_shell_services_inherit(void **state)
{
	struct kz_config *c;
	char err[256];

	(void)state;
	assert_int_equal(kz_config_parse_string(&c, "t", "[provider p]\n"
	    "introspection_url = https://idp.example/i\nclient_id = x\n"
	    "audience = a\nvalidation = introspect\n"
	    "[service sudo]\nrequire_group = g\n[service su]\n"
	    "require_group = g\n[service login-i]\nrequire_scope = s\n",
	    err, sizeof(err)), 0);
	assert_string_equal(policy_of(c, "sudo"), "sudo");
	assert_string_equal(policy_of(c, "sudo-i"), "sudo");
	assert_string_equal(policy_of(c, "su-l"), "su");
	assert_string_equal(policy_of(c, "login-i"), "login-i");
	/* one whole suffix only, and only -i or -l */
	assert_string_equal(policy_of(c, "sudo-il"), "(none)");
	assert_string_equal(policy_of(c, "sudo-x"), "(none)");
	assert_string_equal(policy_of(c, "xsudo-i"), "(none)");
	assert_string_equal(policy_of(c, "-i"), "(none)");
	assert_string_equal(policy_of(c, "runuser-l"), "(none)");
	kz_config_free(c);
	assert_int_equal(kz_config_parse_string(&c, "t", "[provider p]\n"
	    "introspection_url = https://idp.example/i\nclient_id = x\n"
	    "audience = a\nvalidation = introspect\n"
	    "[service default]\nrequire_scope = login\n"
	    "[service sudo]\nrequire_group = g\n", err, sizeof(err)), 0);
	assert_string_equal(policy_of(c, "sudo-i"), "sudo");
	assert_string_equal(policy_of(c, "runuser-l"), "default");
	assert_string_equal(policy_of(c, NULL), "default");
	kz_config_free(c);
}

static void
sudo_i_needs_the_group(void **state)
{
	(void)state;
	kzt_expect_mint(ctx, "{}", "alice", "sudo-i", KZ_FORBIDDEN, KZ_R_MISSING_GROUP);
	kzt_expect_mint(ctx, "{\"claims\":{\"groups\":[\"ops-admins\"]}}", "alice",
	    "sudo-i", KZ_OK, KZ_R_NONE);
}

/* ---- cache entries (DESIGN.md section 4.4) ---- */

static void
put_ok(kz_ctx *c, const char *provider, enum kz_cache_kind kind,
    const char *sha, const char *user)
{
	kz_result res;

	fake_result(&res, KZ_OK, user);
	res.id.exp = kz_now(c) + 3600;
	kz_cache_put(c, provider, kind, sha, &res);
	kz_result_clear(&res);
}

static enum kz_cache_hit
get(kz_ctx *c, const char *provider, enum kz_cache_kind kind, const char *sha,
    char *user, size_t n)
{
	kz_result res = { 0 };
	enum kz_cache_hit hit = kz_cache_get(c, provider, kind, sha, &res);

	snprintf(user, n, "%s", res.id.user ? res.id.user : "-");
	kz_result_clear(&res);
	return hit;
}

static void
cache_never_shared(void **state)
{
	const char *a = "keycloak-corp-production";
	const char *b = "keycloak-corp-production-dev";
	char sha[65], user[64];
	kz_ctx *c = kzt_ctx("sec-cache", "[kztoken]\ncache_ttl = 300\n");
	kz_ctx *fresh;

	(void)state;
	kz_sha256_hex("some-token", 10, sha);
	put_ok(c, b, KZ_CACHE_VALIDATION, sha, "bob");
	assert_int_equal(get(c, a, KZ_CACHE_VALIDATION, sha, user,
	    sizeof(user)), KZ_CACHE_MISS);
	assert_int_equal(get(c, b, KZ_CACHE_REVOCATION, sha, user,
	    sizeof(user)), KZ_CACHE_MISS);
	assert_int_equal(get(c, b, KZ_CACHE_VALIDATION, sha, user,
	    sizeof(user)), KZ_CACHE_FRESH);
	assert_string_equal(user, "bob");
	/* "rev." was a prefix once: provider rev.X and X's revocation check */
	put_ok(c, "X", KZ_CACHE_REVOCATION, sha, "carol");
	assert_int_equal(get(c, "rev.X", KZ_CACHE_VALIDATION, sha, user,
	    sizeof(user)), KZ_CACHE_MISS);
	kz_ctx_close(c);
	/* the same on disk, where a new process finds it */
	fresh = kzt_ctx("sec-cache", "[kztoken]\ncache_ttl = 300\n");
	assert_int_equal(get(fresh, a, KZ_CACHE_VALIDATION, sha, user,
	    sizeof(user)), KZ_CACHE_MISS);
	assert_int_equal(get(fresh, "rev.X", KZ_CACHE_VALIDATION, sha, user,
	    sizeof(user)), KZ_CACHE_MISS);
	assert_int_equal(get(fresh, b, KZ_CACHE_VALIDATION, sha, user,
	    sizeof(user)), KZ_CACHE_FRESH);
	assert_string_equal(user, "bob");
	kz_ctx_close(fresh);
}

/* Last-known-good keys are kept for the provider and the URL they came
 * from: pointing jwks_url elsewhere must not leave the old keys trusted. */
static void
jwks_cache_follows_its_source(void **state)
{
	char *tok = kzt_mint("{}");
	kz_result res;
	kz_ctx *c;

	(void)state;
	c = kzt_ctx("sec-jwks", NULL);
	kzt_decide(c, tok, "alice", NULL, &res);
	assert_decision(&res, KZ_OK, KZ_R_NONE);
	kz_result_clear(&res);
	kz_ctx_close(c);
	/* same provider name and cache, keys now said to live elsewhere */
	c = kzt_ctx("sec-jwks", "jwks_url = https://127.0.0.1:9/jwks\n");
	kzt_decide(c, tok, "alice", NULL, &res);
	assert_int_equal(res.verdict, KZ_UNAVAILABLE);
	kz_result_clear(&res);
	kz_ctx_close(c);
	free(tok);
}

/* The other valid encoding of an ES256 signature: (r, n - s). */
static char *
ec_twin(const char *tok)
{
	const char *dot = strrchr(tok, '.');
	unsigned char *sig;
	size_t len;
	EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	BIGNUM *sv, *t = BN_new();
	char *b64, *out;

	assert_int_equal(kz_b64url_decode(dot + 1, strlen(dot + 1), &sig,
	    &len), 0);
	assert_int_equal(len, 64);
	sv = BN_bin2bn(sig + 32, 32, NULL);
	assert_true(BN_sub(t, EC_GROUP_get0_order(g), sv));
	assert_int_equal(BN_bn2binpad(t, sig + 32, 32), 32);
	b64 = kz_b64url_encode(sig, len);
	assert_true(asprintf(&out, "%.*s.%s", (int)(dot - tok), tok, b64) > 0);
	free(b64);
	free(sig);
	BN_free(sv);
	BN_free(t);
	EC_GROUP_free(g);
	return out;
}

/* A denylisted ES256 token stays denied in its twin encoding, which has
 * another fingerprint but verifies as well. */
static void
ec_twin_is_denied_too(void **state)
{
	char *tok = kzt_mint("{\"alg\":\"ES256\"}"), *twin = ec_twin(tok);
	char fp[13], err[256];
	kz_result res;
	kz_ctx *c = kzt_ctx("sec-twin", NULL);

	(void)state;
	/* the twin is a valid token of its own */
	kzt_decide(c, twin, "alice", NULL, &res);
	assert_decision(&res, KZ_OK, KZ_R_NONE);
	kz_result_clear(&res);
	kz_fingerprint(tok, strlen(tok), fp);
	assert_int_equal(kz_denylist_add(c, fp, err, sizeof(err)), KZ_OK);
	kzt_decide(c, tok, "alice", NULL, &res);
	assert_decision(&res, KZ_UNAUTHENTICATED, KZ_R_DENYLISTED);
	kz_result_clear(&res);
	kzt_decide(c, twin, "alice", NULL, &res);
	assert_decision(&res, KZ_UNAUTHENTICATED, KZ_R_DENYLISTED);
	kz_result_clear(&res);
	kz_ctx_close(c);
	free(tok);
	free(twin);
}

/* Debug lines quote a token's kid; a newline in it must not forge an
 * audit line of its own. */
static int log_bad_bytes;

static void
count_bad_bytes(void *arg, int prio, const char *line)
{
	(void)arg;
	(void)prio;
	for (; *line; line++)
		if ((unsigned char)*line < 0x20 || (unsigned char)*line >= 0x7f)
			log_bad_bytes++;
}

static void
log_lines_cannot_be_forged(void **state)
{
	kz_ctx *c = kzt_ctx("sec-log", "[kztoken]\ndebug = true\n");
	char *tok = kzt_mint("{\"header\":{\"kid\":\"x\\nkztoken[1]: "
	    "service=sudo user=root verdict=OK reason=none\\u001b[2J\"}}");
	kz_result res;

	(void)state;
	log_bad_bytes = 0;
	kz_ctx_set_log(c, count_bad_bytes, NULL);
	kzt_decide(c, tok, "alice", NULL, &res);
	assert_int_equal(res.verdict, KZ_UNAUTHENTICATED);
	assert_int_equal(log_bad_bytes, 0);
	kz_result_clear(&res);
	kz_ctx_close(c);
	free(tok);
}

/* ---- time claims (DESIGN.md section 4.6) ---- */

static void
time_claims_are_bounded(void **state)
{
	const char *bad[] = { "-9223372036854775808", "9223372036854775807",
		"253402300800", "-1", "1.5e9", "\"1700000000\"", "true",
		"[1]" };	/* (the test IdP drops a claim given as null) */
	const char *claims[] = { "iat", "auth_time", "nbf", "exp" };
	char json[200];

	(void)state;
	for (size_t i = 0; i < KZ_NELEM(claims); i++) {
		for (size_t j = 0; j < KZ_NELEM(bad); j++) {
			snprintf(json, sizeof(json), "{\"claims\":{\"%s\":%s}}",
			    claims[i], bad[j]);
			kzt_expect_mint(ctx, json, "alice", "sudo", KZ_UNAUTHENTICATED,
			    KZ_R_MALFORMED);
		}
	}
}

static void
token_age_cannot_wrap(void **state)
{
	char json[200];

	(void)state;
	/* a login "in the future" would pass max_token_age for ever */
	snprintf(json, sizeof(json), "{\"claims\":{\"groups\":[\"ops-admins\"],"
	    "\"auth_time\":%lld}}", (long long)kz_now(ctx) + 86400);
	kzt_expect_mint(ctx, json, "alice", "sudo", KZ_UNAUTHENTICATED,
	    KZ_R_ISSUED_IN_FUTURE);
	/* the oldest possible login is simply too old */
	kzt_expect_mint(ctx, "{\"claims\":{\"groups\":[\"ops-admins\"],\"auth_time\":1}}",
	    "alice", "sudo", KZ_FORBIDDEN, KZ_R_TOKEN_TOO_OLD);
	snprintf(json, sizeof(json), "{\"claims\":{\"groups\":[\"ops-admins\"],"
	    "\"auth_time\":%lld}}", (long long)kz_now(ctx) - 10);
	kzt_expect_mint(ctx, json, "alice", "sudo", KZ_OK, KZ_R_NONE);
}

/* ---- name claims (DESIGN.md section 4.6) ---- */

static void
name_claims_never_fall_back(void **state)
{
	const char *bad[] = { "5", "\"\"", "[\"root\"]",
		"{\"n\":\"root\"}", "true" };
	char json[200];

	(void)state;
	for (size_t i = 0; i < KZ_NELEM(bad); i++) {
		snprintf(json, sizeof(json), "{\"claims\":{\"preferred_username\":"
		    "%s,\"username\":\"root\",\"sub\":\"root\"}}", bad[i]);
		kzt_expect_mint(ctx, json, "root", NULL, KZ_UNAUTHENTICATED,
		    KZ_R_MALFORMED);
	}
	/* a JWT without the claim: sub, never "username" */
	kzt_expect_mint(ctx, "{\"claims\":{\"preferred_username\":null,"
	    "\"username\":\"root\"}}", "root", NULL, KZ_UNAUTHENTICATED,
	    KZ_R_USER_MISMATCH);
}

static void
user_map_only(void **state)
{
	char path[512], extra[700];
	FILE *f;
	kz_ctx *c;
	struct kz_config *cfg;
	char err[256];

	(void)state;
	snprintf(path, sizeof(path), "%s/only.map", kzt_dir());
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "# external local\nalice@corp alice\n");
	fclose(f);
	snprintf(extra, sizeof(extra), "user_map_file = %s\n"
	    "user_map_only = true\n", path);
	c = kzt_ctx("sec-maponly", extra);
	kzt_expect_mint(c, "{\"claims\":{\"preferred_username\":\"alice@corp\"}}",
	    "alice", NULL, KZ_OK, KZ_R_NONE);
	/* not in the map: refused, even though it equals the local name */
	kzt_expect_mint(c, "{\"claims\":{\"preferred_username\":\"bob\"}}", "bob", NULL,
	    KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH);
	kz_ctx_close(c);
	/* user_map_only without a map would let nobody in: a config error */
	assert_int_not_equal(kz_config_parse_string(&cfg, "t", "[provider p]\n"
	    "introspection_url = https://idp.example/i\nclient_id = x\n"
	    "audience = a\nvalidation = introspect\nuser_map_only = true\n",
	    err, sizeof(err)), 0);
	assert_non_null(strstr(err, "user_map_only"));
}

/* ---- weak RSA keys (DESIGN.md section 4.6) ---- */

static int
rsa_jwk(size_t nbytes, size_t zeros, const char *e_b64)
{
	unsigned char *n = calloc(1, nbytes);
	char *n_b64, json[2400], err[256];
	struct kz_key key = { 0 };
	json_t *jwk;
	int rc;

	for (size_t i = zeros; i < nbytes; i++)
		n[i] = 0xc5;
	n[nbytes - 1] |= 1;
	n_b64 = kz_b64url_encode(n, nbytes);
	snprintf(json, sizeof(json), "{\"kty\":\"RSA\",\"kid\":\"k\","
	    "\"n\":\"%s\",\"e\":\"%s\"}", n_b64, e_b64);
	jwk = json_loads(json, 0, NULL);
	rc = kz_jwk_to_key(jwk, &key, err, sizeof(err));
	kz_key_clear(&key);
	json_decref(jwk);
	free(n_b64);
	free(n);
	return rc;
}

static void
weak_rsa_keys_skipped(void **state)
{
	(void)state;
	assert_int_equal(rsa_jwk(256, 0, "AQAB"), 0);	/* 2048 bits, 65537 */
	assert_int_equal(rsa_jwk(256, 0, "Aw"), 0);	/* e = 3 */
	/* 2040 bits padded to 256 bytes with a leading zero */
	assert_int_not_equal(rsa_jwk(256, 1, "AQAB"), 0);
	assert_int_not_equal(rsa_jwk(300, 60, "AQAB"), 0);
	assert_int_not_equal(rsa_jwk(256, 0, "AQ"), 0);	/* e = 1 */
	assert_int_not_equal(rsa_jwk(256, 0, "Ag"), 0);	/* e = 2 */
	assert_int_not_equal(rsa_jwk(256, 0, "AA"), 0);	/* e = 0 */
	assert_int_not_equal(rsa_jwk(256, 0, "AQAA"), 0);	/* even */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(seal_refuses_unbound_verdicts),
		cmocka_unit_test(seal_checks_the_bound_user),
		cmocka_unit_test(login_shell_services_inherit),
		cmocka_unit_test(sudo_i_needs_the_group),
		cmocka_unit_test(cache_never_shared),
		cmocka_unit_test(jwks_cache_follows_its_source),
		cmocka_unit_test(ec_twin_is_denied_too),
		cmocka_unit_test(log_lines_cannot_be_forged),
		cmocka_unit_test(time_claims_are_bounded),
		cmocka_unit_test(token_age_cannot_wrap),
		cmocka_unit_test(name_claims_never_fall_back),
		cmocka_unit_test(user_map_only),
		cmocka_unit_test(weak_rsa_keys_skipped),
	};

	return cmocka_run_group_tests_name("security", tests, setup, teardown);
}
