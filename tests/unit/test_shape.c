/*
 * test_shape.c - the checks that run before anything decodes a token:
 * shape, length cap, strict base64url, truncation lengths.
 */
#include <stdlib.h>
#include <string.h>

#include "kztest.h"

static void
jwt_shapes(void **state)
{
	(void)state;
	assert_int_equal(kz_token_shape("eyJh.eyJi.c2ln", 14, 100), KZ_SHAPE_JWT);
	assert_int_equal(kz_token_shape("abcdefghijklmnopqrstuvwxyz012345",
	    32, 100), KZ_SHAPE_OPAQUE);
	/* shorter dotless input is a password, not something to send on */
	assert_int_equal(kz_token_shape("abcdefghijklmnopqrstuvwxyz01234",
	    31, 100), KZ_SHAPE_MALFORMED);
	/* empty segments, in every position */
	assert_int_equal(kz_token_shape(".eyJi.c2ln", 10, 100), KZ_SHAPE_MALFORMED);
	assert_int_equal(kz_token_shape("eyJh..c2ln", 10, 100), KZ_SHAPE_MALFORMED);
	assert_int_equal(kz_token_shape("eyJh.eyJi.", 10, 100), KZ_SHAPE_MALFORMED);
	assert_int_equal(kz_token_shape("..", 2, 100), KZ_SHAPE_MALFORMED);
	/* one dot, three dots (JWE has four) */
	assert_int_equal(kz_token_shape("eyJh.eyJi", 9, 100), KZ_SHAPE_MALFORMED);
	assert_int_equal(kz_token_shape("a.b.c.d", 7, 100), KZ_SHAPE_MALFORMED);
	/* lenient base64 that libjwt would skip over: refused */
	assert_int_equal(kz_token_shape("eyJh.ey!Jb.c2ln", 15, 100), KZ_SHAPE_MALFORMED);
	assert_int_equal(kz_token_shape("eyJh.ey Jb.c2ln", 15, 100), KZ_SHAPE_MALFORMED);
	assert_int_equal(kz_token_shape("eyJh.eyJi.c2ln==", 16, 100), KZ_SHAPE_MALFORMED);
	assert_int_equal(kz_token_shape("eyJh.eyJi.c2l+", 14, 100), KZ_SHAPE_MALFORMED);
	/* a segment of length 4k+1 can carry no byte */
	assert_int_equal(kz_token_shape("eyJhb.eyJi.c2ln", 15, 100), KZ_SHAPE_MALFORMED);
	/* NUL inside */
	assert_int_equal(kz_token_shape("abcdefghijklmnopqrstuvwxyz\0abcdefgh",
	    35, 100), KZ_SHAPE_MALFORMED);
	/* opaque tokens: no white space, no odd characters, not too short */
	assert_int_equal(kz_token_shape("abc def ghijklmnabc def ghijklmn", 32,
	    100), KZ_SHAPE_MALFORMED);
	assert_int_equal(kz_token_shape("short", 5, 100), KZ_SHAPE_MALFORMED);
	assert_int_equal(kz_token_shape("", 0, 100), KZ_SHAPE_MALFORMED);
}

static void
length_cap(void **state)
{
	size_t big = 5 * 1024 * 1024;
	char *t = malloc(big);

	(void)state;
	assert_non_null(t);
	memset(t, 'A', big);
	t[100] = '.';
	t[200] = '.';
	/* decided on the length alone, before any scanning */
	assert_int_equal(kz_token_shape(t, 20 * 1024, 16384), KZ_SHAPE_TOO_LONG);
	assert_int_equal(kz_token_shape(t, big, 16384), KZ_SHAPE_TOO_LONG);
	assert_int_equal(kz_token_shape(t, 16384, 16384), KZ_SHAPE_JWT);
	free(t);
}

static void
truncation_lengths(void **state)
{
	(void)state;
	assert_true(kz_is_truncation_length(255));
	assert_true(kz_is_truncation_length(511));
	assert_true(kz_is_truncation_length(1023));
	assert_true(kz_is_truncation_length(4095));
	assert_false(kz_is_truncation_length(512));
	assert_false(kz_is_truncation_length(1024));
}

static void
not_a_token(void **state)
{
	(void)state;
	assert_true(kz_is_plainly_not_token("hunter2", 7));
	assert_true(kz_is_plainly_not_token("correct horse battery", 21));
	assert_true(kz_is_plainly_not_token("Pa$$w0rd!Pa$$w0rd!", 18));
	assert_false(kz_is_plainly_not_token("eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl", 34));
	/* a 22-character passphrase of token characters stays a password */
	assert_true(kz_is_plainly_not_token("AbCdEfGhIjKlMnOpQrStUv", 22));
	assert_false(kz_is_plainly_not_token("AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", 36));
}

static void
b64url_strict(void **state)
{
	unsigned char *out;
	size_t n;

	(void)state;
	assert_int_equal(kz_b64url_decode("aGVsbG8", 7, &out, &n), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(out, "hello", 5);
	free(out);
	assert_int_equal(kz_b64url_decode("aGVsbG8=", 8, &out, &n), -1);
	assert_int_equal(kz_b64url_decode("aGV sbG8", 8, &out, &n), -1);
	assert_int_equal(kz_b64url_decode("aGV+bG8", 7, &out, &n), -1);
	/* non-zero leftover bits: a second spelling of the same bytes */
	assert_int_equal(kz_b64url_decode("aGVsbG9", 7, &out, &n), -1);
	assert_int_equal(kz_b64url_decode("a", 1, &out, &n), -1);
	out = (unsigned char *)kz_b64url_encode((const unsigned char *)"\xfb\xff", 2);
	assert_string_equal((char *)out, "-_8");
	free(out);
}

static void
fingerprint(void **state)
{
	char fp[13];

	(void)state;
	/* SHA-256("abc") = ba7816bf8f01cfea... */
	kz_fingerprint("abc", 3, fp);
	assert_string_equal(fp, "ba7816bf8f01");
}

static void
names(void **state)
{
	(void)state;
	assert_string_equal(kz_verdict_name(KZ_FORBIDDEN), "FORBIDDEN");
	assert_string_equal(kz_reason_name(KZ_R_LIKELY_TRUNCATED),
	    "likely_truncated");
	assert_string_equal(kz_reason_name(KZ_R_MISSING_GROUP), "missing_group");
	assert_string_equal(kz_reason_name(KZ_R_WRONG_TOKEN_TYPE),
	    "wrong_token_type");
	/* every reason has its own name */
	for (int r = 0; r < KZ_R_INTERNAL; r++)
		assert_string_not_equal(kz_reason_name((kz_reason)r), "internal");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(jwt_shapes),
		cmocka_unit_test(length_cap),
		cmocka_unit_test(truncation_lengths),
		cmocka_unit_test(not_a_token),
		cmocka_unit_test(b64url_strict),
		cmocka_unit_test(fingerprint),
		cmocka_unit_test(names),
	};

	return cmocka_run_group_tests_name("shape", tests, NULL, NULL);
}
