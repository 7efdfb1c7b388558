/*
 * policy.c - authorisation by the service policy (DESIGN.md section 6):
 * group, scope, how the user logged in (acr/amr) and token age.  Failing any of them is a 403, never a 401:
 * the token is genuine and for this user.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static bool
listed(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static kz_verdict
check_group(kz_ctx *ctx, struct kz_provider *p, const struct kz_service *svc,
    kz_result *res)
{
	const struct kz_strv *want = &svc->require_group;
	kz_verdict v = KZ_FORBIDDEN;

	for (size_t i = 0; i < want->n; i++) {
		if (listed(res->id.groups, res->id.ngroups, want->v[i])) {
			kz_trace(ctx, "group", 1, "member of %s (token)",
			    want->v[i]);
			return KZ_OK;
		}
	}
	if (p->membership_check == KZ_MEMBER_ENROLLMENT) {
		for (size_t i = 0; i < want->n; i++) {
			/* The platform knows the token's own name, not
			 * the local one it was mapped to. */
			v = kz_membership_check(ctx, p, want->v[i],
			    ctx->bound.ext, res);
			if (v != KZ_FORBIDDEN)
				return v;
		}
		return v;
	}
	return kz_set(res, KZ_FORBIDDEN, KZ_R_MISSING_GROUP,
	    "not a member of group %s", want->v[0]);
}

/* Step-up (DESIGN.md section 6): the login behind the token must be one
 * of require_acr and hold every method of require_amr.  A token that says
 * nothing about its login fails both. */
static kz_verdict
check_login_method(kz_ctx *ctx, const struct kz_service *svc, kz_result *res)
{
	if (svc->require_acr.n > 0 && (res->id.acr == NULL ||
	    !kz_strv_has(&svc->require_acr, res->id.acr)))
		return kz_set(res, KZ_FORBIDDEN, KZ_R_INSUFFICIENT_AUTH,
		    "acr %s is not one of [service %s] require_acr",
		    res->id.acr ? res->id.acr : "(none)", svc->name);
	for (size_t i = 0; i < svc->require_amr.n; i++)
		if (!listed(res->id.amr, res->id.namr, svc->require_amr.v[i]))
			return kz_set(res, KZ_FORBIDDEN, KZ_R_INSUFFICIENT_AUTH,
			    "amr lacks %s ([service %s] require_amr)",
			    svc->require_amr.v[i], svc->name);
	if (svc->require_acr.n > 0 || svc->require_amr.n > 0)
		kz_trace(ctx, "step_up", 1, "acr %s, amr as required",
		    res->id.acr ? res->id.acr : "(none)");
	return KZ_OK;
}

kz_verdict
kz_authorize(kz_ctx *ctx, struct kz_provider *p, const struct kz_service *svc,
    kz_result *res)
{
	kz_verdict v;

	if (svc == NULL) {
		kz_trace(ctx, "policy", -1, "no [service] section applies: "
		    "authentication is enough");
		return KZ_OK;
	}
	if (svc->require_group.n > 0 &&
	    (v = check_group(ctx, p, svc, res)) != KZ_OK)
		return v;
	for (size_t i = 0; i < svc->require_scope.n; i++)
		if (!listed(res->id.scopes, res->id.nscopes,
		    svc->require_scope.v[i]))
			return kz_set(res, KZ_FORBIDDEN, KZ_R_MISSING_SCOPE,
			    "scope %s missing", svc->require_scope.v[i]);
	if ((v = check_login_method(ctx, svc, res)) != KZ_OK)
		return v;
	if (svc->max_token_age > 0) {
		/* Both are in 0..KZ_TIME_MAX (checked as the claims were
		 * read), so the difference cannot overflow. */
		int64_t t = res->id.auth_time ? res->id.auth_time : res->id.iat;
		int64_t age = kz_now(ctx) - t;

		if (t == 0)
			return kz_set(res, KZ_FORBIDDEN, KZ_R_TOKEN_TOO_OLD,
			    "no auth_time or iat to prove the token's age");
		if (age > svc->max_token_age)
			return kz_set(res, KZ_FORBIDDEN, KZ_R_TOKEN_TOO_OLD,
			    "token is %llds old; [service %s] allows %lds",
			    (long long)age, svc->name, svc->max_token_age);
	}
	kz_trace(ctx, "policy", 1, "[service %s] satisfied", svc->name);
	return KZ_OK;
}
