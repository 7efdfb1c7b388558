/*
 * kaizala.c - the Kaizala platform API as the directory of `kztoken sync`
 * (DESIGN.md sections 16 and 5), with the access token of [nss]
 * enrollment in the accessToken header:
 *
 *   GET {base}/v1/groups                    the groups the token sees,
 *       {"groups": [{"groupId": G, "groupName": N, ...}, ...]}
 *   GET {base}/v1/groups/{groupId}/members  each group of [nss] groups,
 *       {"members": [{"id": GUID, "role": R, "mobileNumber": M,
 *                     "isProvisioned": B}, ...]}
 *
 * {base} is [nss] directory_url, else the endpointUrl the token service
 * gave the enrollment.  An entry of [nss] groups that is a groupId names
 * that one group; any other entry names every group of that groupName
 * (two of one name are then both left out by the mapping, as SCIM's are;
 * a name no group has is left out).  A member is named as a tokeninfo
 * answer names its user, so that the name is the one PAM binds:
 * username_claim, then "username", then its id in the place of sub; the
 * mapping applies username_transform and user_map_file.  A member whose
 * isProvisioned is false has not joined Kaizala yet and is no user.
 * An answer of the wrong shape fails the whole read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "internal.h"

#define KZ_ID_MAX 256
/* what an id may hold in a URL path as it is (Kaizala's look like
 * "853654b2-5874-462d-b709-0c4e43a7083f@1"); anything else is escaped */
#define KZ_ID_PLAIN "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" \
	"0123456789-._~@"

static kz_verdict
junk(kz_result *res, const char *what)
{
	return kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR, "directory: "
	    "the Kaizala API answered %s; the database is kept", what);
}

/* A groupId or member id: a printable ASCII string, no NUL inside. */
static const char *
id_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	const char *s = json_string_value(v);
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > KZ_ID_MAX || n != json_string_length(v) ||
	    kz_is_dot_segment(s))
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return NULL;
	return s;
}

/*
 * The API base: directory_url, or the enrollment's endpointUrl.  The
 * latter only where a move of the token service may go (token_url's host
 * or allowed_hosts): a store written before that rule must not send the
 * access token elsewhere.
 */
static kz_verdict
api_base(struct kz_dir_fetch *f, char *out, size_t len, kz_result *res)
{
	const char *conf = f->ctx->cfg->nss.directory_url;
	struct kz_enr e;
	char err[512] = "no such enrollment";
	kz_verdict v = KZ_OK;
	size_t n;

	if (conf != NULL) {
		n = (size_t)snprintf(out, len, "%s", conf);
	} else {
		/* the refresh before the load: it may bring a new endpointUrl */
		if ((v = kz_dir_token(f, false, res)) != KZ_OK)
			return v;
		if (kz_store_load(f->ctx, f->enrollment, &e, err,
		    sizeof(err)) <= 0)
			return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "enrollment "
			    "%s: %s", f->enrollment, err);
		if (e.endpoint_url == NULL)
			v = kz_set(res, KZ_ERROR, KZ_R_CONFIG, "[nss] "
			    "directory_url is not set and enrollment %s has "
			    "no endpointUrl from its token service; set "
			    "directory_url to the Kaizala API base",
			    f->enrollment);
		else if (f->p->token_url == NULL ||
		    kz_url_same_site(e.endpoint_url, f->p->token_url,
		    &f->p->allowed_hosts, f->p->allow_http_loopback) != 0)
			v = kz_set(res, KZ_ERROR, KZ_R_CONFIG, "enrollment "
			    "%s: its endpointUrl is on neither token_url's "
			    "host nor one of allowed_hosts; set [nss] "
			    "directory_url", f->enrollment);
		n = (size_t)snprintf(out, len, "%s", e.endpoint_url ?
		    e.endpoint_url : "");
		kz_enr_clear(&e);
		if (v != KZ_OK)
			return v;
	}
	if (n >= len || kz_url_allowed(out, f->p->allow_http_loopback) != 0)
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "the Kaizala API base "
		    "(%s): https only (http to loopback with "
		    "allow_http_loopback)", conf ? "[nss] directory_url" :
		    "endpointUrl");
	while (n > 0 && out[n - 1] == '/')
		out[--n] = '\0';
	return KZ_OK;
}

static int
push_group(struct kz_dir *d, const char *id, const char *name)
{
	struct kz_dir_group *g;

	for (size_t i = 0; i < d->ngroups; i++)
		if (strcmp(d->groups[i].id, id) == 0)
			return 0;	/* named twice (by name and by id) */
	if ((g = realloc(d->groups, (d->ngroups + 1) * sizeof(*g))) == NULL)
		return -1;
	d->groups = g;
	g = &d->groups[d->ngroups++];
	memset(g, 0, sizeof(*g));
	g->id = strdup(id);
	g->name = strdup(name);
	return g->id && g->name ? 0 : -1;
}

/*
 * The configured entry "LOCAL=groupId": that group, named LOCAL here
 * whatever the directory calls it; else a groupId (named as the
 * directory names it); else every group of that groupName.  Only the
 * first form keeps the local name out of the hands of whoever may
 * rename the group in Kaizala (a rename to "docker" would otherwise
 * hand out a name a later package install trusts).
 */
static int
pick(struct kz_dir_fetch *f, json_t *list, const char *want)
{
	const char *eq = strchr(want, '=');
	int found = 0;
	size_t i;
	json_t *g;

	if (eq != NULL) {
		char local[KZ_ID_MAX + 1];

		if (eq == want || (size_t)(eq - want) > KZ_ID_MAX)
			return 0;
		memcpy(local, want, (size_t)(eq - want));
		local[eq - want] = '\0';
		json_array_foreach(list, i, g)
			if (strcmp(id_of(g, "groupId"), eq + 1) == 0)
				return push_group(f->dir, eq + 1, local) == 0 ?
				    1 : -1;
		return 0;
	}
	json_array_foreach(list, i, g)
		if (strcmp(id_of(g, "groupId"), want) == 0)
			return push_group(f->dir, want,
			    kz_json_str(g, "groupName")) == 0 ? 1 : -1;
	json_array_foreach(list, i, g)
		if (strcmp(kz_json_str(g, "groupName"), want) == 0) {
			if (push_group(f->dir, id_of(g, "groupId"), want) != 0)
				return -1;
			found = 1;
		}
	return found;
}

static kz_verdict
fetch_groups(struct kz_dir_fetch *f, const char *base, kz_result *res)
{
	const struct kz_strv *want = &f->ctx->cfg->nss.groups;
	char url[2200];
	json_t *o, *list, *g;
	kz_verdict v;
	size_t i;

	snprintf(url, sizeof(url), "%s/v1/groups", base);
	if ((v = kz_dir_get_json(f, url, &o, res)) != KZ_OK)
		return v;
	list = json_object_get(o, "groups");
	if (o == NULL || !json_is_array(list)) {
		json_decref(o);
		return junk(res, "a group list without a \"groups\" array");
	}
	json_array_foreach(list, i, g) {
		json_t *name = json_object_get(g, "groupName");

		/* no NUL inside: "ops-admins\u0000x" is not ops-admins */
		if (id_of(g, "groupId") == NULL || !json_is_string(name) ||
		    strlen(json_string_value(name)) !=
		    json_string_length(name)) {
			json_decref(o);
			return junk(res, "a group without a usable groupId or "
			    "groupName");
		}
	}
	for (i = 0; i < want->n; i++) {
		int got = pick(f, list, want->v[i]);

		if (got < 0) {
			json_decref(o);
			return kz_set(res, KZ_ERROR, KZ_R_INTERNAL,
			    "out of memory");
		}
		if (got == 0 && kz_strv_push_big(&f->dir->missing,
		    want->v[i], strlen(want->v[i])) != 0) {
			json_decref(o);
			return kz_set(res, KZ_ERROR, KZ_R_INTERNAL,
			    "out of memory");
		}
	}
	json_decref(o);
	return KZ_OK;
}

static struct kz_dir_user *
push_user(struct kz_dir *d, const char *id, const char *name, bool active)
{
	struct kz_dir_user *u;

	if ((u = realloc(d->users, (d->nusers + 1) * sizeof(*u))) == NULL)
		return NULL;
	d->users = u;
	u = &d->users[d->nusers++];
	memset(u, 0, sizeof(*u));
	u->id = strdup(id);
	u->username = strdup(name);
	u->active = active;
	return u->id && u->username ? u : NULL;
}

/*
 * One member into the group (by id) and, the first time it is seen, into
 * the users.  1 taken, 0 a member of the wrong shape, -1 out of memory.
 */
static int
take_member(struct kz_dir_fetch *f, struct kz_dir_group *g, json_t *m,
    json_t *seen)
{
	const char *id = id_of(m, "id"), *name = NULL;
	json_t *prov = json_object_get(m, "isProvisioned");
	json_t *mobile = json_object_get(m, "mobileNumber");
	kz_result r = { 0 };
	int got;

	if (id == NULL || (prov != NULL && !json_is_boolean(prov)) ||
	    (mobile != NULL && !json_is_string(mobile)))
		return 0;
	/* the name a tokeninfo answer would give this user (identity.c) */
	got = kz_identity_name(f->p, m, true, &name, &r);
	kz_result_clear(&r);
	if (got < 0)
		return 0;
	if (kz_strv_push_big(&g->members, id, strlen(id)) != 0)
		return -1;
	if (json_object_get(seen, id) != NULL)
		return 1;
	if (json_object_set_new(seen, id, json_true()) != 0 ||
	    push_user(f->dir, id, got ? name : id,
	    prov == NULL || json_is_true(prov)) == NULL)
		return -1;
	return 1;
}

static kz_verdict
fetch_members(struct kz_dir_fetch *f, const char *base,
    struct kz_dir_group *g, json_t *seen, kz_result *res)
{
	char *esc = malloc(3 * strlen(g->id) + 1), *url = NULL;
	json_t *o = NULL, *list, *m;
	kz_verdict v;
	size_t i;

	if (esc == NULL)
		return kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
	if (strspn(g->id, KZ_ID_PLAIN) == strlen(g->id))
		strcpy(esc, g->id);
	else
		kz_url_escape(esc, g->id);
	if (asprintf(&url, "%s/v1/groups/%s/members", base, esc) < 0)
		url = NULL;
	free(esc);
	if (url == NULL)
		return kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
	v = kz_dir_get_json(f, url, &o, res);
	free(url);
	if (v != KZ_OK)
		return v;
	list = json_object_get(o, "members");
	if (o == NULL || !json_is_array(list)) {
		json_decref(o);
		return junk(res, o == NULL ? "404 for the members of a group "
		    "it listed" : "a member list without a \"members\" array");
	}
	json_array_foreach(list, i, m) {
		int got = take_member(f, g, m, seen);

		if (got <= 0) {
			json_decref(o);
			return got < 0 ? kz_set(res, KZ_ERROR, KZ_R_INTERNAL,
			    "out of memory") : junk(res, "a member without a "
			    "usable id, or with a field of the wrong type");
		}
	}
	json_decref(o);
	return KZ_OK;
}

kz_verdict
kz_dir_read_kaizala(struct kz_dir_fetch *f, kz_result *res)
{
	char base[2048];
	json_t *seen;
	kz_verdict v;

	if ((v = api_base(f, base, sizeof(base), res)) != KZ_OK)
		return v;
	f->base = base;
	v = fetch_groups(f, base, res);
	/* none of the groups: a wrong base or a token that sees other
	 * groups, not a reason to drop every user */
	if (v == KZ_OK && f->dir->ngroups == 0)
		v = kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR, "directory: "
		    "none of [nss] groups is among the groups enrollment %s "
		    "sees; the database is kept", f->enrollment);
	if (v != KZ_OK || (seen = json_object()) == NULL) {
		f->base = NULL;
		return v != KZ_OK ? v : kz_set(res, KZ_ERROR, KZ_R_INTERNAL,
		    "out of memory");
	}
	for (size_t i = 0; i < f->dir->ngroups && v == KZ_OK; i++)
		v = fetch_members(f, base, &f->dir->groups[i], seen, res);
	json_decref(seen);
	f->base = NULL;
	return v;
}
