/*
 * cache.c - what the provider said about a token, kept by SHA-256 of the
 * token (never the token): in memory for this context, and on disk under
 * cache_dir so that the next login process need not ask again.
 *
 * Only answers about the token itself are kept (its identity, or that it
 * is inactive); the user binding and the service policy are applied anew
 * on every decision.  A positive entry is fresh until min(exp, cache_ttl),
 * and may stand in for offline_grace more while the provider is down.  A
 * negative entry lives for negative_cache_ttl.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define MEM_SLOTS 1024		/* power of two */

struct entry {
	char key[65];		/* entry_key(): provider, kind and token */
	char *provider;		/* recorded, and checked on every read */
	enum kz_cache_kind kind;
	kz_verdict verdict;
	kz_reason reason;
	int64_t fresh_until, stale_until;
	kz_identity id;
	char detail[128];
};

struct kz_memcache {
	struct entry slot[MEM_SLOTS];
};

static unsigned
slot_of(const char key[65])
{
	unsigned h = 0;

	for (int i = 0; i < 8; i++)
		h = h * 16 + (unsigned)(key[i] <= '9' ? key[i] - '0' :
		    key[i] - 'a' + 10);
	return h & (MEM_SLOTS - 1);
}

static void
entry_clear(struct entry *e)
{
	kz_identity_clear(&e->id);
	free(e->provider);
	memset(e, 0, sizeof(*e));
}

static const char *const kind_names[] = { "validation", "revocation" };

/*
 * The key of an answer: SHA-256 over the whole provider name, the kind of
 * check and the token's SHA-256.  Nothing is cut short, so no two
 * providers and no two kinds of check can share an entry; the name is
 * also the file name on disk (hex, no path characters).
 */
static void
entry_key(const char *provider, enum kz_cache_kind kind, const char sha[65],
    char out[65])
{
	/* Lengths are bounded (a provider name is a config section name),
	 * so one stack buffer and one digest: this is the hot path of every
	 * cached decision.  NUL bytes separate the parts. */
	char buf[512];
	const char *k = kind_names[kind];
	size_t kl = strlen(k) + 1, pl = strlen(provider) + 1;

	if (11 + kl + pl + 64 > sizeof(buf)) {
		out[0] = '\0';	/* an empty key matches nothing */
		return;
	}
	memcpy(buf, "kz-cache-2", 11);
	memcpy(buf + 11, k, kl);
	memcpy(buf + 11 + kl, provider, pl);
	memcpy(buf + 11 + kl + pl, sha, 64);
	kz_sha256_hex(buf, 11 + kl + pl + 64, out);
}

/* The entry answers this question, and no other. */
static bool
entry_is(const struct entry *e, const char key[65], const char *provider,
    enum kz_cache_kind kind)
{
	return key[0] != '\0' && strcmp(e->key, key) == 0 &&
	    e->provider != NULL && strcmp(e->provider, provider) == 0 &&
	    e->kind == kind;
}

void
kz_memcache_free(struct kz_memcache *mc)
{
	if (mc == NULL)
		return;
	for (size_t i = 0; i < MEM_SLOTS; i++)
		entry_clear(&mc->slot[i]);
	free(mc);
}

static int
disk_path(kz_ctx *ctx, const char *key, char *out, size_t n)
{
	char dir[PATH_MAX], err[256];

	snprintf(dir, sizeof(dir), "%s/decisions", ctx->cfg->cache_dir);
	if (kz_check_dir(ctx->cfg->cache_dir, true, err, sizeof(err)) != 0 ||
	    kz_check_dir(dir, true, err, sizeof(err)) != 0) {
		kz_debug(ctx, "decision cache off: %s", err);
		return -1;
	}
	return snprintf(out, n, "%s/%s", dir, key) < (int)n ? 0 : -1;
}

static json_t *
names_json(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static void
names_from(json_t *o, const char *k, char ***v, size_t *n)
{
	struct kz_strv sv = { 0 };

	kz_json_names(o, k, &sv);
	*v = sv.v;
	*n = sv.n;
}

static json_t *
entry_json(const struct entry *e)
{
	const kz_identity *id = &e->id;

	return json_pack("{ss si si si sI sI ss s{ss* ss* ss* ss* ss* ss* sI sI "
	    "sI sI si so so ss* so}}", "provider", e->provider, "kind", (int)e->kind,
	    "verdict", e->verdict, "reason", e->reason,
	    "fresh_until", (json_int_t)e->fresh_until,
	    "stale_until", (json_int_t)e->stale_until, "detail", e->detail,
	    "id", "user", id->user, "sub", id->sub, "iss", id->iss,
	    "kid", id->kid, "jti", id->jti, "provider", id->provider,
	    "exp", (json_int_t)id->exp, "iat", (json_int_t)id->iat,
	    "nbf", (json_int_t)id->nbf, "auth_time", (json_int_t)id->auth_time,
	    "source", (int)id->source,
	    "groups", names_json(id->groups, id->ngroups),
	    "scopes", names_json(id->scopes, id->nscopes),
	    "acr", id->acr, "amr", names_json(id->amr, id->namr));
}

static int
entry_from_json(json_t *o, struct entry *e)
{
	json_t *id = json_object_get(o, "id");
	int64_t v, r, s = 0, kind;

	if (kz_json_str(o, "provider") == NULL ||
	    kz_json_int(o, "kind", &kind) != 1 || kind < 0 ||
	    kind >= (int64_t)KZ_NELEM(kind_names) ||
	    kz_json_int(o, "verdict", &v) != 1 || kz_json_int(o, "reason",
	    &r) != 1 || kz_json_int(o, "fresh_until", &e->fresh_until) != 1 ||
	    kz_json_int(o, "stale_until", &e->stale_until) != 1 ||
	    !json_is_object(id) || (v != KZ_OK && v != KZ_UNAUTHENTICATED) ||
	    r < 0 || r >= KZ_R_MAX)
		return -1;
	e->provider = kz_strdup(kz_json_str(o, "provider"));
	e->kind = (enum kz_cache_kind)kind;
	e->verdict = (kz_verdict)v;
	e->reason = (kz_reason)r;
	snprintf(e->detail, sizeof(e->detail), "%s",
	    kz_json_str(o, "detail") ? kz_json_str(o, "detail") : "");
	e->id.user = kz_strdup(kz_json_str(id, "user"));
	e->id.sub = kz_strdup(kz_json_str(id, "sub"));
	e->id.iss = kz_strdup(kz_json_str(id, "iss"));
	e->id.kid = kz_strdup(kz_json_str(id, "kid"));
	e->id.jti = kz_strdup(kz_json_str(id, "jti"));
	e->id.provider = kz_strdup(kz_json_str(id, "provider"));
	kz_json_int(id, "exp", &e->id.exp);
	kz_json_int(id, "iat", &e->id.iat);
	kz_json_int(id, "nbf", &e->id.nbf);
	kz_json_int(id, "auth_time", &e->id.auth_time);
	kz_json_int(id, "source", &s);
	e->id.source = (kz_source)s;
	names_from(id, "groups", &e->id.groups, &e->id.ngroups);
	names_from(id, "scopes", &e->id.scopes, &e->id.nscopes);
	e->id.acr = kz_strdup(kz_json_str(id, "acr"));
	names_from(id, "amr", &e->id.amr, &e->id.namr);
	return 0;
}

static enum kz_cache_hit
classify(kz_ctx *ctx, const struct entry *e)
{
	int64_t now = kz_now(ctx);

	if (now < e->fresh_until)
		return KZ_CACHE_FRESH;
	if (e->verdict == KZ_OK && now < e->stale_until)
		return KZ_CACHE_STALE;
	return KZ_CACHE_MISS;
}

static void
use_entry(const struct entry *e, kz_result *res)
{
	kz_identity_clear(&res->id);
	kz_identity_copy(&res->id, &e->id);
	res->id.from_cache = 1;
	res->verdict = e->verdict;
	res->reason = e->reason;
	snprintf(res->detail, sizeof(res->detail), "%s (cached)", e->detail);
}

enum kz_cache_hit
kz_cache_get(kz_ctx *ctx, const char *provider, enum kz_cache_kind kind,
    const char sha[65], kz_result *res)
{
	char key[65], path[PATH_MAX], err[256], *buf;
	struct entry disk = { 0 }, *e;
	enum kz_cache_hit hit;
	size_t len;
	json_t *o;

	entry_key(provider, kind, sha, key);
	if (key[0] == '\0')
		return KZ_CACHE_MISS;
	if (ctx->cache != NULL) {
		e = &ctx->cache->slot[slot_of(key)];
		if (entry_is(e, key, provider, kind) &&
		    (hit = classify(ctx, e)) != KZ_CACHE_MISS) {
			use_entry(e, res);
			return hit;
		}
	}
	if (disk_path(ctx, key, path, sizeof(path)) != 0 ||
	    kz_read_file(path, KZ_SF_SECRET | KZ_SF_MISSING_OK, 64 * 1024, &buf,
	    &len, err, sizeof(err)) != 0 || buf == NULL)
		return KZ_CACHE_MISS;
	o = kz_json_parse(buf, len);
	free(buf);
	snprintf(disk.key, sizeof(disk.key), "%s", key);
	if (o == NULL || entry_from_json(o, &disk) != 0 ||
	    !entry_is(&disk, key, provider, kind) ||
	    (hit = classify(ctx, &disk)) == KZ_CACHE_MISS) {
		json_decref(o);
		entry_clear(&disk);
		return KZ_CACHE_MISS;
	}
	json_decref(o);
	use_entry(&disk, res);
	/* Keep it in memory too: the next decision of this context must not
	 * read the file again. */
	if (ctx->cache == NULL)
		ctx->cache = calloc(1, sizeof(*ctx->cache));
	if (ctx->cache != NULL) {
		e = &ctx->cache->slot[slot_of(key)];
		entry_clear(e);
		*e = disk;
		return hit;
	}
	entry_clear(&disk);
	return hit;
}

/* Drops expired entries now and then, so the directory stays small. */
static void
sweep(kz_ctx *ctx, const char *dir)
{
	int64_t now = kz_now(ctx), keep = ctx->cfg->cache_ttl +
	    ctx->cfg->offline_grace + ctx->cfg->negative_cache_ttl;
	struct dirent *de;
	struct stat st;
	DIR *d;
	int n = 0;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL && n++ < 10000) {
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_mtime + keep < now)
			unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

void
kz_cache_put(kz_ctx *ctx, const char *provider, enum kz_cache_kind kind,
    const char sha[65], const kz_result *res)
{
	const struct kz_config *c = ctx->cfg;
	int64_t now = kz_now(ctx), fresh, stale;
	char key[65], path[PATH_MAX], err[256], *txt;
	struct entry *e, tmp = { 0 };
	json_t *o;

	if (res->verdict == KZ_OK) {
		fresh = now + c->cache_ttl;
		stale = fresh + c->offline_grace;
		if (res->id.exp != 0) {
			fresh = fresh < res->id.exp ? fresh : res->id.exp;
			stale = stale < res->id.exp ? stale : res->id.exp;
		}
	} else if (res->verdict == KZ_UNAUTHENTICATED) {
		fresh = stale = now + c->negative_cache_ttl;
	} else {
		return;		/* "could not decide" is never remembered */
	}
	entry_key(provider, kind, sha, key);
	if (fresh <= now || key[0] == '\0')
		return;
	if (ctx->cache == NULL)
		ctx->cache = calloc(1, sizeof(*ctx->cache));
	e = ctx->cache ? &ctx->cache->slot[slot_of(key)] : &tmp;
	entry_clear(e);
	snprintf(e->key, sizeof(e->key), "%s", key);
	if ((e->provider = strdup(provider)) == NULL) {
		entry_clear(e);
		return;
	}
	e->kind = kind;
	e->verdict = res->verdict;
	e->reason = res->reason;
	e->fresh_until = fresh;
	e->stale_until = stale;
	snprintf(e->detail, sizeof(e->detail), "%.127s", res->detail);
	kz_identity_copy(&e->id, &res->id);
	e->id.from_cache = 0;

	if (disk_path(ctx, key, path, sizeof(path)) == 0 &&
	    (o = entry_json(e)) != NULL) {
		if ((txt = json_dumps(o, JSON_COMPACT)) != NULL) {
			if (kz_write_file_atomic(path, txt, strlen(txt), 0600,
			    err, sizeof(err)) != 0)
				kz_debug(ctx, "cache write: %s", err);
			free(txt);
		}
		json_decref(o);
		if (key[0] == '0' && key[1] == '0') {	/* 1 in 256 */
			char *slash = strrchr(path, '/');

			*slash = '\0';
			sweep(ctx, path);
		}
	}
	if (e == &tmp)
		entry_clear(&tmp);
}
