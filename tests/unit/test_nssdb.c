/*
 * test_nssdb.c - the NSS database: writer (libkzauth/directory/nssdb.c), reader
 * (nss_kztoken/kzdb.c), the module's glibc entry points (dlopen of the
 * built libnss_kztoken.so.2), 16 threads looking up while the database
 * is replaced 100 times, missing/truncated/hostile files, and the sync
 * mapping (stable IDs, collisions, local and system names, removal).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <nss.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kztest.h"
#include "../nss_kztoken/kzdb.h"

static char module_path[4096];

/* ---- a small database ---- */

static void
add_user(struct kz_nss_db *db, const char *name, uint32_t uid,
    const char *gecos)
{
	struct kz_nss_user *u;

	db->users = realloc(db->users, (db->nusers + 1) * sizeof(*u));
	u = &db->users[db->nusers++];
	u->name = strdup(name);
	u->gecos = strdup(gecos);
	assert_true(asprintf(&u->dir, "/home/%s", name) > 0);
	u->shell = strdup("/bin/bash");
	u->uid = u->gid = uid;
}

static void
add_group(struct kz_nss_db *db, const char *name, uint32_t gid,
    const char *members)
{
	struct kz_nss_group *g;

	db->groups = realloc(db->groups, (db->ngroups + 1) * sizeof(*g));
	g = &db->groups[db->ngroups++];
	memset(g, 0, sizeof(*g));
	g->name = strdup(name);
	g->gid = gid;
	if (members)
		kz_strv_split(&g->members, members);
}

/* alice 300000, bob 300001 (+ private groups), ops 400000 {alice, bob},
 * devs 400001 {bob}; gecos tells the version. */
static void
sample(struct kz_nss_db *db, const char *version, uint32_t alice_uid)
{
	memset(db, 0, sizeof(*db));
	db->uid_min = 200000;
	db->uid_max = 2000200000;
	add_user(db, "bob", 300001, version);
	add_user(db, "alice", alice_uid, version);
	add_group(db, "bob", 300001, NULL);
	add_group(db, "alice", alice_uid, NULL);
	add_group(db, "ops", 400000, "alice bob");
	add_group(db, "devs", 400001, "bob");
}

static char *
build(const struct kz_nss_db *db, size_t *len)
{
	char *buf = kz_nssdb_build(db, 1700000000, len);

	assert_non_null(buf);
	return buf;
}

static int
collect(void *arg, uint32_t gid)
{
	struct { uint32_t g[16]; int n; } *c = arg;

	if (c->n < 16)
		c->g[c->n++] = gid;
	return 0;
}

static void
db_roundtrip(void **state)
{
	struct kz_nss_db db;
	struct kzdb r;
	struct passwd pw;
	struct group gr;
	struct { uint32_t g[16]; int n; } c = { .n = 0 };
	char buf[1024], *file;
	size_t len;

	sample(&db, "v1", 300000);
	file = build(&db, &len);
	assert_int_equal(kzdb_open(&r, file, len), 0);
	assert_int_equal(kzdb_pwnam(&r, "alice", &pw, buf, sizeof(buf)),
	    KZDB_FOUND);
	assert_int_equal(pw.pw_uid, 300000);
	assert_int_equal(pw.pw_gid, 300000);
	assert_string_equal(pw.pw_dir, "/home/alice");
	assert_string_equal(pw.pw_shell, "/bin/bash");
	assert_string_equal(pw.pw_passwd, "*");
	assert_int_equal(kzdb_pwuid(&r, 300001, &pw, buf, sizeof(buf)),
	    KZDB_FOUND);
	assert_string_equal(pw.pw_name, "bob");
	assert_int_equal(kzdb_pwnam(&r, "carol", &pw, buf, sizeof(buf)),
	    KZDB_NOTFOUND);
	assert_int_equal(kzdb_pwuid(&r, 300002, &pw, buf, sizeof(buf)),
	    KZDB_NOTFOUND);
	assert_int_equal(kzdb_grnam(&r, "ops", &gr, buf, sizeof(buf)),
	    KZDB_FOUND);
	assert_int_equal(gr.gr_gid, 400000);
	assert_string_equal(gr.gr_mem[0], "alice");
	assert_string_equal(gr.gr_mem[1], "bob");
	assert_null(gr.gr_mem[2]);
	assert_int_equal(kzdb_grgid(&r, 400001, &gr, buf, sizeof(buf)),
	    KZDB_FOUND);
	assert_string_equal(gr.gr_name, "devs");
	assert_int_equal(kzdb_grgid(&r, 300000, &gr, buf, sizeof(buf)),
	    KZDB_FOUND);
	assert_string_equal(gr.gr_name, "alice");
	assert_null(gr.gr_mem[0]);
	kzdb_user_groups(&r, "bob", collect, &c);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.g[0], 400000);
	assert_int_equal(c.g[1], 400001);
	/* enumeration in name order */
	assert_int_equal(kzdb_pwent(&r, 0, &pw, buf, sizeof(buf)), KZDB_FOUND);
	assert_string_equal(pw.pw_name, "alice");
	assert_int_equal(kzdb_pwent(&r, 1, &pw, buf, sizeof(buf)), KZDB_FOUND);
	assert_string_equal(pw.pw_name, "bob");
	assert_int_equal(kzdb_pwent(&r, 2, &pw, buf, sizeof(buf)),
	    KZDB_NOTFOUND);
	/* a buffer too small is ERANGE, never a truncated answer */
	assert_int_equal(kzdb_pwnam(&r, "alice", &pw, buf, 10), KZDB_ERANGE);
	assert_int_equal(kzdb_grnam(&r, "ops", &gr, buf, 20), KZDB_ERANGE);
	free(file);
	kz_nss_db_free(&db);
}

/* What the writer was told is not what the reader serves: root, a
 * system name, IDs under the floor or under uid_min, a relative home. */
static void
db_refuses_system_entries(void **state)
{
	struct kz_nss_db db = { .uid_min = 200000, .uid_max = 2000200000 };
	struct kzdb r;
	struct passwd pw;
	struct group gr;
	char buf[1024], *file;
	size_t len;

	add_user(&db, "root", 300000, "");
	add_user(&db, "daemon", 300001, "");
	add_user(&db, "low", 500, "");
	add_user(&db, "under", 150000, "");
	add_user(&db, "ok", 300002, "");
	add_group(&db, "sudo", 300003, "ok");
	add_group(&db, "adm", 300004, "ok");
	add_group(&db, "wheel2", 10, "ok");
	/* a name a package creates only if getent does not find it */
	add_group(&db, "docker", 300005, "ok");
	add_user(&db, "Postgres", 300006, "");
	file = build(&db, &len);
	assert_int_equal(kzdb_open(&r, file, len), 0);
	assert_int_equal(kzdb_pwnam(&r, "root", &pw, buf, sizeof(buf)),
	    KZDB_NOTFOUND);
	assert_int_equal(kzdb_pwuid(&r, 300000, &pw, buf, sizeof(buf)),
	    KZDB_NOTFOUND);
	assert_int_equal(kzdb_pwnam(&r, "daemon", &pw, buf, sizeof(buf)),
	    KZDB_NOTFOUND);
	assert_int_equal(kzdb_pwnam(&r, "low", &pw, buf, sizeof(buf)),
	    KZDB_NOTFOUND);
	assert_int_equal(kzdb_pwuid(&r, 500, &pw, buf, sizeof(buf)),
	    KZDB_NOTFOUND);
	assert_int_equal(kzdb_pwnam(&r, "under", &pw, buf, sizeof(buf)),
	    KZDB_NOTFOUND);
	assert_int_equal(kzdb_pwnam(&r, "ok", &pw, buf, sizeof(buf)),
	    KZDB_FOUND);
	assert_int_equal(kzdb_grnam(&r, "sudo", &gr, buf, sizeof(buf)),
	    KZDB_NOTFOUND);
	assert_int_equal(kzdb_grnam(&r, "adm", &gr, buf, sizeof(buf)),
	    KZDB_NOTFOUND);
	assert_int_equal(kzdb_grgid(&r, 10, &gr, buf, sizeof(buf)),
	    KZDB_NOTFOUND);
	assert_int_equal(kzdb_grnam(&r, "docker", &gr, buf, sizeof(buf)),
	    KZDB_NOTFOUND);
	assert_int_equal(kzdb_grgid(&r, 300005, &gr, buf, sizeof(buf)),
	    KZDB_NOTFOUND);
	assert_int_equal(kzdb_pwnam(&r, "Postgres", &pw, buf, sizeof(buf)),
	    KZDB_NOTFOUND);
	free(file);
	kz_nss_db_free(&db);
}

/* Every lookup on a view; ASan turns any out-of-bounds read into a
 * failure. */
static void
poke(const struct kzdb *r)
{
	struct passwd pw;
	struct group gr;
	struct { uint32_t g[16]; int n; } c = { .n = 0 };
	char buf[4096];

	kzdb_pwnam(r, "alice", &pw, buf, sizeof(buf));
	kzdb_pwnam(r, "bob", &pw, buf, sizeof(buf));
	kzdb_pwuid(r, 300000, &pw, buf, sizeof(buf));
	kzdb_grnam(r, "ops", &gr, buf, sizeof(buf));
	kzdb_grgid(r, 400001, &gr, buf, sizeof(buf));
	kzdb_user_groups(r, "bob", collect, &c);
	for (uint32_t i = 0; i < 8; i++) {
		kzdb_pwent(r, i, &pw, buf, sizeof(buf));
		kzdb_grent(r, i, &gr, buf, sizeof(buf));
	}
}

static void
db_truncated_and_hostile(void **state)
{
	struct kz_nss_db db;
	struct kzdb r;
	char *file, *copy;
	size_t len;
	int opened = 0;

	sample(&db, "v1", 300000);
	file = build(&db, &len);
	for (size_t n = 0; n < len; n++) {	/* every truncation */
		copy = malloc(n + 1);
		memcpy(copy, file, n);
		assert_int_equal(kzdb_open(&r, copy, n), -1);
		free(copy);
	}
	/* every byte changed to 4 hostile values: opened or not, no
	 * lookup reads outside the file */
	copy = malloc(len);
	for (size_t i = 0; i < len; i++) {
		static const unsigned char vals[] = { 0x00, 0xff, 0x7f, 0x01 };

		for (size_t v = 0; v < sizeof(vals); v++) {
			memcpy(copy, file, len);
			copy[i] = (char)vals[v];
			if (kzdb_open(&r, copy, len) == 0) {
				opened++;
				poke(&r);
			}
		}
	}
	assert_true(opened > 0);	/* string bytes: still a database */
	free(copy);
	free(file);
	kz_nss_db_free(&db);
}

/* ---- the module, as glibc calls it ---- */

static struct {
	void *h;
	enum nss_status (*pwnam)(const char *, struct passwd *, char *, size_t,
	    int *);
	enum nss_status (*pwuid)(uid_t, struct passwd *, char *, size_t, int *);
	enum nss_status (*grnam)(const char *, struct group *, char *, size_t,
	    int *);
	enum nss_status (*grgid)(gid_t, struct group *, char *, size_t, int *);
	enum nss_status (*initgroups)(const char *, gid_t, long *, long *,
	    gid_t **, long, int *);
	enum nss_status (*setpwent)(int);
	enum nss_status (*getpwent)(struct passwd *, char *, size_t, int *);
	enum nss_status (*endpwent)(void);
	enum nss_status (*setgrent)(int);
	enum nss_status (*getgrent)(struct group *, char *, size_t, int *);
	enum nss_status (*endgrent)(void);
} M;

static void
load_module(void)
{
	if (M.h != NULL)
		return;
	M.h = dlopen(module_path, RTLD_NOW | RTLD_LOCAL);
	if (M.h == NULL)
		fail_msg("dlopen %s: %s", module_path, dlerror());
	*(void **)&M.pwnam = dlsym(M.h, "_nss_kztoken_getpwnam_r");
	*(void **)&M.pwuid = dlsym(M.h, "_nss_kztoken_getpwuid_r");
	*(void **)&M.grnam = dlsym(M.h, "_nss_kztoken_getgrnam_r");
	*(void **)&M.grgid = dlsym(M.h, "_nss_kztoken_getgrgid_r");
	*(void **)&M.initgroups = dlsym(M.h, "_nss_kztoken_initgroups_dyn");
	*(void **)&M.setpwent = dlsym(M.h, "_nss_kztoken_setpwent");
	*(void **)&M.getpwent = dlsym(M.h, "_nss_kztoken_getpwent_r");
	*(void **)&M.endpwent = dlsym(M.h, "_nss_kztoken_endpwent");
	*(void **)&M.setgrent = dlsym(M.h, "_nss_kztoken_setgrent");
	*(void **)&M.getgrent = dlsym(M.h, "_nss_kztoken_getgrent_r");
	*(void **)&M.endgrent = dlsym(M.h, "_nss_kztoken_endgrent");
	assert_non_null(M.pwnam);
	assert_non_null(M.endgrent);
	/* nothing but the entry points leaves the module */
	assert_null(dlsym(M.h, "kzdb_open"));
}

static const char *
use_dir(const char *name)
{
	static char dir[600];

	snprintf(dir, sizeof(dir), "%s/%s", kzt_dir(), name);
	mkdir(dir, 0755);
	setenv("KZTOKEN_NSS_DIR", dir, 1);
	return dir;
}

static void
write_db(const char *dir, const struct kz_nss_db *db)
{
	char err[512];

	if (kz_nssdb_write(dir, db, 1700000000, err, sizeof(err)) != 0)
		fail_msg("%s", err);
}

static void
module_missing_db(void **state)
{
	struct passwd pw;
	struct group gr;
	char buf[1024];
	long start = 1, size = 4;
	gid_t *groups = calloc(4, sizeof(gid_t));
	int e = 0;

	load_module();
	use_dir("empty");
	assert_int_equal(M.pwnam("alice", &pw, buf, sizeof(buf), &e),
	    NSS_STATUS_NOTFOUND);
	assert_int_equal(e, ENOENT);
	assert_int_equal(M.pwuid(300000, &pw, buf, sizeof(buf), &e),
	    NSS_STATUS_NOTFOUND);
	assert_int_equal(M.grnam("ops", &gr, buf, sizeof(buf), &e),
	    NSS_STATUS_NOTFOUND);
	assert_int_equal(M.initgroups("alice", 100, &start, &size, &groups, 0,
	    &e), NSS_STATUS_NOTFOUND);
	assert_int_equal(start, 1);
	M.setpwent(0);
	assert_int_equal(M.getpwent(&pw, buf, sizeof(buf), &e),
	    NSS_STATUS_NOTFOUND);
	M.endpwent();
	free(groups);
}

static void
module_lookups(void **state)
{
	struct kz_nss_db db;
	struct passwd pw;
	struct group gr;
	char buf[1024];
	const char *dir;
	long start = 1, size = 1;
	gid_t *groups = calloc(1, sizeof(gid_t));
	int e = 0, n;

	load_module();
	dir = use_dir("lookups");
	sample(&db, "v1", 300000);
	write_db(dir, &db);
	assert_int_equal(M.pwnam("alice", &pw, buf, sizeof(buf), &e),
	    NSS_STATUS_SUCCESS);
	assert_int_equal(pw.pw_uid, 300000);
	assert_int_equal(M.pwuid(300001, &pw, buf, sizeof(buf), &e),
	    NSS_STATUS_SUCCESS);
	assert_string_equal(pw.pw_name, "bob");
	assert_int_equal(M.grgid(400000, &gr, buf, sizeof(buf), &e),
	    NSS_STATUS_SUCCESS);
	assert_string_equal(gr.gr_name, "ops");
	assert_int_equal(M.grnam("devs", &gr, buf, sizeof(buf), &e),
	    NSS_STATUS_SUCCESS);
	assert_string_equal(gr.gr_mem[0], "bob");
	/* ERANGE: glibc retries with a bigger buffer */
	assert_int_equal(M.pwnam("alice", &pw, buf, 8, &e),
	    NSS_STATUS_TRYAGAIN);
	assert_int_equal(e, ERANGE);
	assert_int_equal(M.pwnam("root", &pw, buf, sizeof(buf), &e),
	    NSS_STATUS_NOTFOUND);
	/* initgroups: the array grows; the primary group is not repeated */
	groups[0] = 300001;
	assert_int_equal(M.initgroups("bob", 300001, &start, &size, &groups, 0,
	    &e), NSS_STATUS_SUCCESS);
	assert_int_equal(start, 3);
	assert_true(size >= 3);
	assert_int_equal(groups[1], 400000);
	assert_int_equal(groups[2], 400001);
	/* ... and stops at limit */
	start = size = 1;
	assert_int_equal(M.initgroups("bob", 300001, &start, &size, &groups, 2,
	    &e), NSS_STATUS_SUCCESS);
	assert_int_equal(start, 2);
	/* enumeration, also after an ERANGE */
	M.setpwent(0);
	assert_int_equal(M.getpwent(&pw, buf, 4, &e), NSS_STATUS_TRYAGAIN);
	for (n = 0; M.getpwent(&pw, buf, sizeof(buf), &e) ==
	    NSS_STATUS_SUCCESS; n++)
		if (n == 0)
			assert_string_equal(pw.pw_name, "alice");
	M.endpwent();
	assert_int_equal(n, 2);
	M.setgrent(0);
	for (n = 0; M.getgrent(&gr, buf, sizeof(buf), &e) ==
	    NSS_STATUS_SUCCESS; n++)
		;
	M.endgrent();
	assert_int_equal(n, 4);
	free(groups);
	kz_nss_db_free(&db);
}

/* A replaced file is seen at the next call; a broken or badly owned one
 * answers NOTFOUND. */
static void
module_replaced_and_broken(void **state)
{
	struct kz_nss_db db;
	struct passwd pw;
	char buf[1024], path[700], err[256];
	const char *dir;
	int e = 0;

	load_module();
	dir = use_dir("replace");
	sample(&db, "v1", 300000);
	write_db(dir, &db);
	assert_int_equal(M.pwnam("alice", &pw, buf, sizeof(buf), &e),
	    NSS_STATUS_SUCCESS);
	kz_nss_db_free(&db);
	sample(&db, "v2", 300005);
	write_db(dir, &db);
	assert_int_equal(M.pwnam("alice", &pw, buf, sizeof(buf), &e),
	    NSS_STATUS_SUCCESS);
	assert_int_equal(pw.pw_uid, 300005);
	assert_string_equal(pw.pw_gecos, "v2");
	/* removed from the directory: gone */
	free(db.users[1].name);
	db.users[1].name = strdup("alice2");
	write_db(dir, &db);
	assert_int_equal(M.pwnam("alice", &pw, buf, sizeof(buf), &e),
	    NSS_STATUS_NOTFOUND);
	snprintf(path, sizeof(path), "%s/%s", dir, KZDB_FILE);
	assert_int_equal(kz_write_file_atomic(path, "KZNSSDB1 short", 14, 0644,
	    err, sizeof(err)), 0);
	assert_int_equal(M.pwnam("bob", &pw, buf, sizeof(buf), &e),
	    NSS_STATUS_NOTFOUND);
	write_db(dir, &db);
	assert_int_equal(M.pwnam("bob", &pw, buf, sizeof(buf), &e),
	    NSS_STATUS_SUCCESS);
	chmod(path, 0666);	/* anyone could have written it */
	assert_int_equal(M.pwnam("bob", &pw, buf, sizeof(buf), &e),
	    NSS_STATUS_NOTFOUND);
	unlink(path);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_int_equal(M.pwnam("bob", &pw, buf, sizeof(buf), &e),
	    NSS_STATUS_NOTFOUND);
	unlink(path);
	kz_nss_db_free(&db);
}

static atomic_int stop, torn, found;

/* v1: alice 300000 gecos v1; v2: alice 300005 gecos v2.  Any other pair
 * is a torn read. */
static void *
reader(void *arg)
{
	struct passwd pw;
	struct group gr;
	char buf[1024];
	int e;

	while (!atomic_load(&stop)) {
		if (M.pwnam("alice", &pw, buf, sizeof(buf), &e) ==
		    NSS_STATUS_SUCCESS) {
			atomic_fetch_add(&found, 1);
			if (!((pw.pw_uid == 300000 &&
			    strcmp(pw.pw_gecos, "v1") == 0) ||
			    (pw.pw_uid == 300005 &&
			    strcmp(pw.pw_gecos, "v2") == 0)))
				atomic_fetch_add(&torn, 1);
		} else {
			atomic_fetch_add(&torn, 1);	/* never missing */
		}
		if (M.grnam("ops", &gr, buf, sizeof(buf), &e) !=
		    NSS_STATUS_SUCCESS || strcmp(gr.gr_mem[0], "alice") != 0)
			atomic_fetch_add(&torn, 1);
		if (M.pwuid(300001, &pw, buf, sizeof(buf), &e) !=
		    NSS_STATUS_SUCCESS)
			atomic_fetch_add(&torn, 1);
	}
	return NULL;
}

static void
module_threads_while_replaced(void **state)
{
	struct kz_nss_db v1, v2;
	pthread_t t[16];
	const char *dir;

	load_module();
	dir = use_dir("threads");
	sample(&v1, "v1", 300000);
	sample(&v2, "v2", 300005);
	write_db(dir, &v1);
	for (int i = 0; i < 16; i++)
		assert_int_equal(pthread_create(&t[i], NULL, reader, NULL), 0);
	for (int i = 0; i < 100; i++) {
		write_db(dir, i % 2 ? &v1 : &v2);
		usleep(2000);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 16; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&torn), 0);
	assert_true(atomic_load(&found) > 100);
	kz_nss_db_free(&v1);
	kz_nss_db_free(&v2);
}

/* fork() while other threads hold the module's lock: the child must
 * still look up (the lock is taken around fork by the module). */
static void *
hammer(void *arg)
{
	struct passwd pw;
	char buf[1024];
	int e;

	while (!atomic_load(&stop))
		M.pwnam("alice", &pw, buf, sizeof(buf), &e);
	return NULL;
}

static void
module_fork_while_looking_up(void **state)
{
	struct kz_nss_db db;
	pthread_t t[4];
	int hung = 0, wrong = 0;

	load_module();
	sample(&db, "v1", 300000);
	write_db(use_dir("fork"), &db);
	atomic_store(&stop, 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, NULL), 0);
	for (int i = 0; i < 200; i++) {
		pid_t pid = fork();
		int st = 0, waited = 0;

		assert_true(pid >= 0);
		if (pid == 0) {
			struct passwd pw;
			char buf[1024];
			int e;

			_exit(M.pwnam("alice", &pw, buf, sizeof(buf), &e) ==
			    NSS_STATUS_SUCCESS && pw.pw_uid == 300000 ? 0 : 1);
		}
		while (waitpid(pid, &st, WNOHANG) == 0 && waited < 2000) {
			usleep(1000);
			waited++;
		}
		if (waited >= 2000) {
			hung++;
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
		} else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			wrong++;
		}
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(hung, 0);
	assert_int_equal(wrong, 0);
	kz_nss_db_free(&db);
}

/* ---- the mapping of kztoken sync ---- */

static void
dir_user(struct kz_dir *d, const char *id, const char *name, bool active)
{
	struct kz_dir_user *u;

	d->users = realloc(d->users, (d->nusers + 1) * sizeof(*u));
	u = &d->users[d->nusers++];
	u->id = strdup(id);
	u->username = strdup(name);
	u->display = strdup(name);
	u->active = active;
}

static void
dir_group(struct kz_dir *d, const char *id, const char *name,
    const char *members)
{
	struct kz_dir_group *g;

	d->groups = realloc(d->groups, (d->ngroups + 1) * sizeof(*g));
	g = &d->groups[d->ngroups++];
	memset(g, 0, sizeof(*g));
	g->id = strdup(id);
	g->name = strdup(name);
	kz_strv_split(&g->members, members);
}

static const struct kz_nss_user *
find_user(const struct kz_nss_db *db, const char *name)
{
	for (size_t i = 0; i < db->nusers; i++)
		if (strcmp(db->users[i].name, name) == 0)
			return &db->users[i];
	return NULL;
}

static const struct kz_nss_group *
find_group(const struct kz_nss_db *db, const char *name)
{
	for (size_t i = 0; i < db->ngroups; i++)
		if (strcmp(db->groups[i].name, name) == 0)
			return &db->groups[i];
	return NULL;
}

static bool
refused_has(const struct kz_strv *r, const char *prefix)
{
	for (size_t i = 0; i < r->n; i++)
		if (strncmp(r->v[i], prefix, strlen(prefix)) == 0)
			return true;
	return false;
}

static void
local_set(struct kz_local *l, const char *names, uint32_t id)
{
	memset(l, 0, sizeof(*l));
	kz_strv_split(&l->names, names);	/* already sorted */
	l->ids = calloc(1, sizeof(uint32_t));
	l->ids[0] = id;
	l->nids = 1;
}

static void
map_names_ids_refusals(void **state)
{
	kz_ctx *ctx = kzt_ctx("map", "username_transform = strip_domain, "
	    "lowercase\n[nss]\nenrollment = dir\ndirectory_url = "
	    "https://127.0.0.1:1/scim\ngroups = ops-admins\n");
	struct kz_provider *p = kz_config_provider(ctx->cfg, "idp");
	struct kz_dir d = { 0 };
	struct kz_nss_db db;
	struct kz_local l;
	struct kz_strv refused = { 0 };
	const struct kz_nss_user *u;
	const struct kz_nss_group *g;
	uint32_t alice_id = kz_nss_id(p->issuer, "user", "id-alice", 200000,
	    2000200000);

	dir_user(&d, "id-alice", "Alice@Example.com", true);
	dir_user(&d, "id-bob", "bob", true);
	dir_user(&d, "id-root", "root", true);		/* system name */
	dir_user(&d, "id-carol", "carol", true);	/* a local account */
	dir_user(&d, "id-dave", "dave", false);		/* inactive */
	dir_user(&d, "id-eve1", "eve", true);		/* same name twice */
	dir_user(&d, "id-eve2", "eve", true);
	dir_user(&d, "id-x", "bad name;", true);
	dir_user(&d, "id-stranger", "stranger", true);	/* in no group */
	dir_user(&d, "id-docker", "docker", true);	/* a package's name */
	dir_group(&d, "g-ops", "ops-admins", "id-alice id-bob id-root id-carol "
	    "id-dave id-eve1 id-eve2 id-x id-docker");
	local_set(&l, "carol daemon", 1000);
	assert_int_equal(kz_nss_map(ctx, p, &d, &l, &db, &refused), 0);
	/* PAM's name: strip_domain + lowercase */
	assert_non_null(u = find_user(&db, "alice"));
	assert_int_equal(u->uid, alice_id);
	assert_int_equal(u->gid, alice_id);
	assert_string_equal(u->dir, "/home/alice");
	assert_string_equal(u->shell, "/bin/bash");
	assert_non_null(find_user(&db, "bob"));
	assert_null(find_user(&db, "root"));
	assert_null(find_user(&db, "carol"));
	assert_null(find_user(&db, "dave"));
	assert_null(find_user(&db, "eve"));
	assert_null(find_user(&db, "stranger"));
	assert_null(find_user(&db, "docker"));
	assert_int_equal(db.nusers, 2);
	assert_true(refused_has(&refused, "user root:"));
	assert_true(refused_has(&refused, "user docker:"));
	assert_true(refused_has(&refused, "user carol:"));
	assert_true(refused_has(&refused, "user eve: collides"));
	assert_true(refused_has(&refused, "user bad name;:"));
	/* private groups and the configured group with its kept members */
	assert_non_null(g = find_group(&db, "alice"));
	assert_int_equal(g->gid, alice_id);
	assert_non_null(g = find_group(&db, "ops-admins"));
	assert_int_equal(g->members.n, 2);
	assert_string_equal(g->members.v[0], "alice");
	assert_string_equal(g->members.v[1], "bob");
	assert_int_equal(g->gid, kz_nss_id(p->issuer, "group", "g-ops",
	    200000, 2000200000));
	kz_nss_db_free(&db);
	kz_strv_free(&refused);
	kz_local_free(&l);

	/* alice's ID taken by a local account: alice is left out */
	local_set(&l, "nobody", alice_id);
	assert_int_equal(kz_nss_map(ctx, p, &d, &l, &db, &refused), 0);
	assert_null(find_user(&db, "alice"));
	assert_true(refused_has(&refused, "user alice:"));
	kz_nss_db_free(&db);
	kz_strv_free(&refused);
	kz_local_free(&l);

	/* removed from the directory: gone at the next sync */
	free(d.users[1].id);
	d.users[1].id = strdup("id-bob-gone");	/* no longer a member */
	local_set(&l, "carol", 1);
	assert_int_equal(kz_nss_map(ctx, p, &d, &l, &db, &refused), 0);
	assert_null(find_user(&db, "bob"));
	assert_int_equal(find_group(&db, "ops-admins")->members.n, 1);
	kz_nss_db_free(&db);
	kz_strv_free(&refused);
	kz_local_free(&l);
	kz_dir_free(&d);
	kz_ctx_close(ctx);
}

/* Maps d against l, checks whether alice and ops-admins came through (bob
 * always must) and which refusal was noted, and frees the map and l for
 * the next case. */
static void
map_expect(kz_ctx *ctx, struct kz_provider *p, struct kz_dir *d,
    struct kz_local *l, bool alice_in, bool ops_in, const char *refusal)
{
	struct kz_nss_db db;
	struct kz_strv refused = { 0 };

	assert_int_equal(kz_nss_map(ctx, p, d, l, &db, &refused), 0);
	assert_int_equal(find_user(&db, "alice") != NULL, alice_in);
	assert_non_null(find_user(&db, "bob"));	/* never in a range */
	assert_int_equal(find_group(&db, "ops-admins") != NULL, ops_in);
	assert_true(refused_has(&refused, refusal));
	kz_nss_db_free(&db);
	kz_strv_free(&refused);
	kz_local_free(l);
}

/* A local user owns every ID of its /etc/subuid and /etc/subgid ranges
 * (rootless containers: newuidmap maps them, and inside its namespace it
 * can setuid to any of them and read or write the host's files as that
 * ID).  A directory user or group on such an ID would be that local
 * user's to impersonate: its home, its mail, its group's files. */
static void
map_subordinate_ranges(void **state)
{
	kz_ctx *ctx = kzt_ctx("subid", "[nss]\nenrollment = dir\n"
	    "directory_url = https://127.0.0.1:1/scim\ngroups = ops-admins\n");
	struct kz_provider *p = kz_config_provider(ctx->cfg, "idp");
	uint32_t alice = kz_nss_id(p->issuer, "user", "id-alice", 200000,
	    2000200000);
	uint32_t ops = kz_nss_id(p->issuer, "group", "g-ops", 200000,
	    2000200000);
	char subuid[600], subgid[600], missing[600], err[256];
	struct kz_dir d = { 0 };
	struct kz_local l;
	FILE *f;

	snprintf(subuid, sizeof(subuid), "%s/subuid", kzt_dir());
	snprintf(subgid, sizeof(subgid), "%s/subgid", kzt_dir());
	snprintf(missing, sizeof(missing), "%s/no-such-subid", kzt_dir());
	/* carol's range covers alice's uid; a range that starts below and
	 * one that is inside another must not hide it (merged) */
	assert_non_null(f = fopen(subuid, "w"));
	fprintf(f, "# comment\nbad line\ndave:100000:65536\n"
	    "carol:%u:20\n1001:%u:2\n", alice - 10, alice - 5);
	fclose(f);
	assert_non_null(f = fopen(subgid, "w"));
	fprintf(f, "carol:%u:1\n", ops);
	fclose(f);
	dir_user(&d, "id-alice", "alice", true);
	dir_user(&d, "id-bob", "bob", true);
	dir_group(&d, "g-ops", "ops-admins", "id-alice id-bob");

	local_set(&l, "carol", 1000);
	assert_int_equal(kz_local_load_ranges(&l, subuid, missing, err,
	    sizeof(err)), 0);
	map_expect(ctx, p, &d, &l, false, true, "user alice: the name or the ID");

	/* a subgid range takes the group's gid: the group is left out */
	local_set(&l, "carol", 1000);
	assert_int_equal(kz_local_load_ranges(&l, missing, subgid, err,
	    sizeof(err)), 0);
	map_expect(ctx, p, &d, &l, true, false, "group ops-admins:");

	/* a local user's primary GID, though /etc/group lacks it: the
	 * group on it would own that user's files */
	assert_non_null(f = fopen(subuid, "w"));
	fprintf(f, "root:x:0:0:root:/root:/bin/bash\n"
	    "svc:x:1001:%u::/srv:/bin/sh\n", ops);
	fclose(f);
	assert_non_null(f = fopen(subgid, "w"));
	fprintf(f, "root:x:0:\n");
	fclose(f);
	assert_int_equal(kz_local_load(&l, subuid, subgid, err, sizeof(err)),
	    0);
	map_expect(ctx, p, &d, &l, true, false, "group ops-admins:");

	/* an unreadable file fails closed (a directory is not a file) */
	local_set(&l, "carol", 1000);
	assert_int_not_equal(kz_local_load_ranges(&l, kzt_dir(), missing, err,
	    sizeof(err)), 0);
	kz_local_free(&l);
	kz_dir_free(&d);
	kz_ctx_close(ctx);
}

/* Two entries on one ID (a range of one ID forces it): both out; IDs
 * depend on issuer and id only, so every host agrees. */
static void
map_id_collisions_and_stability(void **state)
{
	kz_ctx *ctx = kzt_ctx("collide", "[nss]\nenrollment = dir\n"
	    "directory_url = https://127.0.0.1:1/scim\ngroups = g\n"
	    "uid_min = 300000\nuid_max = 300001\n");
	struct kz_provider *p = kz_config_provider(ctx->cfg, "idp");
	struct kz_dir d = { 0 };
	struct kz_nss_db db;
	struct kz_local l;
	struct kz_strv refused = { 0 };
	uint32_t a = kz_nss_id("https://a", "user", "1", 200000, 2000200000);

	assert_int_equal(a, kz_nss_id("https://a", "user", "1", 200000,
	    2000200000));
	assert_true(a >= 200000 && a <= 2000200000);
	assert_int_not_equal(a, kz_nss_id("https://b", "user", "1", 200000,
	    2000200000));
	assert_int_not_equal(a, kz_nss_id("https://a", "group", "1", 200000,
	    2000200000));
	dir_user(&d, "u1", "one", true);
	dir_user(&d, "u2", "two", true);
	dir_user(&d, "u3", "three", true);
	dir_group(&d, "gg", "g", "u1 u2 u3");
	local_set(&l, "nobody", 1);
	assert_int_equal(kz_nss_map(ctx, p, &d, &l, &db, &refused), 0);
	/* 4 entries on 2 IDs: an entry is kept exactly when no other entry
	 * has its ID, and each of the others is reported */
	{
		const char *ids[] = { "u1", "u2", "u3", "gg" };
		const char *names[] = { "user one", "user two", "user three",
			"group g" };
		uint32_t v[4];
		size_t kept = 0;

		for (int i = 0; i < 4; i++)
			v[i] = kz_nss_id(p->issuer, i < 3 ? "user" : "group",
			    ids[i], 300000, 300001);
		for (int i = 0; i < 4; i++) {
			bool shared = false;
			char want[64];

			for (int j = 0; j < 4; j++)
				shared |= j != i && v[j] == v[i];
			snprintf(want, sizeof(want), "%s: collides", names[i]);
			assert_int_equal(refused_has(&refused, want), shared);
			kept += !shared;
		}
		assert_int_equal(db.nusers + (db.ngroups - db.nusers), kept);
		assert_true(refused.n >= 3);
	}
	kz_nss_db_free(&db);
	kz_strv_free(&refused);
	kz_local_free(&l);
	kz_dir_free(&d);
	kz_ctx_close(ctx);
}

/* A group longer than the 4096 items a claim list may have. */
static void
map_big_group(void **state)
{
	kz_ctx *ctx = kzt_ctx("big", "[nss]\nenrollment = dir\n"
	    "directory_url = https://127.0.0.1:1/scim\ngroups = g\n");
	struct kz_provider *p = kz_config_provider(ctx->cfg, "idp");
	struct kz_dir d = { 0 };
	struct kz_dir_group *g;
	struct kz_nss_db db;
	struct kz_local l;
	struct kz_strv refused = { 0 };
	char id[32], name[32];

	d.groups = calloc(1, sizeof(*g));
	d.ngroups = 1;
	g = &d.groups[0];
	g->id = strdup("gg");
	g->name = strdup("g");
	for (int i = 0; i < 5000; i++) {
		snprintf(id, sizeof(id), "id%d", i);
		snprintf(name, sizeof(name), "user%d", i);
		dir_user(&d, id, name, true);
		assert_int_equal(kz_strv_push_big(&g->members, id, strlen(id)), 0);
	}
	local_set(&l, "nobody", 1);
	assert_int_equal(kz_nss_map(ctx, p, &d, &l, &db, &refused), 0);
	assert_int_equal(db.nusers, 5000);
	assert_int_equal(find_group(&db, "g")->members.n, 5000);
	kz_nss_db_free(&db);
	kz_strv_free(&refused);
	kz_local_free(&l);
	kz_dir_free(&d);
	kz_ctx_close(ctx);
}

/* user_map_file is read once and applied like PAM's binding: the first
 * line for a name wins, beyond 4096 lines; user_map_only refuses the rest. */
static void
map_user_map_file(void **state)
{
	char path[600], extra[1200];
	FILE *f;
	kz_ctx *ctx;
	struct kz_provider *p;
	struct kz_dir d = { 0 };
	struct kz_nss_db db;
	struct kz_local l;
	struct kz_strv refused = { 0 };

	snprintf(path, sizeof(path), "%s/usermap.txt", kzt_dir());
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "# external local\n");
	for (int i = 0; i < 5000; i++)
		fprintf(f, "filler%d local%d\n", i, i);
	fprintf(f, "ext-alice alice\next-alice mallory\nmapped-bob bob\n");
	fclose(f);
	snprintf(extra, sizeof(extra), "user_map_file = %s\nuser_map_only = true\n"
	    "[nss]\nenrollment = dir\ndirectory_url = https://127.0.0.1:1/s\n"
	    "groups = g\n", path);
	ctx = kzt_ctx("usermap", extra);
	p = kz_config_provider(ctx->cfg, "idp");
	dir_user(&d, "1", "ext-alice", true);
	dir_user(&d, "2", "mapped-bob", true);
	dir_user(&d, "3", "unlisted", true);
	dir_group(&d, "gg", "g", "1 2 3");
	local_set(&l, "nobody", 1);
	assert_int_equal(kz_nss_map(ctx, p, &d, &l, &db, &refused), 0);
	assert_non_null(find_user(&db, "alice"));	/* the first line */
	assert_null(find_user(&db, "mallory"));
	assert_non_null(find_user(&db, "bob"));
	assert_int_equal(db.nusers, 2);
	assert_true(refused_has(&refused, "user unlisted: unlisted is not "
	    "listed in user_map_file"));
	kz_nss_db_free(&db);
	kz_strv_free(&refused);
	kz_local_free(&l);
	kz_dir_free(&d);
	kz_ctx_close(ctx);
}

static const char *const NSS_BASE = "[provider corp]\nissuer = https://idp\n"
    "audience = a\njwks_url = https://idp/jwks\n";

static void
config_nss_section(void **state)
{
	struct kz_config *c = NULL;
	char err[512], text[1024];
	static const struct { const char *lines, *want; } bad[] = {
		{ "directory_url = https://d\ngroups = g\n",
		  "[nss] enrollment: required" },
		{ "enrollment = e\ngroups = g\n", "[nss] directory_url: required" },
		{ "enrollment = e\ngroups = g\ndirectory_style = scim\n",
		  "[nss] directory_url: required (with directory_style = scim)" },
		{ "enrollment = e\ndirectory_url = https://d\n",
		  "[nss] groups: required" },
		{ "enrollment = e\ndirectory_url = https://d\ngroups = g\n"
		  "uid_min = 999\n", "uid_min: '999' is not a whole number" },
		{ "enrollment = e\ndirectory_url = https://d\ngroups = g\n"
		  "uid_min = 300000\nuid_max = 300000\n", "below uid_max" },
		{ "enrollment = e\ndirectory_url = https://d\ngroups = g\n"
		  "directory_style = ldap\n", "directory_style: 'ldap'" },
		{ "enrollment = e\ndirectory_url = http://d.example/\ngroups = g\n",
		  "directory_url: 'http://d.example/' is not an https" },
		{ "enrollment = e\ndirectory_url = https://d\ngroups = g\n"
		  "colour = blue\n", "[nss] colour: unknown key" },
		{ "enrollment = e\ndirectory_url = https://d\ngroups = g\n"
		  "home = relative/%u\n", "home: must be an absolute path" },
	};

	/* no [nss]: the defaults, and not present */
	assert_int_equal(kz_config_parse_string(&c, "t.conf", NSS_BASE, err,
	    sizeof(err)), 0);
	assert_false(c->nss.present);
	assert_int_equal(c->nss.uid_min, 200000);
	assert_int_equal(c->nss.uid_max, 2000200000);
	assert_int_equal(c->nss.sync_interval, 900);
	assert_string_equal(c->nss.home, "/home/%u");
	assert_string_equal(c->nss.shell, "/bin/bash");
	assert_string_equal(c->nss.db_dir, "/var/lib/kztoken/nss");
	assert_int_equal(c->nss.directory_style, KZ_DIR_SCIM);
	kz_config_free(c);
	snprintf(text, sizeof(text), "%s[nss]\nenrollment = e\ndirectory_url = "
	    "https://d/scim\ngroups = ops-admins, devs\ndirectory_style = "
	    "kaizala\nuid_min = 300000\nuid_max = 400000\nhome = /srv/%%u\n"
	    "shell = /bin/sh\nsync_interval = 60\ndb_dir = /tmp/x\n", NSS_BASE);
	assert_int_equal(kz_config_parse_string(&c, "t.conf", text, err,
	    sizeof(err)), 0);
	assert_true(c->nss.present);
	assert_string_equal(c->nss.enrollment, "e");
	assert_int_equal(c->nss.groups.n, 2);
	assert_int_equal(c->nss.directory_style, KZ_DIR_KAIZALA);
	assert_int_equal(c->nss.uid_min, 300000);
	assert_string_equal(c->nss.home, "/srv/%u");
	kz_config_free(c);
	/* Kaizala: the API base may come with the token (endpointUrl) */
	snprintf(text, sizeof(text), "%s[nss]\nenrollment = e\ngroups = g\n"
	    "directory_style = kaizala\n", NSS_BASE);
	assert_int_equal(kz_config_parse_string(&c, "t.conf", text, err,
	    sizeof(err)), 0);
	assert_null(c->nss.directory_url);
	kz_config_free(c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "%s[nss]\n%s", NSS_BASE, bad[i].lines);
		c = NULL;
		if (kz_config_parse_string(&c, "t.conf", text, err,
		    sizeof(err)) == 0 || strstr(err, bad[i].want) == NULL)
			fail_msg("case %zu: got '%s', want '%s'", i,
			    c ? "(accepted)" : err, bad[i].want);
	}
}

/* doctor's reading of nsswitch.conf, row by row */
static void
nsswitch_lines(void **state)
{
	static const struct { const char *text, *db; bool has; } rows[] = {
		{ "passwd:         files systemd kztoken\n", "passwd", true },
		{ "passwd:\tfiles\tkztoken\n", "passwd", true },
		{ "  passwd: files kztoken\n", "passwd", true },
		{ "passwd : files kztoken\n", "passwd", true },
		{ "group:kztoken files\n", "group", true },
		{ "passwd: files kztoken [NOTFOUND=return] systemd", "passwd", true },
		{ "passwd: files kztoken\r\n", "passwd", true },
		{ "hosts: files\ngroup: files kztoken\n", "group", true },
		{ "passwd: files # kztoken\n", "passwd", false },
		{ "#passwd: files kztoken\n", "passwd", false },
		{ "passwd: files kztokenx\n", "passwd", false },
		{ "passwd: files xkztoken\n", "passwd", false },
		{ "passwdx: files kztoken\n", "passwd", false },
		{ "group: files kztoken\n", "passwd", false },
		{ "passwd: files\n kztoken\n", "passwd", false },
		{ "", "passwd", false },
		/* an action bracket right after the word: still the word */
		{ "passwd: files kztoken[NOTFOUND=return]\n", "passwd", true },
		{ "passwd: files [NOTFOUND=return]kztoken\n", "passwd", true },
		{ "passwd: files [ kztoken ]\n", "passwd", false },
		/* glibc reads the last of two lines for one database */
		{ "passwd: files kztoken\npasswd: files\n", "passwd", false },
		{ "passwd: files\npasswd: files kztoken\n", "passwd", true },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (kz_nsswitch_has(rows[i].text, rows[i].db, "kztoken") !=
		    rows[i].has)
			fail_msg("row %zu: %s", i, rows[i].text);
	}
}

/* The module runs in the locale of whatever process looks a name up: a
 * system name stays reserved in every case there too ("BIN" in Turkish,
 * where tolower('I') is not 'i'). */
static void
reserved_names_any_locale(void **state)
{
	(void)state;
	kzt_turkish_locale();
	assert_true(kzdb_reserved_name("BIN"));
	assert_true(kzdb_reserved_name("ROOT"));
	assert_true(kzdb_reserved_name("Daemon"));
	assert_false(kzdb_reserved_name("\xddrc"));	/* not "irc" */
	assert_false(kzdb_reserved_name("alice"));
	kzt_c_locale();
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(db_roundtrip),
		cmocka_unit_test(db_refuses_system_entries),
		cmocka_unit_test(reserved_names_any_locale),
		cmocka_unit_test(db_truncated_and_hostile),
		cmocka_unit_test(module_missing_db),
		cmocka_unit_test(module_lookups),
		cmocka_unit_test(module_replaced_and_broken),
		cmocka_unit_test(module_threads_while_replaced),
		cmocka_unit_test(module_fork_while_looking_up),
		cmocka_unit_test(map_names_ids_refusals),
		cmocka_unit_test(map_subordinate_ranges),
		cmocka_unit_test(map_id_collisions_and_stability),
		cmocka_unit_test(map_big_group),
		cmocka_unit_test(map_user_map_file),
		cmocka_unit_test(config_nss_section),
		cmocka_unit_test(nsswitch_lines),
	};
	char self[4096];

	/* the module built next to this binary's directory */
	snprintf(self, sizeof(self), "%s", argv[0]);
	snprintf(module_path, sizeof(module_path), "%s/../libnss_kztoken.so.2",
	    dirname(self));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
