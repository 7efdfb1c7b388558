/*
 * test_store.c - the enrollment store: format round trip, strict parsing,
 * names, permissions (0644 and symlinks refused), the one-refresher lock,
 * and that a failed write leaves the old file intact.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kztest.h"

static void
fill(struct kz_enr *e, const char *name, const char *rt)
{
	memset(e, 0, sizeof(*e));
	e->name = strdup(name);
	e->provider = strdup("idp");
	e->subject = strdup("ops-admins");
	e->group = true;
	e->refresh_token = strdup(rt);
	e->access_token = strdup("eyJh.eyJi.c2ln");
	e->access_exp = 2000000000;
	e->access_iat = 1999999700;
	e->enrolled_at = 1700000000;
	e->state = KZ_ENR_ACTIVE;
	snprintf(e->message, sizeof(e->message), "line\nbreak");
}

static void
round_trip(void **state)
{
	struct kz_enr a, b;
	char err[256], *txt;
	size_t len;

	(void)state;
	fill(&a, "ops", "rt-0123456789");
	a.endpoint_url = strdup("https://x.example/api");
	txt = kz_enr_format(&a, &len);
	assert_non_null(txt);
	/* a newline in the message cannot start a line of its own */
	assert_null(strstr(txt, "\nbreak"));
	assert_int_equal(kz_enr_parse(txt, &b, err, sizeof(err)), 0);
	assert_string_equal(b.name, "ops");
	assert_string_equal(b.subject, "ops-admins");
	assert_true(b.group);
	assert_string_equal(b.refresh_token, "rt-0123456789");
	assert_string_equal(b.access_token, "eyJh.eyJi.c2ln");
	assert_string_equal(b.endpoint_url, "https://x.example/api");
	assert_int_equal(b.access_exp, 2000000000);
	assert_int_equal(b.state, KZ_ENR_ACTIVE);
	free(txt);
	kz_enr_clear(&a);
	kz_enr_clear(&b);
}

static void
strict_parse(void **state)
{
	static const char *bad[] = {
		"",
		"version 2\nname a\nprovider p\nkind user\nuser u\nrefresh_token r\n",
		"version 1\nname a\nprovider p\nkind user\nuser u\n",
		"version 1\nname a\nprovider p\nkind group\nuser u\nrefresh_token r\n",
		"version 1\nname a\nprovider p\nkind user\nuser u\nrefresh_token r\nrefresh_token s\n",
		"version 1\nname a\nprovider p\nkind user\nuser u\nrefresh_token r\nbogus 1\n",
		"version 1\nname a\nprovider p\nkind user\nuser u\nrefresh_token r\nstate gone\n",
		"version 1\nname a\nprovider p\nkind user\nuser u\nrefresh_token r\nenrolled_at -5\n",
		"version 1\nname a\nprovider p\nkind user\nuser u\nrefresh_token r\x01x\n",
		"version 1\nname a\nprovider p\nkind user\nuser u\nrefresh_token\n",
	};
	char err[256], buf[512];
	struct kz_enr e;

	(void)state;
	for (size_t i = 0; i < KZ_NELEM(bad); i++) {
		snprintf(buf, sizeof(buf), "%s", bad[i]);
		if (kz_enr_parse(buf, &e, err, sizeof(err)) == 0)
			fail_msg("parsed bad input %zu", i);
	}
	snprintf(buf, sizeof(buf), "version 1\nname a\nprovider p\nkind user\n"
	    "user u\nrefresh_token r\nstate revoked\n");
	assert_int_equal(kz_enr_parse(buf, &e, err, sizeof(err)), 0);
	assert_int_equal(e.state, KZ_ENR_REVOKED);
	kz_enr_clear(&e);
}

static void
names_and_tokens(void **state)
{
	char long_name[80];

	(void)state;
	assert_true(kz_enr_name_ok("ops-admins_1"));
	assert_true(kz_enr_name_ok("a@b"));
	assert_false(kz_enr_name_ok(""));
	assert_false(kz_enr_name_ok("../x"));
	assert_false(kz_enr_name_ok("a.b"));
	assert_false(kz_enr_name_ok("-x"));
	assert_false(kz_enr_name_ok("a b"));
	memset(long_name, 'a', 65);
	long_name[65] = '\0';
	assert_false(kz_enr_name_ok(long_name));
	assert_true(kz_enr_token_ok("abc.DEF-_~+/="));
	assert_false(kz_enr_token_ok(""));
	/* RFC 6749 VSCHAR includes the space, and a token may be long */
	assert_true(kz_enr_token_ok("a b"));
	assert_false(kz_enr_token_ok("a\nb"));
	assert_false(kz_enr_token_ok("caf\xc3\xa9"));
	assert_string_equal(kz_enr_state_name(KZ_ENR_EXPIRING), "expiring");
}

static void
save_load_permissions(void **state)
{
	kz_ctx *ctx = kzt_ctx("perm", NULL);
	char err[512], path[600], link[600];
	struct kz_enr a, b;

	(void)state;
	fill(&a, "p1", "rt-perm-1");
	assert_int_equal(kz_store_save(ctx, &a, err, sizeof(err)), 0);
	assert_int_equal(kz_store_load(ctx, "p1", &b, err, sizeof(err)), 1);
	assert_string_equal(b.refresh_token, "rt-perm-1");
	kz_enr_clear(&b);
	assert_int_equal(kz_store_load(ctx, "nope", &b, err, sizeof(err)), 0);

	snprintf(path, sizeof(path), "%s/p1.enr", ctx->cfg->store_dir);
	/* group/world readable store file: refused, with the path and mode */
	chmod(path, 0644);
	assert_int_equal(kz_store_load(ctx, "p1", &b, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "0644"));
	assert_non_null(strstr(err, "p1.enr"));
	chmod(path, 0600);

	/* a symlink in place of the file: refused */
	snprintf(link, sizeof(link), "%s/p2.enr", ctx->cfg->store_dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(kz_store_load(ctx, "p2", &b, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "symbolic link"));
	unlink(link);

	/* a file holding another enrollment's name */
	{
		char cmd[1400];

		snprintf(cmd, sizeof(cmd), "cp %s %s/p3.enr", path,
		    ctx->cfg->store_dir);
		assert_int_equal(system(cmd), 0);
	}
	assert_int_equal(kz_store_load(ctx, "p3", &b, err, sizeof(err)), -1);

	/* a store directory others can read: refused */
	chmod(ctx->cfg->store_dir, 0755);
	assert_int_equal(kz_store_load(ctx, "p1", &b, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too open"));
	chmod(ctx->cfg->store_dir, 0700);

	kz_enr_clear(&a);
	kz_ctx_close(ctx);
}

static void
list_names(void **state)
{
	kz_ctx *ctx = kzt_ctx("names", NULL);
	struct kz_strv names;
	char err[512], junk[600];
	struct kz_enr a;

	(void)state;
	assert_int_equal(kz_store_names(ctx, &names, err, sizeof(err)), 0);
	assert_int_equal(names.n, 0);	/* no store yet */
	fill(&a, "zeta", "rt-z");
	assert_int_equal(kz_store_save(ctx, &a, err, sizeof(err)), 0);
	kz_enr_clear(&a);
	fill(&a, "alpha", "rt-a");
	assert_int_equal(kz_store_save(ctx, &a, err, sizeof(err)), 0);
	kz_enr_clear(&a);
	/* leftovers of a dead writer and locks are not enrollments */
	snprintf(junk, sizeof(junk), "%s/alpha.enr.tmp.12345",
	    ctx->cfg->store_dir);
	close(open(junk, O_CREAT | O_WRONLY, 0600));
	assert_int_equal(kz_store_names(ctx, &names, err, sizeof(err)), 0);
	assert_int_equal(names.n, 2);
	assert_string_equal(names.v[0], "alpha");
	assert_string_equal(names.v[1], "zeta");
	kz_strv_free(&names);
	/* the next save under the lock sweeps the dead temp file */
	fill(&a, "alpha", "rt-a2");
	assert_int_equal(kz_store_save(ctx, &a, err, sizeof(err)), 0);
	kz_enr_clear(&a);
	assert_int_equal(access(junk, F_OK), -1);
	assert_int_equal(kz_store_remove(ctx, "zeta", err, sizeof(err)), 0);
	assert_int_equal(kz_store_names(ctx, &names, err, sizeof(err)), 0);
	assert_int_equal(names.n, 1);
	kz_strv_free(&names);
	kz_ctx_close(ctx);
}

static void
lock_is_exclusive(void **state)
{
	kz_ctx *ctx = kzt_ctx("lock", "[kztoken]\ntimeout = 1\n");
	char err[512];
	int fd, st;
	pid_t pid;
	int64_t t0;

	(void)state;
	fd = kz_store_lock(ctx, "l1", err, sizeof(err));
	assert_true(fd >= 0);
	pid = fork();
	if (pid == 0) {
		/* held by the parent: the child gives up after its bound */
		int f2 = kz_store_lock(ctx, "l1", err, sizeof(err));

		_exit(f2 < 0 && strstr(err, "locked") ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* another name is another lock */
	st = kz_store_lock(ctx, "l2", err, sizeof(err));
	assert_true(st >= 0);
	kz_store_unlock(st);
	/* released: a waiter gets it at once */
	kz_store_unlock(fd);
	t0 = kz_monotonic_ms();
	fd = kz_store_lock(ctx, "l1", err, sizeof(err));
	assert_true(fd >= 0);
	assert_true(kz_monotonic_ms() - t0 < 500);
	kz_store_unlock(fd);
	assert_int_equal(kz_store_lock(ctx, "../x", err, sizeof(err)), -1);
	kz_ctx_close(ctx);
}

/* Issue 11 finding 10: the wait for the lock ends with the decision's
 * deadline, not a second after it. */
static void
lock_wait_bounded_by_deadline(void **state)
{
	kz_ctx *ctx = kzt_ctx("lockdl", "[kztoken]\ntimeout = 1\n");
	char err[512], path[600];
	int fd, held;
	int64_t t0, took;

	(void)state;
	fd = kz_store_lock(ctx, "d1", err, sizeof(err));
	assert_true(fd >= 0);
	/* another open file description of the lock: flock conflicts */
	snprintf(path, sizeof(path), "%s/lockdl/store/d1.lock", kzt_dir());
	held = open(path, O_RDONLY);
	kz_store_unlock(fd);
	assert_true(held >= 0);
	assert_int_equal(flock(held, LOCK_EX), 0);
	kz_deadline_start(ctx);
	t0 = kz_monotonic_ms();
	assert_int_equal(kz_store_lock(ctx, "d1", err, sizeof(err)), -1);
	took = kz_monotonic_ms() - t0;
	if (took < 900 || took > 1150)
		fail_msg("lock wait took %lld ms with a 1 s deadline",
		    (long long)took);
	/* a spent deadline: one try, no wait */
	t0 = kz_monotonic_ms();
	assert_int_equal(kz_store_lock(ctx, "d1", err, sizeof(err)), -1);
	assert_true(kz_monotonic_ms() - t0 < 100);
	close(held);
	kz_ctx_close(ctx);
}

/* Finding 10: a parse error names its line, not "binary content". */
static void
parse_error_is_precise(void **state)
{
	kz_ctx *ctx = kzt_ctx("perr", NULL);
	struct kz_enr e;
	char err[512], path[600];
	FILE *f;

	(void)state;
	fill(&e, "p1", "rt-p1");
	assert_int_equal(kz_store_save(ctx, &e, err, sizeof(err)), 0);
	kz_enr_clear(&e);
	snprintf(path, sizeof(path), "%s/perr/store/p1.enr", kzt_dir());
	f = fopen(path, "a");
	assert_non_null(f);
	fputs("bogus_key 1\n", f);
	fclose(f);
	assert_int_equal(kz_store_load(ctx, "p1", &e, err, sizeof(err)), -1);
	if (strstr(err, "binary") != NULL || strstr(err, "bogus_key") == NULL)
		fail_msg("parse error reported as: %s", err);
	kz_ctx_close(ctx);
}

/* Finding 11: the store never writes what it could not read back. */
static void
refuses_unreadable_values(void **state)
{
	kz_ctx *ctx = kzt_ctx("unread", NULL);
	struct kz_enr e;
	char err[512];

	(void)state;
	fill(&e, "u1", "rt-u1");
	assert_int_equal(kz_store_save(ctx, &e, err, sizeof(err)), 0);
	e.refresh_exp = -5;
	assert_int_equal(kz_store_save(ctx, &e, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "read back"));
	kz_enr_clear(&e);
	/* the old file stands */
	assert_int_equal(kz_store_load(ctx, "u1", &e, err, sizeof(err)), 1);
	assert_int_equal(e.refresh_exp, 0);
	kz_enr_clear(&e);
	kz_ctx_close(ctx);
}

static void
failed_write_keeps_old(void **state)
{
	kz_ctx *ctx = kzt_ctx("keep", NULL);
	char err[512], blocker[600];
	struct kz_enr a, b;

	(void)state;
	fill(&a, "k1", "rt-old");
	assert_int_equal(kz_store_save(ctx, &a, err, sizeof(err)), 0);
	kz_enr_clear(&a);
	/* the temp file cannot be created (a directory squats its name;
	 * the sweep only unlinks files) */
	snprintf(blocker, sizeof(blocker), "%s/k1.enr.tmp.%ld",
	    ctx->cfg->store_dir, (long)getpid());
	assert_int_equal(mkdir(blocker, 0700), 0);
	fill(&a, "k1", "rt-new");
	assert_int_equal(kz_store_save(ctx, &a, err, sizeof(err)), -1);
	kz_enr_clear(&a);
	rmdir(blocker);
	assert_int_equal(kz_store_load(ctx, "k1", &b, err, sizeof(err)), 1);
	assert_string_equal(b.refresh_token, "rt-old");
	kz_enr_clear(&b);
	kz_ctx_close(ctx);
}

static void
state_and_due(void **state)
{
	kz_ctx *ctx = kzt_ctx("due", "[kztoken]\nwarn_days = 30\n");
	int64_t now = kz_now(ctx);
	struct kz_enr e;

	(void)state;
	fill(&e, "d", "rt");
	e.access_iat = now - 900;
	e.access_exp = now + 100;	/* lifetime 1000 s, 100 s left */
	assert_true(kz_enr_due(ctx, &e));	/* within 10 % */
	e.access_exp = now + 101;
	assert_false(kz_enr_due(ctx, &e));
	kz_free_secret(e.access_token);
	e.access_token = NULL;
	assert_true(kz_enr_due(ctx, &e));
	e.refresh_exp = 0;
	assert_int_equal(kz_enr_state_now(ctx, &e), KZ_ENR_ACTIVE);
	e.refresh_exp = now + 10 * 86400;
	assert_int_equal(kz_enr_state_now(ctx, &e), KZ_ENR_EXPIRING);
	e.refresh_exp = now - 1;
	assert_int_equal(kz_enr_state_now(ctx, &e), KZ_ENR_EXPIRED);
	e.state = KZ_ENR_REVOKED;
	assert_int_equal(kz_enr_state_now(ctx, &e), KZ_ENR_REVOKED);
	kz_enr_clear(&e);
	kz_ctx_close(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(strict_parse),
		cmocka_unit_test(names_and_tokens),
		cmocka_unit_test(save_load_permissions),
		cmocka_unit_test(list_names),
		cmocka_unit_test(lock_is_exclusive),
		cmocka_unit_test(failed_write_keeps_old),
		cmocka_unit_test(lock_wait_bounded_by_deadline),
		cmocka_unit_test(parse_error_is_precise),
		cmocka_unit_test(refuses_unreadable_values),
		cmocka_unit_test(state_and_due),
	};

	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
