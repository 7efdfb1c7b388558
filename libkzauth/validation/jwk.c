/*
 * jwk.c - JSON Web Keys into OpenSSL keys, parsed once and reused: parsing
 * a PEM per verification costs 20 times the verification itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "internal.h"

struct curve {
	const char *crv;
	const char *group;
	size_t coord;
	unsigned alg;
};

static const struct curve curves[] = {
	{ "P-256", "prime256v1", 32, KZ_ALG_ES256 },
	{ "P-384", "secp384r1", 48, KZ_ALG_ES384 },
	{ "P-521", "secp521r1", 66, KZ_ALG_ES512 },
};

static int
b64_field(json_t *jwk, const char *name, unsigned char **out, size_t *len)
{
	const char *s = kz_json_str(jwk, name);

	if (s == NULL || *s == '\0')
		return -1;
	return kz_b64url_decode(s, strlen(s), out, len);
}

static EVP_PKEY *
pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pkey = NULL;

	if (params == NULL || pctx == NULL ||
	    EVP_PKEY_fromdata_init(pctx) <= 0 ||
	    EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pkey = NULL;
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(pctx);
	return pkey;
}

static int
rsa_key(json_t *jwk, struct kz_key *key, char *err, size_t errlen)
{
	unsigned char *n = NULL, *e = NULL;
	size_t nlen, elen;
	BIGNUM *bn = NULL, *be = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	int rc = -1;

	if (b64_field(jwk, "n", &n, &nlen) != 0 ||
	    b64_field(jwk, "e", &e, &elen) != 0) {
		snprintf(err, errlen, "RSA key without valid n and e");
		goto out;
	}
	/* Sizes are counted in bits of the value, so leading zero bytes
	 * cannot pad a short modulus past the check.  Below 2048 bits a key
	 * is forgeable in practice; an even exponent or one below 3 makes
	 * no RSA key at all (e = 1 "verifies" the signature as the message). */
	if (nlen > 1024 || elen > 8) {
		snprintf(err, errlen, "RSA key too large");
		goto out;
	}
	bn = BN_bin2bn(n, (int)nlen, NULL);
	be = BN_bin2bn(e, (int)elen, NULL);
	if (bn == NULL || be == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (BN_num_bits(bn) < 2048) {
		snprintf(err, errlen, "RSA key of %d bits refused",
		    BN_num_bits(bn));
		goto out;
	}
	if (!BN_is_odd(be) || BN_cmp(be, BN_value_one()) <= 0) {
		snprintf(err, errlen, "RSA key with an even or < 3 public "
		    "exponent refused");
		goto out;
	}
	bld = OSSL_PARAM_BLD_new();
	if (bn == NULL || be == NULL || bld == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) ||
	    (key->pkey = pkey_fromdata("RSA", bld)) == NULL) {
		snprintf(err, errlen, "RSA key not usable");
		goto out;
	}
	key->family = KZ_ALG_RSA;
	rc = 0;
out:
	free(n);
	free(e);
	BN_free(bn);
	BN_free(be);
	OSSL_PARAM_BLD_free(bld);
	return rc;
}

static int
ec_key(json_t *jwk, struct kz_key *key, char *err, size_t errlen)
{
	const char *crv = kz_json_str(jwk, "crv");
	const struct curve *c = NULL;
	unsigned char *x = NULL, *y = NULL, *pub = NULL;
	size_t xlen, ylen;
	OSSL_PARAM_BLD *bld = NULL;
	int rc = -1;

	for (size_t i = 0; crv && i < KZ_NELEM(curves); i++)
		if (strcmp(crv, curves[i].crv) == 0)
			c = &curves[i];
	if (c == NULL) {
		snprintf(err, errlen, "EC curve %s not supported",
		    crv ? crv : "(none)");
		return -1;
	}
	if (b64_field(jwk, "x", &x, &xlen) != 0 ||
	    b64_field(jwk, "y", &y, &ylen) != 0 || xlen != c->coord ||
	    ylen != c->coord || (pub = malloc(1 + 2 * c->coord)) == NULL) {
		snprintf(err, errlen, "EC key without valid x and y");
		goto out;
	}
	pub[0] = 0x04;		/* uncompressed point */
	memcpy(pub + 1, x, c->coord);
	memcpy(pub + 1 + c->coord, y, c->coord);
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    c->group, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	    pub, 1 + 2 * c->coord) ||
	    (key->pkey = pkey_fromdata("EC", bld)) == NULL) {
		snprintf(err, errlen, "EC key not on its curve");
		goto out;
	}
	key->family = KZ_ALG_EC;
	/* The curve fixes the algorithm: P-256 only ever signs ES256. */
	key->alg = c->alg;
	rc = 0;
out:
	free(x);
	free(y);
	free(pub);
	OSSL_PARAM_BLD_free(bld);
	return rc;
}

/* RFC 8037: an OKP key; only Ed25519 signs JWTs we accept. */
static int
okp_key(json_t *jwk, struct kz_key *key, char *err, size_t errlen)
{
	const char *crv = kz_json_str(jwk, "crv");
	unsigned char *x = NULL;
	size_t xlen = 0;

	if (crv == NULL || strcmp(crv, "Ed25519") != 0) {
		snprintf(err, errlen, "OKP curve %s not supported",
		    crv ? crv : "(none)");
		return -1;
	}
	if (kz_json_str(jwk, "d") != NULL) {
		snprintf(err, errlen, "OKP JWK carries a private key");
		return -1;
	}
	if (b64_field(jwk, "x", &x, &xlen) != 0 || xlen != 32 ||
	    (key->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
	    x, xlen)) == NULL) {
		free(x);
		snprintf(err, errlen, "Ed25519 key without a valid x");
		return -1;
	}
	free(x);
	key->family = KZ_ALG_OKP;
	key->alg = KZ_ALG_EDDSA;
	return 0;
}

/* What a JWK says of itself, checked without any cryptography: type, use,
 * pinned algorithm and kid.  The key material is read by kz_key_ready. */
static int
jwk_header(json_t *jwk, struct kz_key *key, char *err, size_t errlen)
{
	const char *kty = kz_json_str(jwk, "kty");
	const char *use = kz_json_str(jwk, "use");
	const char *alg = kz_json_str(jwk, "alg");
	unsigned pinned = alg ? kz_alg_from_name(alg) : 0;

	memset(key, 0, sizeof(*key));
	if (!json_is_object(jwk) || kty == NULL) {
		snprintf(err, errlen, "JWK without kty");
		return -1;
	}
	if (use != NULL && strcmp(use, "sig") != 0) {
		snprintf(err, errlen, "JWK for use %s, not sig", use);
		return -1;
	}
	if (alg != NULL && pinned == KZ_ALG_NONE) {
		snprintf(err, errlen, "JWK for unsupported alg %s", alg);
		return -1;
	}
	if (strcmp(kty, "RSA") == 0)
		key->family = KZ_ALG_RSA;
	else if (strcmp(kty, "EC") == 0)
		key->family = KZ_ALG_EC;
	else if (strcmp(kty, "OKP") == 0)
		key->family = KZ_ALG_OKP;
	else {
		snprintf(err, errlen, "JWK type %s not supported", kty);
		return -1;
	}
	if (pinned != 0 && kz_alg_family(pinned) != key->family) {
		snprintf(err, errlen, "JWK alg %s does not fit its key", alg);
		return -1;
	}
	key->alg = pinned;
	key->kid = kz_strdup(kz_json_str(jwk, "kid"));
	return 0;
}

/* The key material of a JWK whose header passed. */
static int
jwk_material(json_t *jwk, struct kz_key *key, char *err, size_t errlen)
{
	unsigned pinned = key->alg;
	struct kz_key m = { 0 };
	int rc;

	if (key->family == KZ_ALG_RSA)
		rc = rsa_key(jwk, &m, err, errlen);
	else if (key->family == KZ_ALG_EC)
		rc = ec_key(jwk, &m, err, errlen);
	else
		rc = okp_key(jwk, &m, err, errlen);
	if (rc != 0)
		return -1;
	if (pinned != 0 && m.alg != 0 && m.alg != pinned) {
		snprintf(err, errlen, "JWK alg %s does not fit its key",
		    kz_alg_name(pinned));
		kz_key_clear(&m);
		return -1;
	}
	key->pkey = m.pkey;
	if (pinned == 0)
		key->alg = m.alg;
	return 0;
}

int
kz_jwk_to_key(json_t *jwk, struct kz_key *key, char *err, size_t errlen)
{
	if (jwk_header(jwk, key, err, errlen) != 0)
		return -1;
	if (jwk_material(jwk, key, err, errlen) != 0) {
		kz_key_clear(key);
		return -1;
	}
	return 0;
}

bool
kz_key_ready(struct kz_key *key)
{
	char err[128];
	bool ok;

	if (key->pkey != NULL || key->secret != NULL)
		return true;
	if (key->jwk == NULL)
		return false;		/* tried before, and it did not import */
	ok = jwk_material(key->jwk, key, err, sizeof(err)) == 0;
	json_decref(key->jwk);
	key->jwk = NULL;
	return ok;
}

size_t
kz_keyset_usable(struct kz_keyset *ks)
{
	size_t n = 0;

	for (size_t i = 0; ks != NULL && i < ks->nkeys; i++)
		n += kz_key_ready(&ks->keys[i]);
	return n;
}

char *
kz_key_to_pem(const struct kz_key *key)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *pem = NULL;
	long n;

	if (bio == NULL || key->pkey == NULL)
		goto out;
	if (PEM_write_bio_PUBKEY(bio, key->pkey) != 1)
		goto out;
	n = BIO_get_mem_data(bio, &data);
	if (n > 0)
		pem = strndup(data, (size_t)n);
out:
	BIO_free(bio);
	return pem;
}

void
kz_key_clear(struct kz_key *key)
{
	free(key->kid);
	for (size_t i = 0; i < KZ_NELEM(key->vctx); i++)
		EVP_PKEY_CTX_free(key->vctx[i]);
	EVP_MD_CTX_free(key->ed_ctx);
	for (size_t i = 0; i < KZ_NELEM(key->dctx); i++)
		EVP_MD_CTX_free(key->dctx[i]);
	EVP_PKEY_free(key->pkey);
	json_decref(key->jwk);
	if (key->secret != NULL) {
		explicit_bzero(key->secret, key->secret_len);
		free(key->secret);
	}
	memset(key, 0, sizeof(*key));
}

void
kz_keyset_free(struct kz_keyset *ks)
{
	if (ks == NULL)
		return;
	for (size_t i = 0; i < ks->nkeys; i++)
		kz_key_clear(&ks->keys[i]);
	free(ks->keys);
	json_decref(ks->doc);
	free(ks);
}

/* Keeps every usable signing key; skips (and counts) the others, since a
 * provider may publish encryption keys or algorithms we do not support. */
int
kz_keyset_from_json(const char *buf, size_t len, struct kz_keyset **out,
    char *err, size_t errlen)
{
	json_t *root = kz_json_parse(buf, len);
	int rc = kz_keyset_from_doc(root, out, err, errlen);

	json_decref(root);
	return rc;
}

int
kz_keyset_from_doc(json_t *root, struct kz_keyset **out, char *err,
    size_t errlen)
{
	json_t *keys, *jwk;
	struct kz_keyset *ks;
	size_t i;

	*out = NULL;
	keys = json_is_object(root) ? json_object_get(root, "keys") : NULL;
	if (!json_is_array(keys)) {
		snprintf(err, errlen, "JWKS is not an object with a keys array");
		return -1;
	}
	if ((ks = calloc(1, sizeof(*ks))) == NULL ||
	    (json_array_size(keys) > 0 &&
	    (ks->keys = calloc(json_array_size(keys), sizeof(*ks->keys))) == NULL)) {
		free(ks);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	json_array_foreach(keys, i, jwk) {
		char kerr[128];

		if (i >= 64)	/* no provider needs more; bound the work */
			break;
		if (jwk_header(jwk, &ks->keys[ks->nkeys], kerr,
		    sizeof(kerr)) == 0)
			ks->keys[ks->nkeys++].jwk = json_incref(jwk);
	}
	ks->doc = json_incref(root);
	*out = ks;
	return 0;
}
