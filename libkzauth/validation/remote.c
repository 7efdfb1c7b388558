/*
 * remote.c - opaque tokens validated by the provider (DESIGN.md section
 * 4.4): RFC 7662 introspection and tokeninfo.  The token travels only in a
 * POST body or a header, never in a URL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

kz_verdict
kz_http_failure(const struct kz_http_resp *r, kz_result *res, const char *what)
{
	switch (r->fail) {
	case KZ_R_TIMEOUT:
		return kz_set(res, KZ_UNAVAILABLE, KZ_R_TIMEOUT,
		    "%s: no answer within the deadline", what);
	case KZ_R_CONFIG:
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "%s: %s", what,
		    r->err);
	case KZ_R_INTERNAL:
		return kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "%s: %s", what,
		    r->err);
	case KZ_R_PROVIDER_UNREACHABLE:
		return kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_UNREACHABLE,
		    "%s: %s", what, r->err);
	default:
		return kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR,
		    "%s: %s", what, r->err);
	}
}

/*
 * Statuses of a token check: 200 yes, 401/404 no.  A 403 is no verdict by
 * itself: it is a FORBIDDEN only once the answer named a user and that
 * user was bound (kz_tokeninfo), so here it is a refusal like 401.
 */
kz_verdict
kz_map_status(long status, kz_result *res, const char *what)
{
	if (status == 200)
		return KZ_OK;
	if (status == 401 || status == 403 || status == 404)
		return kz_set(res, KZ_UNAUTHENTICATED, status == 403 ?
		    KZ_R_USER_MISMATCH : KZ_R_INACTIVE,
		    "%s answered %ld: token not valid%s", what, status,
		    status == 403 ? " here, and no user named" : "");
	if (status == 429)
		return kz_set(res, KZ_UNAVAILABLE, KZ_R_RATE_LIMITED,
		    "%s answered 429: rate limited", what);
	return kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR,
	    "%s answered HTTP %ld", what, status);
}

char *
kz_read_client_secret(kz_ctx *ctx, struct kz_provider *p, char *err,
    size_t errlen)
{
	char *buf;
	size_t len;

	(void)ctx;
	if (p->client_secret_file == NULL) {
		snprintf(err, errlen, "[provider %s]: no client_secret_file",
		    p->name);
		return NULL;
	}
	if (kz_read_file(p->client_secret_file, KZ_SF_SECRET, 4096, &buf, &len,
	    err, errlen) != 0)
		return NULL;
	if (len > 0 && buf[len - 1] == '\n')	/* one trailing newline */
		buf[--len] = '\0';
	if (len == 0 || strlen(buf) != len) {
		kz_free_secret(buf);
		snprintf(err, errlen, "%s: empty or binary secret",
		    p->client_secret_file);
		return NULL;
	}
	/* it becomes an HTTP header (Kaizala): CR/LF would add headers */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f) {
			kz_free_secret(buf);
			snprintf(err, errlen, "%s: the secret holds a control "
			    "character (CR, LF, tab...); only one trailing "
			    "newline is allowed", p->client_secret_file);
			return NULL;
		}
	return buf;
}

static bool
is_access_token_type(const char *t)
{
	return t == NULL || kz_strcaseeq(t, "access_token") ||
	    kz_strcaseeq(t, "Bearer") ||
	    kz_strcaseeq(t, "urn:ietf:params:oauth:token-type:access_token");
}

static kz_verdict
read_introspection(kz_ctx *ctx, struct kz_provider *p, json_t *ans,
    bool jwt_valid, kz_result *res)
{
	json_t *active = json_object_get(ans, "active");
	const char *type = kz_json_str(ans, "token_type");
	kz_identity id = { 0 };
	kz_verdict v;

	if (!json_is_boolean(active))
		return kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR,
		    "introspection answer without a boolean active");
	if (!json_is_true(active))
		return kz_set(res, KZ_UNAUTHENTICATED, jwt_valid ?
		    KZ_R_REVOKED : KZ_R_INACTIVE, "introspection: active=false");
	if (json_object_get(ans, "token_type") && type == NULL)
		return kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR,
		    "introspection token_type is not a string");
	if (!is_access_token_type(type))
		return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_WRONG_TOKEN_TYPE,
		    "introspection says this is a %.40s, not an access token",
		    type);
	if (jwt_valid)		/* the JWT's own claims stay authoritative */
		return kz_json_time(ans, "exp", &id.exp) < 0 ?
		    kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR,
		    "introspection exp is not a time") : KZ_OK;
	/* With an audience configured, the answer must name it: a refresh
	 * token introspects as active at some providers, with no aud and no
	 * type. */
	if ((v = kz_aud_check(p, json_object_get(ans, "aud"), "introspection",
	    res)) != KZ_OK)
		return v;
	id.source = KZ_SRC_INTROSPECT;
	if (kz_identity_from_claims(p, ans, true, &id, res) != 0) {
		kz_identity_clear(&id);
		/* A refusal, never "provider down": that would let a cached
		 * OK stand in for it under offline_grace. */
		return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_MALFORMED,
		    "introspection answer: %s", res->detail);
	}
	if (id.iss == NULL)
		id.iss = kz_strdup(p->issuer);
	if (p->issuer && id.iss && strcmp(id.iss, p->issuer) != 0) {
		kz_identity_clear(&id);
		return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_BAD_ISSUER,
		    "introspection names another issuer");
	}
	if ((v = kz_check_times(ctx, &id, false, res)) != KZ_OK) {
		kz_identity_clear(&id);
		return v;
	}
	free(id.kid);
	id.kid = res->id.kid;
	res->id.kid = NULL;
	kz_identity_clear(&res->id);
	res->id = id;
	return KZ_OK;
}

kz_verdict
kz_introspect(kz_ctx *ctx, struct kz_provider *p, const char *tok, size_t len,
    bool jwt_valid, kz_result *res)
{
	struct kz_http_req req = { .method = "POST", .ca_file = p->ca_file,
		.allow_http_loopback = p->allow_http_loopback,
		.basic_user = p->client_id };
	struct kz_http_resp r;
	char err[256], *secret, *body = NULL, *t;
	size_t blen = 0;
	json_t *ans;
	kz_verdict v;

	if (p->discovery && !p->introspection_url &&
	    (v = kz_discover(ctx, p, res)) != KZ_OK)
		return v;
	req.url = p->introspection_url ? p->introspection_url :
	    p->disc_introspection_url;
	if (req.url == NULL)
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG,
		    "no introspection_url");
	if ((secret = kz_read_client_secret(ctx, p, err, sizeof(err))) == NULL)
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "%s", err);
	if ((t = strndup(tok, len)) == NULL ||
	    kz_form_add(&body, &blen, "token", t) != 0 ||
	    kz_form_add(&body, &blen, "token_type_hint", "access_token") != 0) {
		kz_free_secret(t);
		kz_free_secret(secret);
		free(body);
		return kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
	}
	kz_free_secret(t);
	req.basic_pass = secret;
	req.body = body;
	req.body_len = blen;
	if (kz_http_do(ctx, &req, &r) != 0) {
		v = kz_http_failure(&r, res, "introspection");
	} else if (r.status == 401 || r.status == 403) {
		v = kz_set(res, KZ_ERROR, KZ_R_CONFIG, "introspection refused "
		    "client %s (HTTP %ld): check client_id and "
		    "client_secret_file", p->client_id, r.status);
	} else if (r.status != 200) {
		v = kz_map_status(r.status, res, "introspection");
		if (v != KZ_UNAVAILABLE)
			v = kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR,
			    "introspection answered HTTP %ld", r.status);
	} else if ((ans = kz_json_parse(r.body, r.body_len)) == NULL ||
	    !json_is_object(ans)) {
		json_decref(ans);
		v = kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR,
		    "introspection answer is not a JSON object");
	} else {
		v = read_introspection(ctx, p, ans, jwt_valid, res);
		json_decref(ans);
	}
	kz_http_resp_free(&r);
	explicit_bzero(body, blen);
	free(body);
	kz_free_secret(secret);
	kz_trace(ctx, "introspection", v == KZ_OK, "%s",
	    v == KZ_OK ? "active" : res->detail);
	return v;
}

/* The checks of a tokeninfo answer's claims, in the order a refusal is
 * best explained.  aud and iss are optional there (Kaizala's answer has
 * neither), but one that names another audience or issuer is refused as
 * introspection refuses it. */
static kz_verdict
tokeninfo_claims(kz_ctx *ctx, struct kz_provider *p, json_t *ans,
    kz_identity *id, kz_result *res)
{
	json_t *active = json_object_get(ans, "active");
	json_t *aud = json_object_get(ans, "aud");
	kz_verdict v;

	if (active != NULL && !json_is_true(active))
		return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_INACTIVE,
		    "tokeninfo: active is not true");
	if (json_object_get(ans, "token_type") &&
	    !is_access_token_type(kz_json_str(ans, "token_type")))
		return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_WRONG_TOKEN_TYPE,
		    "tokeninfo says this is not an access token");
	if (kz_identity_from_claims(p, ans, true, id, res) != 0)
		return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_MALFORMED,
		    "tokeninfo answer: %s", res->detail);
	if (aud != NULL && (v = kz_aud_check(p, aud, "tokeninfo", res)) !=
	    KZ_OK)
		return v;
	if (id->iss != NULL && p->issuer != NULL &&
	    strcmp(id->iss, p->issuer) != 0)
		return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_BAD_ISSUER,
		    "tokeninfo names another issuer");
	if (id->user == NULL)
		return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH,
		    "tokeninfo answer names no user");
	return kz_check_times(ctx, id, false, res);
}

/*
 * What a tokeninfo answer says of the token: 200 with an identity is the
 * token's validation; 403 with an identity is FORBIDDEN/missing_scope for
 * that identity (kz_decide binds it before the verdict may stand); a 403
 * that names nobody proves nothing about whose token this is.  A 200 may
 * still say active=false or name a refresh token.
 */
static kz_verdict
read_tokeninfo(kz_ctx *ctx, struct kz_provider *p,
    const struct kz_http_resp *r, kz_result *res)
{
	kz_identity id = { .source = KZ_SRC_TOKENINFO };
	json_t *ans = NULL;
	kz_verdict v;

	if (r->status != 200 && r->status != 403)
		return kz_map_status(r->status, res, "tokeninfo");
	ans = kz_json_parse(r->body, r->body_len);
	if (!json_is_object(ans)) {
		json_decref(ans);
		return r->status == 403 ? kz_map_status(403, res, "tokeninfo") :
		    kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR,
		    "tokeninfo answer is not a JSON object");
	}
	v = tokeninfo_claims(ctx, p, ans, &id, res);
	if (v != KZ_OK && r->status == 403)
		v = kz_map_status(403, res, "tokeninfo");
	else if (v == KZ_OK) {
		if (id.iss == NULL)
			id.iss = kz_strdup(p->issuer);
		kz_identity_clear(&res->id);
		res->id = id;
		memset(&id, 0, sizeof(id));
		v = r->status == 200 ? KZ_OK : kz_set(res, KZ_FORBIDDEN,
		    KZ_R_MISSING_SCOPE, "tokeninfo answered 403: the token "
		    "is not allowed here");
	}
	kz_identity_clear(&id);
	json_decref(ans);
	return v;
}

kz_verdict
kz_tokeninfo(kz_ctx *ctx, struct kz_provider *p, const char *tok, size_t len,
    kz_result *res)
{
	struct kz_http_req req = { .method = "GET", .url = p->tokeninfo_url,
		.ca_file = p->ca_file,
		.allow_http_loopback = p->allow_http_loopback };
	const char *hdrs[2] = { NULL, NULL };
	struct kz_http_resp r;
	char *hdr = NULL;
	kz_verdict v;
	int n;

	if (strcmp(p->tokeninfo_header, "Authorization") == 0)
		n = asprintf(&hdr, "Authorization: Bearer %.*s", (int)len, tok);
	else
		n = asprintf(&hdr, "%s: %.*s", p->tokeninfo_header, (int)len,
		    tok);
	if (n < 0)
		return kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
	hdrs[0] = hdr;
	req.headers = hdrs;
	if (kz_http_do(ctx, &req, &r) != 0)
		v = kz_http_failure(&r, res, "tokeninfo");
	else
		v = read_tokeninfo(ctx, p, &r, res);
	kz_http_resp_free(&r);
	kz_free_secret(hdr);
	kz_trace(ctx, "tokeninfo", v == KZ_OK, "%s",
	    v == KZ_OK ? "accepted" : res->detail);
	return v;
}
