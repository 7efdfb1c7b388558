/*
 * bench_nss.c - getpwnam, getpwuid, getgrnam and initgroups through
 * glibc: libnss_kztoken.so.2 against libnss_files on the same users.
 *
 *   bench_nss gen N DIR      writes DIR/passwd, DIR/group, DIR/nss/kztoken.db
 *   bench_nss run N          measures (run by bench_nss.sh in a mount
 *                            namespace where /etc/passwd and /etc/group
 *                            are DIR's files; KZTOKEN_NSS_DIR=DIR/nss)
 *
 * Users u000000.. (uid 300000+i), each in its private group and in one
 * of 10 groups g00..g09; u000000 is also in 50 more groups h00..h49, for
 * initgroups of a member of 50 groups.  Both backends are selected in one
 * process with __nss_configure_lookup, as getent -s does.
 */
#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "bench_util.h"

int __nss_configure_lookup(const char *dbname, const char *string);

static void
add_user(struct kz_nss_db *db, size_t i)
{
	struct kz_nss_user *u = &db->users[i];
	char name[32];

	snprintf(name, sizeof(name), "u%06zu", i);
	u->name = strdup(name);
	u->gecos = strdup("");
	if (asprintf(&u->dir, "/home/%s", name) < 0)
		exit(1);
	u->shell = strdup("/bin/bash");
	u->uid = u->gid = (uint32_t)(300000 + i);
}

static int
gen(size_t n, const char *dir)
{
	struct kz_nss_db db = { .uid_min = 200000, .uid_max = 2000200000 };
	char path[4096], err[256];
	FILE *pw, *gr;
	size_t ng = n + 60;

	db.users = calloc(n, sizeof(*db.users));
	db.groups = calloc(ng, sizeof(*db.groups));
	snprintf(path, sizeof(path), "%s/passwd", dir);
	pw = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/group", dir);
	gr = fopen(path, "w");
	if (!db.users || !db.groups || !pw || !gr)
		return 1;
	/* root first, as a real passwd file has it */
	fprintf(pw, "root:x:0:0:root:/root:/bin/bash\n");
	fprintf(gr, "root:x:0:\n");
	for (size_t i = 0; i < n; i++) {
		add_user(&db, i);
		fprintf(pw, "%s:x:%u:%u::%s:/bin/bash\n", db.users[i].name,
		    db.users[i].uid, db.users[i].gid, db.users[i].dir);
		db.groups[i].name = strdup(db.users[i].name);
		db.groups[i].gid = db.users[i].uid;
		fprintf(gr, "%s:x:%u:\n", db.users[i].name, db.users[i].uid);
	}
	db.nusers = n;
	for (size_t k = 0; k < 60; k++) {
		struct kz_nss_group *g = &db.groups[n + k];
		char name[16];

		snprintf(name, sizeof(name), k < 10 ? "g%02zu" : "h%02zu",
		    k < 10 ? k : k - 10);
		g->name = strdup(name);
		g->gid = (uint32_t)(250000 + k);
		fprintf(gr, "%s:x:%u:", name, g->gid);
		for (size_t i = 0; i < n; i++) {
			if (k < 10 ? i % 10 != k : i != 0)
				continue;
			kz_strv_push(&g->members, db.users[i].name,
			    strlen(db.users[i].name));
			fprintf(gr, "%s%s", g->members.n > 1 ? "," : "",
			    db.users[i].name);
		}
		fprintf(gr, "\n");
	}
	db.ngroups = ng;
	fclose(pw);
	fclose(gr);
	snprintf(path, sizeof(path), "%s/nss", dir);
	if (kz_nssdb_write(path, &db, 1700000000, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	kz_nss_db_free(&db);
	return 0;
}

static long
rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* Microseconds per call of one kind, over iters random users. */
static double
measure(int kind, size_t n, int iters)
{
	char buf[1 << 16], name[32];
	struct passwd pw, *ppw;
	struct group gr, *pgr;
	gid_t groups[128];
	double t0 = now_s();
	unsigned seed = 12345;

	for (int i = 0; i < iters; i++) {
		size_t u = (size_t)rand_r(&seed) % n;
		int ng = 128;

		snprintf(name, sizeof(name), "u%06zu", u);
		switch (kind) {
		case 0:
			if (getpwnam_r(name, &pw, buf, sizeof(buf), &ppw) != 0 ||
			    ppw == NULL)
				goto miss;
			break;
		case 1:
			if (getpwuid_r((uid_t)(300000 + u), &pw, buf,
			    sizeof(buf), &ppw) != 0 || ppw == NULL)
				goto miss;
			break;
		case 2:
			if (getgrnam_r(name, &gr, buf, sizeof(buf), &pgr) != 0 ||
			    pgr == NULL)
				goto miss;
			break;
		default:
			if (getgrouplist("u000000", 300000, groups, &ng) < 0 ||
			    ng != 52)
				goto miss;
			break;
		}
	}
	return (now_s() - t0) * 1e6 / iters;
miss:
	fprintf(stderr, "bench_nss: lookup %d of %s failed\n", kind, name);
	exit(1);
}

static int
run(size_t n)
{
	static const char *const what[] = { "getpwnam", "getpwuid", "getgrnam",
		"initgroups (50 groups)" };
	static const char *const backends[] = { "files", "kztoken" };
	double us[2][4];
	long rss0 = rss_kb(), rss[2];

	for (int b = 0; b < 2; b++) {
		__nss_configure_lookup("passwd", backends[b]);
		__nss_configure_lookup("group", backends[b]);
		__nss_configure_lookup("initgroups", backends[b]);
		for (int k = 0; k < 4; k++) {
			/* files scans: fewer calls where each one is slow */
			int iters = b == 0 ? (int)(2000000 / (n + 1000)) + 5 :
			    20000;

			measure(k, n, b == 0 ? 2 : 200);	/* warm up */
			us[b][k] = measure(k, n, iters);
		}
		rss[b] = rss_kb() - rss0;
	}
	for (int k = 0; k < 4; k++)
		printf("| %zu | %s | %.2f | %.2f | %.0fx |\n", n, what[k],
		    us[0][k], us[1][k], us[0][k] / us[1][k]);
	printf("| %zu | RSS growth, kB (files / then kztoken) | %ld | %ld | |\n",
	    n, rss[0], rss[1] - rss[0]);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "gen") == 0)
		return gen((size_t)atol(argv[2]), argv[3]);
	if (argc == 3 && strcmp(argv[1], "run") == 0)
		return run((size_t)atol(argv[2]));
	fprintf(stderr, "usage: bench_nss gen N DIR | run N\n");
	return 4;
}
