/*
 * kzpam.c - drives PAM transactions through libpam (under pam_wrapper)
 * with libpamtest, for tests/pam/test_*.sh.  Compiled by the suite itself.
 *
 *   kzpam [-s] [-n LOOPS] [-a FILE] SERVICE USER OP=EXPECTED...
 *
 * OP is auth, acct, setcred, open, close or getenv; EXPECTED a PAM code
 * name (PAM_SUCCESS, PAM_AUTH_ERR, ...; PAM_SUCCESS for getenv, which
 * prints the PAM environment as "penv: NAME=VALUE": pam_get_items.so puts
 * the PAM items there, so only use it where they hold no token).  The operations run in order in one
 * transaction and stop at the first that does not answer as expected.
 * Each line of stdin answers one prompt, in order; when none is left the
 * conversation fails.  -a FILE puts the first line of FILE in the
 * environment as PAM_AUTHTOK, for pam_wrapper's pam_set_items.so to hand
 * on as a stacked password (so the token is in no argv).  -n runs the same
 * transaction LOOPS times in this process (pam_start .. pam_end each).
 * -s passes PAM_SILENT to every operation, as sudo does.
 *
 * Prints every conversation message of the first transaction as
 * "conv: STYLE: text" (prompts too), then "result: OP=CODE ..." for what
 * ran in the last one (and "mismatches=N" with -n).  Exit 0 when every
 * transaction answered as expected, 1 otherwise, 2 on usage errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <security/pam_appl.h>
#include <libpamtest.h>

#define MAX_OPS 8
#define MAX_ANSWERS 64

static const struct {
	const char *name;
	int code;
} codes[] = {
	{ "PAM_SUCCESS", PAM_SUCCESS },
	{ "PAM_AUTH_ERR", PAM_AUTH_ERR },
	{ "PAM_PERM_DENIED", PAM_PERM_DENIED },
	{ "PAM_AUTHINFO_UNAVAIL", PAM_AUTHINFO_UNAVAIL },
	{ "PAM_SERVICE_ERR", PAM_SERVICE_ERR },
	{ "PAM_SYSTEM_ERR", PAM_SYSTEM_ERR },
	{ "PAM_IGNORE", PAM_IGNORE },
	{ "PAM_USER_UNKNOWN", PAM_USER_UNKNOWN },
	{ "PAM_CONV_ERR", PAM_CONV_ERR },
	{ "PAM_BUF_ERR", PAM_BUF_ERR },
	{ "PAM_CRED_ERR", PAM_CRED_ERR },
	{ "PAM_CRED_INSUFFICIENT", PAM_CRED_INSUFFICIENT },
	{ "PAM_MAXTRIES", PAM_MAXTRIES },
	{ "PAM_ABORT", PAM_ABORT },
	{ "PAM_SESSION_ERR", PAM_SESSION_ERR },
	{ "PAM_ACCT_EXPIRED", PAM_ACCT_EXPIRED },
	{ "PAM_NEW_AUTHTOK_REQD", PAM_NEW_AUTHTOK_REQD },
};

static const struct {
	const char *name;
	enum pamtest_ops op;
} ops[] = {
	{ "auth", PAMTEST_AUTHENTICATE },
	{ "acct", PAMTEST_ACCOUNT },
	{ "setcred", PAMTEST_SETCRED },
	{ "open", PAMTEST_OPEN_SESSION },
	{ "close", PAMTEST_CLOSE_SESSION },
	{ "getenv", PAMTEST_GETENVLIST },
};

struct conv_state {
	char **answers;
	size_t nanswers, next;
	int print;
};

static const char *
code_name(int code)
{
	static char other[32];

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i].code == code)
			return codes[i].name;
	snprintf(other, sizeof(other), "PAM_CODE_%d", code);
	return other;
}

static int
code_of(const char *name)
{
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(codes[i].name, name) == 0)
			return codes[i].code;
	return -1;
}

static const char *
op_name(enum pamtest_ops op)
{
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (ops[i].op == op)
			return ops[i].name;
	return "?";
}

static const char *
style_name(int style)
{
	switch (style) {
	case PAM_PROMPT_ECHO_OFF:
		return "PROMPT_ECHO_OFF";
	case PAM_PROMPT_ECHO_ON:
		return "PROMPT_ECHO_ON";
	case PAM_ERROR_MSG:
		return "ERROR_MSG";
	case PAM_TEXT_INFO:
		return "TEXT_INFO";
	default:
		return "OTHER";
	}
}

static void
free_replies(struct pam_response *r, int n)
{
	for (int i = 0; i < n; i++)
		free(r[i].resp);
	free(r);
}

static int
conv(int n, const struct pam_message **msg, struct pam_response **resp,
    void *arg)
{
	struct conv_state *cs = arg;
	struct pam_response *r;

	if (n <= 0 || (r = calloc((size_t)n, sizeof(*r))) == NULL)
		return PAM_CONV_ERR;
	for (int i = 0; i < n; i++) {
		int style = msg[i]->msg_style;

		if (cs->print)
			printf("conv: %s: %s\n", style_name(style),
			    msg[i]->msg);
		if (style != PAM_PROMPT_ECHO_OFF && style != PAM_PROMPT_ECHO_ON)
			continue;
		if (cs->next >= cs->nanswers) {
			/* like a client that reached end of input */
			free_replies(r, n);
			return PAM_CONV_ERR;
		}
		if ((r[i].resp = strdup(cs->answers[cs->next++])) == NULL) {
			free_replies(r, n);
			return PAM_BUF_ERR;
		}
	}
	fflush(stdout);
	*resp = r;
	return PAM_SUCCESS;
}

static int
read_answers(struct conv_state *cs)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	cs->answers = calloc(MAX_ANSWERS, sizeof(char *));
	if (cs->answers == NULL)
		return -1;
	while ((len = getline(&line, &cap, stdin)) >= 0) {
		if (cs->nanswers == MAX_ANSWERS)
			break;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if ((cs->answers[cs->nanswers++] = strdup(line)) == NULL)
			return -1;
	}
	free(line);
	return 0;
}

/* The first line of path, as PAM_AUTHTOK for pam_set_items.so. */
static int
authtok_from(const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int rc = -1;

	if (f == NULL)
		return -1;
	if ((len = getline(&line, &cap, f)) >= 0) {
		if (len > 0 && line[len - 1] == '\n')
			line[len - 1] = '\0';
		rc = setenv("PAM_AUTHTOK", line, 1);
	}
	free(line);
	fclose(f);
	return rc;
}

static void
usage(void)
{
	fprintf(stderr, "usage: kzpam [-s] [-n LOOPS] [-a FILE] SERVICE USER "
	    "OP=PAM_CODE...\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct pam_testcase cases[MAX_OPS], tc[MAX_OPS];
	struct conv_state cs = { 0 };
	const char *service, *user;
	size_t ncases = 0;
	long loops = 1, mismatches = 0;
	int ch, flags = 0;

	while ((ch = getopt(argc, argv, "a:n:s")) != -1) {
		switch (ch) {
		case 's':
			flags = PAM_SILENT;
			break;
		case 'a':
			if (authtok_from(optarg) != 0) {
				fprintf(stderr, "kzpam: cannot read %s\n",
				    optarg);
				return 2;
			}
			break;
		case 'n':
			loops = strtol(optarg, NULL, 10);
			if (loops < 1 || loops > 100000)
				usage();
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 3 || argc - 2 > MAX_OPS)
		usage();
	service = argv[0];
	user = argv[1];
	for (int i = 2; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		size_t k;

		if (eq == NULL)
			usage();
		*eq = '\0';
		for (k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
			if (strcmp(ops[k].name, argv[i]) == 0)
				break;
		if (k == sizeof(ops) / sizeof(ops[0]) || code_of(eq + 1) < 0)
			usage();
		memset(&cases[ncases], 0, sizeof(cases[ncases]));
		cases[ncases].pam_operation = ops[k].op;
		cases[ncases].expected_rv = code_of(eq + 1);
		cases[ncases].flags = flags;
		/* -1: not run; getenv sets no code (its list says it ran) */
		cases[ncases].op_rv = ops[k].op == PAMTEST_GETENVLIST ? 0 : -1;
		ncases++;
	}
	if (read_answers(&cs) != 0) {
		fprintf(stderr, "kzpam: out of memory\n");
		return 2;
	}

	for (long l = 0; l < loops; l++) {
		enum pamtest_err perr;

		memcpy(tc, cases, sizeof(tc[0]) * ncases);
		cs.next = 0;
		cs.print = (l == 0);
		perr = _pamtest_conv(service, user, conv, &cs, tc, ncases,
		    NULL);
		for (size_t i = 0; i < ncases; i++) {
			char **env = tc[i].case_out.envlist;

			if (tc[i].pam_operation != PAMTEST_GETENVLIST)
				continue;
			for (size_t k = 0; env != NULL && env[k] != NULL; k++)
				if (l == 0)
					printf("penv: %s\n", env[k]);
			pamtest_free_env(env);
		}
		if (perr != PAMTEST_ERR_OK) {
			mismatches++;
			if (perr != PAMTEST_ERR_CASE)
				printf("pamtest: %s\n", pamtest_strerror(perr));
		}
	}
	printf("result:");
	for (size_t i = 0; i < ncases; i++) {
		if (tc[i].pam_operation == PAMTEST_GETENVLIST)
			continue;
		printf(" %s=%s", op_name(tc[i].pam_operation),
		    tc[i].op_rv == -1 ? "-" : code_name(tc[i].op_rv));
	}
	printf("\n");
	if (loops > 1)
		printf("mismatches=%ld\n", mismatches);
	for (size_t i = 0; i < cs.nanswers; i++) {
		explicit_bzero(cs.answers[i], strlen(cs.answers[i]));
		free(cs.answers[i]);
	}
	free(cs.answers);
	return mismatches ? 1 : 0;
}
