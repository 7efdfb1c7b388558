/*
 * test_hostile_parse.c - the parsing of hostile input after the
 * performance work (5941752..80cadc0): base64url by pre-shifted tables and
 * a 4-byte store, integers read without strtoll, strings scanned four
 * bytes a step, the header fields cached with the header's parse, and
 * kz_jv_get inline.  Each case is an attacker's try at a wrong OK, a claim
 * read wrong, or a read or write out of bounds (run it under ASan too:
 * build-asan).  Every token case asserts the exact verdict and reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


#include "kztest.h"
#include "ref_b64.h"

/* ---- base64url against a reference decoder, bit by bit ---- */

/* The reference decoder's byte count, or -1. */
static long
ref_decode(const unsigned char *in, size_t len, unsigned char *out)
{
	size_t n;

	return ref_b64_decode((const char *)in, len, out, &n) == 0 ?
	    (long)n : -1;
}

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* One input through kz_b64url_decode_to with a heap buffer of exactly the
 * capacity it asks for (ASan sees a byte past it), and through
 * kz_b64url_decode; both must agree with the reference byte for byte, end
 * in a NUL, and on failure leave no decoded byte behind. */
static void
check_b64(const unsigned char *in, size_t len)
{
	size_t cap = len / 4 * 3 + 3, outlen = 12345;
	unsigned char *out = malloc(cap), want[64], *heap;
	long n = ref_decode(in, len, want);
	int rc;

	assert_non_null(out);
	memset(out, 0xa5, cap);
	rc = kz_b64url_decode_to((const char *)in, len, out, cap, &outlen);
	if ((rc == 0) != (n >= 0))
		fail_msg("len %zu: decode_to %s, reference %s", len,
		    rc == 0 ? "accepts" : "refuses",
		    n >= 0 ? "accepts" : "refuses");
	if (n >= 0) {
		assert_int_equal(outlen, (size_t)n);
		assert_memory_equal(out, want, (size_t)n);
		assert_int_equal(out[n], 0);
	} else {
		assert_int_equal(outlen, 0);
		for (size_t i = 0; i < cap; i++)
			if (out[i] != 0 && out[i] != 0xa5)
				fail_msg("len %zu: byte %zu left after failure",
				    len, i);
	}
	/* one byte less than asked for is refused, whatever the input */
	assert_int_equal(kz_b64url_decode_to((const char *)in, len, out,
	    cap - 1, &outlen), -1);
	assert_int_equal(outlen, 0);
	free(out);
	rc = kz_b64url_decode((const char *)in, len, &heap, &outlen);
	assert_int_equal(rc == 0, n >= 0);
	if (rc == 0) {
		assert_int_equal(outlen, (size_t)n);
		assert_memory_equal(heap, want, (size_t)n);
		assert_int_equal(heap[n], 0);
		free(heap);
	} else {
		assert_null(heap);
	}
}

/* Lengths 0..13 (every residue mod 4), random alphabet strings, and each
 * of the 256 byte values at each position of the shorter ones. */
static void
b64_every_length_and_byte(void **state)
{
	unsigned char in[16];
	uint32_t seed = 0x62363472;

	(void)state;
	for (size_t len = 0; len <= 13; len++) {
		for (int iter = 0; iter < 2000; iter++) {
			for (size_t i = 0; i < len; i++) {
				seed = seed * 1103515245u + 12345u;
				in[i] = (unsigned char)alphabet[(seed >> 16) %
				    64];
			}
			check_b64(in, len);
			if (len == 0 || len > 9 || iter >= 3)
				continue;
			for (size_t pos = 0; pos < len; pos++) {
				unsigned char keep = in[pos];

				for (int b = 0; b < 256; b++) {
					in[pos] = (unsigned char)b;
					check_b64(in, len);
				}
				in[pos] = keep;
			}
		}
	}
}

/* Named cases: padding, NUL, 0x80+, leftover bits, the inverse of every
 * byte value. */
static void
b64_named_cases(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		long want;		/* bytes, or -1 */
	} rows[] = {
		{ "", 0, 0 },
		{ "A", 1, -1 },
		{ "AA", 2, 1 },
		{ "AB", 2, -1 },	/* leftover bits set */
		{ "AQ", 2, 1 },
		{ "AAA", 3, 2 },
		{ "AAB", 3, -1 },
		{ "AAE", 3, 2 },
		{ "AA==", 4, -1 },	/* padding is not base64url here */
		{ "AA=", 3, -1 },
		{ "AAA=", 4, -1 },
		{ "====", 4, -1 },
		{ "AA\0A", 4, -1 },	/* NUL inside a group */
		{ "AAAA\0", 5, -1 },
		{ "AAAAA\0", 6, -1 },	/* NUL in a tail */
		{ "AAAAAA\0", 7, -1 },
		{ "\x80" "AAA", 4, -1 },
		{ "AAA\xff", 4, -1 },
		{ "AAAA\xc3\xa9", 6, -1 },
		{ "AA+/", 4, -1 },	/* the other alphabet */
		{ "AA A", 4, -1 },
		{ "AAAA\n", 5, -1 },
		{ "____", 4, 3 },
		{ "----____", 8, 6 },
	};
	unsigned char all[256], *raw;
	char *enc;
	size_t n;

	(void)state;
	for (size_t i = 0; i < KZ_NELEM(rows); i++) {
		unsigned char want[16];

		assert_int_equal(ref_decode((const unsigned char *)rows[i].in,
		    rows[i].len, want), rows[i].want);
		check_b64((const unsigned char *)rows[i].in, rows[i].len);
	}
	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	for (size_t len = 0; len <= 256; len++) {
		enc = kz_b64url_encode(all + 256 - len, len);
		assert_non_null(enc);
		assert_int_equal(kz_b64url_decode(enc, strlen(enc), &raw, &n),
		    0);
		assert_int_equal(n, len);
		assert_memory_equal(raw, all + 256 - len, len);
		free(raw);
		free(enc);
	}
}

/* ---- the claims tree: strings scanned four bytes a step ---- */

/* A string of length 0..19 with one byte of each kind at each position:
 * the value is the string as written, or the document is refused, on
 * either side of the 4-byte steps. */
static void
jv_string_every_position(void **state)
{
	static const struct {
		const char *ins;	/* what is put at the position */
		const char *val;	/* what it reads as; NULL: refused */
	} kinds[] = {
		{ "\x01", NULL }, { "\x1f", NULL }, { "\n", NULL },
		{ "\\u0000", NULL }, { "\\x", NULL }, { "\xff", NULL },
		{ "\xc0\xaf", NULL }, { "\xe2\x82", NULL },
		{ "\x7f", "\x7f" }, { "\\\"", "\"" }, { "\\\\", "\\" },
		{ "\\n", "\n" }, { "\\u0041", "A" }, { "\xc3\xa9", "\xc3\xa9" },
		{ "\\ud83d\\ude00", "\xf0\x9f\x98\x80" }, { " ", " " },
	};
	char doc[128], want[64];
	struct kz_arena a;

	(void)state;
	for (size_t len = 0; len < 20; len++)
		for (size_t pos = 0; pos <= len; pos++)
			for (size_t k = 0; k < KZ_NELEM(kinds); k++) {
				const struct kz_jv *v, *s;

				snprintf(doc, sizeof(doc),
				    "{\"sub\":\"%.*s%s%.*s\"}", (int)pos,
				    "abcdefghijklmnopqrstuvwxyz", kinds[k].ins,
				    (int)(len - pos), "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
				kz_arena_init(&a);
				v = kz_jv_parse(&a, doc, strlen(doc));
				if (kinds[k].val == NULL) {
					if (v != NULL)
						fail_msg("accepted %s", doc);
					kz_arena_free(&a);
					continue;
				}
				if (v == NULL)
					fail_msg("refused %s", doc);
				snprintf(want, sizeof(want), "%.*s%s%.*s",
				    (int)pos, "abcdefghijklmnopqrstuvwxyz",
				    kinds[k].val, (int)(len - pos),
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
				s = kz_jv_get(v, "sub");
				assert_true(kz_jv_is_str(s));
				assert_string_equal(s->u.s, want);
				assert_int_equal(s->n, strlen(want));
				kz_arena_free(&a);
			}
	/* a string cut before its closing quote, at each length: the
	 * 4-byte step must not read past the end (ASan) */
	for (size_t len = 0; len < 20; len++) {
		char *cut = malloc(8 + len);

		assert_non_null(cut);
		memcpy(cut, "{\"sub\":\"", 8);
		memset(cut + 8, 'x', len);
		kz_arena_init(&a);
		assert_null(kz_jv_parse(&a, cut, 8 + len));
		kz_arena_free(&a);
		free(cut);
	}
}

/* Lookups: a key with a NUL (\u0000 is refused outright), keys that share
 * a first byte or a length, nested objects of the same names. */
static void
jv_get_lookups(void **state)
{
	const char *doc = "{\"su\":1,\"subb\":2,\"Sub\":3,\"bus\":4,"
	    "\"x\":{\"sub\":\"root\"},\"sub\":\"alice\",\"\":\"empty\"}";
	struct kz_arena a;
	const struct kz_jv *v;

	(void)state;
	kz_arena_init(&a);
	assert_non_null(v = kz_jv_parse(&a, doc, strlen(doc)));
	assert_string_equal(kz_jv_str(v, "sub"), "alice");
	assert_string_equal(kz_jv_str(v, ""), "empty");
	assert_null(kz_jv_get(v, "s"));
	assert_null(kz_jv_get(v, "subbb"));
	assert_int_equal(kz_jv_get(v, "Sub")->u.i, 3);
	assert_string_equal(kz_jv_str(kz_jv_get(v, "x"), "sub"), "root");
	assert_null(kz_jv_get(kz_jv_get(v, "sub"), "sub"));	/* not an object */
	assert_null(kz_jv_get(NULL, "sub"));
	kz_arena_free(&a);
	kz_arena_init(&a);
	assert_null(kz_jv_parse(&a, "{\"sub\\u0000x\":\"root\"}", 21));
	assert_null(kz_jv_parse(&a, "{\"sub\":\"a\",\"s\\u0075b\":\"b\"}", 26));
	kz_arena_free(&a);
}

/* ---- tokens: HS256 over hostile JSON, past a valid signature ---- */

static const char *secret = "0123456789abcdef0123456789abcdef";
static kz_ctx *hctx;

static int
setup(void **state)
{
	char extra[600], path[512];
	FILE *f;

	(void)state;
	kzt_fault("none", NULL);
	snprintf(path, sizeof(path), "%s/hmac.secret", kzt_dir());
	f = fopen(path, "w");
	if (f == NULL)
		return 1;
	fprintf(f, "%s\n", secret);
	fclose(f);
	chmod(path, 0600);
	snprintf(extra, sizeof(extra), "algorithms = RS256, HS256\n"
	    "hmac_secret_file = %s\n", path);
	hctx = kzt_ctx("hostile-parse", extra);
	return hctx == NULL;
}

static int
teardown(void **state)
{
	(void)state;
	kz_ctx_close(hctx);
	return 0;
}

static void
expect_tok(const char *hdr, const char *payload, const char *user,
    kz_verdict v, kz_reason r)
{
	char *tok = kzt_hs256(secret, hdr, payload);
	kz_result res;

	kzt_decide(hctx, tok, user, NULL, &res);
	if (res.verdict != v || res.reason != r)
		fail_msg("header %.200s payload %.300s user %s: got %s/%s "
		    "(%s), want %s/%s", hdr, payload, user,
		    kz_verdict_name(res.verdict), kz_reason_name(res.reason),
		    res.detail, kz_verdict_name(v), kz_reason_name(r));
	kz_result_clear(&res);
	free(tok);
}

#define HDR	"{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/* A payload of the good claims and one more member text. */
static char *
claims(const char *extra)
{
	char *p;

	if (asprintf(&p, "{\"iss\":\"%s\",\"aud\":\"host-fleet\","
	    "\"sub\":\"alice\"%s%s}", kzt_idp_url(), *extra ? "," : "",
	    extra) < 0)
		abort();
	return p;
}

static void
expect_claims(const char *extra, kz_verdict v, kz_reason r)
{
	char *p = claims(extra);

	expect_tok(HDR, p, "alice", v, r);
	free(p);
}

/* exp, nbf, iat: only integers 0..253402300799 are times; every other
 * number or type is malformed, never an absent claim nor a wrapped one. */
static void
time_claims_as_numbers(void **state)
{
	char good_exp[64], m[200];
	long now = (long)time(NULL);
	static const char *const bad_exp[] = {
		"1e3", "1E10", "4102444800.0", "4.1024448e9", "-0.0",
		"\"4102444800\"", "true", "null", "[4102444800]",
		"{\"v\":4102444800}", "253402300800", "9223372036854775807",
		"-1", "-9223372036854775808",
		"18446744073709551616", "-18446744073709551617",
	};
	static const char *const unparsable[] = {
		"9223372036854775808", "-9223372036854775809", "+4102444800",
		"04102444800", "-04102444800", "0x10", ".5", "1.", "--1",
		"4102444800e", "NaN", "Infinity",
	};
	char huge[300];

	(void)state;
	snprintf(good_exp, sizeof(good_exp), "\"exp\":%ld", now + 300);
	expect_claims(good_exp, KZ_OK, KZ_R_NONE);
	expect_claims("", KZ_UNAUTHENTICATED, KZ_R_MALFORMED);	/* no exp */
	for (size_t i = 0; i < KZ_NELEM(bad_exp); i++) {
		snprintf(m, sizeof(m), "\"exp\":%s", bad_exp[i]);
		expect_claims(m, KZ_UNAUTHENTICATED, KZ_R_MALFORMED);
		snprintf(m, sizeof(m), "%s,\"nbf\":%s", good_exp, bad_exp[i]);
		expect_claims(m, KZ_UNAUTHENTICATED, KZ_R_MALFORMED);
		snprintf(m, sizeof(m), "%s,\"iat\":%s", good_exp, bad_exp[i]);
		expect_claims(m, KZ_UNAUTHENTICATED, KZ_R_MALFORMED);
	}
	for (size_t i = 0; i < KZ_NELEM(unparsable); i++) {
		snprintf(m, sizeof(m), "%s,\"nbf\":%s", good_exp,
		    unparsable[i]);
		expect_claims(m, KZ_UNAUTHENTICATED, KZ_R_MALFORMED);
	}
	/* the edges that are times: -0 is 0, the end of year 9999 */
	snprintf(m, sizeof(m), "%s,\"nbf\":-0,\"iat\":0", good_exp);
	expect_claims(m, KZ_OK, KZ_R_NONE);
	snprintf(m, sizeof(m), "\"exp\":253402300799");
	expect_claims(m, KZ_OK, KZ_R_NONE);
	/* exp 0 (and -0, the same integer) reads as no exp: refused as a
	 * token without its required exp, never a pass */
	expect_claims("\"exp\":-0", KZ_UNAUTHENTICATED, KZ_R_MALFORMED);
	expect_claims("\"exp\":0", KZ_UNAUTHENTICATED, KZ_R_MALFORMED);
	expect_claims("\"exp\":1", KZ_UNAUTHENTICATED, KZ_R_EXPIRED);
	/* an nbf in the far future as the largest time: not yet valid */
	snprintf(m, sizeof(m), "%s,\"nbf\":253402300799", good_exp);
	expect_claims(m, KZ_UNAUTHENTICATED, KZ_R_NOT_YET_VALID);
	/* huge digit strings, integer and real */
	memset(huge, '9', 250);
	huge[250] = '\0';
	snprintf(m, sizeof(m), "\"exp\":%.150s", huge);
	expect_claims(m, KZ_UNAUTHENTICATED, KZ_R_MALFORMED);
	snprintf(m, sizeof(m), "\"exp\":%.63s", huge);
	expect_claims(m, KZ_UNAUTHENTICATED, KZ_R_MALFORMED);
	snprintf(m, sizeof(m), "\"exp\":0.%.150s", huge);
	expect_claims(m, KZ_UNAUTHENTICATED, KZ_R_MALFORMED);
	/* leading zeros that strtoll would take as a value */
	snprintf(m, sizeof(m), "\"exp\":000000000000000000000000000000%ld",
	    now + 300);
	expect_claims(m, KZ_UNAUTHENTICATED, KZ_R_MALFORMED);
}

/* Claims around the subject, after iss, aud and exp: who they name. */
static const struct {
	const char *members, *user;
	kz_verdict v;
	kz_reason r;
} subs[] = {
	{ "\"sub\":\"alice\",\"x\":{\"sub\":\"root\",\"exp\":1}", "alice",
	    KZ_OK, KZ_R_NONE },
	{ "\"sub\":\"alice\",\"x\":{\"sub\":\"root\",\"exp\":1}", "root",
	    KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH },
	{ "\"x\":{\"sub\":\"alice\"},\"sub\":\"root\"", "alice",
	    KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH },
	{ "\"sub\":\"alice\\u0000root\"", "alice", KZ_UNAUTHENTICATED,
	    KZ_R_MALFORMED },
	{ "\"sub\":[\"alice\"]", "alice", KZ_UNAUTHENTICATED, KZ_R_MALFORMED },
	{ "\"sub\":null", "alice", KZ_UNAUTHENTICATED, KZ_R_MALFORMED },
	{ "\"sub\":\"\\u0061lice\"", "alice", KZ_OK, KZ_R_NONE },
	{ "\"sub\":\"alice\\n\"", "alice", KZ_UNAUTHENTICATED,
	    KZ_R_USER_MISMATCH },
};

/* Duplicate members in header and payload are refused; a nested member
 * of the same name is not the claim. */
static void
duplicates_and_nesting(void **state)
{
	char exp[64], *p, m[300];
	long now = (long)time(NULL);

	(void)state;
	snprintf(exp, sizeof(exp), "\"exp\":%ld", now + 300);
	p = claims(exp);
	expect_tok("{\"alg\":\"none\",\"alg\":\"HS256\"}", p, "alice",
	    KZ_UNAUTHENTICATED, KZ_R_MALFORMED);
	expect_tok("{\"alg\":\"HS256\",\"alg\":\"none\"}", p, "alice",
	    KZ_UNAUTHENTICATED, KZ_R_MALFORMED);
	expect_tok("{\"alg\":\"HS256\",\"alg\":\"HS256\"}", p, "alice",
	    KZ_UNAUTHENTICATED, KZ_R_MALFORMED);
	expect_tok("{\"alg\":\"HS256\",\"kid\":\"a\",\"kid\":\"b\"}", p,
	    "alice", KZ_UNAUTHENTICATED, KZ_R_MALFORMED);
	expect_tok("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"typ\":\"JOSE\"}", p,
	    "alice", KZ_UNAUTHENTICATED, KZ_R_MALFORMED);
	expect_tok("{\"alg\":\"HS256\",\"al\\u0067\":\"none\"}", p, "alice",
	    KZ_UNAUTHENTICATED, KZ_R_MALFORMED);
	/* alg none and its spellings, with a valid HMAC over the bytes */
	expect_tok("{\"alg\":\"none\"}", p, "alice", KZ_UNAUTHENTICATED,
	    KZ_R_ALG_NOT_ALLOWED);
	expect_tok("{\"alg\":\"None\"}", p, "alice", KZ_UNAUTHENTICATED,
	    KZ_R_ALG_NOT_ALLOWED);
	expect_tok("{\"alg\":\"hs256\"}", p, "alice", KZ_UNAUTHENTICATED,
	    KZ_R_ALG_NOT_ALLOWED);
	expect_tok("{\"alg\":\"HS256 \"}", p, "alice", KZ_UNAUTHENTICATED,
	    KZ_R_ALG_NOT_ALLOWED);
	expect_tok("{\"alg\":\"HS2\"}", p, "alice", KZ_UNAUTHENTICATED,
	    KZ_R_ALG_NOT_ALLOWED);
	expect_tok("{\"alg\":[\"HS256\"]}", p, "alice", KZ_UNAUTHENTICATED,
	    KZ_R_ALG_NOT_ALLOWED);
	expect_tok("{\"typ\":\"JWT\"}", p, "alice", KZ_UNAUTHENTICATED,
	    KZ_R_ALG_NOT_ALLOWED);
	expect_tok("{\"x\":{\"alg\":\"HS256\"}}", p, "alice",
	    KZ_UNAUTHENTICATED, KZ_R_ALG_NOT_ALLOWED);
	/* U+0000 in alg, kid, typ: refused as a whole */
	expect_tok("{\"alg\":\"HS256\\u0000\"}", p, "alice",
	    KZ_UNAUTHENTICATED, KZ_R_MALFORMED);
	expect_tok("{\"alg\":\"HS256\",\"kid\":\"k\\u0000x\"}", p, "alice",
	    KZ_UNAUTHENTICATED, KZ_R_MALFORMED);
	expect_tok("{\"alg\":\"HS256\",\"typ\":\"JWT\\u0000x\"}", p, "alice",
	    KZ_UNAUTHENTICATED, KZ_R_MALFORMED);
	/* escapes are decoded before the comparison: these are HS256 */
	expect_tok("{\"alg\":\"H\\u0053256\",\"typ\":\"\\u004aWT\"}", p,
	    "alice", KZ_OK, KZ_R_NONE);
	/* a nested alg none does not count, a nested typ neither */
	expect_tok("{\"alg\":\"HS256\",\"x\":{\"alg\":\"none\","
	    "\"typ\":\"JOSE\",\"crit\":[\"b64\"]}}", p, "alice", KZ_OK,
	    KZ_R_NONE);
	free(p);
	/* payload: sub twice, exp twice, aud twice, iss twice */
	snprintf(m, sizeof(m), "%s,\"sub\":\"root\"", exp);
	expect_claims(m, KZ_UNAUTHENTICATED, KZ_R_MALFORMED);
	snprintf(m, sizeof(m), "%s,\"exp\":%ld", exp, now + 600);
	expect_claims(m, KZ_UNAUTHENTICATED, KZ_R_MALFORMED);
	snprintf(m, sizeof(m), "%s,\"aud\":\"other\"", exp);
	expect_claims(m, KZ_UNAUTHENTICATED, KZ_R_MALFORMED);
	snprintf(m, sizeof(m), "%s,\"s\\u0075b\":\"root\"", exp);
	expect_claims(m, KZ_UNAUTHENTICATED, KZ_R_MALFORMED);
	/* the subject: only the top-level sub, a string without U+0000,
	 * its escapes decoded */
	for (size_t i = 0; i < KZ_NELEM(subs); i++) {
		snprintf(m, sizeof(m), "{\"iss\":\"%s\",\"aud\":\"host-fleet\","
		    "%s,%s}", kzt_idp_url(), exp, subs[i].members);
		expect_tok(HDR, m, subs[i].user, subs[i].v, subs[i].r);
	}
}

/* Nesting far past the limit, in the header and in the payload. */
static void
deep_nesting(void **state)
{
	static char deep[20001];
	char exp[64], *p;

	(void)state;
	snprintf(exp, sizeof(exp), "\"exp\":%ld", (long)time(NULL) + 300);
	p = claims(exp);
	/* (a token stays under max_token_length, 16384, so that the
	 * parser is reached) */
	memset(deep, '[', 5000);
	memset(deep + 5000, ']', 5000);
	expect_tok(HDR, deep, "alice", KZ_UNAUTHENTICATED, KZ_R_MALFORMED);
	expect_tok(deep, p, "alice", KZ_UNAUTHENTICATED, KZ_R_MALFORMED);
	memset(deep, '{', 5000);	/* unbalanced, too */
	deep[5000] = '\0';
	expect_tok(HDR, deep, "alice", KZ_UNAUTHENTICATED, KZ_R_MALFORMED);
	/* deep objects of the same key, "sub" at every level */
	{
		static char obj[8 * 1200 + 1200 + 16];
		size_t n = 0;

		for (int i = 0; i < 1200; i++) {
			memcpy(obj + n, "{\"sub\":", 7);
			n += 7;
		}
		obj[n++] = '1';
		memset(obj + n, '}', 1200);
		n += 1200;
		obj[n] = '\0';
		expect_tok(HDR, obj, "alice", KZ_UNAUTHENTICATED,
		    KZ_R_MALFORMED);
	}
	free(p);
}

/* The header's fields are cached with its parse: tokens of different
 * headers in turns must each be judged by their own header, whether it
 * was cached, replaced, or too long to cache (over 1024 characters). */
static void
header_cache_hostile_turns(void **state)
{
	char exp[64], *p, longhdr[1400], longbad[1400], pad[1100];
	const char *good = HDR, *kidnum = "{\"alg\":\"HS256\",\"kid\":7}";
	const char *typbad = "{\"alg\":\"HS256\",\"typ\":\"JOSE\"}";
	const char *crit = "{\"alg\":\"HS256\",\"crit\":[]}";
	const char *none = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
	const char *kidok = "{\"alg\":\"HS256\",\"kid\":\"whatever\"}";

	(void)state;
	snprintf(exp, sizeof(exp), "\"exp\":%ld", (long)time(NULL) + 300);
	p = claims(exp);
	memset(pad, 'x', 1000);
	pad[1000] = '\0';
	snprintf(longhdr, sizeof(longhdr), "{\"alg\":\"HS256\",\"pad\":\"%s\"}",
	    pad);
	snprintf(longbad, sizeof(longbad), "{\"alg\":\"none\",\"pad\":\"%s\"}",
	    pad);
	for (int round = 0; round < 3; round++) {
		expect_tok(good, p, "alice", KZ_OK, KZ_R_NONE);
		expect_tok(good, p, "alice", KZ_OK, KZ_R_NONE);
		expect_tok(typbad, p, "alice", KZ_UNAUTHENTICATED,
		    KZ_R_WRONG_TOKEN_TYPE);
		expect_tok(typbad, p, "alice", KZ_UNAUTHENTICATED,
		    KZ_R_WRONG_TOKEN_TYPE);
		expect_tok(good, p, "alice", KZ_OK, KZ_R_NONE);
		expect_tok(longbad, p, "alice", KZ_UNAUTHENTICATED,
		    KZ_R_ALG_NOT_ALLOWED);
		/* after a long header, the cached one is still good's */
		expect_tok(good, p, "alice", KZ_OK, KZ_R_NONE);
		expect_tok(none, p, "alice", KZ_UNAUTHENTICATED,
		    KZ_R_ALG_NOT_ALLOWED);
		expect_tok(longhdr, p, "alice", KZ_OK, KZ_R_NONE);
		/* the cached none must not answer for longhdr, nor longhdr
		 * for none */
		expect_tok(none, p, "alice", KZ_UNAUTHENTICATED,
		    KZ_R_ALG_NOT_ALLOWED);
		expect_tok(kidnum, p, "alice", KZ_UNAUTHENTICATED,
		    KZ_R_MALFORMED);
		expect_tok(kidnum, p, "alice", KZ_UNAUTHENTICATED,
		    KZ_R_MALFORMED);
		expect_tok(crit, p, "alice", KZ_UNAUTHENTICATED,
		    KZ_R_MALFORMED);
		expect_tok(crit, p, "alice", KZ_UNAUTHENTICATED,
		    KZ_R_MALFORMED);
		expect_tok(kidok, p, "alice", KZ_OK, KZ_R_NONE);
		expect_tok(kidok, p, "alice", KZ_OK, KZ_R_NONE);
		/* a header that does not parse leaves the cache as it was */
		expect_tok("{\"alg\":\"HS256\"", p, "alice",
		    KZ_UNAUTHENTICATED, KZ_R_MALFORMED);
		expect_tok(kidok, p, "alice", KZ_OK, KZ_R_NONE);
	}
	free(p);
}

/* The kid reported (audit line, result) is the header's own, cached or
 * not. */
static void
kid_reported_per_header(void **state)
{
	char exp[64], *p;
	kz_result res;
	char *t1, *t2;

	(void)state;
	snprintf(exp, sizeof(exp), "\"exp\":%ld", (long)time(NULL) + 300);
	p = claims(exp);
	t1 = kzt_hs256(secret, "{\"alg\":\"HS256\",\"kid\":\"first\"}", p);
	t2 = kzt_hs256(secret, "{\"alg\":\"HS256\",\"kid\":\"second\"}", p);
	for (int i = 0; i < 4; i++) {
		kzt_decide(hctx, i % 2 ? t2 : t1, "alice", NULL, &res);
		assert_decision(&res, KZ_OK, KZ_R_NONE);
		assert_non_null(res.id.kid);
		assert_string_equal(res.id.kid, i % 2 ? "second" : "first");
		kz_result_clear(&res);
		kzt_decide(hctx, i % 2 ? t2 : t1, "alice", NULL, &res);
		assert_decision(&res, KZ_OK, KZ_R_NONE);
		assert_string_equal(res.id.kid, i % 2 ? "second" : "first");
		kz_result_clear(&res);
	}
	free(t1);
	free(t2);
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(b64_every_length_and_byte),
		cmocka_unit_test(b64_named_cases),
		cmocka_unit_test(jv_string_every_position),
		cmocka_unit_test(jv_get_lookups),
		cmocka_unit_test(time_claims_as_numbers),
		cmocka_unit_test(duplicates_and_nesting),
		cmocka_unit_test(deep_nesting),
		cmocka_unit_test(header_cache_hostile_turns),
		cmocka_unit_test(kid_reported_per_header),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
