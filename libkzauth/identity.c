/*
 * identity.c - who a token names (DESIGN.md section 4.6): claims into a
 * kz_identity, the time checks, and the binding to the PAM user.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int
take_names(json_t *claims, const char *key, char ***v, size_t *n,
    kz_result *res)
{
	struct kz_strv sv = { 0 };

	if (kz_json_names(claims, key, &sv) != 0) {
		kz_strv_free(&sv);
		kz_set(res, KZ_UNAUTHENTICATED, KZ_R_MALFORMED,
		    "claim %s is neither a string nor a list of strings", key);
		return -1;
	}
	*v = sv.v;
	*n = sv.n;
	return 0;
}

int
kz_identity_from_claims(struct kz_provider *p, json_t *claims, kz_identity *id,
    kz_result *res)
{
	const char *name;

	if (json_object_get(claims, "sub") && !kz_json_str(claims, "sub")) {
		kz_set(res, KZ_UNAUTHENTICATED, KZ_R_MALFORMED,
		    "sub is not a string");
		return -1;
	}
	free(id->sub);
	free(id->iss);
	free(id->jti);
	free(id->user);
	id->sub = kz_strdup(kz_json_str(claims, "sub"));
	id->iss = kz_strdup(kz_json_str(claims, "iss"));
	id->jti = kz_strdup(kz_json_str(claims, "jti"));
	/* username_claim, then an introspection answer's username, then sub */
	name = kz_json_str(claims, p->username_claim);
	if (name == NULL)
		name = kz_json_str(claims, "username");
	if (name == NULL)
		name = id->sub;
	id->user = kz_strdup(name);
	kz_json_int(claims, "exp", &id->exp);
	kz_json_int(claims, "iat", &id->iat);
	kz_json_int(claims, "nbf", &id->nbf);
	kz_json_int(claims, "auth_time", &id->auth_time);
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
	return KZ_OK;
}

/* Local names we will hand to PAM: no path, control or shell characters. */
static bool
user_name_ok(const char *u)
{
	size_t n = strlen(u);

	if (n == 0 || n > 256 || u[0] == '-')
		return false;
	for (; *u; u++)
		if (!isalnum((unsigned char)*u) && !strchr("._-@+", *u))
			return false;
	return true;
}

/* user_map_file: "external-name local-user" per line, # comments. */
static kz_verdict
map_user(kz_ctx *ctx, struct kz_provider *p, char **user, kz_result *res)
{
	char err[256], *buf, *line, *save = NULL;
	size_t len;

	if (kz_read_file(p->user_map_file, KZ_SF_MISSING_OK, 1024 * 1024, &buf,
	    &len, err, sizeof(err)) != 0)
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "%s", err);
	if (buf == NULL)
		return KZ_OK;
	for (line = strtok_r(buf, "\n", &save); line;
	    line = strtok_r(NULL, "\n", &save)) {
		char ext[257], loc[257];

		if (line[0] == '#' || sscanf(line, "%256s %256s", ext, loc) != 2)
			continue;
		if (strcmp(ext, *user) == 0) {
			kz_trace(ctx, "user_map", 1, "%s maps to %s", ext, loc);
			free(*user);
			*user = strdup(loc);
			break;
		}
	}
	free(buf);
	return KZ_OK;
}

kz_verdict
kz_bind_user(kz_ctx *ctx, struct kz_provider *p, const char *want,
    kz_result *res)
{
	char *u = res->id.user, *at;
	kz_verdict v;

	if (u == NULL)
		return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH,
		    "the token names no user (%s, username, sub)",
		    p->username_claim);
	if ((p->username_transform & KZ_XFORM_STRIP_DOMAIN) &&
	    (at = strchr(u, '@')) != NULL)
		*at = '\0';
	if (p->username_transform & KZ_XFORM_LOWERCASE)
		for (char *c = u; *c; c++)
			*c = (char)tolower((unsigned char)*c);
	if (p->user_map_file != NULL &&
	    (v = map_user(ctx, p, &res->id.user, res)) != KZ_OK)
		return v;
	u = res->id.user;
	if (u == NULL || !user_name_ok(u))
		return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH,
		    "the token's user name is not a usable local name");
	if (want != NULL && strcmp(u, want) != 0)
		return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH,
		    "token is for %s, not %s", u, want);
	kz_trace(ctx, "user", 1, "token names %s%s", u,
	    want ? ", the requested user" : " (no binding requested)");
	return KZ_OK;
}
