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

/*
 * The decoder against a reference written for clarity, not speed: the
 * same verdict, the same bytes, and on a refusal the same bytes cleared
 * (those written before the bad group or the bad leftover bits) and
 * nothing else touched but a NUL.
 */
static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int
ref_val(unsigned char c)
{
	const char *p = c ? strchr(b64url_alphabet, c) : NULL;

	return p ? (int)(p - b64url_alphabet) : -1;
}

/* 0 and the bytes, or -1 and how many bytes a refusal clears. */
static int
ref_decode(const unsigned char *in, size_t len, unsigned char *out,
    size_t *n)
{
	size_t g, full = len / 4, tail = len % 4;
	unsigned long acc;
	int x;

	*n = 0;
	if (tail == 1)
		return -1;
	for (g = 0; g <= full; g++) {
		size_t k = g < full ? 4 : tail;

		if (k == 0)
			break;
		acc = 0;
		for (size_t i = 0; i < k; i++) {
			if ((x = ref_val(in[4 * g + i])) < 0)
				return -1;
			acc = acc << 6 | (unsigned long)x;
		}
		if (k == 4) {
			out[(*n)++] = (unsigned char)(acc >> 16);
			out[(*n)++] = (unsigned char)(acc >> 8);
			out[(*n)++] = (unsigned char)acc;
		} else if (k == 2) {
			out[(*n)++] = (unsigned char)(acc >> 4);
			if (acc & 0xf)
				return -1;
		} else {
			out[(*n)++] = (unsigned char)(acc >> 10);
			out[(*n)++] = (unsigned char)(acc >> 2);
			if (acc & 0x3)
				return -1;
		}
	}
	return 0;
}

static void
check_decode(const unsigned char *in, size_t len)
{
	unsigned char want[96], got[104], *heap;
	size_t cap = len / 4 * 3 + 3, wn, gn = 12345, hn;
	int wrc = ref_decode(in, len, want, &wn), grc;

	assert_true(cap + 8 <= sizeof(got));
	memset(got, 0xa5, sizeof(got));
	grc = kz_b64url_decode_to((const char *)in, len, got, cap, &gn);
	assert_int_equal(grc, wrc);
	if (wrc == 0) {
		assert_int_equal(gn, wn);
		assert_memory_equal(got, want, wn);
		assert_int_equal(got[wn], 0);
		for (size_t i = wn + 1; i < sizeof(got); i++)
			assert_int_equal(got[i], 0xa5);
	} else {
		assert_int_equal(gn, 0);
		/* a group's store carries a NUL after its three bytes: after
		 * the last good group the byte there may be that NUL */
		for (size_t i = 0; i < sizeof(got); i++)
			if (i != wn || wn == 0 || wn % 3 != 0 || got[i] != 0)
				assert_int_equal(got[i], i < wn ? 0 : 0xa5);
	}
	/* the allocating form agrees */
	grc = kz_b64url_decode((const char *)in, len, &heap, &hn);
	assert_int_equal(grc, wrc);
	if (wrc == 0) {
		assert_int_equal(hn, wn);
		assert_memory_equal(heap, want, wn);
		free(heap);
	} else
		assert_null(heap);
}

static void
b64url_exact(void **state)
{
	static const struct { const char *in, *out; size_t n; } rfc[] = {
		{ "", "", 0 }, { "Zg", "f", 1 }, { "Zm8", "fo", 2 },
		{ "Zm9v", "foo", 3 }, { "Zm9vYg", "foob", 4 },
		{ "Zm9vYmE", "fooba", 5 }, { "Zm9vYmFy", "foobar", 6 },
		{ "-_8", "\xfb\xff", 2 }, { "____", "\xff\xff\xff", 3 },
		{ "AAAA", "\0\0\0", 3 }, { "AA", "\0", 1 },
	};
	/* base strings with no tail, a tail of 2 and a tail of 3 */
	static const char *const base[] = { "eyJhbGciOiJS", "eyJhbGciOi",
		"eyJhbGciOiJ", "Zm9vYmFyYmF6cXV4LV9-" };
	unsigned char in[64], buf[16];
	size_t n, len;
	uint32_t seed = 0x6b7a7431;

	(void)state;
	for (size_t i = 0; i < KZ_NELEM(rfc); i++) {
		len = strlen(rfc[i].in);
		assert_int_equal(kz_b64url_decode_to(rfc[i].in, len, buf,
		    sizeof(buf), &n), 0);
		assert_int_equal(n, rfc[i].n);
		assert_memory_equal(buf, rfc[i].out, n);
		check_decode((const unsigned char *)rfc[i].in, len);
	}
	/* a buffer one byte short of len / 4 * 3 + 3: refused, untouched */
	memset(buf, 0xa5, sizeof(buf));
	assert_int_equal(kz_b64url_decode_to("Zm9vYmFy", 8, buf, 8, &n), -1);
	assert_int_equal(n, 0);
	assert_int_equal(buf[0], 0xa5);
	/* every byte value at every position of each base string */
	for (size_t b = 0; b < KZ_NELEM(base); b++) {
		len = strlen(base[b]);
		for (size_t pos = 0; pos < len; pos++)
			for (int c = 0; c < 256; c++) {
				memcpy(in, base[b], len);
				in[pos] = (unsigned char)c;
				check_decode(in, len);
			}
	}
	/* every string of one to three characters of the alphabet */
	for (int a = 0; a < 64; a++) {
		in[0] = (unsigned char)b64url_alphabet[a];
		check_decode(in, 1);
		for (int b = 0; b < 64; b++) {
			in[1] = (unsigned char)b64url_alphabet[b];
			check_decode(in, 2);
			for (int c = 0; c < 64; c++) {
				in[2] = (unsigned char)b64url_alphabet[c];
				check_decode(in, 3);
			}
		}
	}
	/* random strings, mostly of the alphabet, of every length to 64 */
	for (int iter = 0; iter < 200000; iter++) {
		len = (size_t)iter % 65;
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = (seed >> 16) % 97 == 0 ?
			    (unsigned char)(seed >> 8) :
			    (unsigned char)b64url_alphabet[(seed >> 16) & 63];
		}
		check_decode(in, len);
	}
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
		cmocka_unit_test(b64url_exact),
		cmocka_unit_test(fingerprint),
		cmocka_unit_test(names),
	};

	return cmocka_run_group_tests_name("shape", tests, NULL, NULL);
}
