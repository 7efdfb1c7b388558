/*
 * identity.c - who a token names (DESIGN.md section 4.6): claims into a
 * kz_identity, the time checks, and the binding to the PAM user.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "internal.h"

/*
 * The claims are read from a kz_jv tree (jtree.c) only: a JWT's payload
 * is parsed into one, a provider's answer (jansson) is converted by the
 * json_t forms at the end of this part.  One reading of every claim.
 */
static int
take_names(const struct kz_jv *claims, const char *key, char ***v, size_t *n,
    kz_result *res)
{
	struct kz_strv sv = { 0 };

	if (kz_jv_names(kz_jv_get(claims, key), &sv) != 0) {
		kz_strv_free(&sv);
		kz_set(res, KZ_UNAUTHENTICATED, KZ_R_MALFORMED,
		    "claim %s is neither a string nor a list of strings", key);
		return -1;
	}
	*v = sv.v;
	*n = sv.n;
	return 0;
}

/*
 * aud of a JWT or a provider's answer (a string or an array, any-of)
 * against the configured audience.  Absent passes only where the caller
 * allows it (tokeninfo answers carry none); another type is malformed.
 */
kz_verdict
kz_aud_check_jv(const struct kz_provider *p, const struct kz_jv *aud,
    const char *what, kz_result *res)
{
	char have[96] = "", want[96] = "";
	size_t i, hl = 0, wl = 0;
	const struct kz_jv *a;

	if (aud != NULL && !kz_jv_is_str(aud) && aud->type != KZ_JT_ARR)
		return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_MALFORMED,
		    "%s: aud is neither a string nor an array", what);
	if (p->audience.n == 0)
		return KZ_OK;
	if (kz_jv_is_str(aud) && kz_strv_has(&p->audience, aud->u.s))
		return KZ_OK;
	for (a = kz_jv_items(aud); a != NULL; a = a->next)
		if (kz_jv_is_str(a) && kz_strv_has(&p->audience, a->u.s))
			return KZ_OK;
	/* Neither list is secret, and both say what to fix. */
	if (kz_jv_is_str(aud))
		snprintf(have, sizeof(have), "%s", aud->u.s);
	for (a = kz_jv_items(aud); a != NULL; a = a->next)
		if (kz_jv_is_str(a) && hl < sizeof(have))
			hl += (size_t)snprintf(have + hl, sizeof(have) - hl,
			    "%s%s", hl ? ", " : "", a->u.s);
	for (i = 0; i < p->audience.n && wl < sizeof(want); i++)
		wl += (size_t)snprintf(want + wl, sizeof(want) - wl, "%s%s",
		    i ? ", " : "", p->audience.v[i]);
	return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_BAD_AUDIENCE, "%s: aud "
	    "(%s) names none of this host's audience (%s)", what,
	    have[0] ? have : "none", want);
}

/* How the user logged in (OpenID Connect Core 2: acr a string, amr an
 * array of strings), for the step-up policy.  Strictly typed: a claim of
 * another type would otherwise read as "absent" or as a list of names. */
static int
take_login_method(const struct kz_jv *claims, kz_identity *id,
    kz_result *res)
{
	const struct kz_jv *acr = kz_jv_get(claims, "acr");
	const struct kz_jv *amr = kz_jv_get(claims, "amr"), *item;
	struct kz_strv sv = { 0 };
	size_t i;

	if (acr != NULL && (!kz_jv_is_str(acr) || acr->n == 0 ||
	    acr->n > 256)) {
		kz_set(res, KZ_UNAUTHENTICATED, KZ_R_MALFORMED,
		    "claim acr is present but not a non-empty string");
		return -1;
	}
	if (amr != NULL && amr->type != KZ_JT_ARR)
		goto bad_amr;
	for (item = kz_jv_items(amr); item != NULL; item = item->next) {
		if (!kz_jv_is_str(item) || item->n == 0 ||
		    kz_strv_push(&sv, item->u.s, item->n) != 0) {
			kz_strv_free(&sv);
			goto bad_amr;
		}
	}
	free(id->acr);
	id->acr = acr ? kz_strdup(acr->u.s) : NULL;
	for (i = 0; i < id->namr; i++)
		free(id->amr[i]);
	free(id->amr);
	id->amr = sv.v;
	id->namr = sv.n;
	return 0;
bad_amr:
	kz_set(res, KZ_UNAUTHENTICATED, KZ_R_MALFORMED,
	    "claim amr is present but not an array of non-empty strings");
	return -1;
}

static const char *const time_claims[] = { "exp", "iat", "nbf", "auth_time" };

static int
take_times(const struct kz_jv *claims, kz_identity *id, kz_result *res)
{
	int64_t *dst[] = { &id->exp, &id->iat, &id->nbf, &id->auth_time };

	for (size_t i = 0; i < KZ_NELEM(time_claims); i++) {
		*dst[i] = 0;
		if (kz_jv_time(kz_jv_get(claims, time_claims[i]), dst[i]) < 0) {
			kz_set(res, KZ_UNAUTHENTICATED, KZ_R_MALFORMED,
			    "claim %s is not a time (an integer from 0 to "
			    "%lld)", time_claims[i], (long long)KZ_TIME_MAX);
			return -1;
		}
	}
	return 0;
}

/* A name claim that is present must be a non-empty string: a claim of
 * another type is never a reason to look at the next one, or
 * {"preferred_username": 5, "username": "root"} would bind root. */
static int
take_name(const struct kz_jv *claims, const char *key, const char **name,
    kz_result *res)
{
	const struct kz_jv *v = kz_jv_get(claims, key);

	if (v == NULL)
		return 0;
	if (!kz_jv_is_str(v) || v->n == 0) {
		kz_set(res, KZ_UNAUTHENTICATED, KZ_R_MALFORMED,
		    "claim %s is present but not a non-empty string", key);
		return -1;
	}
	*name = v->u.s;
	return 1;
}

/*
 * The user name: username_claim; in a provider's answer (introspection,
 * tokeninfo) then its "username"; the caller falls back to sub (or, for
 * a Kaizala directory member, its id).  A JWT never falls back to
 * "username": the issuer did not put that claim there for us.
 */
int
kz_identity_name_jv(const struct kz_provider *p, const struct kz_jv *claims,
    bool provider_answer, const char **name, kz_result *res)
{
	int got;

	if ((got = take_name(claims, p->username_claim, name, res)) != 0)
		return got;
	if (provider_answer)
		return take_name(claims, "username", name, res);
	return 0;
}

int
kz_identity_from_jv(struct kz_provider *p, const struct kz_jv *claims,
    bool provider_answer, kz_identity *id, kz_result *res)
{
	const struct kz_jv *sub = kz_jv_get(claims, "sub");
	const char *name = NULL;
	int got;

	if (sub != NULL && !kz_jv_is_str(sub)) {
		kz_set(res, KZ_UNAUTHENTICATED, KZ_R_MALFORMED,
		    "sub is not a string");
		return -1;
	}
	free(id->sub);
	free(id->iss);
	free(id->jti);
	free(id->user);
	id->sub = kz_strdup(sub != NULL ? sub->u.s : NULL);
	id->iss = kz_strdup(kz_jv_str(claims, "iss"));
	id->jti = kz_strdup(kz_jv_str(claims, "jti"));
	id->user = NULL;
	if ((got = kz_identity_name_jv(p, claims, provider_answer, &name,
	    res)) < 0)
		return -1;
	if (got == 0)
		name = id->sub;
	id->user = kz_strdup(name);
	if (take_times(claims, id, res) != 0 ||
	    take_login_method(claims, id, res) != 0)
		return -1;
	if (id->groups == NULL &&
	    take_names(claims, p->groups_claim, &id->groups, &id->ngroups,
	    res) != 0)
		return -1;
	if (id->scopes == NULL &&
	    take_names(claims, p->scope_claim, &id->scopes, &id->nscopes,
	    res) != 0)
		return -1;
	/* Entra and others put scopes in "scp" */
	if (id->scopes == NULL && strcmp(p->scope_claim, "scope") == 0 &&
	    take_names(claims, "scp", &id->scopes, &id->nscopes, res) != 0)
		return -1;
	return 0;
}

/* The json_t forms: a provider's answer, converted.  The tree points at
 * jansson's strings, so a name found stays valid while claims does. */
static const struct kz_jv *
tree_of(struct kz_arena *a, json_t *j, bool *oom)
{
	const struct kz_jv *t = NULL;

	kz_arena_init(a);
	*oom = j != NULL && (t = kz_jv_from_json(a, j)) == NULL;
	return t;
}

kz_verdict
kz_aud_check(const struct kz_provider *p, json_t *aud, const char *what,
    kz_result *res)
{
	struct kz_arena a;
	bool oom;
	const struct kz_jv *t = tree_of(&a, aud, &oom);
	kz_verdict v;

	if (oom)
		v = kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
	else
		v = kz_aud_check_jv(p, t, what, res);
	kz_arena_free(&a);
	return v;
}

int
kz_identity_name(const struct kz_provider *p, json_t *claims,
    bool provider_answer, const char **name, kz_result *res)
{
	struct kz_arena a;
	bool oom;
	const struct kz_jv *t = tree_of(&a, claims, &oom);
	int got;

	if (oom) {
		kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
		got = -1;
	} else
		got = kz_identity_name_jv(p, t, provider_answer, name, res);
	kz_arena_free(&a);
	return got;
}

int
kz_identity_from_claims(struct kz_provider *p, json_t *claims,
    bool provider_answer, kz_identity *id, kz_result *res)
{
	struct kz_arena a;
	bool oom;
	const struct kz_jv *t = tree_of(&a, claims, &oom);
	int rc;

	if (oom) {
		kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
		rc = -1;
	} else
		rc = kz_identity_from_jv(p, t, provider_answer, id, res);
	kz_arena_free(&a);
	return rc;
}

kz_verdict
kz_check_times(kz_ctx *ctx, const kz_identity *id, bool exp_required,
    kz_result *res)
{
	int64_t now = kz_now(ctx), leeway = ctx->cfg->leeway;

	if (id->exp == 0 && exp_required)
		return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_MALFORMED,
		    "no exp claim");
	if (id->exp != 0 && now > id->exp + leeway)
		return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_EXPIRED,
		    "expired %llds ago", (long long)(now - id->exp));
	if (id->nbf != 0 && now + leeway < id->nbf)
		return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_NOT_YET_VALID,
		    "valid only in %llds", (long long)(id->nbf - now));
	if (id->iat != 0 && id->iat > now + leeway)
		return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_ISSUED_IN_FUTURE,
		    "issued %llds in the future (check the clocks)",
		    (long long)(id->iat - now));
	/* A login in the future would make max_token_age pass for ever. */
	if (id->auth_time != 0 && id->auth_time > now + leeway)
		return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_ISSUED_IN_FUTURE,
		    "auth_time %llds in the future (check the clocks)",
		    (long long)(id->auth_time - now));
	return KZ_OK;
}

/* Local names we will hand to PAM: no path, control or shell characters. */
static bool
user_name_ok(const char *u)
{
	size_t n = strlen(u);

	/* "." and "..": a path segment, not a name (a home of /home/%u, or
	 * a membership_url's {user}, would point at the parent) */
	if (n == 0 || n > 256 || u[0] == '-' || kz_is_dot_segment(u))
		return false;
	for (; *u; u++)
		if (!kz_isalnum((unsigned char)*u) && !strchr("._-@+", *u))
			return false;
	return true;
}

/* user_map_file: "external-name local-user" per line, # comments; the
 * first line for a name wins.  Read once into a sorted index, so a sync
 * of many users does not parse the file once per user. */
static int
cmp_map(const void *a, const void *b, void *arg)
{
	const struct kz_user_map *m = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(m->ext.v[x], m->ext.v[y]);

	return c ? c : (x < y ? -1 : x > y);
}

kz_verdict
kz_user_map_load(struct kz_provider *p, struct kz_user_map *m,
    kz_result *res)
{
	char err[256], *buf, *line, *save = NULL;
	size_t len;

	memset(m, 0, sizeof(*m));
	if (p->user_map_file == NULL)
		return KZ_OK;
	if (kz_read_file(p->user_map_file, KZ_SF_MISSING_OK, 1024 * 1024, &buf,
	    &len, err, sizeof(err)) != 0)
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "%s", err);
	for (line = buf ? strtok_r(buf, "\n", &save) : NULL; line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char ext[257], loc[257];

		if (line[0] == '#' || sscanf(line, "%256s %256s", ext, loc) != 2)
			continue;
		if (kz_strv_push_big(&m->ext, ext, strlen(ext)) != 0 ||
		    kz_strv_push_big(&m->loc, loc, strlen(loc)) != 0) {
			free(buf);
			kz_user_map_free(m);
			return kz_set(res, KZ_ERROR, KZ_R_INTERNAL,
			    "out of memory");
		}
	}
	free(buf);
	if ((m->order = malloc((m->ext.n + 1) * sizeof(size_t))) == NULL) {
		kz_user_map_free(m);
		return kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < m->ext.n; i++)
		m->order[i] = i;
	qsort_r(m->order, m->ext.n, sizeof(size_t), cmp_map, m);
	return KZ_OK;
}

void
kz_user_map_free(struct kz_user_map *m)
{
	kz_strv_free(&m->ext);
	kz_strv_free(&m->loc);
	free(m->order);
	memset(m, 0, sizeof(*m));
}

/* The local name the map gives ext (its first line), or NULL. */
static const char *
map_find(const struct kz_user_map *m, const char *ext)
{
	size_t lo = 0, hi = m->ext.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(m->ext.v[m->order[mid]], ext) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < m->ext.n && strcmp(m->ext.v[m->order[lo]], ext) == 0)
		return m->loc.v[m->order[lo]];
	return NULL;
}

/*
 * The local name of a name the provider uses: username_transform, then
 * user_map_file (map, loaded by kz_user_map_load), then the shape check.
 * PAM's binding and `kztoken sync` both go through here, so a directory
 * user is called what a login by token would be bound to.  On KZ_OK *out
 * is malloc'd.
 */
kz_verdict
kz_local_name_map(kz_ctx *ctx, struct kz_provider *p,
    const struct kz_user_map *map, const char *ext, char **out,
    kz_result *res)
{
	const char *loc;
	char *u, *at;

	*out = NULL;
	if ((u = strdup(ext)) == NULL)
		return kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
	if ((p->username_transform & KZ_XFORM_STRIP_DOMAIN) &&
	    (at = strchr(u, '@')) != NULL)
		*at = '\0';
	if (p->username_transform & KZ_XFORM_LOWERCASE)
		for (char *c = u; *c; c++)
			*c = (char)kz_tolower((unsigned char)*c);
	if (p->user_map_file != NULL) {
		if ((loc = map_find(map, u)) != NULL) {
			kz_trace(ctx, "user_map", 1, "%s maps to %s", u, loc);
			free(u);
			if ((u = strdup(loc)) == NULL)
				return kz_set(res, KZ_ERROR, KZ_R_INTERNAL,
				    "out of memory");
		} else if (p->user_map_only) {
			kz_set(res, KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH,
			    "%s is not listed in user_map_file (user_map_only)",
			    u);
			free(u);
			return KZ_UNAUTHENTICATED;
		}
	}
	if (!user_name_ok(u)) {
		free(u);
		return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH,
		    "the token's user name is not a usable local name");
	}
	*out = u;
	return KZ_OK;
}

kz_verdict
kz_local_name(kz_ctx *ctx, struct kz_provider *p, const char *ext,
    char **out, kz_result *res)
{
	struct kz_user_map map;
	kz_verdict v;

	*out = NULL;
	if ((v = kz_user_map_load(p, &map, res)) != KZ_OK)
		return v;
	v = kz_local_name_map(ctx, p, &map, ext, out, res);
	kz_user_map_free(&map);
	return v;
}

/*
 * Binds the token's identity to the requested user.  The only place that
 * records a binding (ctx->bound), which kz_decide insists on before it
 * lets an OK or a FORBIDDEN out.  The name before transform and map is
 * kept too: the platform knows the user by that name (membership).
 */
kz_verdict
kz_bind_user(kz_ctx *ctx, struct kz_provider *p, const char *want,
    kz_result *res)
{
	char *u, *ext;
	kz_verdict v;

	kz_unbind(ctx);
	if (res->id.user == NULL)
		return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH,
		    "the token names no user (%s, username, sub)",
		    p->username_claim);
	if ((v = kz_local_name(ctx, p, res->id.user, &u, res)) != KZ_OK)
		return v;
	ext = res->id.user;
	res->id.user = u;
	if (want != NULL && strcmp(u, want) != 0) {
		free(ext);
		return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH,
		    "token is for %s, not %s", u, want);
	}
	if ((ctx->bound.user = strdup(u)) == NULL) {
		free(ext);
		return kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "out of memory");
	}
	ctx->bound.ext = ext;
	kz_trace(ctx, "user", 1, "token names %s%s", u,
	    want ? ", the requested user" : " (no binding requested)");
	return KZ_OK;
}

void
kz_unbind(kz_ctx *ctx)
{
	free(ctx->bound.user);
	free(ctx->bound.ext);
	ctx->bound.user = ctx->bound.ext = NULL;
}

/*
 * The invariant of DESIGN.md 4.6, checked once at the end of a decision:
 * no OK and no FORBIDDEN leaves kz_decide unless kz_bind_user bound the
 * identity it reports to the user that was asked for.  Whatever path
 * produced the verdict, a violation becomes KZ_ERROR.
 */
kz_verdict
kz_seal(kz_ctx *ctx, const kz_request *req, kz_verdict v, kz_result *res)
{
	const char *why = NULL;

	if (v != res->verdict && (v == KZ_OK || res->verdict == KZ_OK))
		why = "the pipeline and its result disagree";
	else if (res->verdict != KZ_OK && res->verdict != KZ_FORBIDDEN)
		return res->verdict;
	else if (ctx->bound.user == NULL)
		why = "no identity was bound";
	else if (res->id.user == NULL || strcmp(res->id.user,
	    ctx->bound.user) != 0)
		why = "the identity changed after binding";
	else if (req->user != NULL && strcmp(req->user, ctx->bound.user) != 0)
		why = "the bound identity is not the requested user";
	if (why == NULL)
		return res->verdict;
	kz_log(ctx, LOG_ERR, "internal error: %s %s; refused (%s)",
	    kz_verdict_name(res->verdict), kz_reason_name(res->reason), why);
	return kz_set(res, KZ_ERROR, KZ_R_INTERNAL, "refused: %s "
	    "(internal error)", why);
}
