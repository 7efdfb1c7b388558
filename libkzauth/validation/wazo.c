/*
 * wazo.c - the wazo-auth dialect (DESIGN.md section 14), as its API is
 * (wazo_auth/plugins/http/tokens/api.yml):
 *
 *   GET  {wazo_url}/token/{token}               200 data | 404 unknown
 *   GET  {wazo_url}/token/{token}?scope=ACL     200 | 403 ACL missing | 404
 *   POST {wazo_url}/token/{token}/scopes/check  {"scopes": {ACL: bool}}
 *
 * wazo-auth takes the token in the URL path.  It is percent-encoded there
 * (every byte but the unreserved ones), so no '/', '?', '#' or '%' in a
 * hostile token can change which resource is asked; and every request
 * that carries it is marked url_secret, so the URL is never logged nor
 * put in a message.
 *
 * The ACL check is a separate request made only after the validation
 * named a user and kz_decide bound it: a 403 then is FORBIDDEN/
 * missing_scope for that user, never a verdict about nobody.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "internal.h"

char *
kz_wazo_token_url(const struct kz_provider *p, const char *prefix,
    const char *tok, size_t len, const char *suffix)
{
	size_t base = strlen(p->wazo_url), n;
	char *url;

	while (base > 0 && p->wazo_url[base - 1] == '/')
		base--;
	n = base + strlen(prefix) + 3 * len + strlen(suffix) + 1;
	if ((url = malloc(n)) == NULL)
		return NULL;
	memcpy(url, p->wazo_url, base);
	strcpy(url + base, prefix);
	kz_url_escape_n(url + strlen(url), tok, len);
	strcat(url, suffix);
	return url;
}

int64_t
kz_wazo_time(const char *s)
{
	struct tm tm = { 0 };
	const char *end;
	time_t t;

	if (s == NULL || (end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) ==
	    NULL)
		return -1;
	if (*end == '.') {	/* microseconds, dropped */
		end++;
		while (*end >= '0' && *end <= '9')
			end++;
	}
	if (*end != '\0' || tm.tm_year + 1900 > 9999 || tm.tm_year < 70)
		return -1;
	t = timegm(&tm);
	return t < 0 ? -1 : (int64_t)t;
}

/* A URL the token would make longer than any we send: the token is the
 * user's input, so it is the token that is refused (too_long), not the
 * host's configuration. */
static bool
too_long(char *url, kz_result *res)
{
	if (url == NULL || strlen(url) <= KZ_MAX_URL)
		return false;
	kz_free_secret(url);
	kz_set(res, KZ_UNAUTHENTICATED, KZ_R_TOO_LONG, "token too long for "
	    "wazo-auth's URL (more than %d characters in all)", KZ_MAX_URL);
	return true;
}

/* One request about the token; the URL is wiped and freed after it. */
static int
ask(kz_ctx *ctx, struct kz_provider *p, const char *method, char *url,
    const char *body, struct kz_http_resp *r)
{
	const char *hdrs[] = { "Content-Type: application/json", NULL };
	struct kz_http_req req = { .method = method, .url = url,
		.url_secret = true, .ca_file = p->ca_file,
		.allow_http_loopback = p->allow_http_loopback,
		.headers = body ? hdrs : NULL, .body = body,
		.body_len = body ? strlen(body) : 0 };
	int rc;

	if (url == NULL) {
		memset(r, 0, sizeof(*r));
		r->fail = KZ_R_INTERNAL;
		snprintf(r->err, sizeof(r->err), "out of memory");
		return -1;
	}
	rc = kz_http_do(ctx, &req, r);
	kz_free_secret(url);
	return rc;
}

/* The claims kz_identity_from_claims reads, from a token's data:
 * data.metadata (username where present), auth_id as sub, and the UTC
 * times (expires_at is the server's local time and is not used). */
static json_t *
claims_of(json_t *data, kz_result *res)
{
	json_t *meta = json_object_get(data, "metadata"), *c;
	const char *auth_id = kz_json_str(data, "auth_id");
	int64_t exp = kz_wazo_time(kz_json_str(data, "utc_expires_at"));
	int64_t iat = kz_wazo_time(kz_json_str(data, "utc_issued_at"));

	if (meta != NULL && !json_is_object(meta)) {
		kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR, "wazo-auth "
		    "answer: metadata is not an object");
		return NULL;
	}
	if (exp <= 0) {
		kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR, "wazo-auth "
		    "answer without a usable utc_expires_at");
		return NULL;
	}
	if ((c = meta ? json_deep_copy(meta) : json_object()) == NULL) {
		kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
		return NULL;
	}
	json_object_del(c, "sub");
	if (auth_id != NULL)
		json_object_set_new(c, "sub", json_string(auth_id));
	json_object_set_new(c, "exp", json_integer(exp));
	json_object_del(c, "iat");
	if (iat > 0)
		json_object_set_new(c, "iat", json_integer(iat));
	json_object_del(c, "nbf");
	json_object_del(c, "auth_time");
	return c;
}

static kz_verdict
read_token(kz_ctx *ctx, struct kz_provider *p, const char *tok, size_t len,
    const struct kz_http_resp *r, kz_result *res)
{
	kz_identity id = { .source = KZ_SRC_TOKENINFO };
	json_t *ans, *data, *claims = NULL;
	const char *echo;
	kz_verdict v;

	if (r->status == 404 || r->status == 401)
		return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_INACTIVE,
		    "wazo-auth does not know the token (HTTP %ld): unknown, "
		    "expired or revoked", r->status);
	if (r->status == 403)	/* no ACL was asked: it names nobody */
		return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH,
		    "wazo-auth answered 403 to a plain validation");
	if (r->status != 200)
		return kz_map_status(r->status, res, "wazo-auth");
	ans = kz_json_parse(r->body, r->body_len);
	data = json_object_get(ans, "data");
	echo = kz_json_str(data, "token");
	if (!json_is_object(data)) {
		v = kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR,
		    "wazo-auth answer without a data object");
	} else if (echo != NULL && (strlen(echo) != len ||
	    !kz_streq_ct(echo, tok))) {
		v = kz_set(res, KZ_UNAUTHENTICATED, KZ_R_MALFORMED,
		    "wazo-auth answered about another token");
	} else if ((claims = claims_of(data, res)) == NULL) {
		v = res->verdict;
	} else if (kz_identity_from_claims(p, claims, true, &id, res) != 0) {
		v = kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR,
		    "wazo-auth answer: %s", res->detail);
	} else if (id.user == NULL) {
		v = kz_set(res, KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH,
		    "wazo-auth answer names no user");
	} else if ((v = kz_check_times(ctx, &id, true, res)) == KZ_OK) {
		if (id.iss == NULL)
			id.iss = kz_strdup(p->issuer);
		kz_identity_clear(&res->id);
		res->id = id;
		memset(&id, 0, sizeof(id));
	}
	kz_identity_clear(&id);
	json_decref(claims);
	json_decref(ans);
	return v;
}

kz_verdict
kz_wazo_validate(kz_ctx *ctx, struct kz_provider *p, const char *tok,
    size_t len, kz_result *res)
{
	struct kz_http_resp r;
	char *url = kz_wazo_token_url(p, "/token/", tok, len, "");
	kz_verdict v;

	if (too_long(url, res))
		return res->verdict;
	if (ask(ctx, p, "GET", url, NULL, &r) != 0)
		v = kz_http_failure(&r, res, "wazo-auth");
	else
		v = read_token(ctx, p, tok, len, &r, res);
	kz_http_resp_free(&r);
	kz_trace(ctx, "wazo", v == KZ_OK, "%s", v == KZ_OK ?
	    "wazo-auth knows the token" : res->detail);
	return v;
}

/* The answer of scopes/check: {"scopes": {"ACL": true, ...}} (api.yml
 * also shows a list of such objects); every ACL asked must be true. */
static const char *
first_missing(json_t *scopes, const struct kz_strv *acl)
{
	for (size_t i = 0; i < acl->n; i++) {
		json_t *val = NULL, *it;
		size_t k;

		if (json_is_object(scopes))
			val = json_object_get(scopes, acl->v[i]);
		json_array_foreach(scopes, k, it)
			if (json_object_get(it, acl->v[i]) != NULL)
				val = json_object_get(it, acl->v[i]);
		if (!json_is_true(val))
			return acl->v[i];
	}
	return NULL;
}

static char *
scopes_body(const struct kz_strv *acl)
{
	json_t *o = json_object(), *a = json_array();
	char *txt = NULL;

	if (o != NULL && a != NULL) {
		for (size_t i = 0; i < acl->n; i++)
			json_array_append_new(a, json_string(acl->v[i]));
		json_object_set(o, "scopes", a);
		txt = json_dumps(o, JSON_COMPACT);
	}
	json_decref(a);
	json_decref(o);
	return txt;
}

static kz_verdict
acl_answer(const struct kz_http_resp *r, const struct kz_strv *acl,
    kz_result *res)
{
	json_t *ans;
	const char *miss;
	kz_verdict v;

	if (r->status == 404 || r->status == 401)
		return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_INACTIVE,
		    "wazo-auth no longer knows the token (HTTP %ld)",
		    r->status);
	if (r->status == 403)	/* the user is bound by now */
		return kz_set(res, KZ_FORBIDDEN, KZ_R_MISSING_SCOPE,
		    "wazo-auth: the token lacks ACL %s", acl->n == 1 ?
		    acl->v[0] : "(one of require_acl)");
	if (r->status != 200)
		return kz_map_status(r->status, res, "wazo-auth ACL check");
	if (acl->n == 1)	/* GET ?scope=: the 200 is the answer */
		return KZ_OK;
	ans = kz_json_parse(r->body, r->body_len);
	if (!json_is_object(ans) || json_object_get(ans, "scopes") == NULL)
		v = kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR,
		    "wazo-auth scopes/check answer without scopes");
	else if ((miss = first_missing(json_object_get(ans, "scopes"),
	    acl)) != NULL)
		v = kz_set(res, KZ_FORBIDDEN, KZ_R_MISSING_SCOPE,
		    "wazo-auth: the token lacks ACL %.100s", miss);
	else
		v = KZ_OK;
	json_decref(ans);
	return v;
}

kz_verdict
kz_wazo_acl(kz_ctx *ctx, struct kz_provider *p, const char *tok, size_t len,
    const struct kz_strv *acl, kz_result *res)
{
	struct kz_http_resp r;
	char *url, *body = NULL, *suffix = NULL;
	kz_verdict v;
	int rc;

	if (acl->n == 1) {
		size_t n = strlen(acl->v[0]);

		if ((suffix = malloc(8 + 3 * n)) != NULL) {
			strcpy(suffix, "?scope=");
			kz_url_escape_n(suffix + 7, acl->v[0], n);
		}
		url = suffix ? kz_wazo_token_url(p, "/token/", tok, len,
		    suffix) : NULL;
		if (too_long(url, res)) {
			free(suffix);
			return res->verdict;
		}
		rc = ask(ctx, p, "GET", url, NULL, &r);
	} else {
		body = scopes_body(acl);
		url = body ? kz_wazo_token_url(p, "/token/", tok, len,
		    "/scopes/check") : NULL;
		if (too_long(url, res)) {
			free(body);
			return res->verdict;
		}
		rc = ask(ctx, p, "POST", url, body, &r);
	}
	v = rc != 0 ? kz_http_failure(&r, res, "wazo-auth ACL check") :
	    acl_answer(&r, acl, res);
	kz_http_resp_free(&r);
	free(suffix);
	free(body);
	kz_trace(ctx, "acl", v == KZ_OK, "%s", v == KZ_OK ? "wazo-auth grants "
	    "every require_acl" : res->detail);
	return v;
}

/*
 * `kztoken revoke` of a wazo enrollment: the refresh token with
 * DELETE {wazo_url}/users/me/tokens/{client_id}, authenticated by a fresh
 * access token in X-Auth-Token, then that access token itself with
 * DELETE {wazo_url}/token/{token}.  The caller holds the lock.
 */
static kz_verdict
delete_refresh_token(kz_ctx *ctx, struct kz_provider *p,
    const struct kz_enr *e, kz_result *res)
{
	struct kz_http_req req = { .method = "DELETE", .ca_file = p->ca_file,
		.allow_http_loopback = p->allow_http_loopback };
	const char *hdrs[2] = { NULL, NULL };
	struct kz_http_resp r;
	char *url, *hdr = NULL;
	kz_verdict v;

	url = kz_wazo_token_url(p, "/users/me/tokens/", p->client_id,
	    strlen(p->client_id), "");
	if (url == NULL || asprintf(&hdr, "X-Auth-Token: %s",
	    e->access_token) < 0) {
		free(url);
		return kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
	}
	hdrs[0] = hdr;
	req.url = url;
	req.headers = hdrs;
	if (kz_http_do(ctx, &req, &r) != 0)
		v = kz_http_failure(&r, res, "wazo-auth revocation");
	else if (r.status == 204 || r.status == 200 || r.status == 404)
		v = kz_set(res, KZ_OK, KZ_R_NONE, "refresh token deleted at "
		    "wazo-auth%s", r.status == 404 ? " (it was gone)" : "");
	else
		v = kz_set(res, KZ_UNAVAILABLE, r.status == 429 ?
		    KZ_R_RATE_LIMITED : KZ_R_PROVIDER_ERROR, "wazo-auth "
		    "refused to delete the refresh token (HTTP %ld)",
		    r.status);
	kz_http_resp_free(&r);
	kz_free_secret(hdr);
	free(url);
	return v;
}

kz_verdict
kz_wazo_revoke(kz_ctx *ctx, struct kz_provider *p, struct kz_enr *e,
    kz_result *res)
{
	struct kz_http_resp r;
	kz_verdict v;

	if (!kz_enr_access_valid(ctx, e) &&
	    (v = kz_refresh_once(ctx, p, e, 0, res)) != KZ_OK)
		return res->reason == KZ_R_REVOKED ? kz_set(res, KZ_OK,
		    KZ_R_NONE, "wazo-auth no longer knows the refresh "
		    "token") : v;
	if ((v = delete_refresh_token(ctx, p, e, res)) != KZ_OK)
		return v;
	/* the access token dies too; it would otherwise live its hour */
	if (ask(ctx, p, "DELETE", kz_wazo_token_url(p, "/token/",
	    e->access_token, strlen(e->access_token), ""), NULL, &r) != 0 ||
	    (r.status != 200 && r.status != 204 && r.status != 404))
		kz_log(ctx, LOG_WARNING, "enrollment=%s: wazo-auth did not "
		    "revoke its last access token (%s); it expires by itself",
		    e->name, r.status ? "an HTTP error" : r.err);
	kz_http_resp_free(&r);
	return kz_set(res, KZ_OK, KZ_R_NONE, "revoked at wazo-auth");
}
