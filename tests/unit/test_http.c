/*
 * test_http.c - the HTTP layer's refusals: which URLs it talks to (a
 * table of hostile ones, each with its exact answer), no control byte in
 * anything that becomes part of a request (every header source), and a
 * setuid process whose invoking user set SSLKEYLOGFILE and proxies.
 */
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kztest.h"

struct url_case {
	const char *url;
	int https_only;		/* kz_url_allowed(url, false) */
	int loopback;		/* kz_url_allowed(url, true) */
};

static const struct url_case urls[] = {
	/* the plain cases */
	{ "https://idp.example.com/introspect", 0, 0 },
	{ "https://idp.example.com:8443/a/b?x=1&y=2", 0, 0 },
	{ "https://[2001:db8::1]/jwks", 0, 0 },
	{ "https://127.0.0.1.evil/x", 0, 0 },	/* https: any host */
	{ "HTTPS://idp.example.com/", 0, 0 },	/* schemes are caseless */
	{ "http://127.0.0.1/x", -1, 0 },
	{ "http://127.0.0.1:8080/x", -1, 0 },
	{ "http://127.255.1.2/x", -1, 0 },
	{ "http://localhost:9/x", -1, 0 },
	{ "http://LOCALHOST/x", -1, 0 },
	{ "http://[::1]:8080/x", -1, 0 },
	{ "HTTP://127.0.0.1/x", -1, 0 },
	{ "http://127.0.0.1", -1, 0 },
	{ "http://127.0.0.1?q", -1, 0 },
	/* userinfo, in any URL */
	{ "http://127.0.0.1@attacker.example/", -1, -1 },
	{ "http://127.0.0.1:80@attacker.example/", -1, -1 },
	{ "http://user:pw@127.0.0.1/", -1, -1 },
	{ "https://user@idp.example.com/", -1, -1 },
	{ "https://:pw@idp.example.com/", -1, -1 },
	{ "https://a;b@idp.example.com/", -1, -1 },
	{ "http://localhost@attacker.example/", -1, -1 },
	{ "http://attacker.example\\@127.0.0.1/", -1, -1 },
	/* look-alike hosts */
	{ "http://127.attacker.example/", -1, -1 },
	{ "http://127.0.0.1.evil/", -1, -1 },
	{ "http://127.evil/", -1, -1 },
	{ "http://localhost.evil/", -1, -1 },
	{ "http://localhost./", -1, -1 },
	{ "http://[::1].evil/", -1, -1 },
	{ "http://[::1]evil/", -1, -1 },
	{ "http://[::2]/", -1, -1 },
	{ "http://[::ffff:127.0.0.1]/", -1, -1 },
	{ "http://[::1%25lo]/", -1, -1 },
	{ "http://128.0.0.1/", -1, -1 },
	{ "http://10.0.0.1/", -1, -1 },
	{ "http://evil.example/", -1, -1 },
	/* numbers that libcurl and resolvers read as 127.0.0.1 */
	{ "http://0x7f.1/", -1, -1 },
	{ "http://0x7f000001/", -1, -1 },
	{ "http://2130706433/", -1, -1 },
	{ "http://127.1/", -1, -1 },
	{ "http://0177.0.0.1/", -1, -1 },
	{ "http://127.0.0.01/", -1, -1 },
	{ "http://127.0.0.256/", -1, -1 },
	{ "http://127.0.0.1.1/", -1, -1 },
	/* percent-encoding and backslashes in the authority */
	{ "http://%31%32%37.0.0.1/", -1, -1 },
	{ "http://127.0.0.1%2f@evil/", -1, -1 },
	{ "https://idp%2eexample.com/", -1, -1 },
	{ "http://127.0.0.1\\evil.example/", -1, -1 },
	{ "https://idp.example.com\\@evil/", -1, -1 },
	{ "http:\\\\127.0.0.1/", -1, -1 },
	/* whitespace and control bytes anywhere */
	{ " https://idp.example.com/", -1, -1 },
	{ "https://idp.example.com/ ", -1, -1 },
	{ "https://idp.example.com/a b", -1, -1 },
	{ "https://idp.example.com/\tx", -1, -1 },
	{ "https://idp.example.com/\r\nX-Evil: 1", -1, -1 },
	{ "http://127.0.0.1\n.evil/", -1, -1 },
	{ "https://idp.example.com/\x7f", -1, -1 },
	{ "https://idp.example.com/\xc3\xa9", -1, -1 },
	{ "https://idp\xe2\x80\x8b.example.com/", -1, -1 },
	/* fragments (hide the rest of a URL from a naive reader) */
	{ "http://127.0.0.1#@evil.example/", -1, -1 },
	{ "https://idp.example.com/x#frag", -1, -1 },
	/* schemes, ports, empty hosts */
	{ "ftp://idp.example.com/", -1, -1 },
	{ "file:///etc/shadow", -1, -1 },
	{ "gopher://127.0.0.1/", -1, -1 },
	{ "https:idp.example.com/", -1, -1 },
	{ "https:/idp.example.com/", -1, -1 },
	{ "//idp.example.com/", -1, -1 },
	{ "idp.example.com/x", -1, -1 },
	{ "https:///x", -1, -1 },
	{ "https://", -1, -1 },
	{ "https://:443/", -1, -1 },
	{ "https://.example.com/", -1, -1 },
	{ "http://127.0.0.1:/", -1, -1 },
	{ "http://127.0.0.1:0/", -1, -1 },
	{ "http://127.0.0.1:65536/", -1, -1 },
	{ "http://127.0.0.1:8a/", -1, -1 },
	{ "http://127.0.0.1:-1/", -1, -1 },
	{ "http://127.0.0.1:80:81/", -1, -1 },
	{ "https://[::1/", -1, -1 },
	{ "https://[]/", -1, -1 },
	{ "https://[g::1]/", -1, -1 },
	{ "", -1, -1 },
};

static void
url_table(void **state)
{
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		const struct url_case *c = &urls[i];
		int a = kz_url_allowed(c->url, false);
		int b = kz_url_allowed(c->url, true);
		int s = kz_url_syntax_ok(c->url, true);

		if (a != c->https_only || b != c->loopback || s != b) {
			print_error("%s: got %d/%d (syntax %d), want %d/%d\n",
			    c->url, a, b, s, c->https_only, c->loopback);
			bad++;
		}
	}
	assert_int_equal(kz_url_allowed(NULL, true), -1);
	assert_int_equal(kz_url_syntax_ok(NULL, true), -1);
	assert_int_equal(bad, 0);
}

/* An embedded NUL ends the string: what follows is never seen, and the
 * part before it is judged alone. */
static void
url_embedded_nul(void **state)
{
	static const char evil[] = "http://127.0.0.1\0@attacker.example/";

	(void)state;
	assert_int_equal(kz_url_allowed(evil, true), 0);
	assert_int_equal(strlen(evil), 16);
}

static void
url_too_long(void **state)
{
	char url[4096];

	(void)state;
	snprintf(url, sizeof(url), "https://idp.example.com/");
	memset(url + strlen(url), 'a', 2100);
	url[2124] = '\0';
	assert_int_equal(kz_url_allowed(url, false), -1);
}

/* Config parsing (no libcurl there) refuses the same URLs. */
static void
config_refuses_outside_hosts(void **state)
{
	static const char *const bad[] = {
		"http://127.0.0.1@attacker.example/introspect",
		"http://127.attacker.example/introspect",
		"http://localhost.attacker.example/introspect",
		"https://user:pw@idp.example.com/introspect",
	};
	struct kz_config *cfg = NULL;
	char text[1024], err[512];

	(void)state;
	for (size_t i = 0; i <= sizeof(bad) / sizeof(bad[0]); i++) {
		const char *url = i < sizeof(bad) / sizeof(bad[0]) ? bad[i] :
		    "http://127.0.0.1:8443/introspect";

		snprintf(text, sizeof(text), "[provider p]\nissuer = x\n"
		    "audience = a\nallow_http_loopback = true\n"
		    "validation = introspect\nintrospection_url = %s\n"
		    "client_id = c\nclient_secret_file = /nonexistent\n", url);
		err[0] = '\0';
		if ((kz_config_parse_string(&cfg, "t", text, err,
		    sizeof(err)) == 0) != (i == sizeof(bad) / sizeof(bad[0])))
			fail_msg("%s: parse %s (%s)", url, cfg ? "passed" :
			    "failed", err);
		kz_config_free(cfg);
		cfg = NULL;
	}
}

/* ---- control bytes in requests ---- */

static kz_ctx *
http_ctx(void)
{
	return kzt_ctx("http", NULL);
}

static void
do_refused(kz_ctx *ctx, const struct kz_http_req *req, const char *names,
    const char *never)
{
	struct kz_http_resp r;

	assert_int_equal(kz_http_do(ctx, req, &r), -1);
	assert_int_equal(r.fail, KZ_R_CONFIG);
	assert_int_equal(r.status, 0);
	if (strstr(r.err, names) == NULL)
		fail_msg("error '%s' does not name '%s'", r.err, names);
	if (never != NULL && strstr(r.err, never) != NULL)
		fail_msg("error '%s' shows the value", r.err);
	kz_http_resp_free(&r);
}

static void
headers_with_control_bytes(void **state)
{
	kz_ctx *ctx = http_ctx();
	char url[512];
	const char *h_crlf[] = { "accessToken: tok\r\nX-Evil: 1", NULL };
	const char *h_lf[] = { "Accept: x", "X-Auth-Token: tok\nX-Evil", NULL };
	const char *h_cr[] = { "Authorization: Bearer tok\rX-Evil", NULL };
	const char *h_tab[] = { "applicationSecret: s\te", NULL };
	const char *h_del[] = { "refreshToken: r\x7f", NULL };
	const char *h_esc[] = { "applicationId: \x1b[31m", NULL };
	const char *h_name[] = { "X\r\nEvil: 1", NULL };
	const char *h_noname[] = { "no colon here", NULL };
	struct kz_http_req req = { .method = "GET", .url = url,
		.allow_http_loopback = true };

	(void)state;
	snprintf(url, sizeof(url), "%s/introspect", kzt_idp_url());
	kzt_stats_reset();
	req.headers = h_crlf;
	do_refused(ctx, &req, "HTTP header accessToken", "X-Evil");
	req.headers = h_lf;
	do_refused(ctx, &req, "HTTP header X-Auth-Token", "X-Evil");
	req.headers = h_cr;
	do_refused(ctx, &req, "HTTP header Authorization", "Bearer");
	req.headers = h_tab;
	do_refused(ctx, &req, "HTTP header applicationSecret", NULL);
	req.headers = h_del;
	do_refused(ctx, &req, "HTTP header refreshToken", NULL);
	req.headers = h_esc;
	do_refused(ctx, &req, "HTTP header applicationId", "[31m");
	req.headers = h_name;
	do_refused(ctx, &req, "header name", "Evil");
	req.headers = h_noname;
	do_refused(ctx, &req, "header name", "colon");
	req.headers = NULL;
	req.basic_user = "host-fleet\r\nX-Evil: 1";
	do_refused(ctx, &req, "client_id", "X-Evil");
	req.basic_user = "host-fleet";
	req.basic_pass = "secret\nX-Evil: 1";
	do_refused(ctx, &req, "client secret", "X-Evil");
	req.basic_pass = NULL;
	req.method = "GET / HTTP/1.1\r\nX-Evil: 1\r\n";
	do_refused(ctx, &req, "method", "X-Evil");
	req.method = "PUT";	/* GET, POST and DELETE (wazo revocation) only */
	do_refused(ctx, &req, "method", NULL);
	req.method = "GET";
	snprintf(url, sizeof(url), "%s/introspect\r\nX-Evil: 1",
	    kzt_idp_url());
	do_refused(ctx, &req, "URL not allowed", "X-Evil");
	/* none of them reached the provider */
	assert_int_equal(kzt_stat("/introspect"), 0);
	kz_ctx_close(ctx);
}

/* A token that got past the shape checks still cannot add a header:
 * tokeninfo sends it as a header value. */
static void
tokeninfo_token_with_crlf(void **state)
{
	char extra[1024];
	kz_ctx *ctx;
	kz_result res;

	(void)state;
	snprintf(extra, sizeof(extra), "[provider ti]\nvalidation = tokeninfo\n"
	    "tokeninfo_url = %s/tokeninfo\ntokeninfo_header = accessToken\n"
	    "ca_file = %s/ca.pem\n[kztoken]\nprovider = ti\n", kzt_idp_url(),
	    kzt_idp_dir());
	ctx = kzt_ctx("ti-crlf", extra);
	kzt_stats_reset();
	kzt_decide(ctx, "opaque0123456789\r\nX-Evil: 1", "alice", "sshd",
	    &res);
	/* refused before any request, whichever check stops it */
	assert_int_not_equal(res.verdict, KZ_OK);
	assert_int_not_equal(res.verdict, KZ_FORBIDDEN);
	assert_null(strstr(res.detail, "X-Evil"));
	assert_int_equal(kzt_stat("/tokeninfo"), 0);
	kz_result_clear(&res);
	kz_ctx_close(ctx);
}

static char *
write_secret(const char *name, const char *text)
{
	char *path = NULL;
	FILE *f;

	if (asprintf(&path, "%s/%s.secret", kzt_dir(), name) < 0)
		return NULL;
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, 0600);
	return path;
}

/* The Kaizala dialect sends client_id and the secret as headers. */
static kz_ctx *
kaizala_ctx(const char *name, const char *client_id, const char *secret)
{
	char extra[2048], *sf = write_secret(name, secret);

	snprintf(extra, sizeof(extra), "[provider kai]\nvalidation = introspect\n"
	    "audience = host-fleet\nintrospection_url = %s/introspect\n"
	    "token_url = %s/kaizala/token\ntoken_style = kaizala\n"
	    "client_id = %s\nclient_secret_file = %s\nca_file = %s/ca.pem\n"
	    "[kztoken]\nprovider = kai\n", kzt_idp_url(), kzt_idp_url(),
	    client_id, sf, kzt_idp_dir());
	free(sf);
	return kzt_ctx(name, extra);
}

static void
kaizala_enroll_refused(kz_ctx *ctx, const char *names)
{
	kz_result res;
	char *rt = kzt_refresh_token("{\"username\":\"alice\"}");

	assert_non_null(rt);
	kzt_stats_reset();
	assert_int_equal(kz_enroll(ctx, "k1", "kai", 0, "alice", rt, 0, &res),
	    KZ_ERROR);
	assert_int_equal(res.reason, KZ_R_CONFIG);
	if (strstr(res.detail, names) == NULL)
		fail_msg("detail '%s' does not name '%s'", res.detail, names);
	assert_null(strstr(res.detail, "X-Evil"));
	assert_int_equal(kzt_stat("/kaizala/token"), 0);
	kz_result_clear(&res);
	kz_free_secret(rt);
}

static void
kaizala_secret_with_crlf(void **state)
{
	kz_ctx *ctx = kaizala_ctx("kai-secret", "host-fleet",
	    "fleet-secret\r\nX-Evil: 1\n");

	(void)state;
	kaizala_enroll_refused(ctx, "control character");
	kz_ctx_close(ctx);
}

static void
kaizala_client_id_with_cr(void **state)
{
	kz_ctx *ctx = kaizala_ctx("kai-id", "host-fleet\rX-Evil: 1",
	    "fleet-secret\n");

	(void)state;
	kaizala_enroll_refused(ctx, "HTTP header applicationId");
	kz_ctx_close(ctx);
}

/* ---- a setuid process: the invoking user's environment ---- */

static const char *const steering[] = { "SSLKEYLOGFILE", "https_proxy",
	"HTTPS_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY",
	"no_proxy", "ftp_proxy", "CURL_SSL_BACKEND", "CURL_HOME",
	"OPENSSL_CONF", "OPENSSL_MODULES", "SSL_CERT_FILE", "SSL_CERT_DIR" };

/* Run as a setuid-root copy of this binary by a user: one HTTPS request
 * through kz_http_do (nothing listens, curl initialises all the same),
 * then prints what is left of the steering variables. */
static int
setuid_probe(void)
{
	kz_ctx *ctx = calloc(1, sizeof(*ctx));
	struct kz_http_req req = { .method = "GET",
		.url = "https://127.0.0.1:9/introspect" };
	struct kz_http_resp r;
	char err[256];

	printf("secure=%lu euid=%d uid=%d\n", getauxval(AT_SECURE),
	    (int)geteuid(), (int)getuid());
	if (ctx == NULL || kz_config_parse_string(&ctx->cfg, "probe",
	    "[provider p]\nissuer = https://127.0.0.1:9\naudience = a\n"
	    "jwks_url = https://127.0.0.1:9/jwks\n", err,
	    sizeof(err)) != 0) {
		printf("config: %s\n", err);
		fflush(stdout);
		_exit(3);
	}
	ctx->logfd = -1;
	kz_http_do(ctx, &req, &r);
	printf("http: status %ld fail %s\n", r.status, kz_reason_name(r.fail));
	for (size_t i = 0; i < sizeof(steering) / sizeof(steering[0]); i++)
		if (getenv(steering[i]) != NULL)
			printf("left %s\n", steering[i]);
	printf("kept HOME=%s\n", getenv("HOME") ? getenv("HOME") : "-");
	fflush(stdout);
	_exit(0);	/* no leak checker in a setuid process */
}

static void
setuid_env_removed(void **state)
{
	static const char *const bases[] = { "/tmp", "/var/tmp", "/dev/shm" };
	char dir[64], probe[96], keylog[96];
	char out[4096] = "", env0[128];
	char *envp[] = { env0, "https_proxy=http://127.0.0.1:9",
		"HTTPS_PROXY=http://127.0.0.1:9", "http_proxy=http://127.0.0.1:9",
		"ALL_PROXY=socks5://127.0.0.1:9", "all_proxy=http://127.0.0.1:9",
		"NO_PROXY=nothing", "no_proxy=nothing", "ftp_proxy=x",
		"CURL_SSL_BACKEND=gnutls", "CURL_HOME=/tmp",
		"OPENSSL_CONF=/dev/null", "OPENSSL_MODULES=/tmp",
		"SSL_CERT_FILE=/tmp/x", "SSL_CERT_DIR=/tmp", "HOME=/nonexistent",
		"PATH=/usr/bin:/bin", NULL };
	char *argv[] = { probe, "--setuid-probe", NULL };
	struct statvfs vfs;
	bool keylog_made;
	int fds[2], st, in, outfd;
	ssize_t n;
	size_t len = 0;
	pid_t pid;
	char buf[65536];

	(void)state;
	if (geteuid() != 0)
		skip();		/* needs root to make a setuid copy */
	/* the first of these not mounted nosuid (else nothing is proved) */
	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		snprintf(dir, sizeof(dir), "%s/kztoken-suid.XXXXXX", bases[i]);
		if (statvfs(bases[i], &vfs) == 0 && !(vfs.f_flag & ST_NOSUID) &&
		    mkdtemp(dir) != NULL)
			break;
		dir[0] = '\0';
	}
	if (dir[0] == '\0')
		fail_msg("/tmp, /var/tmp and /dev/shm are all nosuid");
	chmod(dir, 0755);
	snprintf(probe, sizeof(probe), "%s/probe", dir);
	snprintf(keylog, sizeof(keylog), "%s/keys.log", dir);
	snprintf(env0, sizeof(env0), "SSLKEYLOGFILE=%s", keylog);
	assert_int_equal(pipe(fds), 0);
	/* a setuid-root copy of this binary */
	in = open("/proc/self/exe", O_RDONLY);
	outfd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0700);
	assert_true(in >= 0 && outfd >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(outfd, buf, (size_t)n), n);
	close(in);
	close(outfd);
	assert_int_equal(chown(probe, 0, 0), 0);
	assert_int_equal(chmod(probe, 04755), 0);

	if ((pid = fork()) == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		if (setgroups(0, NULL) != 0 || setgid(65534) != 0 ||
		    setuid(65534) != 0)
			_exit(90);
		execve(probe, argv, envp);
		_exit(91);
	}
	close(fds[1]);
	while (len < sizeof(out) - 1 &&
	    (n = read(fds[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	/* no setuid-root copy stays behind, whatever the outcome */
	unlink(probe);
	keylog_made = access(keylog, F_OK) == 0;
	unlink(keylog);
	rmdir(dir);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("probe failed (%d): %s", st, out);
	/* the probe really was setuid, and curl really ran */
	if (strstr(out, "secure=1 euid=0 uid=65534") == NULL ||
	    strstr(out, "http: status 0 fail provider_unreachable") == NULL)
		fail_msg("probe output: %s", out);
	if (keylog_made)
		fail_msg("%s was created: TLS secrets go to the user's file",
		    keylog);
	if (strstr(out, "left ") != NULL)
		fail_msg("variables survived: %s", out);
	assert_non_null(strstr(out, "kept HOME=/nonexistent"));
}

/* Where a provider may move us (308 Location, endpointUrl, discovery):
 * the configured URL's scheme, host and port, or an allowed_hosts entry,
 * read strictly: no userinfo, percent-encoding, other spelling of the
 * host (trailing dot, IDN bytes, IPv6 forms) or relative reference. */
static void
move_targets(void **state)
{
	const char *base = "https://good.example/kaizala/token";
	char *al[] = { "api.good.example", "other.example:8443" };
	struct kz_strv allowed = { al, 2 };
	static const struct {
		const char *url;
		int want;
	} cases[] = {
		{ "https://good.example/x", 0 },
		{ "https://GOOD.Example/x", 0 },
		{ "HTTPS://good.example/x", 0 },
		{ "https://good.example:443/x", 0 },
		{ "https://api.good.example/x", 0 },
		{ "https://other.example:8443/x", 0 },
		{ "https://good.example./x", -1 },
		{ "https://good.example:444/x", -1 },
		{ "http://good.example/x", -1 },
		{ "https://good@evil.example/x", -1 },
		{ "https://good.example@evil.example/x", -1 },
		{ "https://good.example:443@evil.example/x", -1 },
		{ "https://evil.example\\@good.example/x", -1 },
		{ "https://good.example%2eevil.example/x", -1 },
		{ "https://goo%64.example/x", -1 },
		{ "//evil.example/x", -1 },
		{ "/x", -1 },
		{ "https:///evil.example/x", -1 },
		{ "https://good.example#@evil.example/", -1 },
		{ "https://good.example;evil.example/x", -1 },
		{ "https://xn--gd-fka.example/x", -1 },
		{ "https://g\xc3\xb6od.example/x", -1 },
		{ "https://[::1]/x", -1 },
		{ "https://other.example/x", -1 },
		{ "https://good.example/x\r\nHost: evil.example", -1 },
	};

	(void)state;
	for (size_t i = 0; i < KZ_NELEM(cases); i++)
		if (kz_url_same_site(cases[i].url, base, &allowed, false) !=
		    cases[i].want)
			fail_msg("%s: kz_url_same_site should be %d",
			    cases[i].url, cases[i].want);
	assert_int_equal(kz_url_same_site("https://good.example/x", NULL,
	    &allowed, false), -1);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(url_table),
		cmocka_unit_test(url_embedded_nul),
		cmocka_unit_test(url_too_long),
		cmocka_unit_test(move_targets),
		cmocka_unit_test(config_refuses_outside_hosts),
		cmocka_unit_test(headers_with_control_bytes),
		cmocka_unit_test(tokeninfo_token_with_crlf),
		cmocka_unit_test(kaizala_secret_with_crlf),
		cmocka_unit_test(kaizala_client_id_with_cr),
		cmocka_unit_test(setuid_env_removed),
	};

	if (argc == 2 && strcmp(argv[1], "--setuid-probe") == 0)
		return setuid_probe();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
