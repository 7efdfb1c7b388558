/*
 * membership.c - group membership confirmed by the platform with the
 * host's enrolled group token (DESIGN.md section 6).
 */
#include "internal.h"

kz_verdict
kz_membership_check(kz_ctx *ctx, struct kz_provider *p, const char *group,
    const char *user, kz_result *res)
{
	(void)ctx;
	(void)p;
	(void)user;
	return kz_set(res, KZ_FORBIDDEN, KZ_R_MISSING_GROUP,
	    "not a member of group %s", group);
}
