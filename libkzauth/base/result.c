/*
 * result.c - verdict and reason names (the contract of DESIGN.md section 3)
 * and the life of a kz_result.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char *const verdict_names[] = {
	[KZ_OK] = "OK",
	[KZ_UNAUTHENTICATED] = "UNAUTHENTICATED",
	[KZ_FORBIDDEN] = "FORBIDDEN",
	[KZ_UNAVAILABLE] = "UNAVAILABLE",
	[KZ_ERROR] = "ERROR",
};

static const char *const reason_names[KZ_R_MAX] = {
	[KZ_R_NONE] = "none",
	[KZ_R_MALFORMED] = "malformed",
	[KZ_R_TOO_LONG] = "too_long",
	[KZ_R_LIKELY_TRUNCATED] = "likely_truncated",
	[KZ_R_BAD_SIGNATURE] = "bad_signature",
	[KZ_R_ALG_NOT_ALLOWED] = "alg_not_allowed",
	[KZ_R_UNKNOWN_KID] = "unknown_kid",
	[KZ_R_EXPIRED] = "expired",
	[KZ_R_NOT_YET_VALID] = "not_yet_valid",
	[KZ_R_ISSUED_IN_FUTURE] = "issued_in_future",
	[KZ_R_BAD_ISSUER] = "bad_issuer",
	[KZ_R_BAD_AUDIENCE] = "bad_audience",
	[KZ_R_INACTIVE] = "inactive",
	[KZ_R_REVOKED] = "revoked",
	[KZ_R_DENYLISTED] = "denylisted",
	[KZ_R_WRONG_TOKEN_TYPE] = "wrong_token_type",
	[KZ_R_USER_MISMATCH] = "user_mismatch",
	[KZ_R_MISSING_GROUP] = "missing_group",
	[KZ_R_MISSING_SCOPE] = "missing_scope",
	[KZ_R_TOKEN_TOO_OLD] = "token_too_old",
	[KZ_R_PROVIDER_UNREACHABLE] = "provider_unreachable",
	[KZ_R_TIMEOUT] = "timeout",
	[KZ_R_RATE_LIMITED] = "rate_limited",
	[KZ_R_CONFIG] = "config",
	[KZ_R_PROVIDER_ERROR] = "provider_error",
	[KZ_R_NOT_A_TOKEN] = "not_a_token",
	[KZ_R_ENROLLMENT] = "enrollment",
	[KZ_R_INTERNAL] = "internal",
	[KZ_R_INSUFFICIENT_AUTH] = "insufficient_auth",
	[KZ_R_ACCESS_DENIED] = "access_denied",
};

const char *
kz_verdict_name(kz_verdict v)
{
	if ((unsigned)v < KZ_NELEM(verdict_names) && verdict_names[v])
		return verdict_names[v];
	return "ERROR";
}

const char *
kz_reason_name(kz_reason r)
{
	if ((unsigned)r < KZ_R_MAX && reason_names[r])
		return reason_names[r];
	return "internal";
}

kz_verdict
kz_set(kz_result *res, kz_verdict v, kz_reason r, const char *fmt, ...)
{
	char detail[sizeof(res->detail)];
	va_list ap;

	res->verdict = v;
	res->reason = r;
	/* Formatted aside first: callers may quote res->detail itself
	 * ("...: %s", res->detail), and vsnprintf into its own source is
	 * undefined. */
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(detail, sizeof(detail), fmt, ap);
		va_end(ap);
		memcpy(res->detail, detail, sizeof(detail));
	}
	return v;
}

void
kz_identity_clear(kz_identity *id)
{
	free(id->user);
	free(id->sub);
	free(id->iss);
	free(id->kid);
	free(id->jti);
	free(id->provider);
	for (size_t i = 0; i < id->ngroups; i++)
		free(id->groups[i]);
	free(id->groups);
	for (size_t i = 0; i < id->nscopes; i++)
		free(id->scopes[i]);
	free(id->scopes);
	free(id->acr);
	for (size_t i = 0; i < id->namr; i++)
		free(id->amr[i]);
	free(id->amr);
	memset(id, 0, sizeof(*id));
}

static int
copy_list(char ***dst, size_t *dn, char *const *src, size_t n)
{
	*dst = NULL;
	*dn = 0;
	if (n == 0)
		return 0;
	if ((*dst = calloc(n, sizeof(char *))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (((*dst)[i] = strdup(src[i])) == NULL)
			return -1;
		(*dn)++;
	}
	return 0;
}

int
kz_identity_copy(kz_identity *d, const kz_identity *s)
{
	*d = *s;
	d->user = kz_strdup(s->user);
	d->sub = kz_strdup(s->sub);
	d->iss = kz_strdup(s->iss);
	d->kid = kz_strdup(s->kid);
	d->jti = kz_strdup(s->jti);
	d->provider = kz_strdup(s->provider);
	d->acr = kz_strdup(s->acr);
	if (copy_list(&d->groups, &d->ngroups, s->groups, s->ngroups) != 0 ||
	    copy_list(&d->scopes, &d->nscopes, s->scopes, s->nscopes) != 0 ||
	    copy_list(&d->amr, &d->namr, s->amr, s->namr) != 0)
		return -1;
	return 0;
}

void
kz_result_clear(kz_result *res)
{
	if (res == NULL)
		return;
	kz_identity_clear(&res->id);
	free(res->enrollment);
	memset(res, 0, sizeof(*res));
}
