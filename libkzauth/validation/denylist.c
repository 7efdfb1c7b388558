/*
 * denylist.c - tokens blocked locally at once (`kztoken deny`): by
 * fingerprint (12 to 64 hex digits of SHA-256) or by "jti:VALUE".
 */
#include <errno.h>
#include <sys/stat.h>
#include <syslog.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>

#include "internal.h"

#define MAX_DENYLIST (4 * 1024 * 1024)

static bool
hex_entry(const char *s, size_t n)
{
	if (n < 12 || n > 64)
		return false;
	/* lower-case hex only: a fingerprint is compared as bytes */
	for (size_t i = 0; i < n; i++)
		if (!(s[i] >= '0' && s[i] <= '9') && !(s[i] >= 'a' && s[i] <= 'f'))
			return false;
	return true;
}

/* The parsed denylist, kept per context and read again only when the
 * file's identity changes: a file read per decision cost more than a
 * fifth of an RS256 verification. */
struct kz_denylist {
	struct stat st;		/* identity when parsed; st_ino 0: absent */
	struct kz_strv fps;	/* hex prefixes of SHA-256 */
	struct kz_strv jtis;
};

void
kz_denylist_free(struct kz_denylist *d)
{
	if (d == NULL)
		return;
	kz_strv_free(&d->fps);
	kz_strv_free(&d->jtis);
	free(d);
}

static bool
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	    a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Returns the current list, or NULL when it cannot be read: then every
 * token is refused, since an unreadable denylist must not let one by. */
static struct kz_denylist *
load(kz_ctx *ctx)
{
	struct kz_denylist *d = ctx->deny;
	char err[256], *buf, *line, *save = NULL;
	struct stat st;
	size_t len;

	/* One look at the file per decision is enough. */
	if (d != NULL && ctx->deny_checked)
		return d;
	ctx->deny_checked = true;
	memset(&st, 0, sizeof(st));
	if (lstat(ctx->cfg->denylist_file, &st) != 0 && errno != ENOENT) {
		kz_log(ctx, LOG_ERR, "denylist: %s: %s", ctx->cfg->denylist_file,
		    strerror(errno));
		return NULL;
	}
	if (d != NULL && same_file(&d->st, &st))
		return d;
	kz_denylist_free(d);
	ctx->deny = NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	if (kz_read_file(ctx->cfg->denylist_file, KZ_SF_MISSING_OK,
	    MAX_DENYLIST, &buf, &len, err, sizeof(err)) != 0) {
		kz_log(ctx, LOG_ERR, "denylist: %s", err);
		free(d);
		return NULL;
	}
	for (line = buf ? strtok_r(buf, "\n", &save) : NULL; line;
	    line = strtok_r(NULL, "\n", &save)) {
		size_t n = strcspn(line, " \t\r#");

		if (n > 4 && strncmp(line, "jti:", 4) == 0)
			kz_strv_push(&d->jtis, line + 4, n - 4);
		else if (hex_entry(line, n))
			kz_strv_push(&d->fps, line, n);
	}
	free(buf);
	d->st = st;
	ctx->deny = d;
	return d;
}

bool
kz_denylisted(kz_ctx *ctx, const char sha[65], const char *jti)
{
	struct kz_denylist *d = load(ctx);

	if (d == NULL)
		return true;
	for (size_t i = 0; sha != NULL && sha[0] && i < d->fps.n; i++)
		if (strncmp(d->fps.v[i], sha, strlen(d->fps.v[i])) == 0)
			return true;
	return jti != NULL && kz_strv_has(&d->jtis, jti);
}

/*
 * An ECDSA signature (r, s) has a twin (r, n - s) that verifies as well:
 * anyone can turn a denylisted ES256 token into another string, with
 * another fingerprint, that still validates.  So for a JWT signed with
 * ECDSA the fingerprint of its twin is looked up too (the JWS signature is
 * raw R || S of fixed width, so there is exactly one twin).
 */
bool
kz_denylisted_ec_twin(kz_ctx *ctx, unsigned alg, const char *signing_input,
    size_t si_len, const unsigned char *sig, size_t sig_len)
{
	int nid = alg == KZ_ALG_ES256 ? NID_X9_62_prime256v1 :
	    alg == KZ_ALG_ES384 ? NID_secp384r1 : NID_secp521r1;
	struct kz_denylist *d = load(ctx);
	EC_GROUP *g = NULL;
	size_t half = sig_len / 2;
	unsigned char *twin = NULL;
	BIGNUM *s = NULL, *t = NULL;
	char *b64 = NULL, *tok = NULL, sha[65];
	bool denied = true;	/* fail closed */

	if (d == NULL)
		return true;
	if (d->fps.n == 0)	/* the common case costs nothing */
		return false;
	g = EC_GROUP_new_by_curve_name(nid);
	twin = malloc(sig_len ? sig_len : 1);
	t = BN_new();
	if (g == NULL || twin == NULL || t == NULL || sig_len % 2 != 0 ||
	    (s = BN_bin2bn(sig + half, (int)half, NULL)) == NULL ||
	    !BN_sub(t, EC_GROUP_get0_order(g), s) ||
	    BN_bn2binpad(t, twin + half, (int)half) != (int)half)
		goto out;
	memcpy(twin, sig, half);
	if ((b64 = kz_b64url_encode(twin, sig_len)) == NULL ||
	    asprintf(&tok, "%.*s.%s", (int)si_len, signing_input, b64) < 0) {
		tok = NULL;
		goto out;
	}
	kz_sha256_hex(tok, strlen(tok), sha);
	denied = kz_denylisted(ctx, sha, NULL);
out:
	kz_free_secret(tok);
	free(b64);
	free(twin);
	BN_free(s);
	BN_free(t);
	EC_GROUP_free(g);
	return denied;
}

kz_verdict
kz_denylist_add(kz_ctx *ctx, const char *entry, char *err, size_t errlen)
{
	const char *path = ctx->cfg->denylist_file;
	char *buf = NULL, *out;
	size_t len = 0, n = strlen(entry);
	int rc;

	if (!hex_entry(entry, n) && !(strncmp(entry, "jti:", 4) == 0 && n > 4 &&
	    n < 512 && strcspn(entry, " \t\r\n#") == n)) {
		snprintf(err, errlen, "'%s' is neither a fingerprint (12 to 64 "
		    "lowercase hex digits) nor jti:VALUE", entry);
		return KZ_ERROR;
	}
	if (kz_read_file(path, KZ_SF_MISSING_OK, MAX_DENYLIST, &buf, &len, err,
	    errlen) != 0)
		return KZ_ERROR;
	if ((out = malloc(len + n + 2)) == NULL) {
		free(buf);
		snprintf(err, errlen, "out of memory");
		return KZ_ERROR;
	}
	if (len > 0)
		memcpy(out, buf, len);
	if (len > 0 && out[len - 1] != '\n')
		out[len++] = '\n';
	memcpy(out + len, entry, n);
	out[len + n] = '\n';
	rc = kz_write_file_atomic(path, out, len + n + 1, 0644, err, errlen);
	ctx->deny_checked = false;
	free(buf);
	free(out);
	return rc == 0 ? KZ_OK : KZ_ERROR;
}
