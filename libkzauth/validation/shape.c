/*
 * shape.c - what a token looks like, decided before anything parses it
 * (DESIGN.md section 4.1).  libjwt must never see a token that fails here.
 */
#include <string.h>

#include "internal.h"

/*
 * One table, one pass: every byte of every token passes here, so the
 * shape and the "plainly not a token" test are read off a single AND of
 * byte classes instead of a pass each (NUL, each segment, the whole).
 *   B64URL    base64url (A-Z a-z 0-9 - _), or the JWT separator '.'
 *   B64TOKEN  RFC 6750 b64token (those, ~ + / =), or '.'
 * NUL and every other byte are neither.  Where the dots are, memchr says.
 */
enum { B64URL = 1, B64TOKEN = 2 };

static const unsigned char token_class[256] = {
	['A' ... 'Z'] = B64URL | B64TOKEN, ['a' ... 'z'] = B64URL | B64TOKEN,
	['0' ... '9'] = B64URL | B64TOKEN, ['-'] = B64URL | B64TOKEN,
	['_'] = B64URL | B64TOKEN, ['.'] = B64URL | B64TOKEN,
	['~'] = B64TOKEN, ['+'] = B64TOKEN, ['/'] = B64TOKEN, ['='] = B64TOKEN,
};

/* The AND of the classes of all bytes, eight at a time. */
static unsigned
classes(const unsigned char *s, size_t n)
{
	unsigned a = B64URL | B64TOKEN, b = a;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		a &= token_class[s[i]] & token_class[s[i + 1]] &
		    token_class[s[i + 2]] & token_class[s[i + 3]];
		b &= token_class[s[i + 4]] & token_class[s[i + 5]] &
		    token_class[s[i + 6]] & token_class[s[i + 7]];
	}
	for (; i < n; i++)
		a &= token_class[s[i]];
	return a & b;
}

/* A JWS segment: not empty, and not a lone sextet at its end. */
static bool
segment_len_ok(size_t n)
{
	return n != 0 && n % 4 != 1;
}

static kz_shape
shape_of(const char *tok, size_t len, unsigned cls)
{
	const char *d1, *d2;

	if (tok == NULL || len == 0)
		return KZ_SHAPE_MALFORMED;
	if ((d1 = memchr(tok, '.', len)) == NULL) {
		/* Opaque: RFC 6750 b64token characters, no NUL.  No provider
		 * issues opaque tokens this short (a UUID is 36); refusing
		 * them keeps a password typed at the token prompt from being
		 * sent to the provider. */
		return (cls & B64TOKEN) && len >= 32 ? KZ_SHAPE_OPAQUE :
		    KZ_SHAPE_MALFORMED;
	}
	/* JWT: every byte but the two dots base64url (so no NUL, no
	 * padding), three segments of a length base64url can have. */
	if (!(cls & B64URL))
		return KZ_SHAPE_MALFORMED;
	d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok));
	if (d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)))
		return KZ_SHAPE_MALFORMED;
	if (!segment_len_ok((size_t)(d1 - tok)) ||
	    !segment_len_ok((size_t)(d2 - d1 - 1)) ||
	    !segment_len_ok(len - (size_t)(d2 + 1 - tok)))
		return KZ_SHAPE_MALFORMED;
	return KZ_SHAPE_JWT;
}

kz_shape
kz_token_shape(const char *tok, size_t len, size_t max_len)
{
	if (len > max_len)	/* the cap before anything looks inside */
		return KZ_SHAPE_TOO_LONG;
	return shape_of(tok, len, tok ? classes((const unsigned char *)tok,
	    len) : 0);
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
	return !(classes((const unsigned char *)s, len) & B64TOKEN);
}

/* Both of the above from one pass over the token (kz_decide): the cap
 * still decides first, plainly_not is for every length. */
kz_shape
kz_token_scan(const char *tok, size_t len, size_t max_len, int *plainly_not)
{
	unsigned cls = tok ? classes((const unsigned char *)tok, len) : 0;

	*plainly_not = tok == NULL || len < 32 || !(cls & B64TOKEN);
	if (len > max_len)
		return KZ_SHAPE_TOO_LONG;
	return shape_of(tok, len, cls);
}
