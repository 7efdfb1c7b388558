/*
 * test_device.c - login by device authorization (RFC 8628) against the
 * test IdP: every outcome of the poll gives its exact verdict and reason,
 * the access token goes through the whole pipeline (binding, policy,
 * step-up), the flow keeps device_timeout + timeout, and no log line holds
 * the device code or the user code.  Approval is scripted through the
 * IdP's /test/device between kz_device_start and kz_device_poll.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kztest.h"

static kz_ctx *ctx;
static char *logbuf;	/* every log line of ctx since the last reset */

static char *
extra(const char *more)
{
	static char buf[2048];

	snprintf(buf, sizeof(buf),
	    "device_authorization_url = %s/device_authorization\n"
	    "token_url = %s/token\n"
	    "device_client_id = kztoken-device\n"
	    "device_timeout = 5\n"
	    "%s"
	    "[service sudo]\nrequire_group = ops-admins\n"
	    "[service mfa]\nrequire_acr = mfa, phr\nrequire_amr = otp\n",
	    kzt_idp_url(), kzt_idp_url(), more ? more : "");
	return buf;
}

static int
setup(void **state)
{
	(void)state;
	kzt_fault("none", NULL);
	free(kzt_idp("POST", "/test/device_mode",
	    "{\"reset\":true,\"interval\":1,\"expires_in\":600}"));
	ctx = kzt_ctx("device", extra(NULL));
	logbuf = kzt_capture_log(ctx);
	kz_ctx_set_debug(ctx, 1);
	return ctx == NULL;
}

static int
teardown(void **state)
{
	(void)state;
	kzt_fault("none", NULL);
	kz_ctx_close(ctx);
	return 0;
}

static int
each(void **state)
{
	(void)state;
	kzt_fault("none", NULL);
	free(kzt_idp("POST", "/test/device_mode",
	    "{\"interval\":1,\"expires_in\":600,\"slow_down\":0}"));
	return 0;
}

/* The user code in "Open URL and enter CODE, then press Enter: ". */
static void
user_code_of(const kz_device *dev, char *code, size_t n)
{
	const char *p = strstr(kz_device_prompt(dev), " and enter ");
	const char *e = p ? strstr(p, ", then press Enter: ") : NULL;

	assert_non_null(e);
	p += strlen(" and enter ");
	assert_true((size_t)(e - p) < n);
	memcpy(code, p, (size_t)(e - p));
	code[e - p] = '\0';
}

static void
script(const char *code, const char *json_rest)
{
	char body[512], *ans;

	snprintf(body, sizeof(body), "{\"user_code\":\"%s\"%s%s}", code,
	    json_rest ? "," : "", json_rest ? json_rest : "");
	ans = kzt_idp("POST", "/test/device", body);
	assert_non_null(ans);
	free(ans);
}

static double
now_s(void)
{
	return (double)kz_monotonic_ms() / 1000.0;
}

/*
 * The whole flow: start, check the prompt, script the IdP's answer, poll.
 * Returns the seconds the poll took; res holds the outcome.
 */
static double
flow(kz_ctx *c, const char *user, const char *service, const char *approval,
    kz_result *res)
{
	kz_request req = { .user = user, .service = service };
	kz_device *dev = NULL;
	char code[80], *p;
	double t0;

	assert_int_equal(kz_device_start(c, &req, &dev, res), KZ_OK);
	assert_non_null(dev);
	user_code_of(dev, code, sizeof(code));
	/* verification_uri_complete where the provider gives one */
	p = strstr(kz_device_prompt(dev), "/device?user_code=");
	assert_non_null(p);
	assert_int_equal(strncmp(kz_device_prompt(dev), "Open https://", 13), 0);
	if (approval != NULL)
		script(code, approval);
	kz_result_clear(res);
	t0 = now_s();
	kz_device_poll(c, dev, &req, res);
	kz_device_free(dev);
	return now_s() - t0;
}

static void
approved(void **state)
{
	kz_result res;
	size_t mark = strlen(logbuf);

	(void)state;
	flow(ctx, "alice", "sshd", "\"action\":\"approve\",\"user\":\"alice\"",
	    &res);
	assert_decision(&res, KZ_OK, KZ_R_NONE);
	assert_string_equal(res.id.user, "alice");
	assert_int_equal(res.id.source, KZ_SRC_JWT);
	assert_int_equal(strlen(res.fp), 12);
	if (strstr(logbuf + mark, "service=sshd user=alice verdict=OK reason=none ")
	    == NULL || strstr(logbuf + mark, " method=device fp=") == NULL)
		fail_msg("no method=device audit line in:\n%s", logbuf + mark);
	kz_result_clear(&res);
}

static void
pending_then_approved(void **state)
{
	kz_result res;
	double s;

	(void)state;
	s = flow(ctx, "alice", "sshd", "\"action\":\"approve\",\"user\":\"alice\","
	    "\"after_polls\":2", &res);
	assert_decision(&res, KZ_OK, KZ_R_NONE);
	/* two authorization_pending answers, each followed by the interval */
	if (s < 1.9 || s > 4.5)
		fail_msg("poll took %.2fs, want about 2s (interval 1)", s);
	kz_result_clear(&res);
}

static void
slow_down(void **state)
{
	kz_result res;
	double s;

	/* device_timeout 5 is shorter than 1 + 5: this one waits longer
	 * (the later of two device_timeout lines counts) */
	kz_ctx *c = kzt_ctx("device-slow", extra("device_timeout = 10\n"));

	(void)state;
	free(kzt_idp("POST", "/test/device_mode", "{\"slow_down\":1}"));
	s = flow(c, "alice", "sshd", "\"action\":\"approve\",\"user\":\"alice\"",
	    &res);
	kz_ctx_close(c);
	assert_decision(&res, KZ_OK, KZ_R_NONE);
	/* slow_down adds 5 s to the interval of 1 s */
	if (s < 5.9 || s > 8.0)
		fail_msg("poll took %.2fs, want about 6s (1 + 5)", s);
	kz_result_clear(&res);
}

static void
denied(void **state)
{
	kz_result res;
	size_t mark = strlen(logbuf);

	(void)state;
	flow(ctx, "alice", "sshd", "\"action\":\"deny\"", &res);
	assert_decision(&res, KZ_UNAUTHENTICATED, KZ_R_ACCESS_DENIED);
	assert_string_equal(res.user_msg, "Login refused at the identity provider");
	if (strstr(logbuf + mark, "service=sshd user=alice verdict=UNAUTHENTICATED "
	    "reason=access_denied iss=- sub=- kid=- method=device fp=-") == NULL)
		fail_msg("no audit line for the refusal in:\n%s", logbuf + mark);
	kz_result_clear(&res);
}

static void
expired_token(void **state)
{
	kz_request req = { .user = "alice", .service = "sshd" };
	kz_device *dev;
	kz_result res;

	(void)state;
	/* The user took longer than the device code lives: the first poll
	 * after Enter hears expired_token. */
	free(kzt_idp("POST", "/test/device_mode", "{\"expires_in\":1}"));
	assert_int_equal(kz_device_start(ctx, &req, &dev, &res), KZ_OK);
	kz_result_clear(&res);
	usleep(1300 * 1000);
	kz_device_poll(ctx, dev, &req, &res);
	kz_device_free(dev);
	assert_decision(&res, KZ_UNAUTHENTICATED, KZ_R_EXPIRED);
	assert_non_null(strstr(res.detail, "expired"));
	kz_result_clear(&res);
}

static void
never_approved_within_device_timeout(void **state)
{
	kz_result res;
	double s;

	(void)state;
	s = flow(ctx, "alice", "sshd", NULL, &res);
	assert_decision(&res, KZ_UNAUTHENTICATED, KZ_R_EXPIRED);
	/* device_timeout 5, timeout 2: never longer than 7 s */
	if (s < 3.5 || s > 7.0)
		fail_msg("gave up after %.2fs; device_timeout is 5 s", s);
	kz_result_clear(&res);
}

static void
token_endpoint_hangs(void **state)
{
	kz_result res;
	double s;

	(void)state;
	kzt_fault("hang", "[\"/token\"]");
	s = flow(ctx, "alice", "sshd", "\"action\":\"approve\",\"user\":\"alice\","
	    "\"after_polls\":100", &res);
	kzt_fault("none", NULL);
	assert_decision(&res, KZ_UNAVAILABLE, KZ_R_TIMEOUT);
	if (s > 7.0)
		fail_msg("took %.2fs: past device_timeout + timeout", s);
	kz_result_clear(&res);
}

static void
authorization_endpoint_hangs(void **state)
{
	kz_request req = { .user = "alice", .service = "sshd" };
	kz_device *dev = (kz_device *)&req;
	kz_result res;
	double t0 = now_s();

	(void)state;
	kzt_fault("hang", "[\"/device_authorization\"]");
	assert_int_equal(kz_device_start(ctx, &req, &dev, &res), KZ_UNAVAILABLE);
	kzt_fault("none", NULL);
	assert_null(dev);
	assert_decision(&res, KZ_UNAVAILABLE, KZ_R_TIMEOUT);
	assert_true(now_s() - t0 < 3.5);	/* timeout 2 */
	kz_result_clear(&res);
}

static void
token_for_another_user(void **state)
{
	kz_result res;

	(void)state;
	flow(ctx, "alice", "sshd", "\"action\":\"approve\",\"user\":\"bob\"",
	    &res);
	assert_decision(&res, KZ_UNAUTHENTICATED, KZ_R_USER_MISMATCH);
	kz_result_clear(&res);
	flow(ctx, "alice", "sudo", "\"action\":\"approve\",\"user\":\"alice\"",
	    &res);
	assert_decision(&res, KZ_FORBIDDEN, KZ_R_MISSING_GROUP);
	kz_result_clear(&res);
	flow(ctx, "alice", "sudo", "\"action\":\"approve\",\"user\":\"alice\","
	    "\"groups\":[\"ops-admins\"]", &res);
	assert_decision(&res, KZ_OK, KZ_R_NONE);
	kz_result_clear(&res);
}

/* The newest authorization the IdP recorded, as JSON text. */
static char *
last_authorization(void)
{
	char *all = kzt_idp("GET", "/test/device", NULL), *last;

	assert_non_null(all);
	last = strrchr(all, '{');
	assert_non_null(last);
	last = strdup(last);
	free(all);
	return last;
}

static void
step_up(void **state)
{
	kz_result res;
	char *a;

	(void)state;
	flow(ctx, "alice", "mfa", "\"action\":\"approve\",\"user\":\"alice\","
	    "\"acr\":\"mfa\",\"amr\":[\"pwd\",\"otp\"]", &res);
	assert_decision(&res, KZ_OK, KZ_R_NONE);
	assert_string_equal(res.id.acr, "mfa");
	assert_int_equal(res.id.namr, 2);
	kz_result_clear(&res);
	/* the flow asked for the acr the service needs */
	a = last_authorization();
	assert_non_null(strstr(a, "\"acr_values\":\"mfa phr\""));
	free(a);
	flow(ctx, "alice", "mfa", "\"action\":\"approve\",\"user\":\"alice\"",
	    &res);
	assert_decision(&res, KZ_FORBIDDEN, KZ_R_INSUFFICIENT_AUTH);
	assert_string_equal(res.user_msg, "This service needs a multi-factor "
	    "login: log in again with a second factor");
	kz_result_clear(&res);
	flow(ctx, "alice", "mfa", "\"action\":\"approve\",\"user\":\"alice\","
	    "\"acr\":\"mfa\",\"amr\":[\"pwd\"]", &res);
	assert_decision(&res, KZ_FORBIDDEN, KZ_R_INSUFFICIENT_AUTH);
	kz_result_clear(&res);
	flow(ctx, "alice", "mfa", "\"action\":\"approve\",\"user\":\"alice\","
	    "\"acr\":\"pwd\",\"amr\":[\"otp\"]", &res);
	assert_decision(&res, KZ_FORBIDDEN, KZ_R_INSUFFICIENT_AUTH);
	kz_result_clear(&res);
}

/* Pasted tokens meet the same step-up; acr and amr are strictly typed. */
static void
step_up_pasted(void **state)
{
	static const struct {
		const char *claims;
		kz_verdict v;
		kz_reason r;
	} cases[] = {
		{ "\"acr\":\"phr\",\"amr\":[\"otp\",\"hwk\"]", KZ_OK, KZ_R_NONE },
		{ "\"acr\":\"phr\"", KZ_FORBIDDEN, KZ_R_INSUFFICIENT_AUTH },
		{ "\"amr\":[\"otp\"]", KZ_FORBIDDEN, KZ_R_INSUFFICIENT_AUTH },
		{ "\"acr\":\"0\",\"amr\":[\"otp\"]", KZ_FORBIDDEN,
		    KZ_R_INSUFFICIENT_AUTH },
		{ "\"acr\":2,\"amr\":[\"otp\"]", KZ_UNAUTHENTICATED,
		    KZ_R_MALFORMED },
		{ "\"acr\":\"mfa\",\"amr\":\"otp\"", KZ_UNAUTHENTICATED,
		    KZ_R_MALFORMED },
		{ "\"acr\":\"mfa\",\"amr\":[\"otp\",7]", KZ_UNAUTHENTICATED,
		    KZ_R_MALFORMED },
		{ "\"acr\":\"\",\"amr\":[\"otp\"]", KZ_UNAUTHENTICATED,
		    KZ_R_MALFORMED },
	};
	char body[256], *tok;
	kz_result res;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(body, sizeof(body), "{\"claims\":{%s}}",
		    cases[i].claims);
		tok = kzt_mint(body);
		assert_non_null(tok);
		kzt_decide(ctx, tok, "alice", "mfa", &res);
		if (res.verdict != cases[i].v || res.reason != cases[i].r)
			fail_msg("case %zu (%s): got %s/%s (%s)", i,
			    cases[i].claims, kz_verdict_name(res.verdict),
			    kz_reason_name(res.reason), res.detail);
		kz_result_clear(&res);
		/* the service without a step-up takes them all but the
		 * malformed ones */
		kzt_decide(ctx, tok, "alice", "sshd", &res);
		assert_int_equal(res.verdict, cases[i].v == KZ_FORBIDDEN ?
		    KZ_OK : cases[i].v);
		kz_result_clear(&res);
		free(tok);
	}
}

static void
by_discovery_with_client_secret(void **state)
{
	char more[512];
	kz_ctx *c;
	kz_result res;
	char *a;

	(void)state;
	/* no device_authorization_url, no token_url: discovery names both;
	 * no device_client_id: the confidential client_id with its secret */
	snprintf(more, sizeof(more), "discovery = %s/.well-known/"
	    "openid-configuration\ndevice_resource = host-fleet\n"
	    "[service sshd]\nrequire_scope = openid\n", kzt_idp_url());
	c = kzt_ctx("device-disc", more);
	flow(c, "alice", "sshd", "\"action\":\"approve\",\"user\":\"alice\"",
	    &res);
	assert_decision(&res, KZ_OK, KZ_R_NONE);
	kz_result_clear(&res);
	a = last_authorization();
	assert_non_null(strstr(a, "\"client_id\":\"host-fleet\""));
	assert_non_null(strstr(a, "\"resource\":\"host-fleet\""));
	assert_non_null(strstr(a, "\"scope\":\"openid\""));
	free(a);
	kz_ctx_close(c);
}

static void
unknown_client(void **state)
{
	kz_request req = { .user = "alice", .service = "sshd" };
	char more[512];
	kz_device *dev;
	kz_ctx *c;
	kz_result res;

	(void)state;
	snprintf(more, sizeof(more), "device_authorization_url = %s/"
	    "device_authorization\ndevice_client_id = nobody\n", kzt_idp_url());
	c = kzt_ctx("device-bad", more);
	assert_int_equal(kz_device_start(c, &req, &dev, &res), KZ_ERROR);
	assert_decision(&res, KZ_ERROR, KZ_R_CONFIG);
	kz_result_clear(&res);
	kz_ctx_close(c);
}

/* Last: after every other test logged, the codes of all flows are in no
 * line; nor the device code of one that we read back from the IdP. */
static void
no_codes_in_logs(void **state)
{
	char *all = kzt_idp("GET", "/test/device", NULL), *p;
	int n = 0;

	(void)state;
	assert_non_null(all);
	for (p = all; (p = strstr(p, "\"user_code\":\"")) != NULL; n++) {
		char code[16];

		p += strlen("\"user_code\":\"");
		memcpy(code, p, 9);
		code[9] = '\0';
		if (strstr(logbuf, code) != NULL)
			fail_msg("user code %s in the log", code);
	}
	assert_true(n > 5);
	assert_null(strstr(logbuf, "device_code"));
	assert_non_null(strstr(logbuf, "method=device"));
	free(all);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(approved, each),
		cmocka_unit_test_setup(pending_then_approved, each),
		cmocka_unit_test_setup(slow_down, each),
		cmocka_unit_test_setup(denied, each),
		cmocka_unit_test_setup(expired_token, each),
		cmocka_unit_test_setup(never_approved_within_device_timeout,
		    each),
		cmocka_unit_test_setup(token_endpoint_hangs, each),
		cmocka_unit_test_setup(authorization_endpoint_hangs, each),
		cmocka_unit_test_setup(token_for_another_user, each),
		cmocka_unit_test_setup(step_up, each),
		cmocka_unit_test_setup(step_up_pasted, each),
		cmocka_unit_test_setup(by_discovery_with_client_secret, each),
		cmocka_unit_test_setup(unknown_client, each),
		cmocka_unit_test(no_codes_in_logs),
	};

	return cmocka_run_group_tests_name("device", tests, setup, teardown);
}
