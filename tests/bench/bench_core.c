/*
 * bench_core.c - the in-process measurements of `make bench`: the raw
 * OpenSSL verify rate, libjwt's jwt_decode, and libkzauth's kz_decide on
 * the same tokens; cached opaque decisions, cold introspection latency,
 * concurrency, provider load and memory.  Linked with
 * build/libkzauth_internal.a so it can reach the parsed keys.
 *
 *   bench_core verify JWKS TOKENFILE SECONDS
 *   bench_core libjwt JWKS TOKENFILE SECONDS
 *   bench_core decide CONFIG TOKENFILE SECONDS      (also jwt-only and
 *                                                     per-step breakdown)
 *   bench_core cached CONFIG TOKENFILE SECONDS
 *   bench_core cold CONFIG TOKENLIST                 (fresh ctx per token)
 *   bench_core conc CONFIG TOKENFILE SECONDS N
 *   bench_core logins CONFIG TOKENLIST N             (fresh ctx per login)
 *   bench_core ratio CONFIG JWKS TOKENFILE SECONDS   (in turns with the
 *                                                     openssl speed op)
 *
 * Each prints "key value" lines that run.sh turns into the table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include <jwt.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include "internal.h"

#include "bench_util.h"

#define HIST_US 20000		/* 1 us buckets up to 20 ms, then overflow */

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) {
		perror(path);
		exit(2);
	}
	rewind(f);
	if ((buf = malloc((size_t)n + 1)) == NULL ||
	    fread(buf, 1, (size_t)n, f) != (size_t)n) {
		perror(path);
		exit(2);
	}
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

/* Percentile of a 1 us histogram (overflow counts as HIST_US). */
static double
pct(const unsigned *h, unsigned long total, double p)
{
	unsigned long want = (unsigned long)((double)total * p), seen = 0;

	for (int i = 0; i <= HIST_US; i++) {
		seen += h[i];
		if (seen > want)
			return (double)i;
	}
	return (double)HIST_US;
}

static void
hist_add(unsigned *h, double secs)
{
	long us = (long)(secs * 1e6);

	h[us < 0 ? 0 : us > HIST_US ? HIST_US : us]++;
}

struct jws {
	const char *tok;
	size_t len, si_len;
	unsigned char *sig;
	size_t siglen;
	unsigned alg;
	char kid[128];
};

static void
split(const char *tok, size_t len, struct jws *j)
{
	const char *d1 = memchr(tok, '.', len), *d2;
	unsigned char *raw;
	size_t rawlen;
	json_t *h;

	if (d1 == NULL || (d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok))) == NULL ||
	    kz_b64url_decode(tok, (size_t)(d1 - tok), &raw, &rawlen) != 0 ||
	    (h = kz_json_parse((char *)raw, rawlen)) == NULL) {
		fprintf(stderr, "not a JWT\n");
		exit(2);
	}
	free(raw);
	j->tok = tok;
	j->len = len;
	j->si_len = (size_t)(d2 - tok);
	j->alg = kz_alg_from_name(kz_json_str(h, "alg"));
	snprintf(j->kid, sizeof(j->kid), "%s", kz_json_str(h, "kid") ?
	    kz_json_str(h, "kid") : "");
	json_decref(h);
	if (kz_b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - tok), &j->sig,
	    &j->siglen) != 0)
		exit(2);
}

static struct kz_key *
key_for(struct kz_keyset *ks, const char *kid)
{
	for (size_t i = 0; i < ks->nkeys; i++)
		if (ks->keys[i].kid && strcmp(ks->keys[i].kid, kid) == 0 &&
		    kz_key_ready(&ks->keys[i]))
			return &ks->keys[i];
	fprintf(stderr, "kid %s not in the JWKS\n", kid);
	exit(2);
}

static struct kz_keyset *
load_jwks(const char *path)
{
	struct kz_keyset *ks;
	char err[256], *buf;
	size_t len;

	buf = slurp(path, &len);
	if (kz_keyset_from_json(buf, len, &ks, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", path, err);
		exit(2);
	}
	free(buf);
	return ks;
}

/* The physical limit: kz_jwt_verify_sig against a key parsed once.  This
 * includes the digest of the signing input and the ECDSA R||S to DER
 * conversion, exactly what a JWT needs, and nothing else. */
static int
cmd_verify(char **av)
{
	struct kz_keyset *ks = load_jwks(av[0]);
	size_t len;
	char *tok = slurp(av[1], &len);
	double secs = atof(av[2]), t0, t, c0;
	struct jws j;
	struct kz_key *k;
	unsigned long n = 0;

	split(tok, len, &j);
	k = key_for(ks, j.kid);
	t0 = now_s();
	c0 = cpu_s();
	do {
		for (int i = 0; i < 100; i++)
			if (kz_jwt_verify_sig(k, j.alg, tok, j.si_len, j.sig,
			    j.siglen) != KZ_OK) {
				fprintf(stderr, "signature does not verify\n");
				return 1;
			}
		n += 100;
	} while ((t = now_s() - t0) < secs);
	printf("rate %.0f\n", (double)n / (cpu_s() - c0));
	return 0;
}

/* libjwt 1.10.2 the way it must be used: jwt_decode takes a PEM buffer
 * and parses it on every call. */
static int
cmd_libjwt(char **av)
{
	struct kz_keyset *ks = load_jwks(av[0]);
	size_t len;
	char *tok = slurp(av[1], &len), *pem;
	double secs = atof(av[2]), t0, t;
	struct jws j;
	unsigned long n = 0;
	jwt_t *jwt;

	split(tok, len, &j);
	pem = kz_key_to_pem(key_for(ks, j.kid));
	if (pem == NULL)
		return 2;
	t0 = now_s();
	do {
		for (int i = 0; i < 20; i++) {
			if (jwt_decode(&jwt, tok, (unsigned char *)pem,
			    (int)strlen(pem)) != 0) {
				fprintf(stderr, "jwt_decode failed\n");
				return 1;
			}
			jwt_free(jwt);
		}
		n += 20;
	} while ((t = now_s() - t0) < secs);
	printf("rate %.0f\n", (double)n / t);
	return 0;
}

static kz_ctx *
open_ctx(const char *config)
{
	char err[512];
	kz_ctx *ctx;

	if (kz_ctx_open(&ctx, config, err, sizeof(err)) != KZ_OK) {
		fprintf(stderr, "%s\n", err);
		exit(2);
	}
	return ctx;
}

static kz_verdict
decide_once(kz_ctx *ctx, const char *tok, size_t len, kz_result *res)
{
	kz_request req = { .token = tok, .token_len = len, .user = "alice",
		.service = "default", .log_service = "bench" };

	return kz_decide(ctx, &req, res);
}

/*
 * What `openssl speed` times, in this process: EVP_PKEY_verify of a ready
 * digest on a context set up once (RSA PKCS#1 or ECDSA; openssl speed
 * signs 36 bytes, we verify the JWT's own signature over its SHA-256).
 */
static EVP_PKEY_CTX *
speed_ctx(struct kz_key *k, unsigned alg)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);

	if (c == NULL || EVP_PKEY_verify_init(c) <= 0 ||
	    (alg == KZ_ALG_RS256 &&
	    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) <= 0) ||
	    EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) <= 0) {
		fprintf(stderr, "no verify context\n");
		exit(2);
	}
	return c;
}

static unsigned char *
ec_der(const unsigned char *sig, size_t len, size_t *derlen)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	unsigned char *der = NULL;
	int n;

	ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)(len / 2), NULL),
	    BN_bin2bn(sig + len / 2, (int)(len / 2), NULL));
	n = i2d_ECDSA_SIG(es, &der);
	ECDSA_SIG_free(es);
	*derlen = n > 0 ? (size_t)n : 0;
	return der;
}

/*
 * kz_decide and the openssl-speed operation in turns, 10 ms each, their
 * CPU time summed apart: whatever the neighbours do hits both alike, so
 * the ratio holds on a busy machine where two separate runs would not.
 *
 *   bench_core ratio CONFIG JWKS TOKENFILE SECONDS
 */
static int
cmd_ratio(char **av)
{
	kz_ctx *ctx = open_ctx(av[0]);
	struct kz_keyset *ks = load_jwks(av[1]);
	size_t len, siglen;
	char *tok = slurp(av[2], &len);
	double secs = atof(av[3]), t_sp = 0, t_kz = 0, t0, a;
	unsigned char md[32], *sig;
	unsigned long n_sp = 0, n_kz = 0;
	EVP_PKEY_CTX *c;
	kz_result res;
	struct jws j;

	split(tok, len, &j);
	c = speed_ctx(key_for(ks, j.kid), j.alg);
	SHA256((const unsigned char *)tok, j.si_len, md);
	sig = j.sig;
	siglen = j.siglen;
	if (j.alg == KZ_ALG_ES256)
		sig = ec_der(j.sig, j.siglen, &siglen);
	if (EVP_PKEY_verify(c, sig, siglen, md, sizeof(md)) != 1 ||
	    decide_once(ctx, tok, len, &res) != KZ_OK) {
		fprintf(stderr, "ratio: the token does not verify\n");
		return 1;
	}
	kz_result_clear(&res);
	t0 = now_s();
	while (now_s() - t0 < secs) {
		a = cpu_s();
		for (double e = a; e - a < 0.01; e = cpu_s(), n_sp += 10)
			for (int i = 0; i < 10; i++)
				EVP_PKEY_verify(c, sig, siglen, md, sizeof(md));
		t_sp += cpu_s() - a;
		a = cpu_s();
		for (double e = a; e - a < 0.01; e = cpu_s(), n_kz += 10)
			for (int i = 0; i < 10; i++) {
				decide_once(ctx, tok, len, &res);
				kz_result_clear(&res);
			}
		t_kz += cpu_s() - a;
	}
	printf("speed_rate %.0f\nkz_rate %.0f\nratio %.3f\n", n_sp / t_sp,
	    n_kz / t_kz, (n_kz / t_kz) / (n_sp / t_sp));
	return 0;
}

/* Loops kz_decide for secs; prints rate and latency percentiles. */
static int
loop_decide(kz_ctx *ctx, const char *tok, size_t len, double secs,
    const char *prefix)
{
	unsigned *h = calloc(HIST_US + 1, sizeof(*h));
	unsigned long n = 0;
	double t0 = now_s(), c0 = cpu_s(), t, a;
	kz_result res;

	do {
		a = now_s();
		if (decide_once(ctx, tok, len, &res) != KZ_OK) {
			fprintf(stderr, "decision: %s/%s %s\n",
			    kz_verdict_name(res.verdict),
			    kz_reason_name(res.reason), res.detail);
			return 1;
		}
		kz_result_clear(&res);
		t = now_s();
		hist_add(h, t - a);
		n++;
	} while (t - t0 < secs);
	printf("%srate %.0f\n%sp50_us %.0f\n%sp99_us %.0f\n", prefix,
	    (double)n / (cpu_s() - c0), prefix, pct(h, n, 0.5), prefix,
	    pct(h, n, 0.99));
	free(h);
	return 0;
}

/* kz_decide, and kz_jwt_validate alone (what the pipeline adds: the
 * denylist file, the audit line, the fingerprint, identity, policy). */
static int
cmd_decide(char **av)
{
	kz_ctx *ctx = open_ctx(av[0]);
	size_t len;
	char *tok = slurp(av[1], &len);
	double secs = atof(av[2]), t0, t, c0;
	struct kz_provider *p = kz_config_provider(ctx->cfg, ctx->cfg->provider);
	unsigned long n = 0;
	kz_result res;

	if (loop_decide(ctx, tok, len, 0.2, "warm_") != 0 ||
	    loop_decide(ctx, tok, len, secs, "") != 0)
		return 1;
	t0 = now_s();
	c0 = cpu_s();
	do {
		memset(&res, 0, sizeof(res));
		if (kz_jwt_validate(ctx, p, tok, len, &res) != KZ_OK)
			return 1;
		kz_result_clear(&res);
		n++;
	} while ((t = now_s() - t0) < secs / 2);
	printf("jwt_only_rate %.0f\n", (double)n / (cpu_s() - c0));
	kz_ctx_close(ctx);
	return 0;
}

static int
cmd_cached(char **av)
{
	kz_ctx *ctx = open_ctx(av[0]);
	size_t len;
	char *tok = slurp(av[1], &len);
	kz_result res;
	double a = now_s();
	int rc;

	/* The first one asks the provider (and loads libcurl). */
	if (decide_once(ctx, tok, len, &res) != KZ_OK) {
		fprintf(stderr, "first decision: %s\n", res.detail);
		return 1;
	}
	printf("first_ms %.2f\n", (now_s() - a) * 1e3);
	kz_result_clear(&res);
	rc = loop_decide(ctx, tok, len, atof(av[2]), "");
	kz_ctx_close(ctx);
	return rc;
}

static char **
read_lines(const char *path, size_t *n)
{
	size_t len, cap = 0;
	char *buf = slurp(path, &len), *save = NULL, *l, **v = NULL;

	*n = 0;
	for (l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (*n == cap && (v = realloc(v, (cap = cap ? cap * 2 : 64) *
		    sizeof(*v))) == NULL)
			exit(2);
		v[(*n)++] = l;
	}
	return v;
}

/* A fresh context per token, as each login is a fresh process: the disk
 * cache is empty (run.sh gives a fresh cache_dir), so every decision asks
 * the provider over a new TLS connection. */
static int
cmd_cold(char **av)
{
	size_t n;
	char **tok = read_lines(av[1], &n);
	double *lat = calloc(n, sizeof(*lat)), a, sum = 0;
	kz_result res;

	if (n < 2 || lat == NULL)
		return 2;
	for (size_t i = 0; i < n; i++) {
		kz_ctx *ctx = open_ctx(av[0]);

		a = now_s();
		if (decide_once(ctx, tok[i], strlen(tok[i]), &res) != KZ_OK) {
			fprintf(stderr, "cold decision: %s\n", res.detail);
			return 1;
		}
		lat[i] = (now_s() - a) * 1e3;
		if (i > 0)
			sum += lat[i];
		kz_result_clear(&res);
		kz_ctx_close(ctx);
	}
	printf("first_ms %.2f\n", lat[0]);
	qsort(lat + 1, n - 1, sizeof(*lat), cmp_double);
	printf("mean_ms %.2f\np50_ms %.2f\np99_ms %.2f\n",
	    sum / (double)(n - 1), lat[1 + (n - 1) / 2],
	    lat[1 + (size_t)((double)(n - 1) * 0.99)]);
	return 0;
}

/* N processes, each deciding in a loop; totals and the merged p99. */
static int
cmd_conc(char **av)
{
	size_t len;
	char *tok = slurp(av[1], &len);
	double secs = atof(av[2]);
	int nproc = atoi(av[3]), fds[2], bad = 0;
	unsigned *h = calloc(HIST_US + 1, sizeof(*h)), *ch;
	unsigned long total = 0;

	if (pipe(fds) != 0)
		return 2;
	ch = calloc(HIST_US + 2, sizeof(*ch));
	for (int i = 0; i < nproc; i++) {
		if (fork() == 0) {
			kz_ctx *ctx = open_ctx(av[0]);
			double t0 = now_s(), t, a;
			kz_result res;

			close(fds[0]);
			memset(ch, 0, (HIST_US + 2) * sizeof(*ch));
			do {
				a = now_s();
				if (decide_once(ctx, tok, len, &res) != KZ_OK)
					ch[HIST_US + 1]++;	/* wrong */
				kz_result_clear(&res);
				t = now_s();
				hist_add(ch, t - a);
			} while (t - t0 < secs);
			if (write(fds[1], ch, (HIST_US + 2) * sizeof(*ch)) < 0)
				_exit(1);
			_exit(0);
		}
	}
	close(fds[1]);
	for (int i = 0; i < nproc; i++) {
		size_t want = (HIST_US + 2) * sizeof(*ch), got = 0;
		ssize_t r;

		while (got < want && (r = read(fds[0], (char *)ch + got,
		    want - got)) > 0)
			got += (size_t)r;
		if (got != want)
			return 1;
		for (int b = 0; b <= HIST_US; b++) {
			h[b] += ch[b];
			total += ch[b];
		}
		bad += (int)ch[HIST_US + 1];
	}
	while (wait(NULL) > 0)
		;
	printf("rate %.0f\np50_us %.0f\np99_us %.0f\nwrong %d\n",
	    (double)total / secs, pct(h, total, 0.5), pct(h, total, 0.99), bad);
	return bad != 0;
}

/* N logins, each a fresh context (a fresh login process), cycling
 * through the tokens; run.sh reads the provider's request counters. */
static int
cmd_logins(char **av)
{
	size_t n;
	char **tok = read_lines(av[1], &n);
	long logins = atol(av[2]), bad = 0;
	kz_result res;

	for (long i = 0; i < logins; i++) {
		kz_ctx *ctx = open_ctx(av[0]);
		const char *t = tok[(size_t)i % n];

		if (decide_once(ctx, t, strlen(t), &res) != KZ_OK)
			bad++;
		kz_result_clear(&res);
		kz_ctx_close(ctx);
	}
	printf("logins %ld\nnot_ok %ld\n", logins, bad);
	return bad != 0;
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int nargs;
		int (*fn)(char **);
	} cmds[] = {
		{ "verify", 3, cmd_verify }, { "libjwt", 3, cmd_libjwt },
		{ "decide", 3, cmd_decide }, { "cached", 3, cmd_cached },
		{ "cold", 2, cmd_cold }, { "conc", 4, cmd_conc },
		{ "logins", 3, cmd_logins }, { "ratio", 4, cmd_ratio },
	};

	for (size_t i = 0; argc > 1 && i < KZ_NELEM(cmds); i++)
		if (strcmp(argv[1], cmds[i].name) == 0 &&
		    argc == cmds[i].nargs + 2)
			return cmds[i].fn(argv + 2);
	fprintf(stderr, "usage: see the comment at the top of bench_core.c\n");
	return 2;
}
