/*
 * refresh.c - trading an enrolled refresh token for an access token, in
 * the provider's dialect (DESIGN.md section 5): `oauth2` (RFC 6749 6),
 * `kaizala` (GET with the secrets in headers) or `wazo` (a JSON POST to
 * wazo-auth's /token, DESIGN.md section 14).
 *
 * Rules this file keeps:
 * - a rotated refresh token is adopted into the enrollment as soon as it
 *   is seen, even when the rest of the answer is unusable: the old one may
 *   already be dead;
 * - the caller holds the enrollment's lock (one refresher) and saves the
 *   enrollment before anyone uses the new access token;
 * - a refusal of the grant (invalid_grant, Kaizala 401) makes the
 *   enrollment `revoked`; a refusal of the client makes it `error`; any
 *   other 4xx is `error` too, and the refresh token is kept;
 * - a 429 is remembered (retry_after_until), so no process asks again
 *   before the provider said it may.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "internal.h"

#define DEFAULT_ACCESS_LIFE 300	/* when the answer gives no lifetime */
#define DEFAULT_RETRY_AFTER 30
#define MAX_WAIT_RETRY_AFTER 10	/* longest sleep for an interactive caller */
/* Provider lifetimes are clamped before any arithmetic (a huge one would
 * overflow into an unreadable store); a longer remembered wait than a day
 * is taken for a clock that was fast when the 429 came. */
#define MAX_LIFE (10LL * 366 * 86400)
#define MAX_REMEMBERED_WAIT 86400
#define CLOCK_SLACK 60		/* seconds a clock may step back unnoticed */

enum outcome { DONE, RETRY };

/* The exp claim of a JWT-shaped token, unverified: only to tell the
 * administrator when a refresh token will lapse. */
static int64_t
clamp_life(int64_t life)
{
	return life <= 0 ? 0 : life > MAX_LIFE ? MAX_LIFE : life;
}

/* An absolute expiry from a provider: 0 (unknown) unless it lies in the
 * future, and no further than MAX_LIFE. */
static int64_t
clamp_exp(kz_ctx *ctx, int64_t exp)
{
	int64_t now = kz_now(ctx);

	if (exp <= now)
		return 0;
	return exp - now > MAX_LIFE ? now + MAX_LIFE : exp;
}

static int64_t
jwt_exp_hint(kz_ctx *ctx, const char *tok)
{
	const char *a = strchr(tok, '.'), *b = a ? strchr(a + 1, '.') : NULL;
	unsigned char *raw = NULL;
	size_t rawlen = 0;
	int64_t exp = 0;
	json_t *o;

	if (b == NULL || strchr(b + 1, '.') != NULL ||
	    kz_b64url_decode(a + 1, (size_t)(b - a - 1), &raw, &rawlen) != 0)
		return 0;
	if ((o = kz_json_parse((char *)raw, rawlen)) != NULL) {
		if (kz_json_int(o, "exp", &exp) != 1)
			exp = 0;
		json_decref(o);
	}
	explicit_bzero(raw, rawlen);
	free(raw);
	return clamp_exp(ctx, exp);
}

static bool
adopt_refresh_token(kz_ctx *ctx, struct kz_enr *e, const char *rt)
{
	char *dup;

	if (rt == NULL || !kz_enr_token_ok(rt) || strcmp(rt, e->refresh_token) == 0)
		return false;
	if ((dup = strdup(rt)) == NULL)
		return false;
	/* kept so that `enroll --force` can refuse to send it again */
	kz_fingerprint(e->refresh_token, strlen(e->refresh_token),
	    e->previous_fp);
	kz_free_secret(e->refresh_token);
	e->refresh_token = dup;
	e->refresh_exp = jwt_exp_hint(ctx, dup);
	kz_debug(ctx, "enrollment %s: refresh token rotated", e->name);
	return true;
}

/* A 200 that cannot be used: the enrollment says so (state error), with
 * whether a rotated refresh token was kept from it. */
static kz_verdict
unusable(struct kz_enr *e, const char *what, bool rotated, kz_result *res)
{
	e->state = KZ_ENR_ERROR;
	snprintf(e->message, sizeof(e->message), "token service answer %s%s",
	    what, rotated ? "; its rotated refresh token is kept" : "");
	return kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR, "enrollment "
	    "%s: %s", e->name, e->message);
}

/* The rotated refresh token of an answer that is cut short or not JSON,
 * if it arrived whole. */
static bool
salvage_refresh_token(kz_ctx *ctx, struct kz_enr *e,
    const struct kz_http_resp *r, const char *key)
{
	char *rt = kz_json_salvage_str(r->body, r->body_len, key);
	bool rotated = rt != NULL && adopt_refresh_token(ctx, e, rt);

	if (rotated)
		kz_log(ctx, LOG_WARNING, "enrollment=%s: the token service "
		    "answer was broken; its rotated refresh token is kept",
		    e->name);
	kz_free_secret(rt);
	return rotated;
}

static kz_verdict
adopt_access_token(kz_ctx *ctx, struct kz_enr *e, const char *at, int64_t exp,
    bool rotated, kz_result *res)
{
	int64_t now = kz_now(ctx);
	char *dup;

	if (at == NULL || !kz_enr_token_ok(at))
		return unusable(e, "has no usable access token", rotated, res);
	if ((dup = strdup(at)) == NULL)
		return kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
	kz_free_secret(e->access_token);
	e->access_token = dup;
	e->access_iat = now;
	exp = clamp_exp(ctx, exp);
	e->access_exp = exp != 0 ? exp : now + DEFAULT_ACCESS_LIFE;
	e->last_refresh = now;
	e->retry_after_until = 0;
	e->state = KZ_ENR_ACTIVE;	/* expiring is derived from refresh_exp */
	e->message[0] = '\0';
	return KZ_OK;
}

static kz_verdict
revoked(kz_ctx *ctx, struct kz_enr *e, const char *why, kz_result *res)
{
	e->state = KZ_ENR_REVOKED;
	kz_free_secret(e->access_token);	/* its chain is dead too */
	e->access_token = NULL;
	e->access_exp = e->access_iat = 0;
	snprintf(e->message, sizeof(e->message), "refresh token refused (%s): "
	    "renew with kztoken enroll %s", why, e->name);
	kz_log(ctx, LOG_WARNING, "enrollment=%s provider=%s state=revoked: "
	    "the token service refused the refresh token (%s); renew it with "
	    "`kztoken enroll %s`", e->name, e->provider, why, e->name);
	return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_REVOKED,
	    "enrollment %s is revoked (%s): renew it with kztoken enroll %s",
	    e->name, why, e->name);
}

static kz_verdict
client_refused(kz_ctx *ctx, struct kz_provider *p, struct kz_enr *e,
    kz_result *res)
{
	e->state = KZ_ENR_ERROR;
	snprintf(e->message, sizeof(e->message), "connector %s refused "
	    "(invalid_client): deleted, or client_secret_file wrong",
	    p->client_id ? p->client_id : "?");
	kz_log(ctx, LOG_ERR, "enrollment=%s provider=%s state=error: %s",
	    e->name, p->name, e->message);
	return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "[provider %s] the token "
	    "service refused connector %s (invalid_client): the connector was "
	    "deleted or client_secret_file is wrong", p->name,
	    p->client_id ? p->client_id : "?");
}

static kz_verdict
other_4xx(kz_ctx *ctx, struct kz_enr *e, long status, const char *code,
    kz_result *res)
{
	e->state = KZ_ENR_ERROR;
	snprintf(e->message, sizeof(e->message), "token service answered "
	    "HTTP %ld%s%s; refresh token kept", status, code ? " " : "",
	    code ? code : " (no error code)");
	kz_log(ctx, LOG_ERR, "enrollment=%s provider=%s state=error: %s",
	    e->name, e->provider, e->message);
	return kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR,
	    "enrollment %s: token service answered HTTP %ld%s%s (refresh "
	    "token kept)", e->name, status, code ? " " : "", code ? code : "");
}

static enum outcome
rate_limited(kz_ctx *ctx, struct kz_enr *e, const struct kz_http_resp *r,
    unsigned flags, int attempt, kz_verdict *v, kz_result *res)
{
	long wait = r->retry_after >= 0 ? r->retry_after : DEFAULT_RETRY_AFTER;

	if (wait > MAX_REMEMBERED_WAIT)
		wait = MAX_REMEMBERED_WAIT;

	if ((flags & KZ_REFRESH_WAIT) && attempt == 0 &&
	    wait <= MAX_WAIT_RETRY_AFTER) {
		kz_debug(ctx, "enrollment %s: 429, waiting %lds", e->name, wait);
		sleep((unsigned)wait);
		kz_deadline_start(ctx);
		return RETRY;
	}
	e->retry_after_until = kz_now(ctx) + wait;
	snprintf(e->message, sizeof(e->message), "rate limited: the token "
	    "service asked to wait %lds", wait);
	*v = kz_set(res, KZ_UNAVAILABLE, KZ_R_RATE_LIMITED, "enrollment %s: "
	    "token service answered 429; retry after %lds", e->name, wait);
	return DONE;
}

static kz_verdict
transient(struct kz_enr *e, const struct kz_http_resp *r, kz_result *res)
{
	kz_verdict v;

	if (r->status == 0)
		v = kz_http_failure(r, res, "token service");
	else
		v = kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR,
		    "token service answered HTTP %ld", r->status);
	snprintf(e->message, sizeof(e->message), "%.199s", res->detail);
	return v;
}

/* The token service the configuration names (token_url, or discovery's
 * token_endpoint): what every move is measured against. */
static const char *
configured_token_url(kz_ctx *ctx, struct kz_provider *p, kz_result *res)
{
	if (p->token_url != NULL)
		return p->token_url;
	if (p->discovery != NULL && kz_discover(ctx, p, res) == KZ_OK)
		return p->disc_token_url;
	return NULL;
}

static void
forget_move(struct kz_enr *e)
{
	free(e->token_url);
	free(e->token_url_from);
	e->token_url = e->token_url_from = NULL;
}

/* Where to send the refresh: a move kept with the enrollment stands only
 * while the configured URL it came from is still the configured one and
 * the move still goes where moves may go (a store written before that
 * rule, or before the admin fixed kztoken.conf, must not steer us).
 * *conf is the configured URL. */
static const char *
token_url(kz_ctx *ctx, struct kz_provider *p, struct kz_enr *e,
    const char **conf, kz_result *res)
{
	if ((*conf = configured_token_url(ctx, p, res)) == NULL)
		return NULL;
	if (e->token_url != NULL && (e->token_url_from == NULL ||
	    strcmp(e->token_url_from, *conf) != 0 ||
	    kz_url_same_site(e->token_url, *conf, &p->allowed_hosts,
	    p->allow_http_loopback) != 0)) {
		kz_log(ctx, LOG_NOTICE, "enrollment=%s provider=%s: the moved "
		    "token service URL kept with it is dropped (token_url "
		    "changed, or the move is not to an allowed host)", e->name,
		    p->name);
		forget_move(e);
	}
	return e->token_url != NULL ? e->token_url : *conf;
}

static enum outcome
oauth2(kz_ctx *ctx, struct kz_provider *p, struct kz_enr *e,
    const char *secret, unsigned flags, int attempt, kz_verdict *v,
    kz_result *res)
{
	struct kz_http_req req = { .method = "POST", .ca_file = p->ca_file,
		.allow_http_loopback = p->allow_http_loopback,
		.basic_user = p->client_id, .basic_pass = secret };
	struct kz_http_resp r;
	enum outcome out = DONE;
	char *body = NULL;
	size_t blen = 0;
	int64_t life = 0, rlife = 0;
	json_t *ans = NULL;
	const char *conf;
	bool rotated;

	if ((req.url = token_url(ctx, p, e, &conf, res)) == NULL) {
		*v = kz_set(res, KZ_ERROR, KZ_R_CONFIG, "[provider %s]: no "
		    "token_url", p->name);
		return DONE;
	}
	if (kz_form_add(&body, &blen, "grant_type", "refresh_token") != 0 ||
	    kz_form_add(&body, &blen, "refresh_token", e->refresh_token) != 0) {
		free(body);
		*v = kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
		return DONE;
	}
	req.body = body;
	req.body_len = blen;
	if (kz_http_do(ctx, &req, &r) != 0) {
		if (r.cut_status == 200) {
			*v = unusable(e, "was cut short", salvage_refresh_token(
			    ctx, e, &r, "refresh_token"), res);
		} else {
			*v = transient(e, &r, res);
		}
		goto out;
	}
	ans = kz_json_parse(r.body, r.body_len);
	if (r.status == 200) {
		if (!json_is_object(ans)) {
			*v = unusable(e, "is not a JSON object",
			    salvage_refresh_token(ctx, e, &r, "refresh_token"),
			    res);
			goto out;
		}
		/* rotation first: the old one may be dead already */
		rotated = adopt_refresh_token(ctx, e, kz_json_str(ans,
		    "refresh_token"));
		if (kz_json_int(ans, "refresh_expires_in", &rlife) == 1 &&
		    (rlife = clamp_life(rlife)) > 0)
			e->refresh_exp = kz_now(ctx) + rlife;
		if (kz_json_int(ans, "expires_in", &life) != 1)
			life = 0;
		life = clamp_life(life);
		*v = adopt_access_token(ctx, e, kz_json_str(ans,
		    "access_token"), life ? kz_now(ctx) + life :
		    jwt_exp_hint(ctx, kz_json_str(ans, "access_token") ?
		    kz_json_str(ans, "access_token") : ""), rotated, res);
	} else if (r.status == 429) {
		out = rate_limited(ctx, e, &r, flags, attempt, v, res);
	} else if (kz_oauth_error(ans) && strcmp(kz_oauth_error(ans),
	    "invalid_grant") == 0) {
		*v = revoked(ctx, e, "invalid_grant", res);
	} else if (kz_oauth_error(ans) && strcmp(kz_oauth_error(ans),
	    "invalid_client") == 0) {
		*v = client_refused(ctx, p, e, res);
	} else if (r.status >= 400 && r.status < 500) {
		*v = other_4xx(ctx, e, r.status, kz_oauth_error(ans), res);
	} else {
		*v = transient(e, &r, res);
	}
out:
	json_decref(ans);
	kz_http_resp_free(&r);
	explicit_bzero(body, blen);
	free(body);
	return out;
}

/* A URL a provider names (Location, endpointUrl) may be used only where
 * the configured one lives, or on an allowed host; a refusal is logged
 * with the host it named, never more of it. */
static bool
may_go(kz_ctx *ctx, struct kz_provider *p, const struct kz_enr *e,
    const char *what, const char *to, const char *conf)
{
	const char *auth = strstr(to, "://");
	size_t shown;

	if (strlen(to) <= 1024 && kz_url_same_site(to, conf,
	    &p->allowed_hosts, p->allow_http_loopback) == 0)
		return true;
	auth = auth != NULL ? auth + 3 : to;
	shown = (size_t)(auth - to) + strcspn(auth, "/?#");
	kz_log(ctx, LOG_WARNING, "enrollment=%s provider=%s: refused %s to "
	    "%.*s: not the host of the configured token service nor in "
	    "allowed_hosts; nothing was sent there", e->name, p->name, what,
	    (int)(shown > 120 ? 120 : shown), to);
	return false;
}

/* A Location that is an absolute path ("/x") is on the origin of the
 * request that got it; anything else must be an absolute URL. */
static char *
resolve_location(const char *loc, const char *req_url)
{
	const char *auth;
	char *out = NULL;

	if (loc[0] != '/' || loc[1] == '/')
		return strdup(loc);
	if ((auth = strstr(req_url, "://")) == NULL)
		return NULL;
	auth += 3;
	if (asprintf(&out, "%.*s%s", (int)(auth - req_url + strcspn(auth,
	    "/?")), req_url, loc) < 0)
		return NULL;
	return out;
}

/* Kaizala answers 308 when the endpoint moved: its Location is the new
 * URL of the very request that got it (RFC 9110 15.4.9), kept for later
 * refreshes; a body's endpointUrl is the new API base.  True when the
 * move is taken (the request is repeated there); false leaves e as it
 * was. */
static bool
moved(kz_ctx *ctx, struct kz_provider *p, struct kz_enr *e, json_t *ans,
    const struct kz_http_resp *r, const char *req_url, const char *conf)
{
	const char *ep = ans ? kz_json_str(ans, "endpointUrl") : NULL;
	char *to, *from;

	if (r->location == NULL ||
	    (to = resolve_location(r->location, req_url)) == NULL)
		return false;
	if (!may_go(ctx, p, e, "a 308 move of the token service", to, conf) ||
	    (from = strdup(conf)) == NULL) {
		free(to);
		return false;
	}
	forget_move(e);
	e->token_url = to;
	e->token_url_from = from;
	if (ep != NULL && may_go(ctx, p, e, "the endpointUrl of a 308", ep,
	    conf)) {
		free(e->endpoint_url);
		e->endpoint_url = strdup(ep);
	}
	kz_log(ctx, LOG_NOTICE, "enrollment=%s provider=%s: the token service "
	    "moved (308); its new URL is kept with the enrollment", e->name,
	    p->name);
	return true;
}

static kz_verdict
move_refused(struct kz_enr *e, kz_result *res)
{
	return kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR, "enrollment "
	    "%s: the token service answered 308 to a place kztoken may not "
	    "go (no Location, or a host outside token_url's and "
	    "allowed_hosts); nothing was sent there", e->name);
}

static enum outcome
kaizala(kz_ctx *ctx, struct kz_provider *p, struct kz_enr *e,
    const char *secret, unsigned flags, int attempt, kz_verdict *v,
    kz_result *res)
{
	struct kz_http_req req = { .method = "GET", .ca_file = p->ca_file,
		.allow_http_loopback = p->allow_http_loopback };
	char *h_id = NULL, *h_secret = NULL, *h_rt = NULL;
	const char *hdrs[4];
	struct kz_http_resp r = { 0 };
	enum outcome out = DONE;
	int64_t ms = 0;
	json_t *ans = NULL;
	const char *code, *conf;

	if ((req.url = token_url(ctx, p, e, &conf, res)) == NULL) {
		*v = kz_set(res, KZ_ERROR, KZ_R_CONFIG, "[provider %s]: no "
		    "token_url", p->name);
		return DONE;
	}
	if (p->client_id == NULL || asprintf(&h_id, "applicationId: %s",
	    p->client_id) < 0 || asprintf(&h_secret, "applicationSecret: %s",
	    secret) < 0 || asprintf(&h_rt, "refreshToken: %s",
	    e->refresh_token) < 0) {
		*v = kz_set(res, KZ_ERROR, p->client_id ? KZ_R_INTERNAL :
		    KZ_R_CONFIG, "[provider %s]: %s", p->name, p->client_id ?
		    "out of memory" : "kaizala needs client_id");
		goto out;
	}
	hdrs[0] = h_id;
	hdrs[1] = h_secret;
	hdrs[2] = h_rt;
	hdrs[3] = NULL;
	req.headers = hdrs;
	if (kz_http_do(ctx, &req, &r) != 0) {
		if (r.cut_status == 200) {
			*v = unusable(e, "was cut short", salvage_refresh_token(
			    ctx, e, &r, "refreshToken"), res);
		} else {
			*v = transient(e, &r, res);
		}
		goto out;
	}
	ans = kz_json_parse(r.body, r.body_len);
	code = kz_oauth_error(ans);
	if (r.status == 200 && !json_is_object(ans)) {
		*v = unusable(e, "is not a JSON object",
		    salvage_refresh_token(ctx, e, &r, "refreshToken"), res);
	} else if (r.status == 200) {
		const char *ep = kz_json_str(ans, "endpointUrl");
		bool rotated = adopt_refresh_token(ctx, e, kz_json_str(ans,
		    "refreshToken"));

		if (ep != NULL && may_go(ctx, p, e, "the endpointUrl", ep,
		    conf)) {
			free(e->endpoint_url);
			e->endpoint_url = strdup(ep);
		}
		/* accessTokenExpiry is in milliseconds since the epoch */
		if (kz_json_int(ans, "accessTokenExpiry", &ms) != 1 || ms <= 0)
			ms = 0;	/* (ms / 1000 is clamped by adopt_access_token) */
		*v = adopt_access_token(ctx, e, kz_json_str(ans,
		    "accessToken"), ms / 1000, rotated, res);
	} else if (r.status == 308 && attempt == 0) {
		if (moved(ctx, p, e, ans, &r, req.url, conf))
			out = RETRY;
		else
			*v = move_refused(e, res);
	} else if (r.status == 429) {
		out = rate_limited(ctx, e, &r, flags, attempt, v, res);
	} else if (r.status == 401 && code && strcmp(code,
	    "invalid_client") == 0) {
		*v = client_refused(ctx, p, e, res);
	} else if (r.status == 401) {
		*v = revoked(ctx, e, code ? code : "HTTP 401", res);
	} else if (r.status >= 300 && r.status < 500) {
		*v = other_4xx(ctx, e, r.status, code, res);
	} else {
		*v = transient(e, &r, res);
	}
out:
	json_decref(ans);
	kz_http_resp_free(&r);
	kz_free_secret(h_id);
	kz_free_secret(h_secret);
	kz_free_secret(h_rt);
	return out;
}

/* wazo-auth: POST {wazo_url}/token {"refresh_token", "client_id",
 * "expiration"}; the answer's data.token and data.utc_expires_at.  An
 * unknown or deleted refresh token is 401 ("Authentication Failed") or
 * 404: revoked.  The refresh token itself never rotates. */
#define WAZO_EXPIRATION 3600

static char *
wazo_body(const struct kz_provider *p, const struct kz_enr *e)
{
	json_t *o = json_pack("{s:s, s:s, s:i}", "refresh_token",
	    e->refresh_token, "client_id", p->client_id, "expiration",
	    WAZO_EXPIRATION);
	char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;

	if (o != NULL) {	/* the copy inside holds the refresh token */
		json_t *rt = json_object_get(o, "refresh_token");

		if (json_string_length(rt) > 0)
			explicit_bzero((char *)json_string_value(rt),
			    json_string_length(rt));
	}
	json_decref(o);
	return txt;
}

static enum outcome
wazo(kz_ctx *ctx, struct kz_provider *p, struct kz_enr *e, unsigned flags,
    int attempt, kz_verdict *v, kz_result *res)
{
	const char *hdrs[] = { "Content-Type: application/json", NULL };
	struct kz_http_req req = { .method = "POST", .ca_file = p->ca_file,
		.allow_http_loopback = p->allow_http_loopback,
		.headers = hdrs };
	struct kz_http_resp r;
	enum outcome out = DONE;
	char *url = NULL, *body;
	json_t *ans = NULL, *data;

	if ((body = wazo_body(p, e)) == NULL ||
	    asprintf(&url, "%s/token", p->wazo_url) < 0) {
		kz_free_secret(body);
		*v = kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
		return DONE;
	}
	req.url = url;
	req.body = body;
	req.body_len = strlen(body);
	if (kz_http_do(ctx, &req, &r) != 0) {
		*v = transient(e, &r, res);
		goto out;
	}
	ans = kz_json_parse(r.body, r.body_len);
	data = json_object_get(ans, "data");
	if (r.status == 200 && !json_is_object(data)) {
		*v = unusable(e, "has no data object", false, res);
	} else if (r.status == 200) {
		*v = adopt_access_token(ctx, e, kz_json_str(data, "token"),
		    kz_wazo_time(kz_json_str(data, "utc_expires_at")), false,
		    res);
	} else if (r.status == 429) {
		out = rate_limited(ctx, e, &r, flags, attempt, v, res);
	} else if (r.status == 401 || r.status == 404) {
		*v = revoked(ctx, e, r.status == 401 ? "HTTP 401" : "HTTP 404",
		    res);
	} else if (r.status >= 400 && r.status < 500) {
		*v = other_4xx(ctx, e, r.status, NULL, res);
	} else {
		*v = transient(e, &r, res);
	}
out:
	json_decref(ans);
	kz_http_resp_free(&r);
	kz_free_secret(body);
	free(url);
	return out;
}

kz_verdict
kz_refresh_once(kz_ctx *ctx, struct kz_provider *p, struct kz_enr *e,
    unsigned flags, kz_result *res)
{
	char err[256], fp[13], *secret = NULL;
	kz_verdict v = KZ_ERROR;
	int64_t now = kz_now(ctx);

	/* a wait further off than any we remember was stored while the
	 * clock was fast: it no longer means anything */
	if (e->retry_after_until > now + MAX_REMEMBERED_WAIT)
		e->retry_after_until = 0;
	if (e->retry_after_until > now)
		return kz_set(res, KZ_UNAVAILABLE, KZ_R_RATE_LIMITED,
		    "enrollment %s: the token service asked to wait %llds "
		    "more", e->name, (long long)(e->retry_after_until - now));
	/* wazo-auth's refresh takes no client secret */
	if (p->token_style != KZ_STYLE_WAZO && (secret =
	    kz_read_client_secret(ctx, p, err, sizeof(err))) == NULL)
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "%s", err);
	kz_fingerprint(e->refresh_token, strlen(e->refresh_token), fp);
	kz_debug(ctx, "enrollment %s: refreshing (%s, refresh token fp=%s)",
	    e->name, p->token_style == KZ_STYLE_KAIZALA ? "kaizala" :
	    p->token_style == KZ_STYLE_WAZO ? "wazo" : "oauth2", fp);
	for (int attempt = 0; attempt < 3; attempt++) {
		enum outcome o = p->token_style == KZ_STYLE_KAIZALA ?
		    kaizala(ctx, p, e, secret, flags, attempt, &v, res) :
		    p->token_style == KZ_STYLE_WAZO ?
		    wazo(ctx, p, e, flags, attempt, &v, res) :
		    oauth2(ctx, p, e, secret, flags, attempt, &v, res);

		if (o == DONE)
			break;
	}
	kz_free_secret(secret);
	kz_trace(ctx, "refresh", v == KZ_OK, "enrollment %s: %s", e->name,
	    v == KZ_OK ? "new access token" : res->detail);
	return v;
}

/* The access token's lifetime is a duration from the local time it was
 * received: a clock now before that time has been moved back (or was fast
 * then), and the expiry says nothing any more. */
static bool
clock_went_back(kz_ctx *ctx, const struct kz_enr *e)
{
	return kz_now(ctx) < e->access_iat;
}

bool
kz_enr_access_valid(kz_ctx *ctx, const struct kz_enr *e)
{
	int64_t now = kz_now(ctx);

	return e->access_token != NULL && now < e->access_exp &&
	    now + CLOCK_SLACK >= e->access_iat;
}

bool
kz_enr_due(kz_ctx *ctx, const struct kz_enr *e)
{
	int64_t life, margin;

	if (e->access_token == NULL || e->access_exp == 0 ||
	    clock_went_back(ctx, e))
		return true;
	life = e->access_exp - e->access_iat;
	margin = e->access_iat > 0 && life > 0 ? life / 10 : 60;
	return kz_now(ctx) >= e->access_exp - margin;
}

kz_enr_state
kz_enr_state_now(kz_ctx *ctx, const struct kz_enr *e)
{
	int64_t now = kz_now(ctx);

	if (e->state != KZ_ENR_ACTIVE && e->state != KZ_ENR_EXPIRING)
		return e->state;
	if (e->refresh_exp == 0)
		return KZ_ENR_ACTIVE;
	if (now >= e->refresh_exp)
		return KZ_ENR_EXPIRED;
	if (now >= e->refresh_exp - ctx->cfg->warn_days * 86400)
		return KZ_ENR_EXPIRING;
	return KZ_ENR_ACTIVE;
}
