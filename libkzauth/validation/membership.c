/*
 * membership.c - group membership confirmed by the platform with the
 * host's enrolled group token (DESIGN.md section 6).
 *
 * Called from kz_authorize when the token's own groups lack the required
 * group and the provider says membership_check = enrollment.  Any path
 * that cannot get a yes or no from the platform is KZ_UNAVAILABLE (or
 * KZ_ERROR), never an allow; a revoked group enrollment is named in the
 * result, the audit line and a log line saying which one to renew.
 * Answers (200 member, 404 not) are kept membership_ttl seconds under
 * cache_dir/membership, keyed by SHA-256 of provider, group and user.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "internal.h"

static int
cache_path(kz_ctx *ctx, struct kz_provider *p, const char *group,
    const char *user, char *out, size_t n)
{
	char dir[PATH_MAX], err[256], key[600], sha[65];

	if (snprintf(key, sizeof(key), "%s\n%s\n%s", p->name, group, user) >=
	    (int)sizeof(key))
		return -1;
	kz_sha256_hex(key, strlen(key), sha);
	snprintf(dir, sizeof(dir), "%s/membership", ctx->cfg->cache_dir);
	if (kz_check_dir(ctx->cfg->cache_dir, true, err, sizeof(err)) != 0 ||
	    kz_check_dir(dir, true, err, sizeof(err)) != 0) {
		kz_debug(ctx, "membership cache off: %s", err);
		return -1;
	}
	return snprintf(out, n, "%s/%s", dir, sha) < (int)n ? 0 : -1;
}

/* 1 member, 0 not, -1 unknown */
static int
cache_get(kz_ctx *ctx, struct kz_provider *p, const char *group,
    const char *user)
{
	char path[PATH_MAX], err[256], *buf;
	int64_t until = 0, member = -1;
	size_t len;
	json_t *o;

	if (p->membership_ttl <= 0 ||
	    cache_path(ctx, p, group, user, path, sizeof(path)) != 0 ||
	    kz_read_file(path, KZ_SF_SECRET | KZ_SF_MISSING_OK, 4096, &buf,
	    &len, err, sizeof(err)) != 0 || buf == NULL)
		return -1;
	o = kz_json_parse(buf, len);
	free(buf);
	if (o == NULL || kz_json_int(o, "until", &until) != 1 ||
	    kz_json_int(o, "member", &member) != 1 || until <= kz_now(ctx) ||
	    until > kz_now(ctx) + p->membership_ttl)
		member = -1;
	json_decref(o);
	return member == 0 || member == 1 ? (int)member : -1;
}

static void
cache_put(kz_ctx *ctx, struct kz_provider *p, const char *group,
    const char *user, bool member)
{
	char path[PATH_MAX], err[256], txt[96];
	int n;

	if (p->membership_ttl <= 0 ||
	    cache_path(ctx, p, group, user, path, sizeof(path)) != 0)
		return;
	n = snprintf(txt, sizeof(txt), "{\"member\":%d,\"until\":%lld}\n",
	    member ? 1 : 0, (long long)(kz_now(ctx) + p->membership_ttl));
	if (kz_write_file_atomic(path, txt, (size_t)n, 0600, err,
	    sizeof(err)) != 0)
		kz_debug(ctx, "membership cache: %s", err);
}

/* The group token enrolled for this provider and group: an active one if
 * there is one, else any (so that its state can be reported). */
static char *
find_enrollment(kz_ctx *ctx, struct kz_provider *p, const char *group,
    kz_enr_state *state)
{
	struct kz_strv names;
	char err[256], *best = NULL;
	bool best_live = false;

	if (kz_store_names(ctx, &names, err, sizeof(err)) != 0) {
		kz_debug(ctx, "membership: %s", err);
		return NULL;
	}
	for (size_t i = 0; i < names.n && !best_live; i++) {
		struct kz_enr e;

		if (kz_store_load(ctx, names.v[i], &e, err, sizeof(err)) <= 0)
			continue;
		if (e.group && strcmp(e.subject, group) == 0 &&
		    strcmp(e.provider, p->name) == 0) {
			kz_enr_state st = kz_enr_state_now(ctx, &e);

			free(best);
			best = kz_strdup(e.name);
			*state = st;
			best_live = st == KZ_ENR_ACTIVE ||
			    st == KZ_ENR_EXPIRING || st == KZ_ENR_ERROR;
		}
		kz_enr_clear(&e);
	}
	kz_strv_free(&names);
	return best;
}

static char *
url_escape(const char *s)
{
	char *out = malloc(3 * strlen(s) + 1);

	if (out != NULL)
		kz_url_escape(out, s);
	return out;
}

/* membership_url with {group} and {user} replaced, both escaped. */
static char *
expand_url(const char *tmpl, const char *group, const char *user)
{
	char *g = url_escape(group), *u = url_escape(user), *out = NULL;
	size_t cap, n = 0;

	if (g == NULL || u == NULL)
		goto done;
	cap = strlen(tmpl) + 8 * (strlen(g) + strlen(u)) + 1;
	if ((out = malloc(cap)) == NULL)
		goto done;
	for (const char *t = tmpl; *t; ) {
		const char *v = NULL;

		if (strncmp(t, "{group}", 7) == 0)
			v = g, t += 7;
		else if (strncmp(t, "{user}", 6) == 0)
			v = u, t += 6;
		if (v != NULL) {
			size_t vl = strlen(v);

			if (n + vl + 1 > cap)
				goto toolong;
			memcpy(out + n, v, vl);
			n += vl;
		} else {
			if (n + 2 > cap)
				goto toolong;
			out[n++] = *t++;
		}
	}
	out[n] = '\0';
	goto done;
toolong:
	free(out);
	out = NULL;
done:
	free(g);
	free(u);
	return out;
}

static kz_verdict
enrollment_broken(kz_ctx *ctx, const char *name, const char *group,
    kz_verdict v, kz_result *res)
{
	char why[256];

	snprintf(why, sizeof(why), "%s", res->detail);
	free(res->enrollment);
	res->enrollment = kz_strdup(name);
	kz_log(ctx, LOG_WARNING, "enrollment=%s group=%s: cannot confirm group "
	    "membership (%s); renew the enrollment: `kztoken enroll %s "
	    "--group %s`", name, group, why, name, group);
	if (v == KZ_UNAUTHENTICATED || v == KZ_FORBIDDEN)
		v = KZ_UNAVAILABLE;
	return kz_set(res, v, KZ_R_ENROLLMENT, "group enrollment %s: %s",
	    name, why);
}

/* A 308 from the platform (Kaizala, when the endpoint moved) is followed
 * once, on membership_url's own host or an allowed host (DESIGN §5). */
static kz_verdict
ask(kz_ctx *ctx, struct kz_provider *p, const char *url, const char *at,
    long *status, kz_result *res)
{
	struct kz_http_req req = { .method = "GET", .url = url,
		.ca_file = p->ca_file,
		.allow_http_loopback = p->allow_http_loopback };
	const char *hdrs[2] = { NULL, NULL };
	struct kz_http_resp r;
	char *hdr = NULL;
	kz_verdict v = KZ_OK;

	if (asprintf(&hdr, "Authorization: Bearer %s", at) < 0)
		return kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
	hdrs[0] = hdr;
	req.headers = hdrs;
	if (kz_http_do_moved(ctx, p, &req, p->membership_url, "membership",
	    &r) != 0)
		v = kz_http_failure(&r, res, "membership");
	else
		*status = r.status;
	kz_http_resp_free(&r);
	kz_free_secret(hdr);
	return v;
}

kz_verdict
kz_membership_check(kz_ctx *ctx, struct kz_provider *p, const char *group,
    const char *user, kz_result *res)
{
	char *name = NULL, *url = NULL, *at = NULL;
	kz_enr_state st = KZ_ENR_ACTIVE;
	long status = 0;
	kz_verdict v;
	int cached;

	if (user == NULL)
		return kz_set(res, KZ_FORBIDDEN, KZ_R_MISSING_GROUP,
		    "not a member of group %s (no user to ask about)", group);
	/* The enrollment first: once it is revoked, no cached answer that
	 * it once obtained may stand in for it. */
	if ((name = find_enrollment(ctx, p, group, &st)) == NULL) {
		kz_log(ctx, LOG_WARNING, "group=%s provider=%s: membership_check "
		    "= enrollment, but no group token is enrolled for it; "
		    "enroll one with `kztoken enroll NAME --group %s`", group,
		    p->name, group);
		v = kz_set(res, KZ_UNAVAILABLE, KZ_R_ENROLLMENT, "no group "
		    "token enrolled for group %s (provider %s)", group,
		    p->name);
		goto out;
	}
	if (st == KZ_ENR_REVOKED || st == KZ_ENR_EXPIRED) {
		kz_set(res, KZ_UNAVAILABLE, KZ_R_ENROLLMENT, "it is %s",
		    kz_enr_state_name(st));
		v = enrollment_broken(ctx, name, group, KZ_UNAVAILABLE, res);
		goto out;
	}
	/* escaping leaves "." and "..": as a segment of membership_url they
	 * would ask about the parent ("/members/.." is the group itself) */
	if (kz_is_dot_segment(group) || kz_is_dot_segment(user)) {
		v = kz_set(res, KZ_FORBIDDEN, KZ_R_MISSING_GROUP, "group %s: "
		    "a name of dots cannot be asked about", group);
		goto out;
	}
	if ((cached = cache_get(ctx, p, group, user)) >= 0) {
		kz_trace(ctx, "membership", cached, "%s %s a member of %s "
		    "(cached platform answer)", user, cached ? "is" : "is not",
		    group);
		v = cached ? KZ_OK : kz_set(res, KZ_FORBIDDEN,
		    KZ_R_MISSING_GROUP, "not a member of group %s (platform, "
		    "cached)", group);
		goto out;
	}
	if ((url = expand_url(p->membership_url, group, user)) == NULL) {
		v = kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
		goto out;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		kz_result er = { 0 };

		/* the second time, the platform refused our access token:
		 * mint a fresh one */
		if ((v = kz_enr_access(ctx, name, 0, attempt > 0, &at,
		    &er)) != KZ_OK) {
			kz_set(res, v, er.reason, "%s", er.detail);
			kz_result_clear(&er);
			v = enrollment_broken(ctx, name, group, v, res);
			goto out;
		}
		kz_result_clear(&er);
		v = ask(ctx, p, url, at, &status, res);
		kz_free_secret(at);
		at = NULL;
		if (v != KZ_OK || status != 401)
			break;
	}
	if (v != KZ_OK)
		goto out;
	switch (status) {
	case 200:
		kz_trace(ctx, "membership", 1, "platform confirms %s in %s "
		    "(group token %s)", user, group, name);
		cache_put(ctx, p, group, user, true);
		v = KZ_OK;
		break;
	case 404:
		cache_put(ctx, p, group, user, false);
		v = kz_set(res, KZ_FORBIDDEN, KZ_R_MISSING_GROUP, "not a member "
		    "of group %s (platform)", group);
		break;
	case 401:
	case 403:
		kz_set(res, KZ_UNAVAILABLE, KZ_R_ENROLLMENT, "the platform "
		    "refused its access token (HTTP %ld)%s", status,
		    status == 403 ? ": not a group token for this group" : "");
		v = enrollment_broken(ctx, name, group, KZ_UNAVAILABLE, res);
		break;
	case 429:
		v = kz_set(res, KZ_UNAVAILABLE, KZ_R_RATE_LIMITED, "membership "
		    "answered 429");
		break;
	default:
		v = kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR,
		    "membership answered HTTP %ld", status);
		break;
	}
out:
	if (v != KZ_OK && v != KZ_FORBIDDEN)
		kz_trace(ctx, "membership", 0, "%s", res->detail);
	free(url);
	free(name);
	return v;
}
