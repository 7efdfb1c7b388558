/*
 * bench_pam.c - one in-process PAM transaction with pam_kztoken.so, as
 * sshd's auth child runs it: pam_start, pam_authenticate, pam_acct_mgmt,
 * pam_end.  Run under pam_wrapper (run.sh sets LD_PRELOAD and the service
 * directory).  Prints the latency of authenticate + acct_mgmt and of the
 * whole transaction (pam_start loads the module).
 *
 *   bench_pam SERVICE USER TOKENFILE COUNT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <security/pam_appl.h>

#include "bench_util.h"

static const char *token;

static int
conv(int n, const struct pam_message **msg, struct pam_response **resp,
    void *arg)
{
	struct pam_response *r = calloc((size_t)n, sizeof(*r));

	(void)arg;
	if (r == NULL)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++)
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF ||
		    msg[i]->msg_style == PAM_PROMPT_ECHO_ON)
			r[i].resp = strdup(token);
	*resp = r;
	return PAM_SUCCESS;
}

int
main(int argc, char **argv)
{
	struct pam_conv pc = { conv, NULL };
	static char tok[20000];
	double *aa, *tx, t0, t1, t2;
	long n;
	size_t len;
	FILE *f;

	if (argc != 5 || (f = fopen(argv[3], "r")) == NULL)
		return 2;
	len = fread(tok, 1, sizeof(tok) - 1, f);
	fclose(f);
	while (len > 0 && tok[len - 1] == '\n')
		len--;
	tok[len] = '\0';
	token = tok;
	n = atol(argv[4]);
	aa = calloc((size_t)n, sizeof(*aa));
	tx = calloc((size_t)n, sizeof(*tx));
	for (long i = 0; i < n; i++) {
		pam_handle_t *pamh;
		int rc;

		t0 = now_s();
		if (pam_start(argv[1], argv[2], &pc, &pamh) != PAM_SUCCESS)
			return 1;
		t1 = now_s();
		rc = pam_authenticate(pamh, 0);
		if (rc == PAM_SUCCESS)
			rc = pam_acct_mgmt(pamh, 0);
		t2 = now_s();
		if (rc != PAM_SUCCESS) {
			fprintf(stderr, "PAM: %s\n", pam_strerror(pamh, rc));
			return 1;
		}
		pam_end(pamh, rc);
		aa[i] = (t2 - t1) * 1e3;
		tx[i] = (now_s() - t0) * 1e3;
	}
	qsort(aa, (size_t)n, sizeof(*aa), cmp_double);
	qsort(tx, (size_t)n, sizeof(*tx), cmp_double);
	printf("authacct_p50_ms %.3f\nauthacct_p99_ms %.3f\n"
	    "txn_p50_ms %.3f\ntxn_p99_ms %.3f\n", aa[n / 2],
	    aa[(size_t)(n * 0.99)], tx[n / 2], tx[(size_t)(n * 0.99)]);
	return 0;
}
