/*
 * test_identity.c - who a token names: username_claim and its fallbacks,
 * username_transform, user_map_file, and the binding to the PAM user.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kztest.h"

static void
expect_user(kz_ctx *c, const char *mint, const char *want_user, kz_verdict v,
    kz_reason r, const char *mapped)
{
	char *tok = kzt_mint(mint);
	kz_result res;

	kzt_decide(c, tok, want_user, NULL, &res);
	assert_decision(&res, v, r);
	if (mapped != NULL)
		assert_string_equal(res.id.user, mapped);
	kz_result_clear(&res);
	free(tok);
}

static void
claim_fallbacks(void **state)
{
	kz_ctx *c = kzt_ctx("id-claim", "username_claim = email\n");

	(void)state;
	expect_user(c, "{\"claims\":{\"email\":\"carol\"}}", "carol", KZ_OK,
	    KZ_R_NONE, "carol");
	/* no email: then sub; a JWT's "username" is no fallback (only a
	 * provider's introspection or tokeninfo answer has one) */
	expect_user(c, "{\"claims\":{\"username\":\"dave\"}}", "dave",
	    KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH, NULL);
	expect_user(c, "{\"claims\":{\"sub\":\"erin\"}}", "erin", KZ_OK,
	    KZ_R_NONE, "erin");
	/* no user binding requested: whoever the token names */
	expect_user(c, "{\"claims\":{\"email\":\"carol\"}}", NULL, KZ_OK,
	    KZ_R_NONE, "carol");
	expect_user(c, "{\"claims\":{\"sub\":null}}", "alice",
	    KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH, NULL);
	kz_ctx_close(c);
}

static void
transforms(void **state)
{
	kz_ctx *c = kzt_ctx("id-xform",
	    "username_transform = strip_domain, lowercase\n");

	(void)state;
	expect_user(c, "{\"claims\":{\"preferred_username\":\"Alice@Corp.Example\"}}",
	    "alice", KZ_OK, KZ_R_NONE, "alice");
	expect_user(c, "{\"claims\":{\"preferred_username\":\"Alice@Corp.Example\"}}",
	    "Alice", KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH, NULL);
	kz_ctx_close(c);
	c = kzt_ctx("id-none", NULL);
	expect_user(c, "{\"claims\":{\"preferred_username\":\"alice@corp\"}}",
	    "alice", KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH, NULL);
	/* names no shell or path may misread */
	expect_user(c, "{\"claims\":{\"preferred_username\":\"-rf\"}}", "-rf",
	    KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH, NULL);
	expect_user(c, "{\"claims\":{\"preferred_username\":\"a b\"}}", "a b",
	    KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH, NULL);
	expect_user(c, "{\"claims\":{\"preferred_username\":\"..\"}}", "..",
	    KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH, NULL);
	expect_user(c, "{\"claims\":{\"preferred_username\":\".\"}}", ".",
	    KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH, NULL);
	expect_user(c, "{\"claims\":{\"preferred_username\":\"...\"}}", "...",
	    KZ_OK, KZ_R_NONE, "...");
	kz_ctx_close(c);
}

static void
user_map(void **state)
{
	char path[512], extra[600];
	FILE *f;
	kz_ctx *c;

	(void)state;
	snprintf(path, sizeof(path), "%s/users.map", kzt_dir());
	f = fopen(path, "w");
	fputs("# external local\nalice.smith@corp alice\nbob@corp  bob\n", f);
	fclose(f);
	chmod(path, 0644);
	snprintf(extra, sizeof(extra), "user_map_file = %s\n", path);
	c = kzt_ctx("id-map", extra);
	expect_user(c, "{\"claims\":{\"preferred_username\":\"alice.smith@corp\"}}",
	    "alice", KZ_OK, KZ_R_NONE, "alice");
	expect_user(c, "{\"claims\":{\"preferred_username\":\"bob@corp\"}}",
	    "alice", KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH, NULL);
	/* unmapped names pass through unchanged */
	expect_user(c, "{\"claims\":{\"preferred_username\":\"carol\"}}",
	    "carol", KZ_OK, KZ_R_NONE, "carol");
	/* a map anyone may write is refused, and so is every login */
	chmod(path, 0666);
	expect_user(c, "{\"claims\":{\"preferred_username\":\"carol\"}}",
	    "carol", KZ_ERROR, KZ_R_CONFIG, NULL);
	kz_ctx_close(c);
}

/* sudo calls setlocale(LC_ALL, ""): the caller's locale must not change
 * which names pass, how they fold or how they are escaped.  Turkish
 * ISO-8859-9 is the hard case: tolower('I') is 0xFD there, and isalnum()
 * says yes to both bytes of the UTF-8 "\u00ea". */
static void
host_locale(void **state)
{
	char esc[32];
	kz_ctx *c;

	(void)state;
	kzt_turkish_locale();
	c = kzt_ctx("id-locale", "username_transform = lowercase\n");
	expect_user(c, "{\"claims\":{\"preferred_username\":\"ADMIN\"}}",
	    "admin", KZ_OK, KZ_R_NONE, "admin");
	expect_user(c, "{\"claims\":{\"preferred_username\":\"caf\u00ea\"}}",
	    "caf\xc3\xaa", KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH, NULL);
	kz_ctx_close(c);
	kz_url_escape(esc, "\xc3\xaa I");
	assert_string_equal(esc, "%C3%AA%20I");
	/* header names, schemes and hosts compare in ASCII */
	assert_true(kz_strcaseeq("LOCATION", "Location"));
	assert_true(kz_strncaseeq("HTTPS://IDP", "https://", 8));
	assert_false(kz_strcaseeq("\xdd", "i"));
	assert_false(kz_strcaseeq("Locatio", "Location"));
	/* the syslog stamp's month in English (RFC 3164), not "\xdeub" */
	{
		char buf[32], *tz = getenv("TZ") ? strdup(getenv("TZ")) : NULL;

		setenv("TZ", "UTC", 1);
		tzset();
		assert_string_equal(kz_syslog_stamp(NULL, 1770100255, buf),
		    "Feb  3 06:30:55");
		if (tz != NULL)
			setenv("TZ", tz, 1);
		else
			unsetenv("TZ");
		tzset();
		free(tz);
	}
	kzt_c_locale();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(claim_fallbacks),
		cmocka_unit_test(transforms),
		cmocka_unit_test(user_map),
		cmocka_unit_test(host_locale),
	};

	return cmocka_run_group_tests_name("identity", tests, NULL, NULL);
}
