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

/* The build hides every symbol (-fvisibility=hidden) and a version script
 * cannot re-export a hidden one: the PAM entry points must say so. */
#undef PAM_EXTERN
#define PAM_EXTERN __attribute__((visibility("default")))

#define DATA_NAME "pam_kztoken.decision"
#define MAX_PARTS 16
#define DEFAULT_PROMPT "Access token: "
/* sudo 1.9 takes at most 511 characters per answer and fails a longer
 * one with "Conversation error"; it shows prompts but, under PAM_SILENT,
 * no message: so the prompt itself says it. */
#define SUDO_PROMPT "Access token (sudo takes 511 characters per part: " \
	"fold -w 511): "

struct args {
	const char *config;
	const char *service;
	const char *prompt;
	int debug;
	int use_first_pass;
	int try_first_pass;
	int authz_in_account;	/* FORBIDDEN waits for acct_mgmt */
	int ignore_non_token;
	int chunked;
	int device_flow;	/* an empty answer starts RFC 8628 */
};

/* What a successful authenticate leaves for acct_mgmt: the verdict and
 * the user it bound, no secret.  Nothing is left after a failure, so
 * acct_mgmt never answers for a login another module let in. */
struct decision {
	kz_verdict verdict;
	char user[256];
	char msg[160];
};

static int
parse_args(pam_handle_t *pamh, int argc, const char **argv, struct args *a)
{
	memset(a, 0, sizeof(*a));
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
		else if (strcmp(s, "authz_in_account") == 0)
			a->authz_in_account = 1;
		else if (strcmp(s, "authz_in_auth") == 0)
			a->authz_in_account = 0;	/* the default */
		else if (strcmp(s, "ignore_non_token") == 0)
			a->ignore_non_token = 1;
		else if (strcmp(s, "chunked") == 0)
			a->chunked = 1;
		else if (strcmp(s, "device_flow") == 0)
			a->device_flow = 1;
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

static int
is_sudo(const char *service)
{
	return service != NULL && (strcmp(service, "sudo") == 0 ||
	    strcmp(service, "sudo-i") == 0);
}

/* What one authentication attempt works with. */
struct txn {
	pam_handle_t *pamh;
	const struct args *a;
	int flags;
	kz_ctx *ctx;
	const char *user;
	const char *service;	/* the PAM service, for the audit line */
	size_t max;		/* max_token_length */
};

static kz_request
request_for(const struct txn *t, const char *tok, size_t len,
    unsigned flags)
{
	kz_request req = { .token = tok, .token_len = len, .user = t->user,
		.log_service = t->service, .flags = flags,
		.service = t->a->service ? t->a->service : t->service };
	const void *rhost = NULL;

	/* the source of the rate limit of unknown tokens (ratelimit.c) */
	if (pam_get_item(t->pamh, PAM_RHOST, &rhost) == PAM_SUCCESS)
		req.source = rhost;
	return req;
}

static void
decide(const struct txn *t, const char *tok, size_t len, unsigned flags,
    kz_result *res)
{
	kz_request req = request_for(t, tok, len, flags);

	kz_decide(t->ctx, &req, res);
}

/*
 * The device authorization grant (DESIGN.md section 15), for a user with
 * no token at hand.  OpenSSH shows informational messages only with the
 * next prompt, and sudo's PAM_SILENT hides them: so the instructions are
 * the next prompt's own text.  Whatever the user types there is only the
 * Enter that starts the poll.  The token obtained is decided by libkzauth
 * as a pasted one, and *res is its decision (or why there was none).
 * Returns PAM_SUCCESS with *res filled, or PAM_CONV_ERR with no decision.
 */
static int
device_login(const struct txn *t, kz_result *res)
{
	kz_request req = request_for(t, NULL, 0, 0);
	kz_device *dev = NULL;
	char *enter;

	if (kz_device_start(t->ctx, &req, &dev, res) != KZ_OK)
		return PAM_SUCCESS;
	if ((enter = ask(t->pamh, kz_device_prompt(dev))) == NULL) {
		kz_device_free(dev);
		kz_result_clear(res);
		return PAM_CONV_ERR;
	}
	free_answer(enter);
	kz_result_clear(res);
	kz_device_poll(t->ctx, dev, &req, res);
	kz_device_free(dev);
	return PAM_SUCCESS;
}

/*
 * Asks for further parts and appends them to tok (a buffer of max + 2
 * bytes), at most MAX_PARTS in all.  Clients cut long input (sudo at 511,
 * the OpenSSH client at 1023), so a long token arrives in pieces of that
 * size, cap.  An empty answer ends the parts; so does a part shorter than
 * cap, since the client did not cut it: sudo refuses an empty answer
 * ("no password was provided"), so there the short last part must end it.
 * Past max characters it stops with max + 1 kept, so that the library
 * itself refuses the whole as too_long.  Returns -1 when the conversation
 * fails.
 */
static int
read_parts(const struct txn *t, char *tok, size_t *len, size_t cap)
{
	for (int part = 2; part <= MAX_PARTS; part++) {
		char prompt[128], *resp;
		size_t n, got;

		/* Under sudo (or at sudo's cap) the size goes into the prompt
		 * itself: sudo shows prompts but, under PAM_SILENT, none of
		 * the messages that say it elsewhere. */
		if (is_sudo(t->service) || cap == 511)
			snprintf(prompt, sizeof(prompt), "Token, part %d (sudo "
			    "takes 511 characters per part: fold -w 511; empty "
			    "line to finish): ", part);
		else
			snprintf(prompt, sizeof(prompt),
			    "Token, part %d (empty line to finish): ", part);
		if ((resp = ask(t->pamh, prompt)) == NULL)
			return -1;
		got = n = trim(resp);
		if (n == 0) {
			free_answer(resp);
			return 0;
		}
		if (*len + n > t->max + 1)
			n = t->max + 1 - *len;
		memcpy(tok + *len, resp, n);
		*len += n;
		tok[*len] = '\0';
		free_answer(resp);
		if (*len > t->max || (cap > 0 && got < cap))
			return 0;
	}
	return 0;
}

/*
 * Decides on one trimmed answer of len characters.  With `chunked`, or
 * when the answer looks cut short by the client, first collects the rest
 * (only where we may prompt: a stacked password cannot be continued).
 * Returns PAM_SUCCESS with *res filled by libkzauth, or PAM_CONV_ERR /
 * PAM_BUF_ERR with no decision: *res is never a verdict of our own making.
 */
static int
decide_answer(const struct txn *t, const char *answer, size_t len,
    int may_prompt, kz_result *res)
{
	char *tok;
	size_t n = len;
	int rc = PAM_SUCCESS;

	if (!may_prompt || len == 0 || len > t->max) {
		decide(t, answer, len, 0, res);
		return PAM_SUCCESS;
	}
	if ((tok = calloc(1, t->max + 2)) == NULL)
		return PAM_BUF_ERR;
	memcpy(tok, answer, len);
	if (t->a->chunked && read_parts(t, tok, &n,
	    kz_is_truncation_length(len) ? len : 0) != 0) {
		rc = PAM_CONV_ERR;
		goto out;
	}
	/* A first answer cut at a client's cap is only the first part of
	 * one attempt: no audit line for it, unless the parts never come
	 * (then it is the attempt: decided again, and logged). */
	decide(t, tok, n, t->a->chunked ? 0 : KZ_REQ_FIRST_PART, res);
	if (!t->a->chunked && res->verdict == KZ_UNAUTHENTICATED &&
	    res->reason == KZ_R_LIKELY_TRUNCATED) {
		tell(t->pamh, t->flags, PAM_TEXT_INFO, res->user_msg);
		kz_result_clear(res);
		if (read_parts(t, tok, &n, len) != 0) {
			tok[len] = '\0';
			decide(t, tok, len, 0, res);
			kz_result_clear(res);
			rc = PAM_CONV_ERR;
			goto out;
		}
		decide(t, tok, n, 0, res);
	}
out:
	explicit_bzero(tok, t->max + 2);
	free(tok);
	return rc;
}

/*
 * The PAM answer of authenticate (DESIGN.md section 7).  A FORBIDDEN is a
 * failure here unless the stack asked to hear it in acct_mgmt: a stack
 * that forgets the account line must not let a 403 in.
 */
static int
pam_code_auth(kz_verdict v, const struct args *a)
{
	switch (v) {
	case KZ_OK:
		return PAM_SUCCESS;
	case KZ_UNAUTHENTICATED:
		return PAM_AUTH_ERR;
	case KZ_FORBIDDEN:
		return a->authz_in_account ? PAM_SUCCESS : PAM_AUTH_ERR;
	case KZ_UNAVAILABLE:
		return PAM_AUTHINFO_UNAVAIL;
	default:
		return PAM_SERVICE_ERR;
	}
}

/* The adapter's own half of the binding invariant: libkzauth answered for
 * this very user, or nothing succeeds. */
static int
bound_to(const kz_result *res, const char *user)
{
	return res->id.user != NULL && strcmp(res->id.user, user) == 0;
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

/* The stacked password (use_first_pass, try_first_pass), or NULL. */
static char *
stacked_answer(pam_handle_t *pamh)
{
	const void *item = NULL;

	if (pam_get_item(pamh, PAM_AUTHTOK, &item) != PAM_SUCCESS ||
	    item == NULL)
		return NULL;
	return strdup(item);
}

PAM_EXTERN int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct args a;
	struct txn t = { .pamh = pamh, .a = &a, .flags = flags };
	struct decision d = { .verdict = KZ_ERROR };
	const void *item = NULL;
	char err[512], *answer = NULL;
	kz_result res = { 0 };
	size_t len;
	int stacked = 0, rc;

	if (parse_args(pamh, argc, argv, &a) != 0)
		return PAM_SERVICE_ERR;
	/* A stale decision of an earlier attempt must never answer acct. */
	pam_set_data(pamh, DATA_NAME, NULL, NULL);
	if (pam_get_user(pamh, &t.user, NULL) != PAM_SUCCESS ||
	    t.user == NULL || *t.user == '\0')
		return PAM_USER_UNKNOWN;
	if (pam_get_item(pamh, PAM_SERVICE, &item) == PAM_SUCCESS)
		t.service = item;
	snprintf(d.user, sizeof(d.user), "%s", t.user);
	if (kz_ctx_open(&t.ctx, a.config, err, sizeof(err)) != KZ_OK) {
		pam_syslog(pamh, LOG_ERR, "%s", err);
		tell(pamh, flags, PAM_ERROR_MSG,
		    "Token login is misconfigured on this host");
		return PAM_SERVICE_ERR;
	}
	if (a.debug)
		kz_ctx_set_debug(t.ctx, 1);
	t.max = kz_ctx_max_token_length(t.ctx);
	if (a.prompt == NULL)	/* no prompt= */
		a.prompt = is_sudo(t.service) ? SUDO_PROMPT : DEFAULT_PROMPT;

	if ((a.use_first_pass || a.try_first_pass) &&
	    (answer = stacked_answer(pamh)) != NULL)
		stacked = 1;
	else if (a.use_first_pass) {
		rc = PAM_AUTH_ERR;
		goto out;
	}
	for (;;) {
		if (answer == NULL && (answer = ask(pamh, a.prompt)) == NULL) {
			if (is_sudo(t.service))
				pam_syslog(pamh, LOG_NOTICE, "service=%s user=%s: "
				    "the conversation failed: sudo takes at most "
				    "511 characters per answer, so paste the token "
				    "in parts of 511 (fold -w 511)", t.service,
				    t.user);
			rc = PAM_CONV_ERR;
			goto out;
		}
		len = trim(answer);
		/* No token at hand: log in with a browser instead. */
		if (a.device_flow && len == 0 && !stacked) {
			if ((rc = device_login(&t, &res)) != PAM_SUCCESS)
				goto out;
			break;
		}
		if (a.ignore_non_token && kz_is_plainly_not_token(answer, len)) {
			/* A password: hand it on for the next module. */
			if (!stacked)
				pam_set_item(pamh, PAM_AUTHTOK, answer);
			rc = PAM_IGNORE;
			goto out;
		}
		/* try_first_pass: a stacked password that is no token, or a
		 * token that fails, earns a prompt of our own (as pam_unix). */
		if (stacked && a.try_first_pass && !a.use_first_pass &&
		    kz_is_plainly_not_token(answer, len)) {
			free_answer(answer);
			answer = NULL;
			stacked = 0;
			continue;
		}
		if ((rc = decide_answer(&t, answer, len, !stacked, &res)) !=
		    PAM_SUCCESS)
			goto out;
		if (stacked && a.try_first_pass && !a.use_first_pass &&
		    res.verdict == KZ_UNAUTHENTICATED) {
			kz_result_clear(&res);
			free_answer(answer);
			answer = NULL;
			stacked = 0;
			continue;
		}
		break;
	}
	rc = pam_code_auth(res.verdict, &a);
	if (rc == PAM_SUCCESS && !bound_to(&res, t.user)) {
		pam_syslog(pamh, LOG_CRIT, "refused: the decision for %s "
		    "names another user", t.user);
		rc = PAM_SERVICE_ERR;
	}
	if (rc != PAM_SUCCESS) {
		tell(pamh, flags, PAM_ERROR_MSG, res.user_msg);
		goto out;
	}
	d.verdict = res.verdict;
	snprintf(d.msg, sizeof(d.msg), "%s", res.user_msg);
	if (keep_decision(pamh, &d) != 0)
		rc = PAM_BUF_ERR;
out:
	free_answer(answer);
	kz_result_clear(&res);
	kz_ctx_close(t.ctx);
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
	/* Only a login this module let in is ours to judge. */
	if (pam_get_data(pamh, DATA_NAME, &data) != PAM_SUCCESS || data == NULL)
		return PAM_IGNORE;
	d = data;
	/* The decision bound one user; an application that switched users
	 * since authentication gets no blessing from it. */
	if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || user == NULL ||
	    strcmp(user, d->user) != 0)
		return PAM_PERM_DENIED;
	switch (d->verdict) {
	case KZ_OK:
		return PAM_SUCCESS;
	case KZ_FORBIDDEN:
		tell(pamh, flags, PAM_ERROR_MSG, d->msg);
		return PAM_PERM_DENIED;
	default:
		return PAM_PERM_DENIED;
	}
}

/* Nothing to do for credentials, sessions or passwords: answering
 * anything but success or ignore here would break logins. */
PAM_EXTERN int
pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return PAM_SUCCESS;
}

PAM_EXTERN int
pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return PAM_IGNORE;
}

PAM_EXTERN int
pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return PAM_IGNORE;
}

PAM_EXTERN int
pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	return PAM_IGNORE;
}
