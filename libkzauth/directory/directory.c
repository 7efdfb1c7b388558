/*
 * directory.c - reads the organisation's directory for `kztoken sync`
 * (DESIGN.md section 16) with the access token of [nss] enrollment: the
 * requests both dialects share (kz_dir_get_json), and SCIM 2.0 (RFC 7644)
 * at [nss] directory_url; the Kaizala platform API is in kaizala.c.
 *
 *   GET /Groups?filter=displayName eq "G"   for each group of [nss] groups
 *   GET /Users/{id}                         for a few members, or
 *   GET /Users?startIndex=N&count=500       paged, for many
 *
 * Every answer must be complete: a failed page fails the whole read, so
 * the caller keeps the database it has rather than dropping users.
 *
 * Answers that came with an ETag are kept in db_dir/scim.cache (root,
 * 0600) with their URL; the next sync sends If-None-Match and a 304 uses
 * the kept answer, so an unchanged directory costs only conditional
 * requests.  The cache is written only after a complete read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "internal.h"

#define DIR_MAX_BODY (64u * 1024 * 1024)
#define DIR_PAGE 500
#define DIR_MAX_PAGES 100000
/* All answers of one sync together: a hostile directory paging 64 MiB
 * bodies must not be able to exhaust the host's memory. */
#define DIR_MAX_TOTAL (1024ull * 1024 * 1024)
#define DIR_FEW_MEMBERS 50	/* up to this many: one GET per user */
#define DIR_CACHE "scim.cache"
#define DIR_MAX_CACHE (256u * 1024 * 1024)

/* An ETag we may send back in a header: printable ASCII only. */
static bool
etag_ok(const char *t)
{
	size_t n = t ? strlen(t) : 0;

	if (n == 0 || n > 256)
		return false;
	for (; *t; t++)
		if (*t < 0x20 || *t > 0x7e)
			return false;
	return true;
}

static void
cache_load(struct kz_dir_fetch *f, const char *dir)
{
	char path[4096], err[256], *buf = NULL;
	size_t len = 0;

	f->cache_new = json_object();
	snprintf(path, sizeof(path), "%s/%s", dir, DIR_CACHE);
	if (kz_read_file(path, KZ_SF_MISSING_OK | KZ_SF_SECRET, DIR_MAX_CACHE,
	    &buf, &len, err, sizeof(err)) != 0 || buf == NULL)
		return;
	f->cache_old = kz_json_parse_max(buf, len, DIR_MAX_CACHE);
	if (!json_is_object(f->cache_old)) {
		json_decref(f->cache_old);
		f->cache_old = NULL;
	}
	free(buf);
}

static void
cache_save(struct kz_dir_fetch *f, const char *dir)
{
	char path[4096], err[256], *text;

	snprintf(path, sizeof(path), "%s/%s", dir, DIR_CACHE);
	if (f->cache_new == NULL ||
	    (text = json_dumps(f->cache_new, JSON_COMPACT)) == NULL)
		return;
	if (kz_write_file_atomic(path, text, strlen(text), 0600, err,
	    sizeof(err)) != 0)
		kz_log(f->ctx, LOG_WARNING, "directory: %s", err);
	free(text);
}

/* The kept answer for url, and its ETag. */
static json_t *
cached(struct kz_dir_fetch *f, const char *url, const char **etag)
{
	json_t *e = json_object_get(f->cache_old, url);
	const char *t = kz_json_str(e, "etag");
	json_t *body = json_object_get(e, "body");

	if (!etag_ok(t) || !json_is_object(body))
		return NULL;
	*etag = t;
	return body;
}

static void
remember(struct kz_dir_fetch *f, const char *url, const char *etag, json_t *body)
{
	if (f->cache_new != NULL && etag_ok(etag))
		json_object_set_new(f->cache_new, url,
		    json_pack("{s:s, s:O}", "etag", etag, "body", body));
}

kz_verdict
kz_dir_token(struct kz_dir_fetch *f, bool force, kz_result *res)
{
	kz_result er = { 0 };
	kz_verdict v;

	kz_free_secret(f->at);
	f->at = NULL;
	v = kz_enr_access(f->ctx, f->enrollment, 0, force, &f->at, &er);
	if (v != KZ_OK)
		kz_set(res, v == KZ_UNAUTHENTICATED ? KZ_UNAVAILABLE : v,
		    KZ_R_ENROLLMENT, "enrollment %s: %s", f->enrollment,
		    er.detail);
	kz_result_clear(&er);
	return v == KZ_OK ? KZ_OK : res->verdict;
}

/*
 * One GET; *out is the parsed answer of a 200, NULL for a 404.  SCIM
 * takes the token as a Bearer; Kaizala in its accessToken header, and
 * its 308 (the endpoint moved) is followed once within f->base's site.
 */
kz_verdict
kz_dir_get_json(struct kz_dir_fetch *f, const char *url, json_t **out,
    kz_result *res)
{
	struct kz_http_req req = { .method = "GET", .url = url,
		.ca_file = f->p->ca_file,
		.allow_http_loopback = f->p->allow_http_loopback,
		.max_body = DIR_MAX_BODY };
	const char *hdrs[4] = { NULL, NULL, NULL, NULL };
	struct kz_http_resp r;
	char *auth = NULL, *inm = NULL;
	const char *etag = NULL;
	json_t *kept = cached(f, url, &etag);
	kz_verdict v;
	int rc;

	*out = NULL;
	if (kept != NULL && asprintf(&inm, "If-None-Match: %s", etag) < 0)
		return kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
	if (!f->kaizala)
		hdrs[1] = "Accept: application/scim+json, application/json";
	hdrs[hdrs[1] ? 2 : 1] = inm;
	for (;;) {
		if (f->at == NULL && (v = kz_dir_token(f, false, res)) != KZ_OK)
			goto out;
		if (asprintf(&auth, f->kaizala ? "accessToken: %s" :
		    "Authorization: Bearer %s", f->at) < 0) {
			auth = NULL;
			v = kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
			goto out;
		}
		hdrs[0] = auth;
		req.headers = hdrs;
		kz_deadline_start(f->ctx);	/* each request its timeout */
		f->dir->requests++;
		rc = f->kaizala ? kz_http_do_moved(f->ctx, f->p, &req, f->base,
		    "the Kaizala API", &r) : kz_http_do(f->ctx, &req, &r);
		if (rc != 0) {
			/* name the place: "Couldn't connect" alone leaves the
			 * admin guessing which of the URLs it was */
			char what[300];

			snprintf(what, sizeof(what), "directory %.250s", url);
			v = kz_http_failure(&r, res, what);
			kz_http_resp_free(&r);
			kz_free_secret(auth);
			goto out;
		}
		kz_free_secret(auth);
		auth = NULL;
		f->dir->bytes += r.body_len;
		if (f->dir->bytes > DIR_MAX_TOTAL) {
			kz_http_resp_free(&r);
			v = kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR,
			    "directory: its answers exceed %llu MiB in all",
			    DIR_MAX_TOTAL / (1024 * 1024));
			goto out;
		}
		if (r.status != 401 || f->refreshed)
			break;
		/* the directory refused the token: mint a fresh one, once */
		kz_http_resp_free(&r);
		f->refreshed = true;
		if ((v = kz_dir_token(f, true, res)) != KZ_OK)
			goto out;
	}
	free(inm);
	inm = NULL;
	switch (r.status) {
	case 200:
		if ((*out = kz_json_parse_max(r.body, r.body_len,
		    DIR_MAX_BODY)) == NULL || !json_is_object(*out)) {
			json_decref(*out);
			*out = NULL;
			v = kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR,
			    "directory: %s answered something that is not a "
			    "JSON object", url);
		} else {
			remember(f, url, r.etag, *out);
			v = KZ_OK;
		}
		break;
	case 304:
		if (kept == NULL) {
			v = kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR,
			    "directory: 304 for %s, which was not asked "
			    "conditionally", url);
			break;
		}
		f->dir->not_modified++;
		*out = json_incref(kept);
		remember(f, url, etag, kept);
		v = KZ_OK;
		break;
	case 404:
		v = KZ_OK;
		break;
	case 429:
		v = kz_set(res, KZ_UNAVAILABLE, KZ_R_RATE_LIMITED,
		    "directory answered 429");
		break;
	case 401:
	case 403:
		v = kz_set(res, KZ_UNAVAILABLE, KZ_R_ENROLLMENT, "the directory "
		    "refused the token of enrollment %s (HTTP %ld)",
		    f->enrollment, r.status);
		break;
	default:
		v = kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR,
		    "directory answered HTTP %ld for %s", r.status, url);
		break;
	}
	kz_http_resp_free(&r);
out:
	free(inm);
	return v;
}

/*
 * A SCIM list (RFC 7644 3.4.2.4): pages of count from startIndex 1 until
 * totalResults; each resource goes to fn.  A server that ignores paging
 * and sends everything at once ends the loop too.
 */
static kz_verdict
list_all(struct kz_dir_fetch *f, const char *base, int (*fn)(struct kz_dir_fetch *,
    json_t *, void *), void *arg, kz_result *res)
{
	int64_t total = 0;
	size_t start = 1;
	kz_verdict v;

	for (int page = 0; page < DIR_MAX_PAGES; page++) {
		char *url = NULL;
		json_t *o, *list;
		size_t n;

		if (asprintf(&url, "%s%cstartIndex=%zu&count=%d", base,
		    strchr(base, '?') ? '&' : '?', start, DIR_PAGE) < 0)
			return kz_set(res, KZ_ERROR, KZ_R_INTERNAL,
			    "out of memory");
		v = kz_dir_get_json(f, url, &o, res);
		if (v == KZ_OK && o == NULL)
			v = kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR,
			    "directory: %s answered 404", url);
		free(url);
		if (v != KZ_OK)
			return v;
		list = json_object_get(o, "Resources");
		if ((list != NULL && !json_is_array(list)) ||
		    kz_json_int(o, "totalResults", &total) != 1 || total < 0) {
			json_decref(o);
			return kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR,
			    "directory: a list without Resources or "
			    "totalResults (not SCIM)");
		}
		n = list ? json_array_size(list) : 0;
		for (size_t i = 0; i < n; i++)
			if (fn(f, json_array_get(list, i), arg) != 0) {
				json_decref(o);
				return kz_set(res, KZ_ERROR, KZ_R_INTERNAL,
				    "out of memory");
			}
		json_decref(o);
		if (n == 0 && (int64_t)start <= total)
			return kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR,
			    "directory: an empty page at startIndex %zu of "
			    "%lld results (incomplete list)", start,
			    (long long)total);
		start += n;
		if (n == 0 || (int64_t)start > total)
			return KZ_OK;
	}
	return kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR,
	    "directory: more than %d pages", DIR_MAX_PAGES);
}

static int
add_group(struct kz_dir_fetch *f, json_t *g, void *arg)
{
	const char *want = arg, *id = kz_json_str(g, "id");
	const char *name = kz_json_str(g, "displayName");
	json_t *members = json_object_get(g, "members"), *m;
	struct kz_dir *d = f->dir;
	struct kz_dir_group *ng;
	size_t i;

	/* the server's filter may be looser than ours (case) */
	if (id == NULL || *id == '\0' || name == NULL ||
	    strcmp(name, want) != 0)
		return 0;
	if ((ng = realloc(d->groups, (d->ngroups + 1) * sizeof(*ng))) == NULL)
		return -1;
	d->groups = ng;
	ng = &d->groups[d->ngroups++];
	memset(ng, 0, sizeof(*ng));
	if ((ng->id = strdup(id)) == NULL || (ng->name = strdup(name)) == NULL)
		return -1;
	json_array_foreach(members, i, m) {
		const char *val = kz_json_str(m, "value");
		const char *type = kz_json_str(m, "type");

		/* nested groups are not expanded: only direct members */
		if (val == NULL || kz_is_dot_segment(val) ||
		    (type != NULL && strcmp(type, "User") != 0))
			continue;
		if (kz_strv_push_big(&ng->members, val, strlen(val)) != 0)
			return -1;
	}
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct wanted {
	struct kz_strv ids;	/* sorted, unique */
	bool *seen;		/* per id: a user already taken */
	const char *asked;	/* GET /Users/{asked}: the answer must be it */
};

static int
add_user(struct kz_dir_fetch *f, json_t *u, void *arg)
{
	struct wanted *w = arg;
	const char *id = kz_json_str(u, "id");
	const char *name = kz_json_str(u, "userName");
	const char *disp = kz_json_str(u, "displayName");
	json_t *act = json_object_get(u, "active");
	struct kz_dir *d = f->dir;
	struct kz_dir_user *nu;
	char **at;

	if (id == NULL || name == NULL || *name == '\0' ||
	    (w->asked != NULL && strcmp(id, w->asked) != 0) ||
	    (at = bsearch(&id, w->ids.v, w->ids.n, sizeof(char *),
	    cmp_str)) == NULL)
		return 0;
	/* Offset paging overlaps when the directory changes between pages:
	 * the same user twice is one user, not a collision with itself.
	 * (The same id under another name stays a collision: both out.) */
	if (w->seen[at - w->ids.v]) {
		for (size_t i = d->nusers; i-- > 0; )
			if (strcmp(d->users[i].id, id) == 0 &&
			    strcmp(d->users[i].username, name) == 0)
				return 0;
	}
	w->seen[at - w->ids.v] = true;
	if (disp == NULL)
		disp = kz_json_str(json_object_get(u, "name"), "formatted");
	if ((nu = realloc(d->users, (d->nusers + 1) * sizeof(*nu))) == NULL)
		return -1;
	d->users = nu;
	nu = &d->users[d->nusers++];
	memset(nu, 0, sizeof(*nu));
	/* a user whose "active" is anything but true is not served */
	nu->active = act == NULL || json_is_true(act);
	nu->id = strdup(id);
	nu->username = strdup(name);
	nu->display = kz_strdup(disp);
	return nu->id && nu->username ? 0 : -1;
}

static kz_verdict
fetch_groups(struct kz_dir_fetch *f, const char *url, kz_result *res)
{
	const struct kz_strv *groups = &f->ctx->cfg->nss.groups;
	kz_verdict v;

	for (size_t i = 0; i < groups->n; i++) {
		const char *g = groups->v[i];
		char filter[600], *esc, *base = NULL;
		size_t k = 0;

		/* displayName eq "G", with " and \ escaped (RFC 7644 3.4.2.2) */
		k = (size_t)snprintf(filter, sizeof(filter), "displayName eq \"");
		for (const char *c = g; *c && k < sizeof(filter) - 4; c++) {
			if (*c == '"' || *c == '\\')
				filter[k++] = '\\';
			filter[k++] = *c;
		}
		snprintf(filter + k, sizeof(filter) - k, "\"");
		if ((esc = malloc(3 * strlen(filter) + 1)) == NULL)
			return kz_set(res, KZ_ERROR, KZ_R_INTERNAL,
			    "out of memory");
		kz_url_escape(esc, filter);
		if (asprintf(&base, "%s/Groups?filter=%s", url, esc) < 0)
			base = NULL;
		free(esc);
		if (base == NULL)
			return kz_set(res, KZ_ERROR, KZ_R_INTERNAL,
			    "out of memory");
		k = f->dir->ngroups;
		v = list_all(f, base, add_group, (void *)g, res);
		free(base);
		if (v != KZ_OK)
			return v;
		/* reported, never kept: a group deleted in the directory
		 * must take its members' membership with it */
		if (f->dir->ngroups == k &&
		    kz_strv_push_big(&f->dir->missing, g, strlen(g)) != 0)
			return kz_set(res, KZ_ERROR, KZ_R_INTERNAL,
			    "out of memory");
	}
	return KZ_OK;
}

static kz_verdict
fetch_users(struct kz_dir_fetch *f, const char *url, kz_result *res)
{
	struct wanted w = { 0 };
	kz_verdict v = KZ_OK;
	size_t j = 0;

	for (size_t i = 0; i < f->dir->ngroups; i++)
		for (size_t m = 0; m < f->dir->groups[i].members.n; m++) {
			const char *id = f->dir->groups[i].members.v[m];

			if (kz_strv_push_big(&w.ids, id, strlen(id)) != 0) {
				kz_strv_free(&w.ids);
				return kz_set(res, KZ_ERROR, KZ_R_INTERNAL,
				    "out of memory");
			}
		}
	qsort(w.ids.v, w.ids.n, sizeof(char *), cmp_str);
	for (size_t i = 0; i < w.ids.n; i++) {	/* unique */
		if (j > 0 && strcmp(w.ids.v[j - 1], w.ids.v[i]) == 0) {
			free(w.ids.v[i]);
			continue;
		}
		w.ids.v[j++] = w.ids.v[i];
	}
	w.ids.n = j;
	if ((w.seen = calloc(w.ids.n + 1, sizeof(bool))) == NULL) {
		kz_strv_free(&w.ids);
		return kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
	}
	if (w.ids.n > DIR_FEW_MEMBERS) {
		char *base = NULL;

		if (asprintf(&base, "%s/Users", url) < 0)
			v = kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
		else
			v = list_all(f, base, add_user, &w, res);
		free(base);
		free(w.seen);
		kz_strv_free(&w.ids);
		return v;
	}
	for (size_t i = 0; i < w.ids.n && v == KZ_OK; i++) {
		char *esc = malloc(3 * strlen(w.ids.v[i]) + 1), *u = NULL;
		json_t *o = NULL;

		if (esc == NULL) {
			v = kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
			break;
		}
		kz_url_escape(esc, w.ids.v[i]);
		if (asprintf(&u, "%s/Users/%s", url, esc) < 0)
			u = NULL;
		free(esc);
		if (u == NULL) {
			v = kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
			break;
		}
		/* 404: deleted since the group was read; simply not a user */
		v = kz_dir_get_json(f, u, &o, res);
		free(u);
		/* the answer to /Users/A counts only as A */
		w.asked = w.ids.v[i];
		if (v == KZ_OK && o != NULL && add_user(f, o, &w) != 0)
			v = kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
		w.asked = NULL;
		json_decref(o);
	}
	free(w.seen);
	kz_strv_free(&w.ids);
	return v;
}

static kz_verdict
read_scim(struct kz_dir_fetch *f, kz_result *res)
{
	const struct kz_nss_conf *nc = &f->ctx->cfg->nss;
	char url[2048];
	size_t n;
	kz_verdict v;

	if (nc->directory_url == NULL ||
	    kz_url_allowed(nc->directory_url, f->p->allow_http_loopback) != 0)
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "[nss] directory_url: "
		    "https only (http to loopback with allow_http_loopback)");
	n = (size_t)snprintf(url, sizeof(url), "%s", nc->directory_url);
	while (n > 0 && url[n - 1] == '/')
		url[--n] = '\0';
	cache_load(f, nc->db_dir);
	v = fetch_groups(f, url, res);
	/* none of the groups at all is a directory that answers wrongly
	 * (or a wrong directory_url), not a reason to drop every user */
	if (v == KZ_OK && f->dir->ngroups == 0)
		v = kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR, "directory: "
		    "none of [nss] groups exists there; the database is kept");
	if (v == KZ_OK)
		v = fetch_users(f, url, res);
	if (v == KZ_OK)
		cache_save(f, nc->db_dir);
	return v;
}

kz_verdict
kz_dir_fetch(kz_ctx *ctx, struct kz_provider *p, struct kz_dir *dir,
    kz_result *res)
{
	const struct kz_nss_conf *nc = &ctx->cfg->nss;
	struct kz_dir_fetch f = { .ctx = ctx, .p = p,
		.enrollment = nc->enrollment, .dir = dir,
		.kaizala = nc->directory_style == KZ_DIR_KAIZALA };
	kz_verdict v;

	memset(dir, 0, sizeof(*dir));
	v = f.kaizala ? kz_dir_read_kaizala(&f, res) : read_scim(&f, res);
	json_decref(f.cache_old);
	json_decref(f.cache_new);
	kz_free_secret(f.at);
	if (v != KZ_OK)
		kz_log(ctx, LOG_WARNING, "directory: %s", res->detail);
	return v;
}

void
kz_dir_free(struct kz_dir *d)
{
	for (size_t i = 0; i < d->nusers; i++) {
		free(d->users[i].id);
		free(d->users[i].username);
		free(d->users[i].display);
	}
	for (size_t i = 0; i < d->ngroups; i++) {
		free(d->groups[i].id);
		free(d->groups[i].name);
		kz_strv_free(&d->groups[i].members);
	}
	free(d->users);
	free(d->groups);
	kz_strv_free(&d->missing);
	memset(d, 0, sizeof(*d));
}
