/*
 * kztest.c - see kztest.h.  The IdP is reached with libcurl directly, not
 * through libkzauth, so that a bug in our HTTP layer cannot hide itself.
 */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include <openssl/hmac.h>

#include "kztest.h"

static char dir[256];

static void
rm_dir(void)
{
	char cmd[300];

	if (dir[0] && getenv("KZT_KEEP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		(void)!system(cmd);
	}
}

const char *
kzt_dir(void)
{
	if (dir[0] == '\0') {
		snprintf(dir, sizeof(dir), "/tmp/kzt.XXXXXX");
		if (mkdtemp(dir) == NULL)
			abort();
		atexit(rm_dir);
	}
	return dir;
}

void
kzt_turkish_locale(void)
{
	char loc[512], cmd[1200];
	struct stat st;

	snprintf(loc, sizeof(loc), "%s/locale", kzt_dir());
	mkdir(loc, 0755);
	snprintf(cmd, sizeof(cmd), "%s/tr_TR.ISO-8859-9", loc);
	if (stat(cmd, &st) != 0) {
		snprintf(cmd, sizeof(cmd), "localedef -i tr_TR -f ISO-8859-9 "
		    "%s/tr_TR.ISO-8859-9 2>/dev/null", loc);
		if (system(cmd) > 1)	/* 1: warnings only */
			fail_msg("localedef tr_TR.ISO-8859-9 failed (package locales)");
	}
	setenv("LOCPATH", loc, 1);
	if (setlocale(LC_ALL, "tr_TR.ISO-8859-9") == NULL)
		fail_msg("cannot enter the Turkish locale");
}

void
kzt_c_locale(void)
{
	setlocale(LC_ALL, "C");
	unsetenv("LOCPATH");
}

static const char *
env_or_die(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0') {
		fprintf(stderr, "%s is not set: run through tests/run.sh "
		    "(make check), which starts the test identity provider\n",
		    name);
		exit(1);
	}
	return v;
}

const char *
kzt_idp_url(void)
{
	return env_or_die("KZ_IDP_URL");
}

const char *
kzt_idp_dir(void)
{
	return env_or_die("KZ_IDP_DIR");
}

struct buf {
	char *p;
	size_t n;
};

static size_t
on_data(char *d, size_t s, size_t n, void *arg)
{
	struct buf *b = arg;
	char *np = realloc(b->p, b->n + s * n + 1);

	if (np == NULL)
		return 0;
	memcpy(np + b->n, d, s * n);
	b->p = np;
	b->n += s * n;
	b->p[b->n] = '\0';
	return s * n;
}

char *
kzt_idp(const char *method, const char *path, const char *json)
{
	char url[512], ca[512];
	struct buf b = { 0 };
	struct curl_slist *h = NULL;
	CURL *c = curl_easy_init();
	CURLcode rc;

	snprintf(url, sizeof(url), "%s%s", kzt_idp_url(), path);
	snprintf(ca, sizeof(ca), "%s/ca.pem", kzt_idp_dir());
	h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (json != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	rc = curl_easy_perform(c);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		fprintf(stderr, "IdP %s %s: %s\n", method, path,
		    curl_easy_strerror(rc));
		free(b.p);
		return NULL;
	}
	return b.p;
}

static char *
token_of(const char *path, const char *json, const char *field)
{
	char *body = kzt_idp("POST", path, json);
	json_t *o = body ? json_loads(body, 0, NULL) : NULL;
	char *tok = kz_strdup(kz_json_str(o, field));

	if (tok == NULL)
		fprintf(stderr, "IdP %s gave no token: %s\n", path,
		    body ? body : "(no answer)");
	json_decref(o);
	free(body);
	return tok;
}

char *
kzt_mint(const char *json)
{
	return token_of("/test/mint", json, "token");
}

char *
kzt_opaque(const char *json)
{
	return token_of("/test/opaque", json, "token");
}

char *
kzt_refresh_token(const char *json)
{
	return token_of("/test/refresh_token", json, "refresh_token");
}

void
kzt_fault(const char *mode, const char *paths_json)
{
	char body[512];

	snprintf(body, sizeof(body), "{\"mode\":\"%s\"%s%s}", mode,
	    paths_json ? ",\"paths\":" : "", paths_json ? paths_json : "");
	free(kzt_idp("POST", "/test/fault", body));
}

long
kzt_stat(const char *path)
{
	char *body = kzt_idp("GET", "/test/stats", NULL);
	json_t *o = body ? json_loads(body, 0, NULL) : NULL;
	int64_t n = 0;

	kz_json_int(json_object_get(o, "paths"), path, &n);
	json_decref(o);
	free(body);
	return (long)n;
}

void
kzt_stats_reset(void)
{
	free(kzt_idp("POST", "/test/stats/reset", "{}"));
}

char *
kzt_config(const char *name, const char *extra)
{
	char path[512], sub[400];
	FILE *f;

	snprintf(sub, sizeof(sub), "%s/%s", kzt_dir(), name);
	mkdir(sub, 0700);
	snprintf(path, sizeof(path), "%s/kztoken.conf", sub);
	if ((f = fopen(path, "w")) == NULL)
		return NULL;
	fprintf(f,
	    "[kztoken]\n"
	    "timeout = 2\n"
	    "connect_timeout = 1\n"
	    "leeway = 30\n"
	    "cache_dir = %s/cache\n"
	    "store_dir = %s/store\n"
	    "denylist_file = %s/denylist\n"
	    "\n"
	    "[provider idp]\n"
	    "issuer = %s\n"
	    "audience = host-fleet\n"
	    "jwks_url = %s/jwks\n"
	    "introspection_url = %s/introspect\n"
	    "client_id = host-fleet\n"
	    "client_secret_file = %s/client_secret\n"
	    "ca_file = %s/ca.pem\n"
	    "%s\n", sub, sub, sub, kzt_idp_url(), kzt_idp_url(),
	    kzt_idp_url(), kzt_idp_dir(), kzt_idp_dir(), extra ? extra : "");
	fclose(f);
	chmod(path, 0600);
	return strdup(path);
}

kz_ctx *
kzt_ctx(const char *name, const char *extra)
{
	char *path = kzt_config(name, extra), err[512];
	kz_ctx *ctx = NULL;

	if (kz_ctx_open(&ctx, path, err, sizeof(err)) != KZ_OK)
		fail_msg("config %s: %s", path, err);
	free(path);
	return ctx;
}

static char logbuf[256 * 1024];

static void
capture(void *arg, int prio, const char *line)
{
	(void)arg;
	(void)prio;
	strncat(logbuf, line, sizeof(logbuf) - strlen(logbuf) - 2);
	strcat(logbuf, "\n");
}

char *
kzt_capture_log(kz_ctx *ctx)
{
	logbuf[0] = '\0';
	kz_ctx_set_log(ctx, capture, NULL);
	return logbuf;
}

kz_verdict
kzt_decide(kz_ctx *ctx, const char *tok, const char *user,
    const char *service, kz_result *res)
{
	kz_request req = { .token = tok, .token_len = tok ? strlen(tok) : 0,
		.user = user, .service = service };

	return kz_decide(ctx, &req, res);
}

void
kzt_expect_mint(kz_ctx *ctx, const char *mint_json, const char *user,
    const char *service, kz_verdict v, kz_reason r)
{
	char *tok = kzt_mint(mint_json);
	kz_result res;

	assert_non_null(tok);
	kzt_decide(ctx, tok, user, service, &res);
	assert_decision(&res, v, r);
	kz_result_clear(&res);
	free(tok);
}

char *
kzt_hs256(const char *secret, const char *hdr, const char *payload)
{
	char *h = kz_b64url_encode((const unsigned char *)hdr, strlen(hdr));
	char *p = kz_b64url_encode((const unsigned char *)payload,
	    strlen(payload));
	unsigned char mac[32];
	unsigned int maclen = 0;
	char *si, *sig, *tok;

	if (h == NULL || p == NULL || asprintf(&si, "%s.%s", h, p) < 0)
		abort();
	HMAC(EVP_sha256(), secret, (int)strlen(secret),
	    (const unsigned char *)si, strlen(si), mac, &maclen);
	if ((sig = kz_b64url_encode(mac, maclen)) == NULL ||
	    asprintf(&tok, "%s.%s", si, sig) < 0)
		abort();
	free(h);
	free(p);
	free(si);
	free(sig);
	return tok;
}
