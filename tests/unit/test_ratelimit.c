/*
 * test_ratelimit.c - the bound on remote validations of unknown tokens
 * (ratelimit.c): per source and per host, the window on a swapped clock,
 * the files under cache_dir/ratelimit (contention, a planted link, junk),
 * and through kz_decide: at the limit the provider is not asked, while a
 * cached token, a JWT and another source still get through.
 */
#include <fcntl.h>
#include <stdio.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kztest.h"

/* Must match ratelimit.c. */
#define PER_SOURCE 10
#define PER_HOST 300

static int64_t fake_now = 1800000000;	/* the start of a window */

static int64_t
fake_clock(void)
{
	return fake_now;
}

static kz_ctx *
open_ctx(const char *name, const char *extra)
{
	kz_ctx *c = kzt_ctx(name, extra);

	assert_non_null(c);
	c->now = fake_clock;
	return c;
}

/* The one source bucket of a context that has seen one source: slots are
 * chosen by a salted hash, so the test finds it rather than computes it. */
static void
bucket_path(kz_ctx *c, const char *source, char *out, size_t n)
{
	char dir[512];
	struct dirent *de;
	DIR *d;
	int found = 0;

	(void)source;
	snprintf(dir, sizeof(dir), "%s/ratelimit", c->cfg->cache_dir);
	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "src-", 4) == 0) {
			assert_true((size_t)snprintf(out, n, "%s/%.16s", dir,
			    de->d_name) < n);
			found++;
		}
	closedir(d);
	assert_int_equal(found, 1);
}

static kz_verdict
take(kz_ctx *c, const char *source, kz_result *res)
{
	memset(res, 0, sizeof(*res));
	return kz_ratelimit_unknown(c, source, res);
}

/* IPv6 sources count by their /64, v4-mapped ones as IPv4. */
static void
test_ipv6_by_prefix(void **state)
{
	kz_ctx *c = open_ctx("v6", NULL);
	char src[64];
	kz_result res;

	(void)state;
	for (int i = 0; i < PER_SOURCE; i++) {
		snprintf(src, sizeof(src), "2001:db8:1:2:%x::%x", i, i + 1);
		assert_int_equal(take(c, src, &res), KZ_OK);
	}
	assert_int_equal(take(c, "2001:db8:1:2:ffff::1", &res),
	    KZ_UNAVAILABLE);
	assert_int_equal(take(c, "2001:db8:1:3::1", &res), KZ_OK);
	for (int i = 0; i < PER_SOURCE; i++)
		assert_int_equal(take(c, "192.0.2.77", &res), KZ_OK);
	assert_int_equal(take(c, "::ffff:192.0.2.77", &res), KZ_UNAVAILABLE);
	kz_ctx_close(c);
}

static void
test_per_source(void **state)
{
	kz_ctx *c = open_ctx("source", NULL);
	kz_result res;

	(void)state;
	for (int i = 0; i < PER_SOURCE; i++)
		assert_int_equal(take(c, "198.51.100.7", &res), KZ_OK);
	assert_int_equal(take(c, "198.51.100.7", &res), KZ_UNAVAILABLE);
	assert_decision(&res, KZ_UNAVAILABLE, KZ_R_RATE_LIMITED);
	assert_non_null(strstr(res.detail, "local limit of 10 unknown tokens "
	    "a minute from this source reached; provider not asked"));
	/* stays refused through the window, another source is not */
	fake_now += 59;
	assert_int_equal(take(c, "198.51.100.7", &res), KZ_UNAVAILABLE);
	assert_int_equal(take(c, "203.0.113.9", &res), KZ_OK);
	/* the next window starts afresh */
	fake_now += 1;
	assert_int_equal(take(c, "198.51.100.7", &res), KZ_OK);
	kz_ctx_close(c);
}

static void
test_per_host(void **state)
{
	kz_ctx *c = open_ctx("host", NULL);
	char src[32];
	kz_result res;

	(void)state;
	fake_now = 1800000600;
	for (int i = 0; i < PER_HOST; i++) {
		snprintf(src, sizeof(src), "10.1.%d.%d", i / 200, i % 200);
		assert_int_equal(take(c, src, &res), KZ_OK);
	}
	assert_int_equal(take(c, "192.0.2.1", &res), KZ_UNAVAILABLE);
	assert_decision(&res, KZ_UNAVAILABLE, KZ_R_RATE_LIMITED);
	assert_non_null(strstr(res.detail, "300 unknown tokens a minute for "
	    "this host"));
	fake_now += 60;
	assert_int_equal(take(c, "192.0.2.1", &res), KZ_OK);
	kz_ctx_close(c);
}

static void
test_root_without_source_not_counted(void **state)
{
	kz_ctx *c = open_ctx("local", NULL);
	kz_result res;

	(void)state;
	for (int i = 0; i < 3 * PER_HOST; i++) {
		assert_int_equal(take(c, NULL, &res), KZ_OK);
		assert_int_equal(take(c, "", &res), KZ_OK);
	}
	kz_ctx_close(c);
}

/* A bucket locked by another login: refused at once, never waited on. */
static void
test_contention_fails_closed_fast(void **state)
{
	kz_ctx *c = open_ctx("locked", NULL);
	char path[600];
	kz_result res;
	int64_t t0;
	int fd;

	(void)state;
	assert_int_equal(take(c, "198.51.100.20", &res), KZ_OK);
	bucket_path(c, "198.51.100.20", path, sizeof(path));
	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	t0 = kz_monotonic_ms();
	assert_int_equal(take(c, "198.51.100.20", &res), KZ_UNAVAILABLE);
	assert_true(kz_monotonic_ms() - t0 < 50);
	assert_decision(&res, KZ_UNAVAILABLE, KZ_R_RATE_LIMITED);
	assert_non_null(strstr(res.detail, "locked by another login"));
	close(fd);
	assert_int_equal(take(c, "198.51.100.20", &res), KZ_OK);
	kz_ctx_close(c);
}

static void
test_planted_link_and_junk(void **state)
{
	kz_ctx *c = open_ctx("files", NULL);
	char path[600], target[700];
	kz_result res;
	FILE *f;

	(void)state;
	assert_int_equal(take(c, "198.51.100.30", &res), KZ_OK);
	bucket_path(c, "198.51.100.30", path, sizeof(path));
	/* a link where the bucket was: refused, and the target untouched */
	snprintf(target, sizeof(target), "%s.target", path);
	assert_int_equal(rename(path, target), 0);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(take(c, "198.51.100.30", &res), KZ_UNAVAILABLE);
	assert_decision(&res, KZ_UNAVAILABLE, KZ_R_RATE_LIMITED);
	assert_non_null(strstr(res.detail, "symbolic link"));
	/* junk in the file: a new window, not a crash or a huge count */
	unlink(path);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "%ld 99999999999999999999999\n", (long)(fake_now / 60));
	fclose(f);
	chmod(path, 0600);
	for (int i = 0; i < PER_SOURCE; i++)
		assert_int_equal(take(c, "198.51.100.30", &res), KZ_OK);
	assert_int_equal(take(c, "198.51.100.30", &res), KZ_UNAVAILABLE);
	kz_ctx_close(c);
}

static kz_verdict
decide_from(kz_ctx *c, const char *tok, const char *source, kz_result *res)
{
	kz_request req = { .token = tok, .token_len = strlen(tok),
		.service = "default", .source = source };

	return kz_decide(c, &req, res);
}

/* Through the whole decision: the provider is not asked at the limit. */
static void
test_decide_at_the_limit(void **state)
{
	kz_ctx *c = open_ctx("decide", "[kztoken]\ncache_ttl = 300\n"
	    "negative_cache_ttl = 300\n");
	char *good = kzt_opaque("{\"username\":\"alice\"}");
	char *jwt = kzt_mint("{}"), *tok;
	kz_result res;
	long before;

	(void)state;
	fake_now = (int64_t)time(NULL);
	assert_non_null(good);
	assert_non_null(jwt);
	decide_from(c, good, "198.51.100.40", &res);
	assert_decision(&res, KZ_OK, KZ_R_NONE);
	kz_result_clear(&res);
	for (int i = 1; i < PER_SOURCE; i++) {	/* the good one was the 1st */
		tok = kzt_opaque("{\"username\":\"bob\",\"active\":false}");
		decide_from(c, tok, "198.51.100.40", &res);
		assert_decision(&res, KZ_UNAUTHENTICATED, KZ_R_INACTIVE);
		kz_result_clear(&res);
		free(tok);
	}
	tok = kzt_opaque("{\"username\":\"bob\"}");
	before = kzt_stat("/introspect");
	decide_from(c, tok, "198.51.100.40", &res);
	assert_decision(&res, KZ_UNAVAILABLE, KZ_R_RATE_LIMITED);
	kz_result_clear(&res);
	assert_int_equal(kzt_stat("/introspect"), before);
	/* a cached token and a locally validated JWT are unaffected */
	decide_from(c, good, "198.51.100.40", &res);
	assert_decision(&res, KZ_OK, KZ_R_NONE);
	kz_result_clear(&res);
	decide_from(c, jwt, "198.51.100.40", &res);
	assert_decision(&res, KZ_OK, KZ_R_NONE);
	kz_result_clear(&res);
	assert_int_equal(kzt_stat("/introspect"), before);
	/* another source still reaches the provider */
	decide_from(c, tok, "203.0.113.40", &res);
	assert_decision(&res, KZ_OK, KZ_R_NONE);
	kz_result_clear(&res);
	assert_int_equal(kzt_stat("/introspect"), before + 1);
	free(tok);
	free(good);
	free(jwt);
	kz_ctx_close(c);
}

int
main(void)
{
	/* tests/run.sh turns the limiter off for the other suites */
	unsetenv("KZTOKEN_RATELIMIT");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_per_source),
		cmocka_unit_test(test_per_host),
		cmocka_unit_test(test_ipv6_by_prefix),
		cmocka_unit_test(test_root_without_source_not_counted),
		cmocka_unit_test(test_contention_fails_closed_fast),
		cmocka_unit_test(test_planted_link_and_junk),
		cmocka_unit_test(test_decide_at_the_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
