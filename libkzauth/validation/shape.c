/*
 * shape.c - what a token looks like, decided before anything parses it
 * (DESIGN.md section 4.1).  libjwt must never see a token that fails here.
 */
#include <string.h>

#include "internal.h"

/* RFC 6750 b64token characters are 1, the JWT separator 2: a table, as
 * every byte of every token passes here. */
static const unsigned char token_class[256] = {
	['A' ... 'Z'] = 1, ['a' ... 'z'] = 1, ['0' ... '9'] = 1,
	['-'] = 1, ['_'] = 1, ['~'] = 1, ['+'] = 1, ['/'] = 1, ['='] = 1,
	['.'] = 2,
};

static inline bool
token_char(unsigned char c, bool dot)
{
	return token_class[c] == 1 || (dot && token_class[c] == 2);
}

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
		for (size_t i = 0; i < len; i++)
			if (!token_char((unsigned char)tok[i], false))
				return KZ_SHAPE_MALFORMED;
		/* No provider issues opaque tokens this short (a UUID is
		 * 36); refusing them keeps a password typed at the token
		 * prompt from being sent to the provider. */
		return len >= 32 ? KZ_SHAPE_OPAQUE : KZ_SHAPE_MALFORMED;
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
	for (size_t i = 0; i < len; i++)
		if (!token_char((unsigned char)s[i], true))
			return 1;
	return 0;
}
