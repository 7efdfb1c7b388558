/*
 * device.c - login by device authorization (RFC 8628, DESIGN.md section
 * 15): the host asks the provider for a device code, shows the user where
 * to approve it, then polls the token endpoint until the user approved,
 * refused, or device_timeout passed.  The access token it receives goes
 * through kz_decide like a pasted one: audience, identity bound to the
 * requested user, service policy.  No shortcut: this file never decides.
 *
 * The device code is a credential (whoever holds it receives the token)
 * and the user code is the user's to see: neither is logged, traced or
 * put in an error message; both are wiped when done.  The poll sleeps
 * with nanosleep: no threads, no signals.  Each request keeps `timeout`,
 * the polling in all keeps device_timeout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#include "internal.h"

#define DEVICE_GRANT "urn:ietf:params:oauth:grant-type:device_code"
#define DEFAULT_INTERVAL 5	/* RFC 8628 3.2 */
#define MAX_INTERVAL 60
#define SLOW_DOWN_STEP 5	/* RFC 8628 3.5 */
#define MAX_DEVICE_CODE 4096
#define MAX_USER_CODE 64
#define MAX_URI 512

struct kz_device {
	struct kz_provider *p;
	char *device_code;
	char prompt[MAX_URI + MAX_USER_CODE + 64];
	long interval;		/* seconds between polls */
	int64_t expires_ms;	/* monotonic: when the device code lapses */
};

enum poll { POLL_PENDING, POLL_TOKEN, POLL_DONE };

static const char *
client_id(const struct kz_provider *p)
{
	return p->device_client_id ? p->device_client_id : p->client_id;
}

/*
 * Client authentication as at the token endpoint (RFC 6749 2.3.1): HTTP
 * Basic with the secret, when the device client is the configured
 * confidential client; else a public client that names itself in the
 * form (RFC 8628 3.1).  The secret belongs to client_id only, so a
 * separate device_client_id is always public.
 */
static kz_verdict
client_auth(kz_ctx *ctx, struct kz_provider *p, struct kz_http_req *req,
    char **secret, char **body, size_t *blen, kz_result *res)
{
	const char *id = client_id(p);
	char err[256];

	*secret = NULL;
	if (id == NULL)
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "[provider %s]: the "
		    "device flow needs device_client_id or client_id", p->name);
	if (p->client_secret_file != NULL && p->client_id != NULL &&
	    strcmp(id, p->client_id) == 0) {
		if ((*secret = kz_read_client_secret(ctx, p, err,
		    sizeof(err))) == NULL)
			return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "%s", err);
		req->basic_user = id;
		req->basic_pass = *secret;
		return KZ_OK;
	}
	if (kz_form_add(body, blen, "client_id", id) != 0)
		return kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
	return KZ_OK;
}

/*
 * POSTs the form in *body, with the client's authentication, to a
 * provider endpoint: 0 when an HTTP status arrived (*ans is the answer as
 * JSON, or NULL), else -1 with res filled.  The form is wiped and freed
 * either way; the caller frees r and *ans.
 */
static int
post_form(kz_ctx *ctx, struct kz_provider *p, const char *url, char **body,
    size_t *blen, struct kz_http_resp *r, json_t **ans, kz_result *res,
    const char *what)
{
	struct kz_http_req req = { .method = "POST", .url = url,
		.ca_file = p->ca_file,
		.allow_http_loopback = p->allow_http_loopback };
	char *secret = NULL;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	*ans = NULL;
	if (client_auth(ctx, p, &req, &secret, body, blen, res) == KZ_OK) {
		req.body = *body;
		req.body_len = *blen;
		if (kz_http_do(ctx, &req, r) == 0) {
			*ans = kz_json_parse(r->body, r->body_len);
			rc = 0;
		} else {
			kz_http_failure(r, res, what);
		}
	}
	kz_free_secret(secret);
	if (*body != NULL)
		explicit_bzero(*body, *blen);
	free(*body);
	*body = NULL;
	return rc;
}

static const char *
device_url(kz_ctx *ctx, struct kz_provider *p, kz_result *res)
{
	if (p->device_authorization_url != NULL)
		return p->device_authorization_url;
	if (p->discovery == NULL || kz_discover(ctx, p, res) != KZ_OK)
		return NULL;
	/* Endpoints kept from an older discovery may predate the device
	 * endpoint: ask the document itself once. */
	if (p->disc_device_url == NULL && !p->disc_fetched) {
		free(p->disc_jwks_url);
		p->disc_jwks_url = NULL;
		if (kz_discover(ctx, p, res) != KZ_OK)
			return NULL;
	}
	return p->disc_device_url;
}

static const char *
token_url(kz_ctx *ctx, struct kz_provider *p, kz_result *res)
{
	if (p->token_url != NULL)
		return p->token_url;
	if (p->discovery != NULL && kz_discover(ctx, p, res) == KZ_OK)
		return p->disc_token_url;
	return NULL;
}

/* A string field of the provider's answer that we show: printable ASCII,
 * no space, at most max characters; NULL otherwise. */
static const char *
shown_field(json_t *ans, const char *key, size_t max)
{
	const char *s = kz_json_str(ans, key);

	if (s == NULL || *s == '\0' || strlen(s) > max)
		return NULL;
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
			return NULL;
	return s;
}

/* Reads the device authorization response (RFC 8628 3.2). */
static kz_verdict
read_authorization(struct kz_provider *p, json_t *ans, kz_device *dev,
    kz_result *res)
{
	const char *code = kz_json_str(ans, "device_code");
	const char *user_code = shown_field(ans, "user_code", MAX_USER_CODE);
	const char *uri = shown_field(ans, "verification_uri_complete",
	    MAX_URI);
	int64_t expires_in = 0, interval = DEFAULT_INTERVAL;

	if (uri == NULL)
		uri = shown_field(ans, "verification_uri", MAX_URI);
	if (uri == NULL)	/* the name of an early draft, still in use */
		uri = shown_field(ans, "verification_url", MAX_URI);
	if (code == NULL || *code == '\0' || strlen(code) > MAX_DEVICE_CODE ||
	    !kz_enr_token_ok(code) || user_code == NULL || uri == NULL ||
	    kz_url_allowed(uri, p->allow_http_loopback) != 0 ||
	    kz_json_int(ans, "expires_in", &expires_in) != 1 ||
	    expires_in <= 0 || kz_json_int(ans, "interval", &interval) < 0)
		return kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR,
		    "device authorization answer lacks a usable device_code, "
		    "user_code, verification_uri or expires_in");
	if (expires_in > 3600)
		expires_in = 3600;
	dev->interval = interval < 1 ? 1 : interval > MAX_INTERVAL ?
	    MAX_INTERVAL : (long)interval;
	dev->expires_ms = kz_monotonic_ms() + expires_in * 1000;
	if ((dev->device_code = kz_strdup(code)) == NULL)
		return kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
	snprintf(dev->prompt, sizeof(dev->prompt), "Open %s and enter %s, then "
	    "press Enter: ", uri, user_code);
	return KZ_OK;
}

static kz_verdict
authorization_failed(const struct kz_http_resp *r, json_t *ans,
    kz_result *res)
{
	const char *code = kz_oauth_error(ans);

	/* The provider refuses this client or scope: only the
	 * administrator can fix that. */
	if (r->status == 400 || r->status == 401)
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "device authorization "
		    "endpoint answered HTTP %ld %s", r->status,
		    code ? code : "(no error code)");
	if (r->status == 429)
		return kz_set(res, KZ_UNAVAILABLE, KZ_R_RATE_LIMITED, "device "
		    "authorization endpoint answered 429");
	return kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR, "device "
	    "authorization endpoint answered HTTP %ld", r->status);
}

static kz_verdict
start(kz_ctx *ctx, struct kz_provider *p, const struct kz_service *svc,
    kz_device *dev, kz_result *res)
{
	struct kz_http_resp r = { 0 };
	const char *url;
	char *body = NULL, *acr = NULL;
	size_t blen = 0, alen = 0;
	json_t *ans = NULL;
	kz_verdict v;

	if ((url = device_url(ctx, p, res)) == NULL)
		return res->verdict != KZ_OK ? res->verdict : kz_set(res,
		    KZ_ERROR, KZ_R_CONFIG, "[provider %s]: no "
		    "device_authorization_url (nor one by discovery)", p->name);
	/* The acr the service requires, so the browser login is the
	 * strong one (OpenID Connect Core 3.1.2.1, space separated). */
	for (size_t i = 0; svc && i < svc->require_acr.n; i++) {
		char *n = realloc(acr, alen + strlen(svc->require_acr.v[i]) + 2);

		if (n == NULL) {
			v = kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
			goto out;
		}
		acr = n;
		alen += (size_t)sprintf(acr + alen, "%s%s", alen ? " " : "",
		    svc->require_acr.v[i]);
	}
	if (kz_form_add(&body, &blen, "scope", p->device_scope) != 0 ||
	    (p->device_resource && kz_form_add(&body, &blen, "resource",
	    p->device_resource) != 0) ||
	    (acr && kz_form_add(&body, &blen, "acr_values", acr) != 0)) {
		v = kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
		goto out;
	}
	if (post_form(ctx, p, url, &body, &blen, &r, &ans, res,
	    "device authorization endpoint") != 0)
		v = res->verdict;
	else if (r.status == 200 && json_is_object(ans))
		v = read_authorization(p, ans, dev, res);
	else if (r.status == 200)
		v = kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR, "device "
		    "authorization answer is not a JSON object");
	else
		v = authorization_failed(&r, ans, res);
out:
	json_decref(ans);
	kz_http_resp_free(&r);
	if (body != NULL)
		explicit_bzero(body, blen);
	free(body);
	free(acr);
	return v;
}

static struct kz_provider *
provider_for(kz_ctx *ctx, const kz_request *req,
    const struct kz_service **svc, kz_result *res)
{
	const char *pname;
	struct kz_provider *p;

	*svc = kz_config_service(ctx->cfg, req->service ? req->service :
	    "default");
	pname = *svc && (*svc)->provider ? (*svc)->provider : ctx->cfg->provider;
	if ((p = kz_config_provider(ctx->cfg, pname)) == NULL)
		kz_set(res, KZ_ERROR, KZ_R_CONFIG, "no provider %s", pname);
	return p;
}

/* A device flow that ends before any token: one audit line all the same,
 * and a message that says what the user can do. */
static kz_verdict
failed(kz_ctx *ctx, const kz_request *req, kz_result *res)
{
	kz_request r = *req;
	const char *m;

	r.token = NULL;
	r.token_len = 0;
	r.device = 1;
	ctx->deadline_ms = 0;
	if (res->reason == KZ_R_ACCESS_DENIED)
		m = "Login refused at the identity provider";
	else if (res->reason == KZ_R_EXPIRED)
		m = "The login at the identity provider was not completed in "
		    "time";
	else if (res->verdict == KZ_UNAVAILABLE)
		m = "Identity provider unreachable";
	else if (res->verdict == KZ_ERROR)
		m = "Token login is misconfigured on this host";
	else
		m = "Login at the identity provider failed";
	snprintf(res->user_msg, sizeof(res->user_msg), "%s", m);
	kz_trace(ctx, "verdict", 0, "%s/%s: %s", kz_verdict_name(res->verdict),
	    kz_reason_name(res->reason), res->detail);
	kz_audit(ctx, &r, res);
	return res->verdict;
}

kz_verdict
kz_device_start(kz_ctx *ctx, const kz_request *req, kz_device **out,
    kz_result *res)
{
	const struct kz_service *svc;
	struct kz_provider *p;
	kz_device *dev;
	kz_verdict v;

	memset(res, 0, sizeof(*res));
	*out = NULL;
	if ((p = provider_for(ctx, req, &svc, res)) == NULL)
		return failed(ctx, req, res);
	/* An empty answer at an unauthenticated prompt costs the provider
	 * a device authorization with the host's client: bounded like the
	 * introspection of an unknown token, per source and per host. */
	if (kz_ratelimit_unknown(ctx, req->source, res) != KZ_OK)
		return failed(ctx, req, res);
	if ((dev = calloc(1, sizeof(*dev))) == NULL) {
		kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
		return failed(ctx, req, res);
	}
	dev->p = p;
	res->id.provider = kz_strdup(p->name);
	kz_deadline_start(ctx);
	v = start(ctx, p, svc, dev, res);
	ctx->deadline_ms = 0;
	if (v != KZ_OK) {
		kz_device_free(dev);
		return failed(ctx, req, res);
	}
	kz_trace(ctx, "device", 1, "device authorization started at "
	    "[provider %s]; polling every %lds", p->name, dev->interval);
	/* Not a decision: anyone who mistook this result for one denies. */
	kz_set(res, KZ_UNAUTHENTICATED, KZ_R_NONE, "device authorization "
	    "started; no decision yet");
	*out = dev;
	return KZ_OK;
}

const char *
kz_device_prompt(const kz_device *dev)
{
	return dev->prompt;
}

void
kz_device_free(kz_device *dev)
{
	if (dev == NULL)
		return;
	kz_free_secret(dev->device_code);
	explicit_bzero(dev, sizeof(*dev));
	free(dev);
}

/* Sleeps until the monotonic time until_ms; a signal for the host
 * process (it has handlers of its own) only shortens one nap. */
static void
sleep_until(int64_t until_ms)
{
	int64_t left;

	while ((left = until_ms - kz_monotonic_ms()) > 0) {
		struct timespec ts = { .tv_sec = left / 1000,
			.tv_nsec = (left % 1000) * 1000000 };

		if (nanosleep(&ts, NULL) != 0 && errno != EINTR)
			return;
	}
}

/* The token response (RFC 6749 5.1): a Bearer access token. */
static enum poll
read_token(json_t *ans, char **token, kz_result *res)
{
	const char *at = kz_json_str(ans, "access_token");
	const char *type = kz_json_str(ans, "token_type");

	if (at == NULL || !kz_enr_token_ok(at) ||
	    (type != NULL && !kz_strcaseeq(type, "Bearer"))) {
		kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR, "token "
		    "endpoint answer has no usable Bearer access token");
		return POLL_DONE;
	}
	if ((*token = kz_strdup(at)) == NULL) {
		kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
		return POLL_DONE;
	}
	return POLL_TOKEN;
}

/* One access token request (RFC 8628 3.4) and its answer (3.5). */
static enum poll
poll_once(kz_ctx *ctx, kz_device *dev, char **token, kz_result *res)
{
	struct kz_provider *p = dev->p;
	struct kz_http_resp r = { 0 };
	const char *url, *code;
	char *body = NULL;
	size_t blen = 0;
	json_t *ans = NULL;
	enum poll out = POLL_DONE;

	if ((url = token_url(ctx, p, res)) == NULL) {
		if (res->verdict == KZ_OK)
			kz_set(res, KZ_ERROR, KZ_R_CONFIG, "[provider %s]: no "
			    "token_url (nor one by discovery)", p->name);
		return POLL_DONE;
	}
	if (kz_form_add(&body, &blen, "grant_type", DEVICE_GRANT) != 0 ||
	    kz_form_add(&body, &blen, "device_code", dev->device_code) != 0) {
		if (body != NULL)
			explicit_bzero(body, blen);
		free(body);
		kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
		return POLL_DONE;
	}
	if (post_form(ctx, p, url, &body, &blen, &r, &ans, res,
	    "token endpoint") != 0)
		goto out;
	code = kz_oauth_error(ans);
	if (r.status == 200 && json_is_object(ans)) {
		out = read_token(ans, token, res);
	} else if (code && strcmp(code, "authorization_pending") == 0) {
		out = POLL_PENDING;
	} else if ((code && strcmp(code, "slow_down") == 0) ||
	    r.status == 429) {
		dev->interval += SLOW_DOWN_STEP;
		out = POLL_PENDING;
	} else if (code && strcmp(code, "access_denied") == 0) {
		kz_set(res, KZ_UNAUTHENTICATED, KZ_R_ACCESS_DENIED, "the user "
		    "refused the device login at the provider");
	} else if (code && strcmp(code, "expired_token") == 0) {
		kz_set(res, KZ_UNAUTHENTICATED, KZ_R_EXPIRED, "the device code "
		    "expired before the user approved it");
	} else if (code && strcmp(code, "invalid_client") == 0) {
		kz_set(res, KZ_ERROR, KZ_R_CONFIG, "[provider %s]: the token "
		    "endpoint refused client %s (invalid_client)", p->name,
		    client_id(p));
	} else if (r.status >= 400 && r.status < 500) {
		/* invalid_grant and the like: this device code is done */
		kz_set(res, KZ_UNAUTHENTICATED, KZ_R_INACTIVE, "token endpoint "
		    "answered HTTP %ld %s", r.status, code ? code :
		    "(no error code)");
	} else {
		kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR, "token "
		    "endpoint answered HTTP %ld", r.status);
	}
out:
	json_decref(ans);
	kz_http_resp_free(&r);
	ctx->deadline_ms = 0;
	return out;
}

/*
 * Polls from now until device_timeout has passed (or the device code
 * lapsed): the first request at once (the user pressed Enter after
 * approving), then one per interval.  A request never runs past the end,
 * nor past its own `timeout`; so the whole poll takes at most
 * device_timeout, the first request aside, which has its own `timeout`.
 */
static enum poll
poll_until_done(kz_ctx *ctx, kz_device *dev, char **token, kz_result *res)
{
	int64_t end = kz_monotonic_ms() + dev->p->device_timeout * 1000;
	enum poll o;

	if (end > dev->expires_ms)
		end = dev->expires_ms;
	kz_deadline_start(ctx);
	for (int n = 1;; n++) {
		o = poll_once(ctx, dev, token, res);
		if (o != POLL_PENDING)
			return o;
		int64_t next = kz_monotonic_ms() + dev->interval * 1000;

		if (next >= end) {
			kz_set(res, KZ_UNAUTHENTICATED, KZ_R_EXPIRED, "not "
			    "approved within device_timeout (%lds) after %d "
			    "polls", dev->p->device_timeout, n);
			return POLL_DONE;
		}
		sleep_until(next);
		kz_deadline_start_until(ctx, end);
	}
}

kz_verdict
kz_device_poll(kz_ctx *ctx, kz_device *dev, const kz_request *req,
    kz_result *res)
{
	kz_request r = *req;
	char *token = NULL;
	kz_verdict v;

	memset(res, 0, sizeof(*res));
	res->id.provider = kz_strdup(dev->p->name);
	if (poll_until_done(ctx, dev, &token, res) != POLL_TOKEN)
		return failed(ctx, req, res);
	kz_result_clear(res);
	kz_trace(ctx, "device", 1, "the provider issued an access token; it "
	    "goes through the whole pipeline");
	r.token = token;
	r.token_len = strlen(token);
	r.device = 1;
	v = kz_decide(ctx, &r, res);
	kz_free_secret(token);
	return v;
}
