/*
 * enroll.c - the enrollment lifecycle behind `kztoken enroll`, `list`,
 * `refresh`, `token` and `revoke`: each operation takes the enrollment's
 * lock, so concurrent callers send one refresh request between them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "internal.h"

static void
set_enrollment(kz_result *res, const char *name)
{
	free(res->enrollment);
	res->enrollment = kz_strdup(name);
}

static kz_verdict
store_error(kz_result *res, const char *err)
{
	return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "%s", err);
}

void
kz_enr_info(kz_ctx *ctx, const struct kz_enr *e, kz_enrollment_info *i)
{
	memset(i, 0, sizeof(*i));
	snprintf(i->name, sizeof(i->name), "%s", e->name);
	snprintf(i->provider, sizeof(i->provider), "%s", e->provider);
	snprintf(i->kind, sizeof(i->kind), "%s", e->group ? "group" : "user");
	snprintf(i->subject, sizeof(i->subject), "%s", e->subject);
	i->state = kz_enr_state_now(ctx, e);
	i->refresh_exp = e->refresh_exp;
	i->access_exp = e->access_token ? e->access_exp : 0;
	i->enrolled_at = e->enrolled_at;
	i->last_refresh = e->last_refresh;
	kz_fingerprint(e->refresh_token, strlen(e->refresh_token),
	    i->refresh_fp);
	snprintf(i->endpoint_url, sizeof(i->endpoint_url), "%s",
	    e->endpoint_url ? e->endpoint_url : "");
	snprintf(i->message, sizeof(i->message), "%s", e->message);
}

/* Refreshes under the lock; what the store holds afterwards is what the
 * provider accepts, and it is on disk before a new access token leaves. */
kz_verdict
kz_enr_access(kz_ctx *ctx, const char *name, unsigned flags, bool force,
    char **token, kz_result *res)
{
	struct kz_enr e;
	struct kz_provider *p;
	char err[512];
	kz_verdict v = KZ_OK;
	kz_enr_state st;
	int fd, rc;
	bool cached_ok;

	if (token != NULL)
		*token = NULL;
	if ((fd = kz_store_lock(ctx, name, err, sizeof(err))) < 0)
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "%s", err);
	/* A caller of its own (not a login) gets its full deadline back
	 * after waiting for another refresher. */
	if (flags & KZ_REFRESH_WAIT)
		kz_deadline_start(ctx);
	if ((rc = kz_store_load(ctx, name, &e, err, sizeof(err))) <= 0) {
		kz_store_unlock(fd);
		if (rc == 0)
			return kz_set(res, KZ_ERROR, KZ_R_CONFIG,
			    "no enrollment named %s in %s", name,
			    ctx->cfg->store_dir);
		return store_error(res, err);
	}
	if ((p = kz_config_provider(ctx->cfg, e.provider)) == NULL) {
		v = kz_set(res, KZ_ERROR, KZ_R_CONFIG, "enrollment %s names "
		    "provider %s, which the configuration lacks", name,
		    e.provider);
		goto out;
	}
	st = kz_enr_state_now(ctx, &e);
	if (st == KZ_ENR_REVOKED) {
		v = kz_set(res, KZ_UNAUTHENTICATED, KZ_R_REVOKED, "enrollment "
		    "%s is revoked: renew it with kztoken enroll %s", name,
		    name);
		goto out;
	}
	if (st == KZ_ENR_EXPIRED) {
		v = kz_set(res, KZ_UNAUTHENTICATED, KZ_R_EXPIRED, "the refresh "
		    "token of enrollment %s has expired: renew it with "
		    "kztoken enroll %s", name, name);
		goto out;
	}
	cached_ok = e.access_token != NULL && e.access_exp > kz_now(ctx);
	kz_set(res, KZ_OK, KZ_R_NONE, "not due");
	if (force || kz_enr_due(ctx, &e) || st == KZ_ENR_ERROR) {
		if (!force && (flags & KZ_REFRESH_IF_DUE) && !kz_enr_due(ctx,
		    &e)) {
			goto give;	/* error state, but not due: no request */
		}
		v = kz_refresh_once(ctx, p, &e, flags, res);
		if (kz_store_save(ctx, &e, err, sizeof(err)) != 0) {
			/* The provider may have rotated: the new access token
			 * must not be used before its refresh token is safe.
			 * The previous one stays valid until the new one is
			 * first used (the grace most providers keep). */
			kz_log(ctx, LOG_ERR, "enrollment=%s: cannot store the "
			    "refreshed enrollment: %s", name, err);
			kz_free_secret(e.access_token);
			e.access_token = NULL;
			v = kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "cannot store "
			    "enrollment %s (%s); the new tokens were not used",
			    name, err);
			goto out;
		}
		if (v == KZ_OK)
			kz_set(res, KZ_OK, KZ_R_NONE, "refreshed");
		if (v != KZ_OK) {
			/* a still valid access token serves while the
			 * provider is merely unavailable */
			if (v == KZ_UNAVAILABLE && token != NULL && cached_ok &&
			    e.access_token != NULL)
				goto give;
			goto out;
		}
	}
give:
	if (token != NULL) {
		if (e.access_token == NULL || e.access_exp <= kz_now(ctx)) {
			v = kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR,
			    "enrollment %s has no valid access token (%s)",
			    name, e.message[0] ? e.message : "not refreshed");
			goto out;
		}
		if ((*token = strdup(e.access_token)) == NULL) {
			v = kz_set(res, KZ_ERROR, KZ_R_INTERNAL,
			    "out of memory");
			goto out;
		}
		if (v != KZ_OK)
			kz_log(ctx, LOG_NOTICE, "enrollment=%s: refresh failed "
			    "(%s); the cached access token is still valid",
			    name, res->detail);
		v = KZ_OK;
	}
out:
	if (v != KZ_OK)
		set_enrollment(res, name);
	kz_enr_clear(&e);
	kz_store_unlock(fd);
	return v;
}

kz_verdict
kz_enroll(kz_ctx *ctx, const char *name, const char *provider, int is_group,
    const char *subject, const char *refresh_token, unsigned flags,
    kz_result *res)
{
	struct kz_enr e = { 0 }, old;
	struct kz_provider *p;
	char err[512];
	kz_verdict v;
	int fd, rc;

	memset(res, 0, sizeof(*res));
	kz_deadline_start(ctx);
	if (!kz_enr_name_ok(name))
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "bad enrollment name "
		    "(letters, digits, _ - @; at most 64)");
	if (provider == NULL)
		provider = ctx->cfg->provider;
	if ((p = kz_config_provider(ctx->cfg, provider)) == NULL)
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "no [provider %s] in "
		    "%s", provider, ctx->cfg->path);
	if (subject == NULL || *subject == '\0' || strlen(subject) > 128 ||
	    strpbrk(subject, " \t\r\n") != NULL)
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "bad %s name",
		    is_group ? "group" : "user");
	if (!kz_enr_token_ok(refresh_token))
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "the refresh token "
		    "is empty or not printable ASCII");
	if (p->client_id == NULL || p->client_secret_file == NULL)
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "[provider %s] needs "
		    "client_id and client_secret_file to refresh", p->name);
	if ((fd = kz_store_lock(ctx, name, err, sizeof(err))) < 0)
		return store_error(res, err);
	rc = kz_store_load(ctx, name, &old, err, sizeof(err));
	if (rc < 0 && !(flags & KZ_ENROLL_FORCE)) {
		kz_store_unlock(fd);
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "%s (--force "
		    "replaces it)", err);
	}
	if (rc > 0) {
		kz_enr_state st = kz_enr_state_now(ctx, &old);

		kz_enr_clear(&old);
		if ((st == KZ_ENR_ACTIVE || st == KZ_ENR_EXPIRING) &&
		    !(flags & KZ_ENROLL_FORCE)) {
			kz_store_unlock(fd);
			return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "enrollment "
			    "%s exists and is %s (--force replaces it)", name,
			    kz_enr_state_name(st));
		}
	}
	e.name = strdup(name);
	e.provider = strdup(p->name);
	e.subject = strdup(subject);
	e.group = is_group != 0;
	e.refresh_token = strdup(refresh_token);
	e.enrolled_at = kz_now(ctx);
	e.state = KZ_ENR_ACTIVE;
	if (!e.name || !e.provider || !e.subject || !e.refresh_token) {
		v = kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
		goto out;
	}
	/* one refresh proves the token (and the client) before storing */
	v = kz_refresh_once(ctx, p, &e, flags | KZ_REFRESH_WAIT, res);
	if (v != KZ_OK && strcmp(e.refresh_token, refresh_token) == 0)
		goto out;	/* nothing changed at the provider: store nothing */
	/* Success, or the provider rotated even though the answer was not
	 * usable: the new refresh token must not be lost. */
	if (kz_store_save(ctx, &e, err, sizeof(err)) != 0) {
		v = kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "%s", err);
		goto out;
	}
	if (v == KZ_OK) {
		char fp[13];

		kz_fingerprint(e.refresh_token, strlen(e.refresh_token), fp);
		kz_log(ctx, LOG_NOTICE, "enrollment=%s provider=%s %s=%s "
		    "enrolled (refresh token fp=%s)", name, p->name,
		    is_group ? "group" : "user", subject, fp);
		kz_set(res, KZ_OK, KZ_R_NONE, "enrolled %s", name);
	}
out:
	if (v != KZ_OK)
		set_enrollment(res, name);
	kz_enr_clear(&e);
	kz_store_unlock(fd);
	return v;
}

kz_verdict
kz_enrollment_get(kz_ctx *ctx, const char *name, kz_enrollment_info *info,
    kz_result *res)
{
	struct kz_enr e;
	char err[512];
	int rc;

	memset(res, 0, sizeof(*res));
	if ((rc = kz_store_load(ctx, name, &e, err, sizeof(err))) < 0)
		return store_error(res, err);
	if (rc == 0)
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "no enrollment named "
		    "%s", name);
	kz_enr_info(ctx, &e, info);
	kz_enr_clear(&e);
	return KZ_OK;
}

kz_verdict
kz_enrollment_list(kz_ctx *ctx, kz_enrollment_info **out, size_t *n,
    kz_result *res)
{
	struct kz_strv names;
	char err[512];
	kz_verdict v = KZ_OK;

	memset(res, 0, sizeof(*res));
	*out = NULL;
	*n = 0;
	if (kz_store_names(ctx, &names, err, sizeof(err)) != 0)
		return store_error(res, err);
	if (names.n > 0 && (*out = calloc(names.n, sizeof(**out))) == NULL) {
		kz_strv_free(&names);
		return kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < names.n; i++) {
		kz_result one;

		/* one bad file is reported, the others still listed */
		if (kz_enrollment_get(ctx, names.v[i], &(*out)[*n], &one) !=
		    KZ_OK) {
			v = kz_set(res, KZ_ERROR, KZ_R_CONFIG, "%s", one.detail);
			kz_result_clear(&one);
			continue;
		}
		(*n)++;
	}
	kz_strv_free(&names);
	return v;
}

kz_verdict
kz_enrollment_refresh(kz_ctx *ctx, const char *name, unsigned flags,
    kz_result *res)
{
	memset(res, 0, sizeof(*res));
	kz_deadline_start(ctx);
	return kz_enr_access(ctx, name, flags | KZ_REFRESH_WAIT,
	    !(flags & KZ_REFRESH_IF_DUE), NULL, res);
}

kz_verdict
kz_enrollment_token(kz_ctx *ctx, const char *name, unsigned flags,
    char **token, kz_result *res)
{
	memset(res, 0, sizeof(*res));
	kz_deadline_start(ctx);
	return kz_enr_access(ctx, name, flags | KZ_REFRESH_WAIT, false, token,
	    res);
}

/* RFC 7009: the refresh token, with client authentication. */
static kz_verdict
revoke_remote(kz_ctx *ctx, struct kz_provider *p, struct kz_enr *e,
    kz_result *res)
{
	struct kz_http_req req = { .method = "POST", .ca_file = p->ca_file,
		.allow_http_loopback = p->allow_http_loopback,
		.basic_user = p->client_id };
	struct kz_http_resp r;
	char err[256], *secret, *body = NULL;
	size_t blen = 0;
	kz_verdict v;

	req.url = p->revocation_url;
	if (req.url == NULL && p->discovery != NULL &&
	    kz_discover(ctx, p, res) == KZ_OK)
		req.url = p->disc_revocation_url;
	if (req.url == NULL || p->token_style == KZ_STYLE_KAIZALA) {
		kz_set(res, KZ_OK, KZ_R_NONE, "the provider has no revocation "
		    "endpoint: removed locally only");
		return KZ_OK;
	}
	if ((secret = kz_read_client_secret(ctx, p, err, sizeof(err))) == NULL)
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "%s", err);
	if (kz_form_add(&body, &blen, "token", e->refresh_token) != 0 ||
	    kz_form_add(&body, &blen, "token_type_hint",
	    "refresh_token") != 0) {
		kz_free_secret(secret);
		free(body);
		return kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
	}
	req.basic_pass = secret;
	req.body = body;
	req.body_len = blen;
	if (kz_http_do(ctx, &req, &r) != 0)
		v = kz_http_failure(&r, res, "revocation");
	else if (r.status == 200)
		v = kz_set(res, KZ_OK, KZ_R_NONE, "revoked at the provider");
	else if (r.status == 401)
		v = kz_set(res, KZ_ERROR, KZ_R_CONFIG, "revocation refused "
		    "connector %s (HTTP 401): check client_id and "
		    "client_secret_file", p->client_id ? p->client_id : "?");
	else
		v = kz_set(res, KZ_UNAVAILABLE, r.status == 429 ?
		    KZ_R_RATE_LIMITED : KZ_R_PROVIDER_ERROR,
		    "revocation answered HTTP %ld", r.status);
	kz_http_resp_free(&r);
	explicit_bzero(body, blen);
	free(body);
	kz_free_secret(secret);
	return v;
}

kz_verdict
kz_enrollment_revoke(kz_ctx *ctx, const char *name, int local_only,
    kz_result *res)
{
	struct kz_provider *p;
	struct kz_enr e;
	char err[512], fp[13];
	kz_verdict v = KZ_OK;
	int fd, rc;

	memset(res, 0, sizeof(*res));
	kz_deadline_start(ctx);
	if ((fd = kz_store_lock(ctx, name, err, sizeof(err))) < 0)
		return store_error(res, err);
	if ((rc = kz_store_load(ctx, name, &e, err, sizeof(err))) <= 0) {
		kz_store_unlock(fd);
		if (rc == 0)
			return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "no "
			    "enrollment named %s", name);
		return store_error(res, err);
	}
	p = kz_config_provider(ctx->cfg, e.provider);
	if (local_only)
		kz_set(res, KZ_OK, KZ_R_NONE, "removed locally only "
		    "(--local-only)");
	else if (p == NULL)
		kz_set(res, KZ_OK, KZ_R_NONE, "provider %s is no longer "
		    "configured: removed locally only", e.provider);
	else if (e.state == KZ_ENR_REVOKED)
		kz_set(res, KZ_OK, KZ_R_NONE, "already revoked at the provider");
	else if ((v = revoke_remote(ctx, p, &e, res)) != KZ_OK) {
		snprintf(err, sizeof(err), "%s", res->detail);
		kz_set(res, v, res->reason, "%s; enrollment %s kept (--local-only "
		    "removes it anyway)", err, name);
		goto out;
	}
	if (kz_store_remove(ctx, name, err, sizeof(err)) != 0) {
		v = store_error(res, err);
		goto out;
	}
	kz_fingerprint(e.refresh_token, strlen(e.refresh_token), fp);
	kz_log(ctx, LOG_NOTICE, "enrollment=%s removed (refresh token fp=%s): "
	    "%s", name, fp, res->detail);
out:
	if (v != KZ_OK)
		set_enrollment(res, name);
	kz_enr_clear(&e);
	kz_store_unlock(fd);
	return v;
}
