/*
 * jwt.c - JSON Web Tokens validated locally (DESIGN.md section 4.3).
 *
 * The signature is checked with OpenSSL against a key parsed once per kid,
 * not with libjwt: libjwt 1.10.2 re-parses a PEM on every call (a twentieth
 * of the raw verify rate), accepts alg "none" when handed no key, decodes
 * base64 leniently and refuses typ "at+jwt".  Here the header is parsed
 * first, the algorithm must be on the provider's allow-list and belong to
 * the key's family, and only then is the signature verified; claims are
 * read only from a token whose signature holds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ecdsa.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>
#include <openssl/rsa.h>

#include "internal.h"

static const struct {
	const char *name;
	unsigned alg;
} alg_names[] = {
	{ "RS256", KZ_ALG_RS256 }, { "RS384", KZ_ALG_RS384 },
	{ "RS512", KZ_ALG_RS512 }, { "ES256", KZ_ALG_ES256 },
	{ "ES384", KZ_ALG_ES384 }, { "ES512", KZ_ALG_ES512 },
	{ "HS256", KZ_ALG_HS256 }, { "HS384", KZ_ALG_HS384 },
	{ "HS512", KZ_ALG_HS512 }, { "PS256", KZ_ALG_PS256 },
	{ "PS384", KZ_ALG_PS384 }, { "PS512", KZ_ALG_PS512 },
	{ "EdDSA", KZ_ALG_EDDSA },
};

/* Exact, case-sensitive names (RFC 7518): "none", "None", "nOnE" and every
 * other spelling fall through to KZ_ALG_NONE and are refused. */
unsigned
kz_alg_from_name(const char *name)
{
	for (size_t i = 0; name && i < KZ_NELEM(alg_names); i++)
		if (strcmp(name, alg_names[i].name) == 0)
			return alg_names[i].alg;
	return KZ_ALG_NONE;
}

const char *
kz_alg_name(unsigned alg)
{
	for (size_t i = 0; i < KZ_NELEM(alg_names); i++)
		if (alg_names[i].alg == alg)
			return alg_names[i].name;
	return "none";
}

unsigned
kz_alg_family(unsigned alg)
{
	if (alg & KZ_ALG_RSA)
		return KZ_ALG_RSA;
	if (alg & KZ_ALG_EC)
		return KZ_ALG_EC;
	if (alg & KZ_ALG_HMAC)
		return KZ_ALG_HMAC;
	if (alg & KZ_ALG_OKP)
		return KZ_ALG_OKP;
	return 0;
}

#define SHA256_ALGS (KZ_ALG_RS256 | KZ_ALG_PS256 | KZ_ALG_ES256 | KZ_ALG_HS256)
#define SHA384_ALGS (KZ_ALG_RS384 | KZ_ALG_PS384 | KZ_ALG_ES384 | KZ_ALG_HS384)

static const EVP_MD *
alg_md(unsigned alg)
{
	if (alg & SHA256_ALGS)
		return EVP_sha256();
	if (alg & SHA384_ALGS)
		return EVP_sha384();
	return EVP_sha512();
}

/* JWS carries ECDSA signatures as R||S; OpenSSL wants DER. */
static unsigned char *
ecdsa_raw_to_der(const unsigned char *sig, size_t len, int *derlen)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)(len / 2), NULL);
	BIGNUM *s = BN_bin2bn(sig + len / 2, (int)(len / 2), NULL);
	unsigned char *der = NULL;

	*derlen = 0;
	if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s)) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return NULL;
	}
	*derlen = i2d_ECDSA_SIG(es, &der);
	ECDSA_SIG_free(es);
	return *derlen > 0 ? der : NULL;
}

static size_t
ec_sig_len(unsigned alg)
{
	return alg == KZ_ALG_ES256 ? 64 : alg == KZ_ALG_ES384 ? 96 : 132;
}

/*
 * The digest of the signing input on a context kept with the key: the
 * algorithm is fetched once, not on every token as EVP_Digest does (which
 * costs about as much again as the SHA-256 itself).
 */
static int
digest(struct kz_key *key, unsigned alg, const char *si, size_t si_len,
    unsigned char *md, unsigned int *mdlen)
{
	int i = (alg & SHA256_ALGS) ? 0 : (alg & SHA384_ALGS) ? 1 : 2;
	EVP_MD_CTX *d = key->dctx[i];

	if (d == NULL) {
		EVP_MD *m = EVP_MD_fetch(NULL, EVP_MD_get0_name(alg_md(alg)),
		    NULL);

		if (m == NULL || (d = EVP_MD_CTX_new()) == NULL ||
		    EVP_DigestInit_ex2(d, m, NULL) != 1) {
			EVP_MD_free(m);
			EVP_MD_CTX_free(d);
			return -1;
		}
		EVP_MD_free(m);		/* the context holds its own reference */
		key->dctx[i] = d;
	} else if (EVP_DigestInit_ex2(d, NULL, NULL) != 1)
		return -1;
	return EVP_DigestUpdate(d, si, si_len) == 1 &&
	    EVP_DigestFinal_ex(d, md, mdlen) == 1 ? 0 : -1;
}

/*
 * A verify context per key and digest, made once: setting one up costs
 * about as much as the RSA verification itself.  Then each token needs a
 * one-shot digest and EVP_PKEY_verify, which is what `openssl speed`
 * measures as the raw rate.
 */
static EVP_PKEY_CTX *
verify_ctx(struct kz_key *key, unsigned alg)
{
	bool pss = (alg & KZ_ALG_PSS) != 0;
	int i = ((alg & SHA256_ALGS) ? 0 : (alg & SHA384_ALGS) ? 1 : 2) +
	    (pss ? 3 : 0);
	EVP_PKEY_CTX *c = key->vctx[i];

	if (c != NULL)
		return c;
	if ((c = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL)) == NULL)
		return NULL;
	/* RFC 7518 3.5: PSS with MGF1 of the same hash, and a salt as long
	 * as the hash (not "any length", which would accept what the RFC
	 * does not) */
	if (EVP_PKEY_verify_init(c) <= 0 ||
	    (key->family == KZ_ALG_RSA &&
	    EVP_PKEY_CTX_set_rsa_padding(c, pss ? RSA_PKCS1_PSS_PADDING :
	    RSA_PKCS1_PADDING) <= 0) ||
	    EVP_PKEY_CTX_set_signature_md(c, alg_md(alg)) <= 0 ||
	    (pss && (EVP_PKEY_CTX_set_rsa_mgf1_md(c, alg_md(alg)) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(c, RSA_PSS_SALTLEN_DIGEST) <= 0))) {
		EVP_PKEY_CTX_free(c);
		return NULL;
	}
	key->vctx[i] = c;
	return c;
}

/* EdDSA signs the message itself (no pre-hash): a one-shot
 * EVP_DigestVerify, on a copy of a context initialised once per key (a
 * one-shot context cannot be reused, and an init per token costs a
 * provider fetch). */
static kz_verdict
eddsa_verify(struct kz_key *key, const char *si, size_t si_len,
    const unsigned char *sig, size_t sig_len)
{
	EVP_MD_CTX *mc;
	int ok;

	if (sig_len != 64)	/* Ed25519 */
		return KZ_UNAUTHENTICATED;
	if (key->ed_ctx == NULL) {
		if ((key->ed_ctx = EVP_MD_CTX_new()) == NULL)
			return KZ_ERROR;
		if (EVP_DigestVerifyInit(key->ed_ctx, NULL, NULL, NULL,
		    key->pkey) != 1) {
			EVP_MD_CTX_free(key->ed_ctx);
			key->ed_ctx = NULL;
			return KZ_ERROR;
		}
	}
	if ((mc = EVP_MD_CTX_new()) == NULL ||
	    EVP_MD_CTX_copy_ex(mc, key->ed_ctx) != 1) {
		EVP_MD_CTX_free(mc);
		return KZ_ERROR;
	}
	ok = EVP_DigestVerify(mc, sig, sig_len, (const unsigned char *)si,
	    si_len) == 1;
	EVP_MD_CTX_free(mc);
	return ok ? KZ_OK : KZ_UNAUTHENTICATED;
}

/* si_sha256, when not NULL, is the SHA-256 of si (kz_token_digest): a
 * SHA-256 algorithm uses it instead of hashing si again. */
static kz_verdict
verify_sig(struct kz_key *key, unsigned alg, const char *si, size_t si_len,
    const unsigned char *si_sha256, const unsigned char *sig, size_t sig_len)
{
	unsigned char md[EVP_MAX_MD_SIZE], *der = NULL;
	unsigned int mdlen = 0;
	EVP_PKEY_CTX *c;
	int derlen = 0, ok = 0;

	if (kz_alg_family(alg) == KZ_ALG_HMAC) {
		unsigned char mac[EVP_MAX_MD_SIZE];
		unsigned int maclen = 0;

		if (key->secret == NULL || key->secret_len == 0)
			return KZ_UNAUTHENTICATED;	/* never an empty key */
		if (HMAC(alg_md(alg), key->secret, (int)key->secret_len,
		    (const unsigned char *)si, si_len, mac, &maclen) == NULL)
			return KZ_ERROR;
		ok = maclen == sig_len && CRYPTO_memcmp(mac, sig, maclen) == 0;
		explicit_bzero(mac, sizeof(mac));
		return ok ? KZ_OK : KZ_UNAUTHENTICATED;
	}
	if (key->pkey == NULL || key->family != kz_alg_family(alg))
		return KZ_UNAUTHENTICATED;
	if (alg == KZ_ALG_EDDSA)
		return eddsa_verify(key, si, si_len, sig, sig_len);
	if (kz_alg_family(alg) == KZ_ALG_EC) {
		if (sig_len != ec_sig_len(alg))
			return KZ_UNAUTHENTICATED;
		if ((der = ecdsa_raw_to_der(sig, sig_len, &derlen)) == NULL)
			return KZ_UNAUTHENTICATED;
		sig = der;
		sig_len = (size_t)derlen;
	}
	if (si_sha256 != NULL && (alg & SHA256_ALGS)) {
		memcpy(md, si_sha256, 32);
		mdlen = 32;
	}
	if ((c = verify_ctx(key, alg)) == NULL ||
	    (mdlen == 0 && digest(key, alg, si, si_len, md, &mdlen) != 0)) {
		OPENSSL_free(der);
		return KZ_ERROR;
	}
	ok = EVP_PKEY_verify(c, sig, sig_len, md, mdlen) == 1;
	OPENSSL_free(der);
	return ok ? KZ_OK : KZ_UNAUTHENTICATED;
}

kz_verdict
kz_jwt_verify_sig(struct kz_key *key, unsigned alg, const char *si,
    size_t si_len, const unsigned char *sig, size_t sig_len)
{
	return verify_sig(key, alg, si, si_len, NULL, sig, sig_len);
}

/* A segment decoded into buf when it fits (cap bytes), else on the heap:
 * the common token needs no allocation.  Returns buf, a heap copy to
 * free, or NULL when not base64url. */
static unsigned char *
decode_segment(const char *seg, size_t len, unsigned char *buf, size_t cap,
    size_t *outlen)
{
	unsigned char *heap;

	if (len / 4 * 3 + 3 <= cap)
		return kz_b64url_decode_to(seg, len, buf, cap, outlen) == 0 ?
		    buf : NULL;
	return kz_b64url_decode(seg, len, &heap, outlen) == 0 ? heap : NULL;
}

static json_t *
decode_json_segment(const char *seg, size_t len)
{
	unsigned char buf[2048], *raw;
	size_t rawlen;
	json_t *j;

	if ((raw = decode_segment(seg, len, buf, sizeof(buf), &rawlen)) == NULL)
		return NULL;
	j = kz_json_parse((char *)raw, rawlen);
	if (raw != buf)
		free(raw);
	if (!json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* The claims as a kz_jv tree in the caller's arena (jtree.c): no jansson
 * values, so no allocation for a common payload.  NULL unless an object. */
static const struct kz_jv *
decode_claims(const char *seg, size_t len, struct kz_arena *a)
{
	unsigned char buf[2048], *raw;
	const struct kz_jv *c;
	size_t rawlen;

	if ((raw = decode_segment(seg, len, buf, sizeof(buf), &rawlen)) == NULL)
		return NULL;
	c = rawlen <= KZ_MAX_BODY ? kz_jv_parse(a, (char *)raw, rawlen) : NULL;
	if (raw != buf)
		free(raw);
	return c != NULL && c->type == KZ_JT_OBJ ? c : NULL;
}

/* RFC 9068 access tokens say at+jwt; plain JWTs say JWT or nothing. */
static bool
typ_ok(const char *typ)
{
	return typ == NULL || kz_strcaseeq(typ, "JWT") ||
	    kz_strcaseeq(typ, "at+jwt") ||
	    kz_strcaseeq(typ, "application/at+jwt");
}

/* What kz_jwt_validate reads of a header, all of it a function of the
 * header alone (the checks on it are made on every token). */
static void
read_header(json_t *hdr, struct kz_jwt_hdr *f)
{
	f->alg = kz_json_str(hdr, "alg");
	f->kid = kz_json_str(hdr, "kid");
	f->alg_id = kz_alg_from_name(f->alg);
	f->typ_bad = !typ_ok(kz_json_str(hdr, "typ")) ||
	    (json_object_get(hdr, "typ") && !kz_json_str(hdr, "typ"));
	f->crit = json_object_get(hdr, "crit") != NULL;
	f->kid_bad = json_object_get(hdr, "kid") && f->kid == NULL;
}

/* Every token of one key carries the same header: keep the last parse,
 * and what was read of it.  Same bytes in, same object out, so nothing
 * is trusted that was not. */
static json_t *
header_of(kz_ctx *ctx, const char *seg, size_t len, struct kz_jwt_hdr *f)
{
	json_t *h;

	if (ctx->hdr_b64 != NULL && strlen(ctx->hdr_b64) == len &&
	    memcmp(ctx->hdr_b64, seg, len) == 0) {
		*f = ctx->hdr;
		return json_incref(ctx->hdr_json);
	}
	if ((h = decode_json_segment(seg, len)) == NULL)
		return NULL;
	read_header(h, f);
	if (len > 1024)
		return h;
	free(ctx->hdr_b64);
	json_decref(ctx->hdr_json);
	ctx->hdr_b64 = strndup(seg, len);
	ctx->hdr_json = json_incref(h);
	ctx->hdr = *f;
	return h;
}

static kz_verdict
hmac_key(kz_ctx *ctx, struct kz_provider *p, struct kz_key *key,
    kz_result *res)
{
	char err[256], *buf;
	size_t len;

	if (kz_read_file(p->hmac_secret_file, KZ_SF_SECRET, 4096, &buf, &len,
	    err, sizeof(err)) != 0)
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "%s", err);
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (len < 32) {
		kz_free_secret(buf);
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "%s: an HMAC secret "
		    "needs at least 32 bytes", p->hmac_secret_file);
	}
	key->family = KZ_ALG_HMAC;
	key->secret = (unsigned char *)buf;
	key->secret_len = len;
	(void)ctx;
	return KZ_OK;
}

static kz_verdict
check_claims(kz_ctx *ctx, struct kz_provider *p, const struct kz_jv *claims,
    kz_result *res)
{
	const struct kz_jv *aud = kz_jv_get(claims, "aud");

	/* Types and ranges are checked as the claims are read: a wrong type
	 * is a malformed token, not a pass. */
	if (kz_identity_from_jv(p, claims, false, &res->id, res) != 0)
		return res->verdict;
	if (kz_check_times(ctx, &res->id, true, res) != KZ_OK)
		return res->verdict;
	if (res->id.iss == NULL || strcmp(res->id.iss, p->issuer) != 0)
		return kz_set(res, KZ_UNAUTHENTICATED, KZ_R_BAD_ISSUER,
		    "iss %s is not %s", res->id.iss ? res->id.iss : "(none)",
		    p->issuer);
	return kz_aud_check_jv(p, aud, "token", res);
}

kz_verdict
kz_jwt_validate(kz_ctx *ctx, struct kz_provider *p, const char *tok,
    size_t len, kz_result *res)
{
	const char *d1 = memchr(tok, '.', len);
	const char *d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok));
	json_t *hdr = NULL;
	const struct kz_jv *claims;
	struct kz_arena arena;
	unsigned char sigbuf[1040], *sig = NULL;	/* RSA-8192 fits */
	size_t siglen = 0;
	struct kz_key hkey = { 0 };
	struct kz_key *key;
	struct kz_jwt_hdr hf;
	const char *algname, *kid;
	unsigned alg;
	kz_verdict v;

	kz_arena_init(&arena);
	if ((hdr = header_of(ctx, tok, (size_t)(d1 - tok), &hf)) == NULL) {
		v = kz_set(res, KZ_UNAUTHENTICATED, KZ_R_MALFORMED,
		    "header is not a JSON object");
		goto out;
	}
	algname = hf.alg;
	kid = hf.kid;
	alg = hf.alg_id;
	if (alg == KZ_ALG_NONE || !(alg & p->algorithms)) {
		v = kz_set(res, KZ_UNAUTHENTICATED, KZ_R_ALG_NOT_ALLOWED,
		    "alg %.32s not in the allow-list", algname ? algname :
		    "(missing)");
		goto out;
	}
	if (hf.typ_bad) {
		v = kz_set(res, KZ_UNAUTHENTICATED, KZ_R_WRONG_TOKEN_TYPE,
		    "typ is not JWT or at+jwt");
		goto out;
	}
	if (hf.crit) {
		v = kz_set(res, KZ_UNAUTHENTICATED, KZ_R_MALFORMED,
		    "crit header extensions are not understood");
		goto out;
	}
	if (hf.kid_bad) {
		v = kz_set(res, KZ_UNAUTHENTICATED, KZ_R_MALFORMED,
		    "kid is not a string");
		goto out;
	}
	res->id.kid = kz_strdup(kid);
	kz_trace(ctx, "header", 1, "alg %s, kid %s", kz_alg_name(alg),
	    kid ? kid : "(none)");

	if (kz_alg_family(alg) == KZ_ALG_HMAC) {
		if ((v = hmac_key(ctx, p, &hkey, res)) != KZ_OK)
			goto out;
		key = &hkey;
	} else if ((key = kz_keys_find(ctx, p, kid, kz_alg_family(alg),
	    res)) == NULL) {
		v = res->verdict;
		goto out;
	}
	/* The key decides the family: an RSA key never checks an HMAC, so
	 * HS256 "signed" with the public PEM cannot pass. */
	if (key->family != kz_alg_family(alg) ||
	    (key->alg != 0 && key->alg != alg)) {
		v = kz_set(res, KZ_UNAUTHENTICATED, KZ_R_ALG_NOT_ALLOWED,
		    "alg %s does not fit key %s", kz_alg_name(alg),
		    kid ? kid : "(none)");
		goto out;
	}
	if ((sig = decode_segment(d2 + 1, len - (size_t)(d2 + 1 - tok), sigbuf,
	    sizeof(sigbuf), &siglen)) == NULL) {
		v = kz_set(res, KZ_UNAUTHENTICATED, KZ_R_MALFORMED,
		    "signature is not base64url");
		goto out;
	}
	/* kz_decide hashed this token's signing input already */
	v = verify_sig(key, alg, tok, (size_t)(d2 - tok), ctx->si.tok == tok &&
	    ctx->si.len == (size_t)(d2 - tok) ? ctx->si.md : NULL, sig, siglen);
	if (v != KZ_OK) {
		v = kz_set(res, v, v == KZ_ERROR ? KZ_R_INTERNAL :
		    KZ_R_BAD_SIGNATURE, "signature does not verify with key %s",
		    kid ? kid : "(none)");
		goto out;
	}
	kz_trace(ctx, "signature", 1, "%s with key %s", kz_alg_name(alg),
	    kid ? kid : "(none)");
	if (kz_alg_family(alg) == KZ_ALG_EC && kz_denylisted_ec_twin(ctx, alg,
	    tok, (size_t)(d2 - tok), sig, siglen)) {
		v = kz_set(res, KZ_UNAUTHENTICATED, KZ_R_DENYLISTED,
		    "the twin of this ECDSA signature is on the local "
		    "denylist");
		goto out;
	}
	if ((claims = decode_claims(d1 + 1, (size_t)(d2 - d1 - 1),
	    &arena)) == NULL) {
		v = kz_set(res, KZ_UNAUTHENTICATED, KZ_R_MALFORMED,
		    "payload is not a JSON object");
		goto out;
	}
	res->id.source = KZ_SRC_JWT;
	v = check_claims(ctx, p, claims, res);
	if (v == KZ_OK)
		kz_trace(ctx, "claims", 1, "exp, nbf, iat, iss and aud hold");
out:
	json_decref(hdr);
	kz_arena_free(&arena);
	if (sig != sigbuf)
		free(sig);
	if (hkey.family != 0 || hkey.secret != NULL)	/* HMAC only */
		kz_key_clear(&hkey);
	return v;
}
