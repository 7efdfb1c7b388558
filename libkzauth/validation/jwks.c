/*
 * jwks.c - where a provider's keys come from: a pinned jwks_file, a
 * jwks_url, or OIDC discovery; with a last-known-good copy on disk that
 * stands in, however old, while the provider is down.
 *
 * Every login may be a new process, so the time of the last fetch attempt
 * is kept in the cache file: an unknown kid refetches at most once per
 * jwks_refetch_interval across all processes.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "internal.h"

/* cache_dir/jwks-NAME.json; names outside [A-Za-z0-9_-] are hashed. */
static int
cache_path(kz_ctx *ctx, const struct kz_provider *p, char *out, size_t n)
{
	char err[256], name[65];
	const char *s;

	if (kz_check_dir(ctx->cfg->cache_dir, true, err, sizeof(err)) != 0) {
		kz_debug(ctx, "no JWKS cache: %s", err);
		return -1;
	}
	for (s = p->name; *s; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789_-", *s))
			break;
	/* A hashed name is marked with '.', which no plain name holds, so
	 * a provider named like another's hash cannot share its file. */
	if (*s != '\0' || s - p->name > 64) {
		kz_sha256_hex(p->name, strlen(p->name), name);
		return snprintf(out, n, "%s/jwks.%s.json", ctx->cfg->cache_dir,
		    name) < (int)n ? 0 : -1;
	}
	return snprintf(out, n, "%s/jwks-%s.json", ctx->cfg->cache_dir, p->name)
	    < (int)n ? 0 : -1;
}

/* Where this provider's keys come from: cached keys are used only for
 * the provider and the source they were fetched for, so that changing
 * jwks_url or discovery never leaves the old keys trusted. */
static const char *
key_source(const struct kz_provider *p)
{
	return p->jwks_url ? p->jwks_url : p->discovery ? p->discovery : "";
}

static bool
cache_is_ours(json_t *root, const struct kz_provider *p)
{
	const char *prov = kz_json_str(root, "provider");
	const char *src = kz_json_str(root, "source");

	return prov && src && strcmp(prov, p->name) == 0 &&
	    strcmp(src, key_source(p)) == 0;
}

static void
set_str(char **dst, const char *src)
{
	free(*dst);
	*dst = kz_strdup(src);
}

/* Reads the cache file: keys, fetch times and discovered endpoints. */
/* The endpoints a discovery document (or its cached copy) names, each only
 * when it lives on the discovery URL's scheme, host and port or on a host
 * of allowed_hosts (DESIGN §5): a document that points elsewhere would
 * receive our client secret and the users' tokens.  Endpoints already
 * known are kept. */
static void
disc_endpoints(kz_ctx *ctx, struct kz_provider *p, json_t *doc)
{
	static const char *const names[] = { "jwks_uri",
		"introspection_endpoint", "token_endpoint",
		"revocation_endpoint", "device_authorization_endpoint" };
	char **fields[] = { &p->disc_jwks_url, &p->disc_introspection_url,
		&p->disc_token_url, &p->disc_revocation_url,
		&p->disc_device_url };

	for (size_t i = 0; i < KZ_NELEM(names); i++) {
		const char *url = kz_json_str(doc, names[i]);

		if (url == NULL || *fields[i] != NULL)
			continue;
		if (kz_url_same_site(url, p->discovery, &p->allowed_hosts,
		    p->allow_http_loopback) == 0)
			set_str(fields[i], url);
		else
			kz_log(ctx, LOG_WARNING, "provider=%s: discovery names "
			    "a %s that is not on the discovery URL's host nor "
			    "in allowed_hosts; it is not used", p->name,
			    names[i]);
	}
}

static struct kz_keyset *
cache_read(kz_ctx *ctx, struct kz_provider *p)
{
	char path[PATH_MAX], err[256];
	struct kz_keyset *ks = NULL;
	json_t *root, *jwks;
	char *buf;
	size_t len;
	int64_t fetched = 0;

	if (cache_path(ctx, p, path, sizeof(path)) != 0 ||
	    kz_read_file(path, KZ_SF_MISSING_OK, KZ_MAX_BODY + 4096, &buf, &len,
	    err, sizeof(err)) != 0 || buf == NULL)
		return NULL;
	root = kz_json_parse(buf, len);
	free(buf);
	if (!json_is_object(root) || !cache_is_ours(root, p)) {
		json_decref(root);
		return NULL;
	}
	kz_json_int(root, "attempt_at", &p->jwks_attempt);
	kz_json_int(root, "fetched_at", &fetched);
	/* Endpoints found by discovery are kept only for the discovery URL
	 * they came from: the configuration may have changed since. */
	if (p->discovery && kz_json_str(root, "discovery") &&
	    strcmp(kz_json_str(root, "discovery"), p->discovery) == 0)
		disc_endpoints(ctx, p, root);
	jwks = json_object_get(root, "jwks");
	if (json_is_object(jwks) && fetched > 0 &&
	    kz_keyset_from_doc(jwks, &ks, err, sizeof(err)) == 0)
		ks->fetched_at = fetched;
	json_decref(root);
	return ks;
}

static void
cache_write(kz_ctx *ctx, struct kz_provider *p, json_t *jwks,
    int64_t fetched, int64_t attempt)
{
	char path[PATH_MAX], err[256];
	json_t *root = json_object();
	char *txt;

	if (cache_path(ctx, p, path, sizeof(path)) != 0 || root == NULL) {
		json_decref(root);
		return;
	}
	json_object_set_new(root, "provider", json_string(p->name));
	json_object_set_new(root, "source", json_string(key_source(p)));
	json_object_set_new(root, "fetched_at", json_integer(fetched));
	json_object_set_new(root, "attempt_at", json_integer(attempt));
	if (jwks != NULL)
		json_object_set(root, "jwks", jwks);
#define DISC(k, v) if (v) json_object_set_new(root, k, json_string(v))
	DISC("discovery", p->discovery);
	DISC("jwks_uri", p->disc_jwks_url);
	DISC("introspection_endpoint", p->disc_introspection_url);
	DISC("token_endpoint", p->disc_token_url);
	DISC("revocation_endpoint", p->disc_revocation_url);
	DISC("device_authorization_endpoint", p->disc_device_url);
#undef DISC
	if ((txt = json_dumps(root, JSON_COMPACT)) != NULL) {
		if (kz_write_file_atomic(path, txt, strlen(txt), 0600, err,
		    sizeof(err)) != 0)
			kz_debug(ctx, "JWKS cache not written: %s", err);
		free(txt);
	}
	json_decref(root);
}

static kz_verdict
get_json(kz_ctx *ctx, struct kz_provider *p, const char *url, json_t **out,
    kz_result *res, const char *what)
{
	struct kz_http_req req = { .method = "GET", .url = url,
		.ca_file = p->ca_file,
		.allow_http_loopback = p->allow_http_loopback };
	struct kz_http_resp r;
	kz_verdict v;

	*out = NULL;
	if (kz_http_do(ctx, &req, &r) != 0) {
		v = kz_http_failure(&r, res, what);
	} else if (r.status != 200) {
		v = kz_map_status(r.status, res, what);
		if (v == KZ_OK || v == KZ_UNAUTHENTICATED || v == KZ_FORBIDDEN)
			v = kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR,
			    "%s answered HTTP %ld", what, r.status);
	} else if ((*out = kz_json_parse(r.body, r.body_len)) == NULL ||
	    !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		v = kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR,
		    "%s answer is not a JSON object", what);
	} else {
		v = KZ_OK;
	}
	kz_http_resp_free(&r);
	return v;
}

kz_verdict
kz_discover(kz_ctx *ctx, struct kz_provider *p, kz_result *res)
{
	json_t *doc;
	const char *iss;
	kz_verdict v;

	if (p->discovery == NULL || p->disc_jwks_url != NULL)
		return KZ_OK;
	if ((v = get_json(ctx, p, p->discovery, &doc, res, "discovery")) != KZ_OK)
		return v;
	/* OpenID Discovery 4.3: the document must name the issuer we trust. */
	iss = kz_json_str(doc, "issuer");
	if (p->issuer && (iss == NULL || strcmp(iss, p->issuer) != 0)) {
		/* iss lives in doc: format the message before freeing it */
		v = kz_set(res, KZ_ERROR, KZ_R_CONFIG, "discovery names "
		    "issuer %.100s, configured issuer is %s", iss ? iss :
		    "(none)", p->issuer);
		json_decref(doc);
		return v;
	}
	disc_endpoints(ctx, p, doc);
	p->disc_fetched = true;
	json_decref(doc);
	return KZ_OK;
}

static kz_verdict
fetch(kz_ctx *ctx, struct kz_provider *p, int64_t now, kz_result *res)
{
	struct kz_keyset *ks;
	const char *url;
	char err[256];
	json_t *doc;
	kz_verdict v;

	if ((v = kz_discover(ctx, p, res)) != KZ_OK)
		return v;
	url = p->jwks_url ? p->jwks_url : p->disc_jwks_url;
	if (url == NULL)
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "no jwks_url (and "
		    "none in discovery)");
	if ((v = get_json(ctx, p, url, &doc, res, "JWKS")) != KZ_OK)
		return v;
	if (kz_keyset_from_doc(doc, &ks, err, sizeof(err)) != 0) {
		json_decref(doc);
		return kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_ERROR,
		    "JWKS unusable: %s", err);
	}
	json_decref(doc);
	ks->fetched_at = now;
	kz_keyset_free(p->keys);
	p->keys = ks;
	kz_trace(ctx, "jwks", 1, "fetched %zu keys", ks->nkeys);
	return KZ_OK;
}

static kz_verdict
load_pinned(kz_ctx *ctx, struct kz_provider *p, kz_result *res)
{
	char err[256], *buf;
	size_t len;

	if (p->keys != NULL)
		return KZ_OK;
	if (kz_read_file(p->jwks_file, 0, KZ_MAX_BODY, &buf, &len, err,
	    sizeof(err)) != 0)
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "%s", err);
	if (kz_keyset_from_json(buf, len, &p->keys, err, sizeof(err)) != 0) {
		free(buf);
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "%s: %s",
		    p->jwks_file, err);
	}
	free(buf);
	return KZ_OK;
}

/*
 * Makes p->keys usable: from memory, the disk cache, or the network.
 * force asks for a refetch (unknown kid), still at most once per
 * jwks_refetch_interval.  When a fetch fails the last-known-good keys
 * stand in however old they are: KZ_OK with *refetch_failed set.
 */
static kz_verdict
keys_load(kz_ctx *ctx, struct kz_provider *p, bool force, bool *refetch_failed,
    kz_result *res)
{
	int64_t now = kz_now(ctx);
	kz_verdict v;

	*refetch_failed = false;
	if (p->jwks_file != NULL)
		return load_pinned(ctx, p, res);
	if (p->jwks_url == NULL && p->discovery == NULL)
		return KZ_OK;	/* HMAC only */
	if (!p->jwks_cache_read) {
		p->jwks_cache_read = true;
		if (p->keys == NULL)
			p->keys = cache_read(ctx, p);
	}
	if (p->keys && !force && now - p->keys->fetched_at < p->jwks_max_age &&
	    now >= p->keys->fetched_at)
		return KZ_OK;
	if (p->jwks_attempt != 0 && now >= p->jwks_attempt &&
	    now - p->jwks_attempt < p->jwks_refetch_interval) {
		/* Throttled: a flood of made-up kids must not become a
		 * flood of fetches.  The unknown kid is then a 401. */
		if (p->keys != NULL)
			return KZ_OK;
		return kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_UNREACHABLE,
		    "no keys yet, and the last JWKS fetch was %llds ago",
		    (long long)(now - p->jwks_attempt));
	}
	p->jwks_attempt = now;
	v = fetch(ctx, p, now, res);
	if (v == KZ_UNAVAILABLE && p->discovery && !p->disc_fetched &&
	    p->disc_jwks_url != NULL) {
		/* The endpoints came from an old discovery: ask again, the
		 * provider may have moved its keys. */
		kz_trace(ctx, "discovery", -1, "JWKS fetch failed with cached "
		    "endpoints; discovering again");
		set_str(&p->disc_jwks_url, NULL);
		v = fetch(ctx, p, now, res);
	}
	cache_write(ctx, p, p->keys ? p->keys->doc : NULL,
	    p->keys ? p->keys->fetched_at : 0, now);
	if (v == KZ_OK)
		return KZ_OK;
	if (p->keys != NULL && v == KZ_UNAVAILABLE) {
		kz_trace(ctx, "jwks", -1, "provider down (%s); using the "
		    "last-known-good keys from %llds ago", res->detail,
		    (long long)(now - p->keys->fetched_at));
		*refetch_failed = true;
		res->verdict = KZ_OK;
		res->reason = KZ_R_NONE;
		return KZ_OK;
	}
	return v;
}

kz_verdict
kz_keys_load(kz_ctx *ctx, struct kz_provider *p, bool force, kz_result *res)
{
	bool failed;

	return keys_load(ctx, p, force, &failed, res);
}

static struct kz_key *
find(struct kz_keyset *ks, const char *kid, unsigned family)
{
	struct kz_key *only = NULL, *other = NULL;
	size_t n = 0;

	for (size_t i = 0; ks && i < ks->nkeys; i++) {
		struct kz_key *k = &ks->keys[i];

		if (kid != NULL) {
			/* A kid names a key, but two families may share one
			 * (an RSA and an EC key rotated under one name): the
			 * one of the token's family wins.  Only one of another
			 * family goes back, for the caller to refuse as such. */
			if (k->kid == NULL || strcmp(k->kid, kid) != 0 ||
			    !kz_key_ready(k))
				continue;
			if (k->family == family)
				return k;
			if (other == NULL)
				other = k;
		} else if (k->family == family && kz_key_ready(k)) {
			only = k;
			n++;
		}
	}
	if (kid != NULL)
		return other;
	/* Without a kid, only an unambiguous key will do. */
	return n == 1 ? only : NULL;
}

struct kz_key *
kz_keys_find(kz_ctx *ctx, struct kz_provider *p, const char *kid,
    unsigned family, kz_result *res)
{
	struct kz_key *k;
	bool failed;

	if (keys_load(ctx, p, false, &failed, res) != KZ_OK)
		return NULL;
	if ((k = find(p->keys, kid, family)) != NULL)
		return k;
	if (p->jwks_file == NULL && (p->jwks_url || p->discovery)) {
		kz_trace(ctx, "jwks", -1, "kid %s unknown; refetching",
		    kid ? kid : "(none)");
		if (keys_load(ctx, p, true, &failed, res) != KZ_OK)
			return NULL;
		if ((k = find(p->keys, kid, family)) != NULL)
			return k;
		if (failed) {
			kz_set(res, KZ_UNAVAILABLE, KZ_R_PROVIDER_UNREACHABLE,
			    "kid %s unknown and the JWKS cannot be refetched "
			    "now", kid ? kid : "(none)");
			return NULL;
		}
	}
	kz_set(res, KZ_UNAUTHENTICATED, KZ_R_UNKNOWN_KID, "no key with kid %s",
	    kid ? kid : "(none) for this algorithm");
	return NULL;
}
