/*
 * shape.c - what a token looks like, decided before anything parses it
 * (DESIGN.md section 4.1).  libjwt must never see a token that fails here.
 */
#include <string.h>

#include "internal.h"

kz_shape
kz_token_shape(const char *tok, size_t len, size_t max_len)
{
	const char *d1, *d2;

	if (len > max_len)
		return KZ_SHAPE_TOO_LONG;
	if (tok == NULL || len == 0 || memchr(tok, '\0', len) != NULL)
		return KZ_SHAPE_MALFORMED;
	d1 = memchr(tok, '.', len);
	if (d1 == NULL) {
		/* Opaque: RFC 6750 b64token characters, no padding inside. */
		for (size_t i = 0; i < len; i++) {
			char c = tok[i];

			if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			    (c >= '0' && c <= '9') || strchr("-_~+/=", c) != NULL))
				return KZ_SHAPE_MALFORMED;
		}
		return len >= 8 ? KZ_SHAPE_OPAQUE : KZ_SHAPE_MALFORMED;
	}
	d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok));
	if (d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)))
		return KZ_SHAPE_MALFORMED;
	if (!kz_b64url_segment_ok(tok, (size_t)(d1 - tok)) ||
	    !kz_b64url_segment_ok(d1 + 1, (size_t)(d2 - d1 - 1)) ||
	    !kz_b64url_segment_ok(d2 + 1, len - (size_t)(d2 + 1 - tok)))
		return KZ_SHAPE_MALFORMED;
	return KZ_SHAPE_JWT;
}

int
kz_is_truncation_length(size_t len)
{
	return len == 255 || len == 511 || len == 1023 || len == 4095;
}

/*
 * With ignore_non_token one prompt serves passwords and tokens, so what is
 * judged a token here is sent to the provider.  Real opaque tokens are 32
 * characters or more (a UUID with dashes is 36); shorter input, or input
 * with characters no bearer token has, is a password and stays local.
 */
int
kz_is_plainly_not_token(const char *s, size_t len)
{
	if (s == NULL || len < 32)
		return 1;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') ||
		    (c != '\0' && strchr("-_~+/=.", c) != NULL)))
			return 1;
	}
	return 0;
}
