/*
 * cmd_exec.c - `kztoken exec NAME -- COMMAND [ARG...]` (DESIGN.md section
 * 8): runs COMMAND with a valid access token of enrollment NAME in its
 * environment as OAUTH_ACCESS_TOKEN, and the provider's client_id as
 * OAUTH_CLIENT_ID, the names of the OAuth2 connector scheme.  The refresh
 * token and the client secret stay in the store: they are never in this
 * process's environment, argv or output.
 *
 * The token comes from the enrollment's access path (refreshed first when
 * due; a still valid cached token serves while the provider is down or
 * another process holds the lock), so a job is never left without one
 * while one is valid.  kztoken then becomes COMMAND (execvp): COMMAND's
 * exit status is kztoken's, and signals reach it directly.  When no token
 * can be had, COMMAND does not run and the exit code is the verdict's;
 * when COMMAND cannot be run, 127 (not found) or 126, as a shell says.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kztoken.h"

static int
usage(void)
{
	fprintf(stderr, "usage: kztoken exec NAME -- COMMAND [ARG...]\n");
	return EXIT_USAGE;
}

int
cmd_exec(int argc, char **argv, const char *config)
{
	char client_id[256];
	kz_result res;
	kz_ctx *ctx;
	char *tok = NULL;
	int rc;

	if (argc < 4 || argv[1][0] == '-' || strcmp(argv[2], "--") != 0)
		return usage();
	if ((ctx = tool_open(config)) == NULL)
		return EXIT_USAGE;
	rc = kz_enrollment_token(ctx, argv[1], 0, &tok, &res);
	if (rc != KZ_OK) {
		fprintf(stderr, "kztoken exec: %s\n", tool_clean(res.detail));
		kz_result_clear(&res);
		kz_ctx_close(ctx);
		return rc;
	}
	kz_result_clear(&res);
	rc = kz_enrollment_client_id(ctx, argv[1], client_id,
	    sizeof(client_id), &res);
	kz_result_clear(&res);
	kz_ctx_close(ctx);
	/* the child's environment is its own: none of ours may claim to be
	 * this enrollment's */
	if (rc != KZ_OK || setenv("OAUTH_ACCESS_TOKEN", tok, 1) != 0 ||
	    (client_id[0] != '\0' ? setenv("OAUTH_CLIENT_ID", client_id, 1) :
	    unsetenv("OAUTH_CLIENT_ID")) != 0) {
		fprintf(stderr, "kztoken exec: cannot set up the environment\n");
		kz_free_secret(tok);
		return rc != KZ_OK ? rc : EXIT_USAGE;
	}
	kz_free_secret(tok);	/* setenv keeps its own copy */
	fflush(NULL);
	execvp(argv[3], argv + 3);
	rc = errno == ENOENT ? 127 : 126;
	fprintf(stderr, "kztoken exec: %s: %s\n", argv[3], strerror(errno));
	unsetenv("OAUTH_ACCESS_TOKEN");
	return rc;
}
