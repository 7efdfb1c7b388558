/*
 * test_sanitize.c - kz_sanitize, the one sanitiser of the audit line and
 * of every kztoken output: no byte outside printable ASCII survives, in
 * place or not, cut to the buffer; word mode as the audit line wants it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kztest.h"

static void
test_text_mode(void **state)
{
	char out[64];

	(void)state;
	assert_string_equal(kz_sanitize(out, sizeof(out),
	    "a\x1b[31mb\r\nc\x07\x7f\xc2\x9b" "d e\"f", 0), "a?[31mb??c????d e\"f");
	assert_string_equal(kz_sanitize(out, sizeof(out), NULL, 0), "");
	assert_string_equal(kz_sanitize(out, sizeof(out), "", 0), "");
	assert_string_equal(kz_sanitize(out, 4, "abcdef", 0), "abc");
	out[0] = 'x';
	kz_sanitize(out, 0, "abc", 0);		/* writes nothing */
	assert_int_equal(out[0], 'x');
	assert_string_equal(kz_sanitize(out, 1, "abc", 0), "");
}

static void
test_word_mode(void **state)
{
	char out[64];

	(void)state;
	assert_string_equal(kz_sanitize(out, sizeof(out), "a b\"c\td", 1),
	    "a?b?c?d");
	assert_string_equal(kz_sanitize(out, sizeof(out), NULL, 1), "-");
	assert_string_equal(kz_sanitize(out, sizeof(out), "", 1), "-");
}

static void
test_in_place(void **state)
{
	char s[] = "ev\x1b]0;pwn\x07il\n";

	(void)state;
	assert_ptr_equal(kz_sanitize(s, sizeof(s), s, 0), s);
	assert_string_equal(s, "ev?]0;pwn?il?");
}

/*
 * kz_audit makes each piece printable as it copies it in and sends the
 * line without a second pass: the line must be byte for byte what the
 * former way gave (each value sanitised as a word into a buffer of its
 * own size, the pieces joined and cut at 1023 bytes, the whole line
 * sanitised again).  That way is spelt out here as the reference.
 */
static char audit_got[2048];

static void
keep_line(void *arg, int prio, const char *line)
{
	(void)arg;
	(void)prio;
	snprintf(audit_got, sizeof(audit_got), "%s", line);
}

static void
ref_put(char *buf, size_t *len, const char *s)
{
	size_t n = strlen(s), room = 1024 - 1 - *len;

	if (n > room)
		n = room;
	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = '\0';
}

static void
ref_audit(char out[1024], const kz_request *req, const kz_result *res)
{
	char svc[64], user[128], iss[256], sub[128], kid[96], buf[1024];
	const char *s = req->log_service ? req->log_service : req->service;
	size_t l = 0;

	buf[0] = '\0';
	kz_sanitize(svc, sizeof(svc), s ? s : "default", 1);
	kz_sanitize(user, sizeof(user), req->user ? req->user : res->id.user,
	    1);
	kz_sanitize(iss, sizeof(iss), res->id.iss, 1);
	kz_sanitize(sub, sizeof(sub), res->id.sub, 1);
	kz_sanitize(kid, sizeof(kid), res->id.kid, 1);
	ref_put(buf, &l, "service=");
	ref_put(buf, &l, svc);
	ref_put(buf, &l, " user=");
	ref_put(buf, &l, user);
	ref_put(buf, &l, " verdict=");
	ref_put(buf, &l, kz_verdict_name(res->verdict));
	ref_put(buf, &l, " reason=");
	ref_put(buf, &l, kz_reason_name(res->reason));
	ref_put(buf, &l, " iss=");
	ref_put(buf, &l, iss);
	ref_put(buf, &l, " sub=");
	ref_put(buf, &l, sub);
	ref_put(buf, &l, " kid=");
	ref_put(buf, &l, kid);
	ref_put(buf, &l, req->device ? " method=device fp=" :
	    " method=token fp=");
	ref_put(buf, &l, res->fp[0] ? res->fp : "-");
	if (res->enrollment) {
		ref_put(buf, &l, " enrollment=");
		ref_put(buf, &l, res->enrollment);
	}
	if (req->flags & KZ_REQ_VIA_CHECK)
		ref_put(buf, &l, " via=check");
	kz_sanitize(out, 1024, buf, 0);
}

static void
test_audit_line(void **state)
{
	static char big[8][1100];
	static const size_t big_len[] = { 62, 63, 64, 95, 127, 255, 256, 1050 };
	const char *plain[] = { NULL, "", "alice", "a b\"c\td",
		"\x1b[2J\r\nkztoken[1]: verdict=OK \xc3\xa9\x7f", " ", "\"",
		"-", "https://127.0.0.1:34107/realms/x" };
	const char *pick[KZ_NELEM(plain) + KZ_NELEM(big)];
	kz_ctx *ctx = kzt_ctx("audit-line", NULL);
	char want[1024];
	uint32_t seed = 0x61756469;
	size_t np = 0;
	char *logfile;

	(void)state;
	for (size_t i = 0; i < KZ_NELEM(plain); i++)
		pick[np++] = plain[i];
	for (size_t i = 0; i < KZ_NELEM(big); i++) {
		for (size_t j = 0; j < big_len[i]; j++)
			big[i][j] = i % 2 ? (char)('a' + j % 26) :
			    " \"\x01\xff" "xY"[j % 6];
		big[i][big_len[i]] = '\0';
		pick[np++] = big[i];
	}
	/* made-up values, not decisions: kept out of the suite's log file
	 * (tests/run.sh looks there for token-like text) */
	logfile = getenv("KZTOKEN_LOG_FILE") ? strdup(getenv(
	    "KZTOKEN_LOG_FILE")) : NULL;
	unsetenv("KZTOKEN_LOG_FILE");
	kz_ctx_set_log(ctx, keep_line, NULL);
	for (int iter = 0; iter < 20000; iter++) {
		kz_request req = { 0 };
		kz_result res = { 0 };
		const char *v[8];

		for (size_t i = 0; i < KZ_NELEM(v); i++) {
			seed = seed * 1103515245u + 12345u;
			v[i] = pick[(seed >> 16) % np];
		}
		req.log_service = (seed >> 3) & 1 ? v[0] : NULL;
		req.service = (seed >> 4) & 1 ? v[1] : NULL;
		req.user = (seed >> 5) & 1 ? v[2] : NULL;
		req.device = (seed >> 6) & 1;
		req.flags = (seed >> 7) & 1 ? KZ_REQ_VIA_CHECK : 0;
		res.id.user = (char *)v[3];
		res.id.iss = (char *)v[4];
		res.id.sub = (char *)v[5];
		res.id.kid = (char *)v[6];
		res.enrollment = (seed >> 8) & 1 ? (char *)v[7] : NULL;
		res.verdict = (kz_verdict)((seed >> 9) % 7);
		res.reason = (kz_reason)((seed >> 12) % (KZ_R_MAX + 2));
		if ((seed >> 20) & 1)
			snprintf(res.fp, sizeof(res.fp), "%s", v[7] ? v[7] :
			    "0123456789ab");
		ref_audit(want, &req, &res);
		audit_got[0] = '\0';
		kz_audit(ctx, &req, &res);
		assert_string_equal(audit_got, want);
	}
	kz_ctx_set_log(ctx, NULL, NULL);
	kz_ctx_close(ctx);
	if (logfile != NULL)
		setenv("KZTOKEN_LOG_FILE", logfile, 1);
	free(logfile);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_mode),
		cmocka_unit_test(test_word_mode),
		cmocka_unit_test(test_in_place),
		cmocka_unit_test(test_audit_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
