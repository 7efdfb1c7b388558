/*
 * mkdb.c - writes the two database versions test_threads.sh swaps:
 * alice (uid 300000, gecos v1 | uid 300005, gecos v2), bob, group ops.
 *
 *   mkdb DIR VERSION     (VERSION 1 or 2; writes DIR/kztoken.db)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int
main(int argc, char **argv)
{
	struct kz_nss_db db = { .uid_min = 200000, .uid_max = 2000200000 };
	struct kz_nss_user u[2];
	struct kz_nss_group g[3];
	char err[256];
	int v2;

	if (argc != 3)
		return 4;
	v2 = strcmp(argv[2], "2") == 0;
	u[0] = (struct kz_nss_user){ "alice", v2 ? "v2" : "v1", "/home/alice",
		"/bin/sh", v2 ? 300005 : 300000, v2 ? 300005 : 300000 };
	u[1] = (struct kz_nss_user){ "bob", "", "/home/bob", "/bin/sh", 300001,
		300001 };
	memset(g, 0, sizeof(g));
	g[0].name = "alice";
	g[0].gid = u[0].uid;
	g[1].name = "bob";
	g[1].gid = 300001;
	g[2].name = "ops";
	g[2].gid = 400000;
	kz_strv_split(&g[2].members, "alice bob");
	db.users = u;
	db.nusers = 2;
	db.groups = g;
	db.ngroups = 3;
	if (kz_nssdb_write(argv[1], &db, 1700000000, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	kz_strv_free(&g[2].members);
	return 0;
}
