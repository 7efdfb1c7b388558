/*
 * enroll.c - the enrollment lifecycle behind `kztoken enroll`, `list`,
 * `refresh`, `token` and `revoke`: each operation that may ask the
 * provider takes the enrollment's lock, so concurrent callers send one
 * refresh request between them; a caller served by a valid cached token
 * reads the store without it.
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

/* A copy of a valid access token for the caller; v is the verdict of a
 * refresh that may have failed meanwhile. */
static kz_verdict
give_token(kz_ctx *ctx, const struct kz_enr *e, kz_verdict v, char **token,
    kz_result *res)
{
	if (!kz_enr_access_valid(ctx, e))
		return kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR,
		    "enrollment %s has no valid access token (%s)", e->name,
		    e->message[0] ? e->message : "not refreshed");
	if ((*token = strdup(e->access_token)) == NULL)
		return kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
	if (v != KZ_OK)
		kz_log(ctx, LOG_NOTICE, "enrollment=%s: %s; the cached access "
		    "token is still valid", e->name, res->detail);
	return kz_set(res, KZ_OK, KZ_R_NONE, NULL);
}

/* What a caller that needs no request can be answered from a store file
 * read without the lock (it is only ever replaced by rename): a valid
 * token that is not due, or "not due" for refresh --if-due.  A reader
 * never waits behind a refresher, nor needs a writable store. */
static bool
answer_unlocked(kz_ctx *ctx, const struct kz_enr *e, unsigned flags,
    bool force, char **token, kz_result *res)
{
	kz_enr_state st = kz_enr_state_now(ctx, e);

	if (force || st == KZ_ENR_REVOKED || st == KZ_ENR_EXPIRED ||
	    kz_config_provider(ctx->cfg, e->provider) == NULL ||
	    kz_enr_due(ctx, e))
		return false;
	if (token != NULL)
		return give_token(ctx, e, kz_set(res, KZ_OK, KZ_R_NONE,
		    "not due"), token, res) == KZ_OK;
	if (st == KZ_ENR_ERROR && !(flags & KZ_REFRESH_IF_DUE))
		return false;
	kz_set(res, KZ_OK, KZ_R_NONE, "not due");
	return true;
}

/* Whether another process refreshed between two reads of the store. */
static bool
refreshed_meanwhile(const struct kz_enr *before, const struct kz_enr *now)
{
	return before->last_refresh != now->last_refresh ||
	    strcmp(before->refresh_token, now->refresh_token) != 0 ||
	    (before->access_token == NULL) != (now->access_token == NULL) ||
	    (now->access_token != NULL && strcmp(before->access_token,
	    now->access_token) != 0);
}

/* One refresh under the lock: the store's space is reserved first (a full
 * or read-only disk sends nothing), and whatever the provider answered is
 * on disk before a new access token leaves. */
static kz_verdict
refresh_locked(kz_ctx *ctx, struct kz_provider *p, struct kz_enr *e,
    unsigned flags, kz_result *res)
{
	struct kz_atomic tx;
	char err[512], err2[512];
	kz_verdict v;

	if (kz_store_begin(ctx, e, &tx, err, sizeof(err)) != 0) {
		kz_log(ctx, LOG_ERR, "enrollment=%s: not refreshed, the store "
		    "cannot take the answer: %s", e->name, err);
		return kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "enrollment %s: "
		    "not refreshed, nothing was sent: the store cannot take "
		    "the answer (%s)", e->name, err);
	}
	v = kz_refresh_once(ctx, p, e, flags, res);
	if (kz_store_commit(ctx, &tx, e, err, sizeof(err)) != 0) {
		/* The provider may have rotated: the new access token must
		 * not be used before its refresh token is safe.  Without it
		 * the file is smaller than the one reserved (now freed). */
		kz_log(ctx, LOG_ERR, "enrollment=%s: cannot store the "
		    "refreshed enrollment: %s", e->name, err);
		kz_free_secret(e->access_token);
		e->access_token = NULL;
		e->access_exp = e->access_iat = 0;
		e->state = KZ_ENR_ERROR;
		snprintf(e->message, sizeof(e->message), "the store could not "
		    "take the whole answer: its access token was dropped");
		if (kz_store_save(ctx, e, err2, sizeof(err2)) != 0)
			kz_log(ctx, LOG_ERR, "enrollment=%s: cannot store it "
			    "without its access token either: %s", e->name,
			    err2);
		return kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "cannot store "
		    "enrollment %s (%s); the new tokens were not used",
		    e->name, err);
	}
	if (v == KZ_OK)
		kz_set(res, KZ_OK, KZ_R_NONE, "refreshed");
	return v;
}

struct refresh_job {
	struct kz_provider *p;
	struct kz_enr *e;
	unsigned flags;
};

static kz_verdict
refresh_job(kz_ctx *ctx, void *arg, kz_result *res)
{
	struct refresh_job *j = arg;

	return refresh_locked(ctx, j->p, j->e, j->flags, res);
}

/*
 * refresh_locked in a worker nobody can kill halfway (guardian.c), the
 * lock held: with wait, e is read back from the store it wrote; without,
 * the caller goes on with the still valid token it has while the worker
 * refreshes.
 */
static kz_verdict
refresh_guarded(kz_ctx *ctx, struct kz_provider *p, struct kz_enr *e,
    unsigned flags, bool wait, kz_result *res)
{
	struct refresh_job j = { .p = p, .e = e, .flags = flags };
	char err[512], name[80];
	kz_verdict v;
	int rc;

	snprintf(name, sizeof(name), "%s", e->name);
	v = kz_guard_run(ctx, refresh_job, &j, wait,
	    (flags & KZ_REFRESH_WAIT) != 0, res);
	if (!wait)
		return v;
	kz_enr_clear(e);
	if ((rc = kz_store_load(ctx, name, e, err, sizeof(err))) <= 0)
		return rc == 0 ? kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "the "
		    "enrollment vanished during its refresh") :
		    store_error(res, err);
	return v;
}

/*
 * A login that needs a token (membership) and finds one due but still
 * valid never waits for the refresh: its deadline is for the request the
 * token is needed for.  When the lock is free it starts the refresh in
 * the background (the worker takes over the lock); when another process
 * holds it, that one is refreshing.  Either way the valid token serves.
 */
static bool
serve_while_refreshing(kz_ctx *ctx, const struct kz_enr *seen,
    unsigned flags, bool force, char **token, kz_result *res)
{
	struct kz_provider *p = kz_config_provider(ctx->cfg, seen->provider);
	kz_result bg = { 0 };
	struct kz_enr e;
	char err[512];
	bool served;
	int fd;

	if (token == NULL || force || (flags & KZ_REFRESH_WAIT) || p == NULL ||
	    !kz_enr_access_valid(ctx, seen))
		return false;
	if ((fd = kz_store_lock_wait(ctx, seen->name, 0, err,
	    sizeof(err))) < 0) {
		kz_debug(ctx, "enrollment %s: due, being refreshed elsewhere "
		    "(%s); the valid token serves", seen->name, err);
		return give_token(ctx, seen, kz_set(res, KZ_OK, KZ_R_NONE,
		    "due"), token, res) == KZ_OK;
	}
	if (kz_store_load(ctx, seen->name, &e, err, sizeof(err)) <= 0) {
		kz_store_unlock(fd);
		return false;
	}
	if (kz_enr_due(ctx, &e) && kz_enr_state_now(ctx, &e) != KZ_ENR_REVOKED)
		(void)refresh_guarded(ctx, p, &e, flags, false, &bg);
	served = kz_enr_access_valid(ctx, &e) && give_token(ctx, &e,
	    kz_set(res, KZ_OK, KZ_R_NONE, "due, refreshing in the background"),
	    token, res) == KZ_OK;
	kz_enr_clear(&e);
	kz_store_unlock(fd);	/* the worker keeps its copy of the lock */
	return served;
}

/* Refreshes under the lock when needed; what the store holds afterwards
 * is what the provider accepts. */
kz_verdict
kz_enr_access(kz_ctx *ctx, const char *name, unsigned flags, bool force,
    char **token, kz_result *res)
{
	struct kz_enr seen, e;
	struct kz_provider *p;
	char err[512];
	kz_verdict v = KZ_OK;
	kz_enr_state st;
	int fd, rc;

	if (token != NULL)
		*token = NULL;
	if ((rc = kz_store_load(ctx, name, &seen, err, sizeof(err))) <= 0) {
		if (rc == 0)
			return kz_set(res, KZ_ERROR, KZ_R_CONFIG,
			    "no enrollment named %s in %s", name,
			    ctx->cfg->store_dir);
		return store_error(res, err);
	}
	if (answer_unlocked(ctx, &seen, flags, force, token, res) ||
	    serve_while_refreshing(ctx, &seen, flags, force, token, res)) {
		kz_enr_clear(&seen);
		return KZ_OK;
	}
	if ((fd = kz_store_lock(ctx, name, err, sizeof(err))) < 0) {
		kz_set(res, KZ_ERROR, KZ_R_CONFIG, "%s", err);
		/* the refresh is someone else's (or impossible): a still
		 * valid token serves */
		v = token != NULL ? give_token(ctx, &seen, KZ_ERROR, token,
		    res) : KZ_ERROR;
		if (v != KZ_OK)
			kz_set(res, KZ_ERROR, KZ_R_CONFIG, "%s", err);
		goto out_unlocked;
	}
	/* A caller of its own (not a login) gets its full deadline back
	 * after waiting for another refresher. */
	if (flags & KZ_REFRESH_WAIT)
		kz_deadline_start(ctx);
	if ((rc = kz_store_load(ctx, name, &e, err, sizeof(err))) <= 0) {
		kz_store_unlock(fd);
		v = rc == 0 ? kz_set(res, KZ_ERROR, KZ_R_CONFIG, "enrollment "
		    "%s was removed meanwhile", name) : store_error(res, err);
		goto out_unlocked;
	}
	/* Forced refreshes coalesce: one that finds the enrollment
	 * refreshed since it looked is served by that refresh. */
	if (force && refreshed_meanwhile(&seen, &e) && !kz_enr_due(ctx, &e)) {
		kz_debug(ctx, "enrollment %s: refreshed meanwhile by another "
		    "process", name);
		force = false;
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
	/* "expired" is our clock's reading of a lifetime the provider
	 * gave: a clock that was slow at the last refresh puts it in the
	 * past too early.  The provider decides: it is asked once more, and
	 * an invalid_grant then says revoked. */
	if (st == KZ_ENR_EXPIRED)
		force = true;
	kz_set(res, KZ_OK, KZ_R_NONE, "not due");
	if (force || kz_enr_due(ctx, &e) || (st == KZ_ENR_ERROR &&
	    !(flags & KZ_REFRESH_IF_DUE))) {
		bool cached_ok = kz_enr_access_valid(ctx, &e);

		v = refresh_guarded(ctx, p, &e, flags, true, res);
		/* a still valid access token serves while the provider is
		 * merely unavailable */
		if (v != KZ_OK && !(v == KZ_UNAVAILABLE && token != NULL &&
		    cached_ok))
			goto out;
	}
	if (token != NULL)
		v = give_token(ctx, &e, v, token, res);
out:
	kz_enr_clear(&e);
	kz_store_unlock(fd);
out_unlocked:
	if (v != KZ_OK)
		set_enrollment(res, name);
	kz_enr_clear(&seen);
	return v;
}

/* What enroll keeps of an existing enrollment of the same name: it may
 * not be replaced (active without force), its provider's remembered 429
 * holds, and a token it superseded by rotation is never sent again (a
 * provider that detects reuse would revoke the chain). */
static kz_verdict
check_existing(kz_ctx *ctx, const char *name, const struct kz_enr *old,
    const char *refresh_token, unsigned flags, struct kz_enr *e,
    kz_result *res)
{
	kz_enr_state st = kz_enr_state_now(ctx, old);
	char fp[13];

	kz_fingerprint(refresh_token, strlen(refresh_token), fp);
	if (old->previous_fp[0] && strcmp(old->previous_fp, fp) == 0)
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "this refresh token "
		    "(fp=%s) was already rotated by the provider and enrollment "
		    "%s holds its successor: nothing sent (sending it again "
		    "can revoke the chain); run kztoken refresh %s", fp, name,
		    name);
	if ((st == KZ_ENR_ACTIVE || st == KZ_ENR_EXPIRING) &&
	    !(flags & KZ_ENROLL_FORCE))
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "enrollment %s exists "
		    "and is %s (--force replaces it)", name,
		    kz_enr_state_name(st));
	if (strcmp(old->provider, e->provider) == 0)
		e->retry_after_until = old->retry_after_until;
	return KZ_OK;
}

/* The same refresh token under another name (or the one another
 * enrollment's rotation replaced): two enrollments would then rotate one
 * chain, and a provider that detects reuse revokes it for both. */
static kz_verdict
check_others(kz_ctx *ctx, const char *name, const char *refresh_token,
    kz_result *res)
{
	struct kz_strv names = { 0 };
	char err[256], fp[13], ofp[13];
	kz_verdict v = KZ_OK;

	if (kz_store_names(ctx, &names, err, sizeof(err)) != 0)
		return KZ_OK;	/* the store's own checks report it */
	kz_fingerprint(refresh_token, strlen(refresh_token), fp);
	for (size_t i = 0; i < names.n && v == KZ_OK; i++) {
		struct kz_enr o;

		if (strcmp(names.v[i], name) == 0 ||
		    kz_store_load(ctx, names.v[i], &o, err, sizeof(err)) <= 0)
			continue;
		kz_fingerprint(o.refresh_token, strlen(o.refresh_token), ofp);
		if (strcmp(ofp, fp) == 0 || strcmp(o.previous_fp, fp) == 0)
			v = kz_set(res, KZ_ERROR, KZ_R_CONFIG, "this refresh "
			    "token (fp=%s) belongs to enrollment %s: nothing "
			    "sent (two enrollments of one token would revoke "
			    "its chain); use kztoken token %s", fp, o.name,
			    o.name);
		kz_enr_clear(&o);
	}
	kz_strv_free(&names);
	return v;
}

/* After the proving refresh: what must be on disk.  A rotation is kept
 * even when the answer was unusable (state error, the command says so); a
 * 429 is remembered; anything else that changed nothing stores nothing. */
static kz_verdict
keep_enrollment(kz_ctx *ctx, struct kz_atomic *tx, struct kz_enr *e,
    struct kz_enr *old, bool have_old, const char *given, kz_verdict v,
    kz_result *res)
{
	bool rotated = strcmp(e->refresh_token, given) != 0;
	char err[512], why[256];

	snprintf(why, sizeof(why), "%s", res->detail);
	if (v == KZ_OK || rotated) {
		if (kz_store_commit(ctx, tx, e, err, sizeof(err)) != 0)
			return kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "%s", err);
		if (v != KZ_OK)
			kz_set(res, v, res->reason, "%s; enrollment %s is stored "
			    "with the rotated refresh token (state error): run "
			    "kztoken refresh %s, do not enroll the old token "
			    "again", why, e->name, e->name);
		return v;
	}
	if (res->reason == KZ_R_REVOKED) {
		/* not "renew it with kztoken enroll": that just failed */
		kz_atomic_abort(tx);
		return kz_set(res, v, KZ_R_REVOKED, "the token service refused "
		    "this refresh token (expired, revoked or superseded): "
		    "nothing was stored%s", have_old ? "; the enrollment "
		    "stays as it was" : "");
	}
	if (res->reason != KZ_R_RATE_LIMITED || e->retry_after_until == 0) {
		kz_atomic_abort(tx);
		return v;	/* nothing changed at the provider */
	}
	if (have_old) {
		kz_atomic_abort(tx);
		old->retry_after_until = e->retry_after_until;
		e = old;
	} else {
		e->state = KZ_ENR_ERROR;
		snprintf(e->message, sizeof(e->message), "rate limited before "
		    "the refresh token was proven: run kztoken refresh %s",
		    e->name);
	}
	if ((have_old ? kz_store_save(ctx, e, err, sizeof(err)) :
	    kz_store_commit(ctx, tx, e, err, sizeof(err))) != 0)
		kz_log(ctx, LOG_ERR, "enrollment=%s: cannot remember the 429: "
		    "%s", e->name, err);
	return v;
}

/* A group or user name as the store can keep and read it back: printable
 * ASCII, no white space (a control byte would make the file unreadable
 * and reach the admin's terminal). */
static bool
subject_ok(const char *s)
{
	size_t n = 0;

	if (s == NULL || *s == '\0')
		return false;
	for (; s[n]; n++)
		if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f)
			return false;
	return n <= 128;
}

kz_verdict
kz_enroll(kz_ctx *ctx, const char *name, const char *provider, int is_group,
    const char *subject, const char *refresh_token, unsigned flags,
    kz_result *res)
{
	struct kz_enr e = { 0 }, old = { 0 };
	struct kz_provider *p;
	struct kz_atomic tx;
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
	if (!subject_ok(subject))
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "bad %s name "
		    "(printable ASCII without spaces, at most 128)",
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
	if ((rc > 0 && (v = check_existing(ctx, name, &old, refresh_token,
	    flags, &e, res)) != KZ_OK) ||
	    (v = check_others(ctx, name, refresh_token, res)) != KZ_OK)
		goto out;
	/* the answer must have room on disk before the provider rotates */
	if (kz_store_begin(ctx, &e, &tx, err, sizeof(err)) != 0) {
		v = kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "not enrolled, nothing "
		    "was sent: the store cannot take the answer (%s)", err);
		goto out;
	}
	/* one refresh proves the token (and the client) before storing */
	v = kz_refresh_once(ctx, p, &e, flags | KZ_REFRESH_WAIT, res);
	v = keep_enrollment(ctx, &tx, &e, &old, rc > 0, refresh_token, v, res);
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
	kz_enr_clear(&old);
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
kz_enrollment_client_id(kz_ctx *ctx, const char *name, char *buf, size_t len,
    kz_result *res)
{
	struct kz_provider *p;
	struct kz_enr e;
	char err[512];
	int rc;

	memset(res, 0, sizeof(*res));
	if (len > 0)
		buf[0] = '\0';
	if ((rc = kz_store_load(ctx, name, &e, err, sizeof(err))) < 0)
		return store_error(res, err);
	if (rc == 0)
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "no enrollment named "
		    "%s", name);
	p = kz_config_provider(ctx->cfg, e.provider);
	if (p == NULL) {
		kz_set(res, KZ_ERROR, KZ_R_CONFIG, "enrollment %s names "
		    "provider %s, which the configuration lacks", name,
		    e.provider);
		kz_enr_clear(&e);
		return KZ_ERROR;
	}
	if (p->client_id != NULL && strlen(p->client_id) < len)
		snprintf(buf, len, "%s", p->client_id);
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

	if (p->token_style == KZ_STYLE_WAZO)
		return kz_wazo_revoke(ctx, p, e, res);
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
