/*
 * pam_kztoken.c - token login for sshd, login and sudo: a thin PAM adapter
 * over libkzauth (DESIGN.md section 7).
 *
 * authenticate reads the token, runs the whole decision once and keeps
 * only the verdict (never the token) with pam_set_data; acct_mgmt turns
 * that verdict into the account answer.  No global state, no threads, no
 * signal handlers: sshd and sudo may run many transactions in one process.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <security/pam_appl.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "kzauth.h"

#define DATA_NAME "pam_kztoken.decision"
#define MAX_PARTS 16
#define DEFAULT_PROMPT "Access token: "

struct args {
	const char *config;
	const char *service;
	const char *prompt;
	int debug;
	int use_first_pass;
	int try_first_pass;
	int authz_in_auth;
	int ignore_non_token;
	int chunked;
};

/* What authenticate leaves for acct_mgmt: the verdict, no secret. */
struct decision {
	kz_verdict verdict;
	kz_reason reason;
	int ignored;
	char user[256];
	char msg[160];
};

static int
parse_args(pam_handle_t *pamh, int argc, const char **argv, struct args *a)
{
	memset(a, 0, sizeof(*a));
	a->prompt = DEFAULT_PROMPT;
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];

		if (strncmp(s, "config=", 7) == 0)
			a->config = s + 7;
		else if (strncmp(s, "service=", 8) == 0)
			a->service = s + 8;
		else if (strncmp(s, "prompt=", 7) == 0)
			a->prompt = s + 7;
		else if (strcmp(s, "debug") == 0)
			a->debug = 1;
		else if (strcmp(s, "use_first_pass") == 0)
			a->use_first_pass = 1;
		else if (strcmp(s, "try_first_pass") == 0)
			a->try_first_pass = 1;
		else if (strcmp(s, "authz_in_auth") == 0)
			a->authz_in_auth = 1;
		else if (strcmp(s, "ignore_non_token") == 0)
			a->ignore_non_token = 1;
		else if (strcmp(s, "chunked") == 0)
			a->chunked = 1;
		else {
			/* A mistyped option could weaken the policy the
			 * administrator meant: refuse to guess. */
			pam_syslog(pamh, LOG_ERR, "unknown option: %s", s);
			return -1;
		}
	}
	return 0;
}

static void
cleanup_decision(pam_handle_t *pamh, void *data, int status)
{
	(void)pamh;
	(void)status;
	free(data);
}

static void
free_answer(char *s)
{
	kz_free_secret(s);
}

/* Trims white space a paste may carry around a token. */
static size_t
trim(char *s)
{
	size_t n = strlen(s), start = 0;

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
	    s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	while (start < n && (s[start] == ' ' || s[start] == '\t'))
		start++;
	if (start > 0) {
		memmove(s, s + start, n - start + 1);
		n -= start;
	}
	return n;
}

static char *
ask(pam_handle_t *pamh, const char *prompt)
{
	char *resp = NULL;

	if (pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &resp, "%s", prompt) !=
	    PAM_SUCCESS) {
		free_answer(resp);
		return NULL;
	}
	return resp;
}

static void
tell(pam_handle_t *pamh, int flags, int style, const char *msg)
{
	if (!(flags & PAM_SILENT) && msg != NULL && *msg != '\0')
		(void)pam_prompt(pamh, style, NULL, "%s", msg);
}

/*
 * Asks for further parts until an empty answer, at most MAX_PARTS in all
 * and never more than max characters, and appends them to *tok (a buffer
 * of max + 1 bytes).  Clients cut long input (sudo at 511, the OpenSSH
 * client at 1023), so a long token arrives in pieces.
 */
static int
read_parts(pam_handle_t *pamh, char *tok, size_t *len, size_t max)
{
	for (int part = 2; part <= MAX_PARTS; part++) {
		char prompt[64], *resp;
		size_t n;

		snprintf(prompt, sizeof(prompt),
		    "Token, part %d (empty line to finish): ", part);
		if ((resp = ask(pamh, prompt)) == NULL)
			return -1;
		n = trim(resp);
		if (n == 0) {
			free_answer(resp);
			return 0;
		}
		if (*len + n > max) {
			free_answer(resp);
			return -1;
		}
		memcpy(tok + *len, resp, n);
		*len += n;
		tok[*len] = '\0';
		free_answer(resp);
	}
	return 0;
}

static int
pam_code_auth(kz_verdict v, const struct args *a)
{
	switch (v) {
	case KZ_OK:
		return PAM_SUCCESS;
	case KZ_UNAUTHENTICATED:
		return PAM_AUTH_ERR;
	case KZ_FORBIDDEN:
		return a->authz_in_auth ? PAM_AUTH_ERR : PAM_SUCCESS;
	case KZ_UNAVAILABLE:
		return PAM_AUTHINFO_UNAVAIL;
	default:
		return PAM_SERVICE_ERR;
	}
}

static int
keep_decision(pam_handle_t *pamh, const struct decision *d)
{
	struct decision *copy = malloc(sizeof(*copy));

	if (copy == NULL)
		return -1;
	*copy = *d;
	if (pam_set_data(pamh, DATA_NAME, copy, cleanup_decision) !=
	    PAM_SUCCESS) {
		free(copy);
		return -1;
	}
	return 0;
}

/* Runs the decision; on a likely-truncated answer, collects the rest. */
static kz_verdict
validate(pam_handle_t *pamh, kz_ctx *ctx, const struct args *a, int flags,
    const char *user, const char *pam_service, char *tok, size_t *len,
    int may_prompt, kz_result *res)
{
	kz_request req = { .user = user, .log_service = pam_service,
		.service = a->service ? a->service : pam_service };
	size_t max = kz_ctx_max_token_length(ctx);
	kz_verdict v;

	if (a->chunked && may_prompt) {
		if (read_parts(pamh, tok, len, max) != 0)
			return KZ_UNAUTHENTICATED;
	}
	req.token = tok;
	req.token_len = *len;
	v = kz_decide(ctx, &req, res);
	if (v == KZ_UNAUTHENTICATED && res->reason == KZ_R_LIKELY_TRUNCATED &&
	    may_prompt && !a->chunked) {
		tell(pamh, flags, PAM_TEXT_INFO, res->user_msg);
		if (read_parts(pamh, tok, len, max) != 0)
			return v;
		kz_result_clear(res);
		req.token_len = *len;
		v = kz_decide(ctx, &req, res);
	}
	return v;
}

PAM_EXTERN int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct args a;
	struct decision d = { .verdict = KZ_ERROR };
	const char *user = NULL, *service = NULL;
	const void *item = NULL;
	char err[512], *answer = NULL, *tok = NULL;
	kz_ctx *ctx = NULL;
	kz_result res = { 0 };
	size_t len, max;
	int may_prompt = 1, rc;

	if (parse_args(pamh, argc, argv, &a) != 0)
		return PAM_SERVICE_ERR;
	/* A stale decision of an earlier attempt must never answer acct. */
	pam_set_data(pamh, DATA_NAME, NULL, NULL);
	if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || user == NULL ||
	    *user == '\0')
		return PAM_USER_UNKNOWN;
	if (pam_get_item(pamh, PAM_SERVICE, &item) == PAM_SUCCESS)
		service = item;
	if (kz_ctx_open(&ctx, a.config, err, sizeof(err)) != KZ_OK) {
		pam_syslog(pamh, LOG_ERR, "%s", err);
		tell(pamh, flags, PAM_ERROR_MSG,
		    "Token login is misconfigured on this host");
		return PAM_SERVICE_ERR;
	}
	if (a.debug)
		kz_ctx_set_debug(ctx, 1);
	max = kz_ctx_max_token_length(ctx);

	if (a.use_first_pass || a.try_first_pass) {
		item = NULL;
		if (pam_get_item(pamh, PAM_AUTHTOK, &item) == PAM_SUCCESS &&
		    item != NULL)
			answer = strdup(item);
		if (answer != NULL)
			may_prompt = 0;
		else if (a.use_first_pass) {
			rc = PAM_AUTH_ERR;
			goto out;
		}
	}
	if (answer == NULL && (answer = ask(pamh, a.prompt)) == NULL) {
		rc = PAM_CONV_ERR;
		goto out;
	}
	len = trim(answer);
	if (a.ignore_non_token && kz_is_plainly_not_token(answer, len)) {
		/* A password: hand it on for the next module to try. */
		if (may_prompt)
			pam_set_item(pamh, PAM_AUTHTOK, answer);
		d.ignored = 1;
		keep_decision(pamh, &d);
		rc = PAM_IGNORE;
		goto out;
	}
	if (len == 0 || len > max || (tok = calloc(1, max + 1)) == NULL) {
		/* empty input or over the cap: let the library say why */
		kz_request req = { .token = answer, .token_len = len,
			.user = user, .log_service = service,
			.service = a.service ? a.service : service };
		kz_decide(ctx, &req, &res);
		if (res.verdict == KZ_OK)	/* cannot happen; fail closed */
			res.verdict = KZ_ERROR;
	} else {
		memcpy(tok, answer, len);
		validate(pamh, ctx, &a, flags, user, service, tok, &len,
		    may_prompt, &res);
	}
	d.verdict = res.verdict;
	d.reason = res.reason;
	snprintf(d.user, sizeof(d.user), "%s", user);
	snprintf(d.msg, sizeof(d.msg), "%s", res.user_msg);
	if (keep_decision(pamh, &d) != 0) {
		rc = PAM_BUF_ERR;
		goto out;
	}
	rc = pam_code_auth(res.verdict, &a);
	if (rc != PAM_SUCCESS)
		tell(pamh, flags, PAM_ERROR_MSG, res.user_msg);
out:
	if (tok != NULL) {
		explicit_bzero(tok, max + 1);
		free(tok);
	}
	free_answer(answer);
	kz_result_clear(&res);
	kz_ctx_close(ctx);
	return rc;
}

PAM_EXTERN int
pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	const void *data = NULL;
	const struct decision *d;
	const char *user = NULL;
	struct args a;

	if (parse_args(pamh, argc, argv, &a) != 0)
		return PAM_SERVICE_ERR;
	if (pam_get_data(pamh, DATA_NAME, &data) != PAM_SUCCESS || data == NULL)
		return PAM_IGNORE;	/* not a token login */
	d = data;
	if (d->ignored)
		return PAM_IGNORE;
	/* The decision bound one user; an application that switched users
	 * since authentication gets no blessing from it. */
	if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || user == NULL ||
	    strcmp(user, d->user) != 0)
		return PAM_PERM_DENIED;
	switch (d->verdict) {
	case KZ_OK:
		return PAM_SUCCESS;
	case KZ_UNAUTHENTICATED:
		return PAM_AUTH_ERR;
	case KZ_FORBIDDEN:
		tell(pamh, flags, PAM_ERROR_MSG, d->msg);
		return PAM_PERM_DENIED;
	default:
		return PAM_PERM_DENIED;
	}
}

PAM_EXTERN int
pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_SUCCESS;
}

PAM_EXTERN int
pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_IGNORE;
}

PAM_EXTERN int
pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_IGNORE;
}

PAM_EXTERN int
pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_IGNORE;
}
