/*
 * denylist.c - tokens blocked locally at once (`kztoken deny`): by
 * fingerprint (12 to 64 hex digits of SHA-256) or by "jti:VALUE".
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_DENYLIST (4 * 1024 * 1024)

static bool
hex_entry(const char *s, size_t n)
{
	if (n < 12 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return true;
}

bool
kz_denylisted(kz_ctx *ctx, const char sha[65], const char *jti)
{
	char err[256], *buf, *line, *save = NULL;
	size_t len;
	bool hit = false;

	if (kz_read_file(ctx->cfg->denylist_file, KZ_SF_MISSING_OK,
	    MAX_DENYLIST, &buf, &len, err, sizeof(err)) != 0) {
		/* An unreadable denylist must not let tokens through. */
		kz_log(ctx, 3, "denylist: %s", err);
		return true;
	}
	if (buf == NULL)
		return false;
	for (line = strtok_r(buf, "\n", &save); line && !hit;
	    line = strtok_r(NULL, "\n", &save)) {
		size_t n = strcspn(line, " \t\r#");

		if (n == 0)
			continue;
		if (strncmp(line, "jti:", 4) == 0)
			hit = jti != NULL && n - 4 == strlen(jti) &&
			    strncmp(line + 4, jti, n - 4) == 0;
		else if (sha != NULL && hex_entry(line, n))
			hit = strncmp(line, sha, n) == 0;
	}
	free(buf);
	return hit;
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
	free(buf);
	free(out);
	return rc == 0 ? KZ_OK : KZ_ERROR;
}
