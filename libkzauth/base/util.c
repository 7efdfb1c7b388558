/*
 * util.c - strings, numbers, hashing and JSON helpers used across libkzauth.
 */
/* SHA256_Init and friends are deprecated in OpenSSL 3 but kept: see
 * kz_sha256_hex. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "internal.h"

char *
kz_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

char *
kz_strndup(const char *s, size_t n)
{
	return s ? strndup(s, n) : NULL;
}

void
kz_free_secret(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

void
kz_strv_free(struct kz_strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

int
kz_strv_push(struct kz_strv *sv, const char *s, size_t n)
{
	char **nv;

	if (sv->n >= 4096)	/* a hostile claim list is cut off, not grown */
		return -1;
	if ((nv = realloc(sv->v, (sv->n + 1) * sizeof(*nv))) == NULL)
		return -1;
	sv->v = nv;
	if ((sv->v[sv->n] = strndup(s, n)) == NULL)
		return -1;
	sv->n++;
	return 0;
}

int
kz_strv_push_big(struct kz_strv *sv, const char *s, size_t n)
{
	char **nv;

	/* capacity: the next power of two (at least 16) above n */
	if (sv->n >= 16 && (sv->n & (sv->n - 1)) == 0) {
		if (sv->n > ((size_t)1 << 26) ||
		    (nv = realloc(sv->v, 2 * sv->n * sizeof(*nv))) == NULL)
			return -1;
		sv->v = nv;
	} else if (sv->v == NULL) {
		if ((sv->v = malloc(16 * sizeof(*nv))) == NULL)
			return -1;
	}
	if ((sv->v[sv->n] = strndup(s, n)) == NULL)
		return -1;
	sv->n++;
	return 0;
}

int
kz_strv_split(struct kz_strv *sv, const char *s)
{
	const char *p = s;

	while (*p != '\0') {
		size_t n;

		while (*p == ',' || kz_isspace((unsigned char)*p))
			p++;
		n = strcspn(p, ", \t\n\v\f\r");
		if (n > 0 && kz_strv_push(sv, p, n) != 0)
			return -1;
		p += n;
	}
	return 0;
}

bool
kz_strv_has(const struct kz_strv *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0)
			return true;
	return false;
}

/* Compares without leaking where they differ (client secrets, digests). */
bool
kz_streq_ct(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la != lb)
		return false;
	return CRYPTO_memcmp(a, b, la) == 0;
}

void
kz_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void
kz_sha256_hex(const char *data, size_t n, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256_CTX c;

	/* The low-level functions: SHA256() fetches the algorithm from the
	 * provider on every call, which doubles the cost of a fingerprint. */
	SHA256_Init(&c);
	SHA256_Update(&c, data, n);
	SHA256_Final(md, &c);
	explicit_bzero(&c, sizeof(c));
	kz_hex(md, sizeof(md), out);
}

/*
 * A JWT is hashed twice per decision: whole, for its fingerprint, and up
 * to the last dot, for its signature.  SHA-256 runs front to back, so one
 * pass serves both: hash the signing input, copy the state, finish the
 * copy (the signature's digest), and go on with ".signature" for the
 * fingerprint.  Through EVP on contexts kept in ctx (the provider's
 * SHA-256, as the signature check used; fetched once, as a fetch per call
 * costs about as much as the hash).  If EVP fails, the plain hash.
 */
int
kz_token_digest(kz_ctx *ctx, const char *tok, size_t n, size_t si_len,
    unsigned char si_md[32], char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, silen = 0;

	if (si_len == 0 || si_len >= n)
		goto plain;
	if (ctx->sha256 == NULL &&
	    (ctx->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		goto plain;
	if ((ctx->tok_md == NULL && (ctx->tok_md = EVP_MD_CTX_new()) == NULL) ||
	    (ctx->si_md == NULL && (ctx->si_md = EVP_MD_CTX_new()) == NULL))
		goto plain;
	if (EVP_DigestInit_ex2(ctx->tok_md, ctx->sha256, NULL) != 1 ||
	    EVP_DigestUpdate(ctx->tok_md, tok, si_len) != 1 ||
	    EVP_MD_CTX_copy_ex(ctx->si_md, ctx->tok_md) != 1 ||
	    EVP_DigestFinal_ex(ctx->si_md, si_md, &silen) != 1 ||
	    EVP_DigestUpdate(ctx->tok_md, tok + si_len, n - si_len) != 1 ||
	    EVP_DigestFinal_ex(ctx->tok_md, md, &mdlen) != 1 ||
	    silen != 32 || mdlen != 32)
		goto plain;
	kz_hex(md, 32, out);
	return 1;
plain:
	kz_sha256_hex(tok, n, out);
	return 0;
}

void
kz_fingerprint(const char *tok, size_t len, char fp[13])
{
	char hex[65];

	kz_sha256_hex(tok, len, hex);
	memcpy(fp, hex, 12);
	fp[12] = '\0';
}

int
kz_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
kz_parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "1") ||
	    !strcmp(s, "on"))
		*out = true;
	else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "0") ||
	    !strcmp(s, "off"))
		*out = false;
	else
		return -1;
	return 0;
}

const char *
kz_json_str(json_t *o, const char *key)
{
	json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The "error" of an OAuth answer (RFC 6749 5.2), quoted only when it is a
 * plain word: a provider could echo anything, even the token, in one. */
const char *
kz_oauth_error(json_t *ans)
{
	const char *c = ans ? kz_json_str(ans, "error") : NULL;

	if (c == NULL || strlen(c) > 40)
		return NULL;
	for (const char *s = c; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || *s == '_'))
			return NULL;
	return c;
}

/* Integers, or integral reals (some providers send 1.7e9): anything else,
 * including a string, is "present but wrong" (-1). */
int
kz_json_int(json_t *o, const char *key, int64_t *out)
{
	json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;

	if (v == NULL)
		return 0;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 1;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);

		if (d > -9.2e18 && d < 9.2e18) {
			*out = (int64_t)d;
			return 1;
		}
	}
	return -1;
}

/* kz_jv_time and kz_jv_names (jtree.c) on a jansson object's member:
 * the member is converted, so that there is one reading of each. */
int
kz_json_time(json_t *o, const char *key, int64_t *out)
{
	json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
	struct kz_arena a;
	const struct kz_jv *t;
	int rc;

	if (v == NULL)
		return 0;
	kz_arena_init(&a);
	t = kz_jv_from_json(&a, v);
	rc = t != NULL ? kz_jv_time(t, out) : -1;
	kz_arena_free(&a);
	return rc;
}

int
kz_json_names(json_t *o, const char *key, struct kz_strv *out)
{
	json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
	struct kz_arena a;
	const struct kz_jv *t;
	int rc;

	if (v == NULL)
		return 0;
	kz_arena_init(&a);
	t = kz_jv_from_json(&a, v);
	rc = t != NULL ? kz_jv_names(t, out) : -1;
	kz_arena_free(&a);
	return rc;
}

json_t *
kz_json_parse_max(const char *buf, size_t len, size_t max)
{
	if (buf == NULL || len > max)
		return NULL;
	return kz_json_load(buf, len);
}

json_t *
kz_json_parse(const char *buf, size_t len)
{
	return kz_json_parse_max(buf, len, KZ_MAX_BODY);
}
