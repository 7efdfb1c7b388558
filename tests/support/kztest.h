/*
 * kztest.h - helpers for the cmocka suites: talk to the running test
 * identity provider (KZ_IDP_DIR, KZ_IDP_URL from tests/run.sh), write
 * configs into a private temp dir, and run decisions.
 */
#ifndef KZTEST_H
#define KZTEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "internal.h"

/* A private directory for this test binary, removed at exit. */
const char *kzt_dir(void);
/* Enters tr_TR.ISO-8859-9 (made with localedef under kzt_dir()), where
 * tolower('I') is 0xFD and isalnum() says yes to Latin-1 letters; fails
 * the test when it cannot.  kzt_c_locale() goes back to "C". */
void kzt_turkish_locale(void);
void kzt_c_locale(void);
const char *kzt_idp_url(void);
const char *kzt_idp_dir(void);

/* POSTs JSON to the IdP; returns the body (caller frees) or NULL. */
char *kzt_idp(const char *method, const char *path, const char *json);
/* /test/mint and /test/opaque: the token (caller frees). */
char *kzt_mint(const char *json);
char *kzt_opaque(const char *json);
/* An HS256 token over any header and payload, signed with a secret the
 * test knows: the way to get hostile JSON past a valid signature. */
char *kzt_hs256(const char *secret, const char *hdr, const char *payload);
/* /test/refresh_token: a new refresh-token chain (caller frees). */
char *kzt_refresh_token(const char *json);
/* /test/fault mode for paths (NULL: all); "none" clears. */
void kzt_fault(const char *mode, const char *paths_json);
/* Requests the IdP has seen on a path since the last stats reset. */
long kzt_stat(const char *path);
void kzt_stats_reset(void);

/* Writes a config for the IdP (plus extra INI text) and opens a context.
 * Each call gets fresh cache/store dirs unless name is reused. */
char *kzt_config(const char *name, const char *extra);
kz_ctx *kzt_ctx(const char *name, const char *extra);

/* Sends every log line of ctx (audit and debug) into one buffer of the
 * test binary, emptied by each call; returns the buffer (NUL-terminated,
 * one line per line).  kz_ctx_set_log(ctx, NULL, NULL) stops it. */
char *kzt_capture_log(kz_ctx *ctx);

/* One decision; returns the verdict, fills res. */
kz_verdict kzt_decide(kz_ctx *ctx, const char *tok, const char *user,
    const char *service, kz_result *res);

/* Mints a JWT with the test IdP (JSON as for kzt_mint), decides it for
 * user and service, and asserts verdict and reason. */
void kzt_expect_mint(kz_ctx *ctx, const char *mint_json, const char *user,
    const char *service, kz_verdict v, kz_reason r);

/* Asserts verdict and reason together, printing the detail on failure. */
#define assert_decision(res, v, r) do { \
	if ((res)->verdict != (v) || (res)->reason != (r)) \
		print_error("got %s/%s (%s), want %s/%s\n", \
		    kz_verdict_name((res)->verdict), \
		    kz_reason_name((res)->reason), (res)->detail, \
		    kz_verdict_name(v), kz_reason_name(r)); \
	assert_int_equal((res)->verdict, (v)); \
	assert_int_equal((res)->reason, (r)); \
} while (0)

#endif
