/*
 * test_sanitize.c - kz_sanitize, the one sanitiser of the audit line and
 * of every kztoken output: no byte outside printable ASCII survives, in
 * place or not, cut to the buffer; word mode as the audit line wants it.
 */
#include <string.h>

#include "kztest.h"

static void
test_text_mode(void **state)
{
	char out[64];

	(void)state;
	assert_string_equal(kz_sanitize(out, sizeof(out),
	    "a\x1b[31mb\r\nc\x07\x7f\xc2\x9b" "d e\"f", 0), "a?[31mb??c????d e\"f");
	assert_string_equal(kz_sanitize(out, sizeof(out), NULL, 0), "");
	assert_string_equal(kz_sanitize(out, sizeof(out), "", 0), "");
	assert_string_equal(kz_sanitize(out, 4, "abcdef", 0), "abc");
	out[0] = 'x';
	kz_sanitize(out, 0, "abc", 0);		/* writes nothing */
	assert_int_equal(out[0], 'x');
	assert_string_equal(kz_sanitize(out, 1, "abc", 0), "");
}

static void
test_word_mode(void **state)
{
	char out[64];

	(void)state;
	assert_string_equal(kz_sanitize(out, sizeof(out), "a b\"c\td", 1),
	    "a?b?c?d");
	assert_string_equal(kz_sanitize(out, sizeof(out), NULL, 1), "-");
	assert_string_equal(kz_sanitize(out, sizeof(out), "", 1), "-");
}

static void
test_in_place(void **state)
{
	char s[] = "ev\x1b]0;pwn\x07il\n";

	(void)state;
	assert_ptr_equal(kz_sanitize(s, sizeof(s), s, 0), s);
	assert_string_equal(s, "ev?]0;pwn?il?");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_mode),
		cmocka_unit_test(test_word_mode),
		cmocka_unit_test(test_in_place),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
