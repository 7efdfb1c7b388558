/*
 * cmd_sync.c - `kztoken sync [--if-due]`: the directory into the NSS
 * database (DESIGN.md sections 8 and 16); the timer runs it with --if-due.
 *
 * KZTOKEN_PASSWD_FILE, KZTOKEN_GROUP_FILE, KZTOKEN_SUBUID_FILE and
 * KZTOKEN_SUBGID_FILE replace /etc/passwd, /etc/group, /etc/subuid and
 * /etc/subgid as the local accounts that are never shadowed (tests).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kztoken.h"

int
cmd_sync(int argc, char **argv, const char *config)
{
	static const struct option opts[] = {
		{ "if-due", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	kz_sync_opts so = { 0 };
	kz_sync_report rep;
	kz_result res;
	kz_verdict v;
	kz_ctx *ctx;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': so.flags |= KZ_SYNC_IF_DUE; break;
		default: goto usage;
		}
	}
	if (optind != argc)
		goto usage;
	so.passwd_file = secure_getenv("KZTOKEN_PASSWD_FILE");
	so.group_file = secure_getenv("KZTOKEN_GROUP_FILE");
	so.subuid_file = secure_getenv("KZTOKEN_SUBUID_FILE");
	so.subgid_file = secure_getenv("KZTOKEN_SUBGID_FILE");
	if ((ctx = tool_open(config)) == NULL)
		return EXIT_USAGE;
	v = kz_nss_sync(ctx, &so, &rep, &res);
	for (size_t i = 0; i < rep.nrefused; i++)
		fprintf(stderr, "kztoken sync: left out %s\n",
		    tool_clean(rep.refused[i]));
	if (v != KZ_OK)
		fprintf(stderr, "kztoken sync: %s%s\n", tool_clean(res.detail),
		    strstr(res.detail, "database") ? "" :
		    " (the database is unchanged)");
	else if (rep.skipped)
		printf("%s: %s\n", rep.db, tool_clean(res.detail));
	else
		printf("%s: %zu users, %zu groups, %zu left out "
		    "(%zu requests, %zu not modified, %llu bytes)\n", rep.db,
		    rep.users, rep.groups, rep.nrefused, rep.requests,
		    rep.not_modified, rep.bytes);
	kz_sync_report_clear(&rep);
	kz_result_clear(&res);
	kz_ctx_close(ctx);
	return v;
usage:
	fprintf(stderr, "usage: kztoken sync [--if-due]\n");
	return EXIT_USAGE;
}
