/*
 * fuzz_token.c - a token from a hostile client: the shape check, the
 * "plainly not a token" test, and the whole local pipeline (kz_decide
 * with a pinned JWKS and an HMAC secret, no network), for three services.
 */
#include "fuzz_common.h"
#include "../support/ref_b64.h"

static kz_ctx *ctx;

/*
 * The shape check, the password test and the base64url decoder as they
 * were before the one-pass versions (a pass per property, a test per
 * character): every input must get the same answers from both.
 */
static bool
ref_token_char(unsigned char c, bool dot)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '~' ||
	    c == '+' || c == '/' || c == '=' || (dot && c == '.');
}

static bool
ref_segment_ok(const char *s, size_t n)
{
	if (n == 0 || n % 4 == 1)
		return false;
	for (size_t i = 0; i < n; i++)
		if (ref_b64val((unsigned char)s[i]) < 0)
			return false;
	return true;
}

static kz_shape
ref_shape(const char *tok, size_t len, size_t max)
{
	const char *d1, *d2;

	if (len > max)
		return KZ_SHAPE_TOO_LONG;
	if (len == 0 || memchr(tok, '\0', len) != NULL)
		return KZ_SHAPE_MALFORMED;
	if ((d1 = memchr(tok, '.', len)) == NULL) {
		for (size_t i = 0; i < len; i++)
			if (!ref_token_char((unsigned char)tok[i], false))
				return KZ_SHAPE_MALFORMED;
		return len >= 32 ? KZ_SHAPE_OPAQUE : KZ_SHAPE_MALFORMED;
	}
	d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok));
	if (d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)))
		return KZ_SHAPE_MALFORMED;
	if (!ref_segment_ok(tok, (size_t)(d1 - tok)) ||
	    !ref_segment_ok(d1 + 1, (size_t)(d2 - d1 - 1)) ||
	    !ref_segment_ok(d2 + 1, len - (size_t)(d2 + 1 - tok)))
		return KZ_SHAPE_MALFORMED;
	return KZ_SHAPE_JWT;
}

static int
ref_plainly_not(const char *s, size_t len)
{
	if (len < 32)
		return 1;
	for (size_t i = 0; i < len; i++)
		if (!ref_token_char((unsigned char)s[i], true))
			return 1;
	return 0;
}

static void
differential(const char *tok, size_t size)
{
	size_t maxes[] = { 16384, 40, size ? size - 1 : 0 };
	unsigned char *a, *b;
	size_t alen = 0, blen = 0;
	int plain, ra, rb;

	for (size_t i = 0; i < 3; i++) {
		kz_shape want = ref_shape(tok, size, maxes[i]);

		if (kz_token_shape(tok, size, maxes[i]) != want ||
		    kz_token_scan(tok, size, maxes[i], &plain) != want ||
		    plain != ref_plainly_not(tok, size))
			abort();
	}
	if (kz_is_plainly_not_token(tok, size) != ref_plainly_not(tok, size))
		abort();
	if ((b = malloc(size / 4 * 3 + 3)) == NULL)
		return;
	ra = kz_b64url_decode(tok, size, &a, &alen);
	rb = ref_b64_decode(tok, size, b, &blen);
	if (ra != rb || (ra == 0 && (alen != blen || memcmp(a, b, alen) != 0)))
		abort();
	free(a);
	free(b);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static const char *services[] = { "default", "sudo", "sshd" };
	char *tok;
	kz_result res;
	kz_request req = { 0 };

	if (ctx == NULL) {
		char lines[512];

		fuzz_setup();
		snprintf(lines, sizeof(lines), "validation = jwt\n"
		    "algorithms = RS256, ES256, HS256, ES384, RS512\n"
		    "jwks_file = %s/keys.jwks\nhmac_secret_file = %s/hmac\n",
		    fuzz_dir, fuzz_dir);
		ctx = fuzz_ctx("token", lines);
	}
	/* An exact-size copy, so ASan sees any read past the end. */
	if ((tok = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(tok, data, size);
	differential(tok, size);
	(void)kz_is_truncation_length(size);
	req.token = tok;
	req.token_len = size;
	req.user = size % 2 ? "alice" : NULL;
	req.service = services[size % 3];
	if (kz_decide(ctx, &req, &res) == KZ_OK &&
	    (res.id.user == NULL || res.id.source != KZ_SRC_JWT))
		abort();	/* an OK must name a user and a source */
	kz_result_clear(&res);
	free(tok);
	return 0;
}
