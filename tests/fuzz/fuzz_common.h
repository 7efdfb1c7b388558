/*
 * fuzz_common.h - what the libFuzzer targets share: a private directory
 * with the files a context needs (config, keys, secrets), made once per
 * process, and a fixed clock so that a crash reproduces.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define FUZZ_NOW 1700000000	/* 2023-11-14; seeds expire in 2033 */
#define FUZZ_HMAC "fuzz-hmac-secret-0123456789abcdef0123456789"

static char fuzz_dir[80];

static __attribute__((unused)) int64_t
fuzz_now(void)
{
	return FUZZ_NOW;
}

static __attribute__((unused)) void
fuzz_write(const char *name, const char *text, mode_t mode)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fuzz_dir, name);
	if ((f = fopen(path, "w")) == NULL || fputs(text, f) < 0 ||
	    fclose(f) != 0 || chmod(path, mode) != 0) {
		perror(path);
		abort();
	}
}

/* The directory, the keys (KZ_FUZZ_KEYS: tests/fuzz/keys.jwks) and the
 * secrets. */
static __attribute__((unused)) void
fuzz_setup(void)
{
	char path[256], *buf;
	const char *keys = getenv("KZ_FUZZ_KEYS");
	size_t len;
	FILE *f;

	if (fuzz_dir[0])
		return;
	/* under run.sh's scratch dir (KZ_FUZZ_TMP), which it removes */
	snprintf(fuzz_dir, sizeof(fuzz_dir), "%.40s/kztoken-fuzz.XXXXXX",
	    getenv("KZ_FUZZ_TMP") ? getenv("KZ_FUZZ_TMP") : "/tmp");
	if (mkdtemp(fuzz_dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/cache", fuzz_dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/store", fuzz_dir);
	mkdir(path, 0700);
	fuzz_write("hmac", FUZZ_HMAC "\n", 0600);
	fuzz_write("secret", "fuzz-client-secret\n", 0600);
	if (keys == NULL || (f = fopen(keys, "r")) == NULL) {
		fprintf(stderr, "set KZ_FUZZ_KEYS to tests/fuzz/keys.jwks\n");
		abort();
	}
	buf = calloc(1, 65536);
	len = fread(buf, 1, 65535, f);
	fclose(f);
	buf[len] = '\0';
	fuzz_write("keys.jwks", buf, 0644);
	free(buf);
}

/* A config in the directory: [kztoken] paths, then [provider p] with
 * the given lines.  Returns an open context with the fixed clock. */
static __attribute__((unused)) kz_ctx *
fuzz_ctx(const char *name, const char *provider_lines)
{
	char conf[4096], path[256], err[512];
	kz_ctx *ctx;

	snprintf(conf, sizeof(conf), "[kztoken]\ntimeout = 2\nleeway = 30\n"
	    "cache_dir = %s/cache\nstore_dir = %s/store\n"
	    "denylist_file = %s/denylist\ncache_ttl = 0\n"
	    "negative_cache_ttl = 0\n\n[provider p]\nissuer = https://idp.test\n"
	    "audience = host-fleet\nclient_id = host-fleet\n"
	    "client_secret_file = %s/secret\n%s\n\n[service sudo]\n"
	    "require_group = ops-admins\nmax_token_age = 600\n"
	    "[service sshd]\nrequire_scope = login\n", fuzz_dir, fuzz_dir,
	    fuzz_dir, fuzz_dir, provider_lines);
	snprintf(path, sizeof(path), "%s.conf", name);
	fuzz_write(path, conf, 0600);
	snprintf(path, sizeof(path), "%s/%s.conf", fuzz_dir, name);
	if (kz_ctx_open(&ctx, path, err, sizeof(err)) != KZ_OK) {
		fprintf(stderr, "fuzz config: %s\n", err);
		abort();
	}
	ctx->now = fuzz_now;
	return ctx;
}

#endif
