/*
 * decide.c - one decision, top to bottom (DESIGN.md section 4): shape,
 * denylist, route, validate, revocation, identity, policy, audit.
 * Every path that does not reach the end with KZ_OK denies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The shape was read in kz_decide, from the pass that also decides the
 * fingerprint; max_token_length was applied first. */
static kz_verdict
check_shape(kz_ctx *ctx, const kz_request *req, kz_shape shape,
    kz_result *res)
{
	size_t max = ctx->cfg->max_token_length;

	switch (shape) {
	case KZ_SHAPE_TOO_LONG:
		return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_TOO_LONG,
		    "%zu characters, more than max_token_length %zu",
		    req->token_len, max);
	case KZ_SHAPE_MALFORMED:
		return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_MALFORMED,
		    "not a JWT (three base64url segments) nor an opaque token");
	default:
		kz_trace(ctx, "shape", 1, "%s, %zu characters",
		    shape == KZ_SHAPE_JWT ? "JWT" : "opaque", req->token_len);
		return KZ_OK;
	}
}

/* Asks the provider, through the cache; a cached OK may stand in for
 * offline_grace while the provider cannot answer.  The cache keeps the
 * validation of a token and the revocation check of a JWT apart, and
 * each provider's apart: kz_cache_get checks both on every read. */
enum asked { INTROSPECTION, TOKENINFO, WAZO };

static kz_verdict
ask(kz_ctx *ctx, struct kz_provider *p, const kz_request *req,
    enum asked who, bool jwt_valid, kz_result *res)
{
	switch (who) {
	case TOKENINFO:
		return kz_tokeninfo(ctx, p, req->token, req->token_len, res);
	case WAZO:
		return kz_wazo_validate(ctx, p, req->token, req->token_len,
		    res);
	default:
		return kz_introspect(ctx, p, req->token, req->token_len,
		    jwt_valid, res);
	}
}

static kz_verdict
remote(kz_ctx *ctx, struct kz_provider *p, const kz_request *req,
    const char sha[65], enum asked who, bool jwt_valid, kz_result *res)
{
	enum kz_cache_kind kind = jwt_valid ? KZ_CACHE_REVOCATION :
	    KZ_CACHE_VALIDATION;
	kz_result stale = { 0 };
	enum kz_cache_hit hit;
	kz_verdict v;

	hit = kz_cache_get(ctx, p->name, kind, sha, &stale);
	if (hit == KZ_CACHE_FRESH) {
		kz_trace(ctx, "cache", stale.verdict == KZ_OK, "%s %s",
		    kz_verdict_name(stale.verdict), stale.detail);
		if (jwt_valid) {	/* keep the JWT's identity */
			v = kz_set(res, stale.verdict, stale.verdict == KZ_OK ?
			    KZ_R_NONE : KZ_R_REVOKED, "%s", stale.detail);
			kz_result_clear(&stale);
			return v;
		}
		kz_identity_clear(&res->id);
		res->id = stale.id;
		memset(&stale.id, 0, sizeof(stale.id));
		v = kz_set(res, stale.verdict, stale.reason, "%s", stale.detail);
		kz_result_clear(&stale);
		return v;
	}
	if (hit == KZ_CACHE_MISS && !jwt_valid &&
	    (v = kz_ratelimit_unknown(ctx, req->source, res)) != KZ_OK)
		return v;
	v = ask(ctx, p, req, who, jwt_valid, res);
	if (v == KZ_OK || v == KZ_UNAUTHENTICATED) {
		kz_cache_put(ctx, p->name, kind, sha, res);
	} else if (v == KZ_UNAVAILABLE && hit == KZ_CACHE_STALE) {
		kz_trace(ctx, "offline_grace", 1, "provider down (%s); a "
		    "cached OK stands in", res->detail);
		if (!jwt_valid) {
			kz_identity_clear(&res->id);
			res->id = stale.id;
			memset(&stale.id, 0, sizeof(stale.id));
		}
		v = kz_set(res, KZ_OK, KZ_R_NONE, "cached answer, provider "
		    "down (offline_grace)");
	}
	kz_result_clear(&stale);
	return v;
}

static kz_verdict
route(kz_ctx *ctx, struct kz_provider *p, const kz_request *req,
    kz_shape shape, const char sha[65], kz_result *res)
{
	bool can_introspect = p->introspection_url || p->discovery;

	switch (p->validation) {
	case KZ_VAL_INTROSPECT:
		return remote(ctx, p, req, sha, INTROSPECTION, false, res);
	case KZ_VAL_TOKENINFO:
		return remote(ctx, p, req, sha, TOKENINFO, false, res);
	case KZ_VAL_WAZO:
		return remote(ctx, p, req, sha, WAZO, false, res);
	case KZ_VAL_JWT:
		if (shape != KZ_SHAPE_JWT)
			return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_MALFORMED,
			    "opaque token, but [provider %s] validation = jwt",
			    p->name);
		return kz_jwt_validate(ctx, p, req->token, req->token_len, res);
	case KZ_VAL_AUTO:
		break;
	}
	if (shape == KZ_SHAPE_JWT &&
	    (p->jwks_file || p->jwks_url || p->discovery || p->hmac_secret_file))
		return kz_jwt_validate(ctx, p, req->token, req->token_len, res);
	if (can_introspect)
		return remote(ctx, p, req, sha, INTROSPECTION, false, res);
	if (p->tokeninfo_url)
		return remote(ctx, p, req, sha, TOKENINFO, false, res);
	return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_MALFORMED,
	    "[provider %s] has no way to check this kind of token", p->name);
}

static void
user_message(kz_ctx *ctx, const kz_request *req, const struct kz_service *svc,
    kz_result *res)
{
	char *m = res->user_msg;
	size_t n = sizeof(res->user_msg);

	(void)ctx;
	switch (res->reason) {
	case KZ_R_EXPIRED:
		snprintf(m, n, "Token expired");
		return;
	case KZ_R_MISSING_GROUP:
		snprintf(m, n, "Not a member of group %s",
		    svc && svc->require_group.n ? svc->require_group.v[0] : "?");
		return;
	case KZ_R_LIKELY_TRUNCATED:
		/* the length is the client's cap: the size of every part */
		snprintf(m, n, "Token looks truncated (%zu characters): your "
		    "client cuts long input; paste it in parts of %zu "
		    "(fold -w %zu token.txt)", req->token_len, req->token_len,
		    req->token_len);
		return;
	case KZ_R_TOO_LONG:
		snprintf(m, n, "Token too long");
		return;
	case KZ_R_USER_MISMATCH:
		snprintf(m, n, "Token is not for this user");
		return;
	case KZ_R_MISSING_SCOPE:
		snprintf(m, n, "Token lacks the scope this service needs");
		return;
	case KZ_R_TOKEN_TOO_OLD:
		snprintf(m, n, "Token too old for this service: log in again "
		    "at the identity provider");
		return;
	case KZ_R_NOT_YET_VALID:
	case KZ_R_ISSUED_IN_FUTURE:
		snprintf(m, n, "Token not yet valid (check the clock)");
		return;
	case KZ_R_INSUFFICIENT_AUTH:
		snprintf(m, n, "This service needs a multi-factor login: log "
		    "in again with a second factor");
		return;
	case KZ_R_RATE_LIMITED:
		snprintf(m, n, "Too many token attempts: try again in a "
		    "minute");
		return;
	case KZ_R_ENROLLMENT:
		snprintf(m, n, "Group check unavailable: the host's group "
		    "token needs renewal");
		return;
	default:
		break;
	}
	switch (res->verdict) {
	case KZ_OK:
		m[0] = '\0';
		return;
	case KZ_UNAUTHENTICATED:
		snprintf(m, n, "Token not accepted");
		return;
	case KZ_FORBIDDEN:
		snprintf(m, n, "Token does not allow this service");
		return;
	case KZ_UNAVAILABLE:
		snprintf(m, n, "Identity provider unreachable");
		return;
	case KZ_ERROR:
		snprintf(m, n, "Token login is misconfigured on this host");
		return;
	}
}

static kz_verdict
decide(kz_ctx *ctx, const kz_request *req, const struct kz_service *svc,
    kz_shape shape, const char sha[65], kz_result *res)
{
	struct kz_config *cfg = ctx->cfg;
	const char *pname = svc && svc->provider ? svc->provider : cfg->provider;
	struct kz_provider *p = kz_config_provider(cfg, pname);
	kz_verdict v, bound;

	if (p == NULL)
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "no provider %s", pname);
	res->id.provider = kz_strdup(p->name);
	if (svc != NULL)
		kz_trace(ctx, "config", 1, "%s: provider %s, policy [service "
		    "%s]", cfg->path, p->name, svc->name);
	else
		kz_trace(ctx, "config", 1, "%s: provider %s, no policy for "
		    "service %s (no section for it, its base service nor "
		    "[service default]): any valid token of the user", cfg->path,
		    p->name, req->service ? req->service : "default");
	if ((v = check_shape(ctx, req, shape, res)) != KZ_OK)
		return v;
	if (kz_denylisted(ctx, sha, NULL))
		return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_DENYLISTED,
		    "fingerprint on the local denylist");
	/* From here on only OK and FORBIDDEN go on: a FORBIDDEN from the
	 * provider (a tokeninfo 403 naming the user) is a verdict about an
	 * identity, and stands only once that identity is bound. */
	v = route(ctx, p, req, shape, sha, res);
	if (v != KZ_OK && v != KZ_FORBIDDEN)
		return v;
	if (res->id.jti && kz_denylisted(ctx, NULL, res->id.jti))
		return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_DENYLISTED,
		    "jti on the local denylist");
	if (v == KZ_OK && shape == KZ_SHAPE_JWT &&
	    res->id.source == KZ_SRC_JWT && p->revocation_introspect &&
	    (v = remote(ctx, p, req, sha, INTROSPECTION, true, res)) != KZ_OK)
		return v;
	if ((bound = kz_bind_user(ctx, p, req->user, res)) != KZ_OK)
		return bound;
	if (v == KZ_FORBIDDEN)
		return v;
	/* wazo-auth judges ACLs itself, asked only now that the user is
	 * bound (a 403 is then a verdict about this user) */
	if (p->validation == KZ_VAL_WAZO && svc && svc->require_acl.n > 0 &&
	    (v = kz_wazo_acl(ctx, p, req->token, req->token_len,
	    &svc->require_acl, res)) != KZ_OK)
		return v;
	return kz_authorize(ctx, p, svc, res);
}

kz_verdict
kz_decide(kz_ctx *ctx, const kz_request *req, kz_result *res)
{
	const char *sname = req->service ? req->service : "default";
	const struct kz_service *svc = kz_config_service(ctx->cfg, sname);
	size_t max = ctx->cfg->max_token_length;
	char sha[65] = "";
	kz_shape shape;
	kz_verdict v;
	int plain;

	memset(res, 0, sizeof(*res));
	ctx->deny_checked = false;
	ctx->si.tok = NULL;
	kz_unbind(ctx);
	/* One SHA-256 serves as fingerprint, cache key and denylist key, and
	 * for a JWT the same pass gives the digest its signature check needs
	 * (ctx->si, used by kz_jwt_validate for this very token only).
	 * A password typed at the token prompt gets no fingerprint: 48 bits
	 * of its hash in a log would let a reader test guesses. */
	if (req->token != NULL && req->token_len > 0) {
		const char *last;

		shape = kz_token_scan(req->token, req->token_len, max, &plain);
		last = shape == KZ_SHAPE_JWT ? memrchr(req->token, '.',
		    req->token_len) : NULL;
		if (kz_token_digest(ctx, req->token, req->token_len, last ?
		    (size_t)(last - req->token) : 0, ctx->si.md, sha) == 1) {
			ctx->si.tok = req->token;
			ctx->si.len = (size_t)(last - req->token);
		}
		if (!plain) {
			memcpy(res->fp, sha, 12);
			res->fp[12] = '\0';
		}
	} else
		shape = kz_token_shape(req->token, req->token_len, max);
	kz_deadline_start(ctx);
	v = kz_seal(ctx, req, decide(ctx, req, svc, shape, sha, res), res);
	ctx->si.tok = NULL;
	/* A failing token of exactly a client's input cap was most likely
	 * cut short on its way here: say so, it is the useful answer. */
	if (v == KZ_UNAUTHENTICATED && kz_is_truncation_length(req->token_len) &&
	    (res->reason == KZ_R_MALFORMED || res->reason == KZ_R_BAD_SIGNATURE ||
	    res->reason == KZ_R_INACTIVE)) {
		kz_set(res, v, KZ_R_LIKELY_TRUNCATED, "%zu characters, a common "
		    "client input cap (was: %s)", req->token_len,
		    kz_reason_name(res->reason));
	}
	if (v != KZ_OK)
		kz_trace(ctx, "verdict", 0, "%s/%s: %s", kz_verdict_name(v),
		    kz_reason_name(res->reason), res->detail);
	else
		kz_trace(ctx, "verdict", 1, "OK for %s", res->id.user ?
		    res->id.user : "?");
	user_message(ctx, req, svc, res);
	if (!((req->flags & KZ_REQ_FIRST_PART) &&
	    res->reason == KZ_R_LIKELY_TRUNCATED))
		kz_audit(ctx, req, res);
	ctx->deadline_ms = 0;
	kz_unbind(ctx);
	return res->verdict;
}
