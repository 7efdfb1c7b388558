/*
 * test_json.c - kz_json_load, the reader of every token, JWKS and provider
 * answer: what it accepts and refuses, row by row, and that each accepted
 * document is the value jansson makes of it.  fuzz_json does the same on
 * random input.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kztest.h"

struct row {
	const char *in;
	size_t len;		/* 0: strlen(in) */
	bool ok;
};

static const struct row rows[] = {
	{ "{}", 0, true },
	{ " \t\r\n[ ] \n", 0, true },
	{ "{\"a\":[1,-0,2.5,1e3,true,false,null,\"x\"]}", 0, true },
	{ "{\"e\":\"\\u00e9\\ud83d\\ude00\\\"\\\\\\/\\b\\f\\n\\r\\t\"}", 0, true },
	{ "{\"k\":\"\xc3\xa9\xf0\x9f\x98\x80\"}", 0, true },
	{ "{\"big\":9223372036854775807,\"small\":-9223372036854775808}", 0, true },
	{ "{\"\":1}", 0, true },
	/* refused, as jansson refuses them */
	{ "", 0, false },
	{ "1", 0, false },			/* a scalar at the top */
	{ "\"s\"", 0, false },
	{ "{\"a\":1,\"a\":2}", 0, false },	/* duplicate member */
	{ "{\"a\":1,}", 0, false },
	{ "[1,]", 0, false },
	{ "[01]", 0, false },
	{ "[1.]", 0, false },
	{ "[.5]", 0, false },
	{ "[1e]", 0, false },
	{ "[-]", 0, false },
	{ "[9223372036854775808]", 0, false },	/* past json_int_t */
	{ "[1e999]", 0, false },		/* real overflow */
	{ "[tru]", 0, false },
	{ "[NaN]", 0, false },
	{ "{\"a\" 1}", 0, false },
	{ "{a:1}", 0, false },
	{ "{} x", 0, false },
	{ "{}{}", 0, false },
	{ "[\"\\u0000\"]", 0, false },		/* U+0000 */
	{ "[\"\\ud800\"]", 0, false },		/* lone high surrogate */
	{ "[\"\\udc00\"]", 0, false },		/* lone low surrogate */
	{ "[\"\\ud800\\u0041\"]", 0, false },
	{ "[\"\\x\"]", 0, false },
	{ "[\"\\u12G4\"]", 0, false },
	{ "[\"a\nb\"]", 0, false },		/* raw control byte */
	{ "[\"\xc0\xaf\"]", 0, false },		/* overlong */
	{ "[\"\xed\xa0\x80\"]", 0, false },	/* UTF-8 surrogate */
	{ "[\"\xf4\x90\x80\x80\"]", 0, false },	/* past U+10FFFF */
	{ "[\"\xe2\x82\"]", 0, false },		/* cut sequence */
	{ "[\"abc", 0, false },
	{ "\xef\xbb\xbf{}", 0, false },		/* byte order mark */
	/* stricter than jansson, which drops a NUL after a number */
	{ "[1\0,2]", 6, false },
};

static void
test_rows(void **state)
{
	json_error_t jerr;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t n = rows[i].len ? rows[i].len : strlen(rows[i].in);
		json_t *ours = kz_json_load(rows[i].in, n), *theirs;

		if ((ours != NULL) != rows[i].ok)
			fail_msg("row %zu (%s): %s", i, rows[i].in,
			    ours ? "accepted" : "refused");
		if (ours != NULL) {
			theirs = json_loadb(rows[i].in, n,
			    JSON_REJECT_DUPLICATES, &jerr);
			assert_non_null(theirs);
			assert_true(json_equal(ours, theirs));
			json_decref(theirs);
		}
		json_decref(ours);
	}
}

/* Values: types, escapes decoded, member order kept. */
static void
test_values(void **state)
{
	const char *doc = "{\"s\":\"a\\nb\\u00e9\",\"i\":-42,\"r\":0.25,"
	    "\"t\":true,\"z\":null,\"l\":[[],{}]}";
	json_t *v = kz_json_load(doc, strlen(doc));
	const char *first;

	(void)state;
	assert_non_null(v);
	assert_string_equal(json_string_value(json_object_get(v, "s")),
	    "a\nb\xc3\xa9");
	assert_int_equal(json_integer_value(json_object_get(v, "i")), -42);
	assert_true(json_is_real(json_object_get(v, "r")));
	assert_true(json_real_value(json_object_get(v, "r")) == 0.25);
	assert_true(json_is_true(json_object_get(v, "t")));
	assert_true(json_is_null(json_object_get(v, "z")));
	assert_int_equal(json_array_size(json_object_get(v, "l")), 2);
	first = json_object_iter_key(json_object_iter(v));
	assert_string_equal(first, "s");
	json_decref(v);
}

/* Integers in the claims tree (jtree.c reads them itself): accepted
 * exactly when strtoll takes the whole text without ERANGE, with its
 * value, and as kz_json_load reads them. */
static void
check_jv_int(const char *num)
{
	char doc[128], *end;
	struct kz_arena a;
	const struct kz_jv *v;
	json_t *j;
	long long want;
	bool ok;

	snprintf(doc, sizeof(doc), "[%s]", num);
	errno = 0;
	want = strtoll(num, &end, 10);
	ok = errno == 0 && *end == '\0' && end != num;
	kz_arena_init(&a);
	v = kz_jv_parse(&a, doc, strlen(doc));
	j = kz_json_load(doc, strlen(doc));
	if ((v != NULL) != ok || (j != NULL) != ok)
		fail_msg("%s: tree %s, json %s, strtoll %s", num,
		    v ? "accepts" : "refuses", j ? "accepts" : "refuses",
		    ok ? "accepts" : "refuses");
	if (ok) {
		assert_int_equal(v->u.first->type, KZ_JT_INT);
		assert_true(v->u.first->u.i == want);
		assert_true(json_integer_value(json_array_get(j, 0)) == want);
	}
	json_decref(j);
	kz_arena_free(&a);
}

static void
test_jv_integers(void **state)
{
	static const char *const edge[] = { "0", "-0", "1", "-1", "7", "10",
		"1796292950", "9223372036854775806", "9223372036854775807",
		"9223372036854775808", "9223372036854775809",
		"9223372036854775810", "-9223372036854775807",
		"-9223372036854775808", "-9223372036854775809",
		"-9223372036854775810", "18446744073709551615",
		"18446744073709551616", "99999999999999999999",
		"922337203685477580", "92233720368547758070",
		"1000000000000000000", "10000000000000000000",
		"111111111111111111111111111111111111111111111111111111111111111",
		"1111111111111111111111111111111111111111111111111111111111111111",
	};
	char num[32];
	uint32_t seed = 0x6a763132;
	const char *bad[] = { "[00]", "[-01]", "[-]", "[--1]", "[+1]",
		"[1-]", "[0x10]" };
	struct kz_arena a;

	(void)state;
	for (size_t i = 0; i < KZ_NELEM(edge); i++)
		check_jv_int(edge[i]);
	for (int iter = 0; iter < 50000; iter++) {
		size_t n = 0, len;

		seed = seed * 1103515245u + 12345u;
		len = 1 + (seed >> 16) % 22;
		if ((seed >> 8) & 1)
			num[n++] = '-';
		for (size_t k = 0; k < len; k++) {
			seed = seed * 1103515245u + 12345u;
			num[n++] = (char)((k == 0 ? '1' : '0') +
			    (seed >> 16) % (k == 0 ? 9 : 10));
		}
		num[n] = '\0';
		check_jv_int(num);
	}
	for (size_t i = 0; i < KZ_NELEM(bad); i++) {
		kz_arena_init(&a);
		assert_null(kz_jv_parse(&a, bad[i], strlen(bad[i])));
		kz_arena_free(&a);
	}
}

/* Nesting: KZ_MAX_JSON_DEPTH levels pass, one more does not. */
static void
test_depth(void **state)
{
	char buf[2 * (KZ_MAX_JSON_DEPTH + 1) + 1];
	json_t *v;

	(void)state;
	memset(buf, '[', KZ_MAX_JSON_DEPTH);
	memset(buf + KZ_MAX_JSON_DEPTH, ']', KZ_MAX_JSON_DEPTH);
	assert_non_null(v = kz_json_load(buf, 2 * KZ_MAX_JSON_DEPTH));
	json_decref(v);
	memset(buf, '[', KZ_MAX_JSON_DEPTH + 1);
	memset(buf + KZ_MAX_JSON_DEPTH + 1, ']', KZ_MAX_JSON_DEPTH + 1);
	assert_null(kz_json_load(buf, 2 * (KZ_MAX_JSON_DEPTH + 1)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_jv_integers),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_depth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
