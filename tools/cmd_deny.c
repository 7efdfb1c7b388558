/*
 * cmd_deny.c - `kztoken deny`: block a token at once by fingerprint or jti.
 */
#include <stdio.h>
#include <string.h>

#include "kztoken.h"

int
cmd_deny(int argc, char **argv, const char *config)
{
	char entry[600], err[512];
	kz_ctx *ctx;
	kz_verdict v;

	if (argc == 3 && strcmp(argv[1], "--jti") == 0)
		snprintf(entry, sizeof(entry), "jti:%s", argv[2]);
	else if (argc == 2 && argv[1][0] != '-')
		snprintf(entry, sizeof(entry), "%s", argv[1]);
	else {
		fprintf(stderr, "usage: kztoken deny FINGERPRINT | --jti JTI\n");
		return EXIT_USAGE;
	}
	if ((ctx = tool_open(config)) == NULL)
		return EXIT_USAGE;
	v = kz_denylist_add(ctx, entry, err, sizeof(err));
	kz_ctx_close(ctx);
	if (v != KZ_OK) {
		fprintf(stderr, "kztoken deny: %s\n", err);
		return EXIT_USAGE;
	}
	printf("denied %s\n", entry);
	return 0;
}
