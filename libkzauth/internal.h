/*
 * internal.h - types and functions shared by the files of libkzauth.
 * Nothing here is exported from libkzauth.so.0 (see libkzauth.map).
 */
#ifndef KZ_INTERNAL_H
#define KZ_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "kzauth.h"

#define KZ_HIDDEN __attribute__((visibility("hidden")))
#define KZ_NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define KZ_MAX_BODY	(1024 * 1024)	/* provider answers */
#define KZ_MAX_CONFIG	(256 * 1024)
#define KZ_MAX_JSON_DEPTH 32

/* ---- configuration (config.c) ---- */

enum kz_validation { KZ_VAL_AUTO, KZ_VAL_JWT, KZ_VAL_INTROSPECT, KZ_VAL_TOKENINFO,
	KZ_VAL_WAZO };
enum kz_token_style { KZ_STYLE_OAUTH2, KZ_STYLE_KAIZALA, KZ_STYLE_WAZO };
enum kz_membership { KZ_MEMBER_CLAIMS, KZ_MEMBER_ENROLLMENT };
#define KZ_XFORM_STRIP_DOMAIN 1u
#define KZ_XFORM_LOWERCASE 2u

/* Signature algorithms as bits, so the allow-list is a mask. */
enum kz_alg {
	KZ_ALG_NONE = 0,
	KZ_ALG_RS256 = 1u << 0, KZ_ALG_RS384 = 1u << 1, KZ_ALG_RS512 = 1u << 2,
	KZ_ALG_ES256 = 1u << 3, KZ_ALG_ES384 = 1u << 4, KZ_ALG_ES512 = 1u << 5,
	KZ_ALG_HS256 = 1u << 6, KZ_ALG_HS384 = 1u << 7, KZ_ALG_HS512 = 1u << 8,
	KZ_ALG_PS256 = 1u << 9, KZ_ALG_PS384 = 1u << 10, KZ_ALG_PS512 = 1u << 11,
	KZ_ALG_EDDSA = 1u << 12,
};
/* RSA-PSS (PS*) signs with the same RSA keys as PKCS#1 v1.5 (RS*). */
#define KZ_ALG_PSS (KZ_ALG_PS256 | KZ_ALG_PS384 | KZ_ALG_PS512)
#define KZ_ALG_RSA (KZ_ALG_RS256 | KZ_ALG_RS384 | KZ_ALG_RS512 | KZ_ALG_PSS)
#define KZ_ALG_EC (KZ_ALG_ES256 | KZ_ALG_ES384 | KZ_ALG_ES512)
#define KZ_ALG_HMAC (KZ_ALG_HS256 | KZ_ALG_HS384 | KZ_ALG_HS512)
#define KZ_ALG_OKP KZ_ALG_EDDSA	/* Ed25519 keys (RFC 8037) */

struct kz_strv {
	char **v;
	size_t n;
};

struct kz_keyset;

struct kz_provider {
	char *name;
	char *issuer;
	struct kz_strv audience;
	enum kz_validation validation;
	char *wazo_url;		/* wazo-auth API base (DESIGN §14) */
	unsigned algorithms;
	char *jwks_url, *discovery, *jwks_file;
	long jwks_max_age, jwks_refetch_interval;
	char *hmac_secret_file;
	char *introspection_url, *revocation_url;
	bool revocation_introspect;
	char *tokeninfo_url, *tokeninfo_header;
	char *token_url;
	enum kz_token_style token_style;
	struct kz_strv allowed_hosts;	/* where a move may go (§5) */
	char *client_id, *client_secret_file, *ca_file;
	bool allow_http_loopback;
	char *username_claim;
	unsigned username_transform;
	char *user_map_file;
	bool user_map_only;	/* a name the map does not list is refused */
	char *groups_claim, *scope_claim;
	enum kz_membership membership_check;
	char *membership_url;
	long membership_ttl;
	char *device_authorization_url, *device_client_id, *device_scope,
	    *device_resource;
	long device_timeout;

	/* runtime state, owned by the context */
	struct kz_keyset *keys;
	char *disc_jwks_url, *disc_introspection_url, *disc_token_url,
	    *disc_revocation_url, *disc_device_url;
	bool disc_fetched;	/* discovery ran in this context */
	int64_t jwks_attempt;	/* last JWKS fetch attempt, from any process */
	bool jwks_cache_read;
};

struct kz_service {
	char *name;
	char *provider;
	struct kz_strv require_group;	/* any of */
	struct kz_strv require_scope;	/* all of */
	struct kz_strv require_acl;	/* all of, asked of wazo-auth */
	long max_token_age;		/* 0: no limit */
	struct kz_strv require_acr;	/* any of */
	struct kz_strv require_amr;	/* all of */
};

/* [nss]: what `kztoken sync` reads and writes (DESIGN.md section 16). */
enum kz_dir_style { KZ_DIR_SCIM, KZ_DIR_KAIZALA };
struct kz_nss_conf {
	bool present;			/* the file has an [nss] section */
	char *enrollment;
	int directory_style;		/* enum kz_dir_style */
	char *directory_url;
	struct kz_strv groups;
	long uid_min, uid_max;
	char *home, *shell;		/* home: %u is the user name */
	long sync_interval;
	char *db_dir;
};

struct kz_config {
	char *path;
	char *provider;
	long timeout, connect_timeout, leeway;
	size_t max_token_length;
	char *store_dir, *cache_dir;
	long cache_ttl, negative_cache_ttl, offline_grace;
	char *denylist_file;
	long warn_days;
	bool debug;
	struct kz_provider *providers;
	size_t nproviders;
	struct kz_service *services;
	size_t nservices;
	struct kz_nss_conf nss;
};

KZ_HIDDEN int kz_config_load(struct kz_config **out, const char *path,
    char *err, size_t errlen);
KZ_HIDDEN int kz_config_parse_string(struct kz_config **out, const char *name,
    const char *text, char *err, size_t errlen);
KZ_HIDDEN void kz_config_free(struct kz_config *cfg);
KZ_HIDDEN struct kz_provider *kz_config_provider(struct kz_config *cfg,
    const char *name);
KZ_HIDDEN const struct kz_service *kz_config_service(const struct kz_config *cfg,
    const char *name);

/* ---- context (ctx.c) ---- */

struct kz_memcache;

struct kz_ctx {
	struct kz_config *cfg;
	kz_trace_fn trace;
	void *trace_arg;
	kz_log_fn log;
	void *log_arg;
	bool debug;
	struct kz_http *http;		/* lazily created */
	struct kz_memcache *cache;	/* in-process decision cache */
	int64_t deadline_ms;		/* monotonic; 0 = none in force */
	int64_t (*now)(void);		/* wall clock, seconds; tests may swap it */
	int logfd;			/* connected /dev/log socket, or -1 */
	int64_t log_retry;		/* second of the last failed connect */
	int64_t log_stamp_at;		/* the second log_stamp was made for */
	char log_stamp[32];		/* syslog time stamp of that second */
	struct kz_denylist *deny;	/* parsed denylist and its file identity */
	bool deny_checked;		/* its file was looked at this decision */
	struct {			/* set by kz_bind_user only */
		char *user;		/* the local user bound */
		char *ext;		/* its name before transform and map */
	} bound;
	char *hdr_b64;			/* the last JWT header seen, and its */
	json_t *hdr_json;		/* parse: tokens of one key share it */
	struct kz_jwt_hdr {		/* what jwt.c reads of it (pointers */
		const char *alg, *kid;	/* into hdr_json) */
		unsigned alg_id;
		bool typ_bad, crit, kid_bad;
	} hdr;
	EVP_MD *sha256;			/* fetched once (kz_token_digest) */
	EVP_MD_CTX *tok_md, *si_md;	/* its contexts, kept */
	struct {			/* set by kz_decide for its token: */
		const char *tok;	/* the SHA-256 of the JWS signing */
		size_t len;		/* input tok[0, len), or tok NULL */
		unsigned char md[32];
	} si;
};

KZ_HIDDEN void kz_trace(kz_ctx *ctx, const char *step, int ok,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
KZ_HIDDEN void kz_log(kz_ctx *ctx, int prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
KZ_HIDDEN void kz_debug(kz_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
KZ_HIDDEN int64_t kz_now(kz_ctx *ctx);
KZ_HIDDEN int64_t kz_monotonic_ms(void);
/* Starts the one network deadline of a decision. */
KZ_HIDDEN void kz_deadline_start(kz_ctx *ctx);
/* Milliseconds left (at least 1 while running; 0 when spent). */
KZ_HIDDEN long kz_deadline_left(kz_ctx *ctx);
/* Starts a deadline of `timeout`, but one that ends by limit_ms at the
 * latest (monotonic): a request inside a longer bounded wait. */
KZ_HIDDEN void kz_deadline_start_until(kz_ctx *ctx, int64_t limit_ms);

/* ---- results (result.c) ---- */

KZ_HIDDEN kz_verdict kz_set(kz_result *res, kz_verdict v, kz_reason r,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
KZ_HIDDEN void kz_identity_clear(kz_identity *id);
KZ_HIDDEN int kz_identity_copy(kz_identity *dst, const kz_identity *src);

/* ---- strings and small things (util.c) ---- */

KZ_HIDDEN char *kz_strdup(const char *s);
KZ_HIDDEN char *kz_strndup(const char *s, size_t n);
KZ_HIDDEN void kz_strv_free(struct kz_strv *sv);
KZ_HIDDEN int kz_strv_push(struct kz_strv *sv, const char *s, size_t n);
/* The same without the 4096 cap, growing by doubling (directory lists);
 * only for a list that nothing but this function ever grew. */
KZ_HIDDEN int kz_strv_push_big(struct kz_strv *sv, const char *s, size_t n);
/* Splits on commas and/or white space, skipping empty items. */
KZ_HIDDEN int kz_strv_split(struct kz_strv *sv, const char *s);
KZ_HIDDEN bool kz_strv_has(const struct kz_strv *sv, const char *s);
KZ_HIDDEN bool kz_streq_ct(const char *a, const char *b);
KZ_HIDDEN void kz_hex(const unsigned char *in, size_t n, char *out);
KZ_HIDDEN void kz_sha256_hex(const char *data, size_t n, char out[65]);
/* kz_sha256_hex of a token; with si_len (0 < si_len < n) also the SHA-256
 * of its first si_len bytes (a JWS signing input) into si_md, from the
 * same pass.  Returns 1 when si_md was written, else 0. */
KZ_HIDDEN int kz_token_digest(kz_ctx *ctx, const char *tok, size_t n,
    size_t si_len, unsigned char si_md[32], char out[65]);
KZ_HIDDEN int kz_parse_long(const char *s, long min, long max, long *out);
KZ_HIDDEN int kz_parse_bool(const char *s, bool *out);
/* json helpers: NULL/0 when absent or of another type */
KZ_HIDDEN const char *kz_json_str(json_t *o, const char *key);
KZ_HIDDEN int kz_json_int(json_t *o, const char *key, int64_t *out);
/* The "error" code of an OAuth answer when it is a plain word, or NULL. */
KZ_HIDDEN const char *kz_oauth_error(json_t *ans);
#define KZ_TIME_MAX 253402300799LL	/* 9999-12-31T23:59:59Z */
KZ_HIDDEN int kz_json_time(json_t *o, const char *key, int64_t *out);
/* An array of strings, or one string of names separated by commas or
 * spaces, into a list.  Returns -1 when present with another type. */
KZ_HIDDEN int kz_json_names(json_t *o, const char *key, struct kz_strv *out);
/* One string member of a top-level JSON object whose text may be cut
 * short or broken after it (salvage.c); malloc'd, or NULL. */
KZ_HIDDEN char *kz_json_salvage_str(const char *body, size_t len,
    const char *key);
/* Parses at most KZ_MAX_BODY bytes, nesting at most KZ_MAX_JSON_DEPTH. */
KZ_HIDDEN json_t *kz_json_parse(const char *buf, size_t len);
/* The same with another size cap (directory listings). */
KZ_HIDDEN json_t *kz_json_parse_max(const char *buf, size_t len, size_t max);
/* The strict reader under both (json.c): json_loadb(JSON_REJECT_DUPLICATES)
 * of an object or array, nesting at most KZ_MAX_JSON_DEPTH, without its
 * byte-at-a-time input. */
KZ_HIDDEN json_t *kz_json_load(const char *buf, size_t len);
/* Pieces of that reader's language, shared with jtree.c. */
KZ_HIDDEN size_t kz_json_utf8_len(const unsigned char *p,
    const unsigned char *end);
KZ_HIDDEN int kz_json_hex4(const unsigned char *p, const unsigned char *end,
    unsigned *out);
KZ_HIDDEN size_t kz_json_put_utf8(unsigned cp, unsigned char *o);

/*
 * jtree.c: a read-only JSON tree in an arena, for the claims every
 * decision reads.  kz_jv_parse reads exactly the language of kz_json_load
 * (fuzz_json compares them on every input); its strings are
 * NUL-terminated copies in the arena.  kz_jv_from_json gives the same
 * tree for a jansson value (provider answers), pointing at jansson's own
 * strings, so it lives no longer than that value.  The claim checks
 * (identity.c) read only this form.
 */
enum kz_jt {
	KZ_JT_NULL = 1, KZ_JT_FALSE, KZ_JT_TRUE, KZ_JT_INT, KZ_JT_REAL,
	KZ_JT_STR, KZ_JT_ARR, KZ_JT_OBJ
};
struct kz_jv {
	const char *key;		/* member name in an object, else NULL */
	const struct kz_jv *next;	/* the next item or member */
	union {
		const char *s;		/* KZ_JT_STR, NUL-terminated */
		json_int_t i;		/* KZ_JT_INT */
		double d;		/* KZ_JT_REAL */
		const struct kz_jv *first; /* KZ_JT_ARR, KZ_JT_OBJ */
	} u;
	uint32_t klen;			/* length of key */
	uint32_t n;			/* string length; items or members */
	uint8_t type;			/* enum kz_jt */
};
#define KZ_ARENA_STACK 4096
struct kz_arena {
	unsigned char *p;		/* the free part of the current block */
	size_t left;
	void *heap;			/* heap blocks, newest first */
	size_t grow;			/* size of the next heap block */
	_Alignas(max_align_t) unsigned char stack[KZ_ARENA_STACK];
};
KZ_HIDDEN void kz_arena_init(struct kz_arena *a);
KZ_HIDDEN void kz_arena_free(struct kz_arena *a);
/* NULL when not JSON (as kz_json_load) or out of memory. */
KZ_HIDDEN const struct kz_jv *kz_jv_parse(struct kz_arena *a,
    const char *buf, size_t len);
/* NULL when j is NULL, out of memory or nested deeper than
 * KZ_MAX_JSON_DEPTH (kz_json_parse never makes such a value). */
KZ_HIDDEN const struct kz_jv *kz_jv_from_json(struct kz_arena *a,
    json_t *j);
/* The member key of object o; NULL when absent or o is not an object.
 * Inline, so that a literal key's length and bytes are constants where
 * it is looked up (a claims check looks up some twenty).  Most names of
 * a length differ in their first byte (sub, iss, jti, exp, aud): that is
 * looked at before the rest. */
static inline const struct kz_jv *
kz_jv_get(const struct kz_jv *o, const char *key)
{
	const struct kz_jv *m;
	size_t kl;

	if (o == NULL || o->type != KZ_JT_OBJ)
		return NULL;
	kl = strlen(key);
	for (m = o->u.first; m != NULL; m = m->next)
		if (m->klen == kl && (kl == 0 || (m->key[0] == key[0] &&
		    memcmp(m->key + 1, key + 1, kl - 1) == 0)))
			return m;
	return NULL;
}
/* The first item of an array (NULL for anything else); then ->next. */
static inline const struct kz_jv *
kz_jv_items(const struct kz_jv *v)
{
	return v != NULL && v->type == KZ_JT_ARR ? v->u.first : NULL;
}
static inline bool
kz_jv_is_str(const struct kz_jv *v)
{
	return v != NULL && v->type == KZ_JT_STR;
}
/* A string member's value; NULL when absent or of another type. */
KZ_HIDDEN const char *kz_jv_str(const struct kz_jv *o, const char *key);
/* kz_json_time and kz_json_names on the value of a member (v may be
 * NULL: absent); those two convert their member and call these. */
KZ_HIDDEN int kz_jv_time(const struct kz_jv *v, int64_t *out);
KZ_HIDDEN int kz_jv_names(const struct kz_jv *v, struct kz_strv *out);
/* Percent-encodes in (RFC 3986 unreserved kept) into out, which has room
 * for 3 * strlen(in) + 1 bytes. */
/* Byte classes of ASCII, whatever the host's locale: sudo and sshd call
 * setlocale(), and in a Latin-1 locale isalnum() says yes to bytes of
 * UTF-8 names, in a Turkish one tolower('I') is not 'i'.  What a name may
 * hold, how it is folded and escaped must not depend on the caller. */
static inline bool
kz_isalnum(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z');
}

static inline bool
kz_isspace(int c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static inline int
kz_tolower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* strncasecmp() == 0 in ASCII: header names, schemes, host names and
 * token types are ASCII words, and a locale's case folding would make
 * "LOCATION" miss, or a byte 0xDD match 'i'. */
static inline bool
kz_strncaseeq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (kz_tolower((unsigned char)a[i]) != kz_tolower((unsigned char)b[i]))
			return false;
		if (a[i] == '\0')
			break;
	}
	return true;
}

static inline bool
kz_strcaseeq(const char *a, const char *b)
{
	return kz_strncaseeq(a, b, SIZE_MAX);
}

/* RFC 3986 unreserved: what kz_url_escape copies as it is. */
static inline bool
kz_url_unreserved(int c)
{
	return kz_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* RFC 3986 percent-encoding of in into out (3 * strlen(in) + 1 bytes):
 * every byte but the unreserved ones. */
KZ_HIDDEN void kz_url_escape(char *out, const char *in);
/* The same for len bytes of in, a NUL among them escaped too. */
KZ_HIDDEN void kz_url_escape_n(char *out, const char *in, size_t len);
/* "", "." and "..": no ID a server hands out may be one, because as a
 * path segment it names a parent or the collection itself (curl removes
 * dot segments before sending, escaped or not). */
KZ_HIDDEN bool kz_is_dot_segment(const char *s);
/* Whether nsswitch.conf text names source on database db's line. */
KZ_HIDDEN bool kz_nsswitch_has(const char *text, const char *db,
    const char *source);

/* ---- base64url (b64.c) ---- */

/* Strict: alphabet [A-Za-z0-9_-] only, no padding, no white space. */
KZ_HIDDEN int kz_b64url_decode(const char *in, size_t len,
    unsigned char **out, size_t *outlen);
/* The same into out, which needs len / 4 * 3 + 3 bytes (cap). */
KZ_HIDDEN int kz_b64url_decode_to(const char *in, size_t len,
    unsigned char *out, size_t cap, size_t *outlen);
KZ_HIDDEN char *kz_b64url_encode(const unsigned char *in, size_t len);
KZ_HIDDEN char *kz_b64_encode(const unsigned char *in, size_t len);

/* ---- files opened the way ssh does (safefile.c) ---- */

#define KZ_SF_ALLOW_GROUP_READ 1u	/* 0640 is fine (config) */
#define KZ_SF_SECRET 2u			/* wipe buffer, refuse group read */
#define KZ_SF_MISSING_OK 4u

/* Reads a regular file: no symlink, owned by root or the caller, not group
 * or world writable (and for secrets not group/world readable), at most
 * max bytes.  Returns 0, or -1 with err filled (ENOENT: *buf NULL). */
KZ_HIDDEN int kz_read_file(const char *path, unsigned flags, size_t max,
    char **buf, size_t *len, char *err, size_t errlen);
/* Checks a directory: owned by root or the caller, not group/world
 * writable, not a symlink.  With create, makes it 0700 when missing. */
KZ_HIDDEN int kz_check_dir(const char *path, bool create, char *err,
    size_t errlen);
/* The same in two steps: begin creates the temp file (reserving space);
 * commit writes, renames and ends it; abort removes it. */
struct kz_atomic {
	int fd;
	char tmp[PATH_MAX], path[PATH_MAX];
};
KZ_HIDDEN int kz_atomic_begin(struct kz_atomic *tx, const char *path,
    mode_t mode, size_t reserve, char *err, size_t errlen);
KZ_HIDDEN int kz_atomic_commit(struct kz_atomic *tx, const char *data,
    size_t len, char *err, size_t errlen);
KZ_HIDDEN void kz_atomic_abort(struct kz_atomic *tx);
/* Atomic replace: temp file, fsync, rename, fsync of the directory. */
KZ_HIDDEN int kz_write_file_atomic(const char *path, const char *data,
    size_t len, mode_t mode, char *err, size_t errlen);
KZ_HIDDEN bool kz_owner_ok(uid_t uid);

/* ---- shapes (shape.c) ---- */

/* kz_token_shape and kz_is_plainly_not_token in one pass (kz_decide). */
KZ_HIDDEN kz_shape kz_token_scan(const char *tok, size_t len, size_t max_len,
    int *plainly_not);

/* ---- HTTP with the decision deadline (http.c) ---- */

struct kz_http_req {
	const char *method;		/* "GET", "POST" or "DELETE" */
	const char *url;
	bool url_secret;		/* holds a token: never logged */
	const char *ca_file;
	bool allow_http_loopback;
	const char *basic_user;		/* HTTP Basic auth, or NULL */
	const char *basic_pass;
	const char *const *headers;	/* NULL-terminated "Name: value" */
	const char *body;		/* POST body, form-encoded */
	size_t body_len;
	size_t max_body;		/* answer cap; 0: KZ_MAX_BODY */
};

struct kz_http_resp {
	long status;
	char *body;
	size_t body_len;
	char *location;			/* Location header, if any */
	char *etag;			/* ETag header, if any */
	long retry_after;		/* seconds (at most a day), or -1 */
	int64_t retry_at;		/* Retry-After as an HTTP-date, or 0 */
	int64_t date;			/* Date header as epoch, or 0 */
	kz_reason fail;			/* KZ_R_NONE when a status arrived */
	long cut_status;		/* the status of an answer cut short */
	char err[160];
};

KZ_HIDDEN int kz_http_do(kz_ctx *ctx, const struct kz_http_req *req,
    struct kz_http_resp *resp);
KZ_HIDDEN void kz_http_resp_free(struct kz_http_resp *resp);
/* kz_http_do that follows one 308 where kz_url_same_site() lets a move
 * go from base (DESIGN.md section 5); any other 308 is the answer. */
KZ_HIDDEN int kz_http_do_moved(kz_ctx *ctx, struct kz_provider *p,
    const struct kz_http_req *req, const char *base, const char *what,
    struct kz_http_resp *resp);
KZ_HIDDEN void kz_http_free(struct kz_http *http);
/* Appends application/x-www-form-urlencoded "k=v" (escaped) to a buffer
 * that is wiped when grown; *buf is malloc'd. */
KZ_HIDDEN int kz_form_add(char **buf, size_t *len, const char *key,
    const char *val);
/* The longest URL kz_url_syntax_ok() accepts. */
#define KZ_MAX_URL 2048

/* URL rules of DESIGN §4 (url.c); 0 when usable.  kz_url_allowed() also
 * asks libcurl's URL parser (loading libcurl); kz_url_syntax_ok() is the
 * libcurl-free half, for config parsing on the fast path. */
KZ_HIDDEN int kz_url_allowed(const char *url, bool allow_http_loopback);
KZ_HIDDEN int kz_url_syntax_ok(const char *url, bool allow_http_loopback);
/* 0 when url (syntax as above) stays on the scheme, host and port of
 * base, or goes to a host of allowed ("host" or "host:port") on that
 * scheme: where a provider may move us (308, endpointUrl, discovery). */
KZ_HIDDEN int kz_url_same_site(const char *url, const char *base,
    const struct kz_strv *allowed, bool allow_http_loopback);
/* 0 when entry is a usable allowed_hosts item. */
KZ_HIDDEN int kz_url_host_entry_ok(const char *entry);
/* dlopen()s libcurl.so.4 (NODELETE) after kz_setuid_env_scrub(); NULL
 * when it cannot, or when the environment could not be cleaned. */
KZ_HIDDEN void *kz_curl_dlopen(void);
/* In a setuid/setgid process, removes the variables that would steer
 * libcurl or OpenSSL (setuid_env.c); -1 if one stayed. */
KZ_HIDDEN int kz_setuid_env_scrub(void);

/* ---- keys (jwk.c, jwks.c) ---- */

struct kz_key {
	char *kid;
	unsigned family;	/* KZ_ALG_RSA, _EC, _OKP or _HMAC */
	unsigned alg;		/* alg the JWK pins, or 0 */
	EVP_PKEY *pkey;		/* RSA/EC/Ed25519 */
	EVP_PKEY_CTX *vctx[6];	/* verify contexts for SHA-256/384/512, then
				 * the same with PSS padding: set up on
				 * first use and kept */
	EVP_MD_CTX *ed_ctx;	/* Ed25519: initialised once, copied per
				 * token (an init per token costs a fetch) */
	EVP_MD_CTX *dctx[3];	/* SHA-256/384/512 of the signing input:
				 * fetched once, re-initialised per token
				 * (EVP_Digest fetches on every call) */
	unsigned char *secret;	/* HMAC */
	size_t secret_len;
	json_t *jwk;		/* the JWK until kz_key_ready turns it into
				 * pkey: a login needs one key of a JWKS,
				 * and an RSA import costs ~50 us */
};

struct kz_keyset {
	struct kz_key *keys;
	size_t nkeys;
	int64_t fetched_at;	/* when the JWKS was fetched (0: pinned file) */
	json_t *doc;		/* the JWKS as fetched, for the disk cache */
};

KZ_HIDDEN int kz_jwk_to_key(json_t *jwk, struct kz_key *key, char *err,
    size_t errlen);
KZ_HIDDEN char *kz_key_to_pem(const struct kz_key *key);
KZ_HIDDEN void kz_key_clear(struct kz_key *key);
/* Imports a key of a keyset on first use; false when it does not import
 * (such a key is then no key at all, as if the JWKS had not listed it). */
KZ_HIDDEN bool kz_key_ready(struct kz_key *key);
/* How many keys of a keyset import (imports them all: for doctor). */
KZ_HIDDEN size_t kz_keyset_usable(struct kz_keyset *ks);
/* The same as kz_keyset_from_json on a JWKS already parsed. */
KZ_HIDDEN int kz_keyset_from_doc(json_t *jwks, struct kz_keyset **out,
    char *err, size_t errlen);
KZ_HIDDEN int kz_keyset_from_json(const char *buf, size_t len,
    struct kz_keyset **out, char *err, size_t errlen);
KZ_HIDDEN void kz_keyset_free(struct kz_keyset *ks);
/* Finds the key for kid (NULL kid: the only key of the family). With
 * refetch, an unknown kid triggers one rate-limited refetch. */
KZ_HIDDEN struct kz_key *kz_keys_find(kz_ctx *ctx, struct kz_provider *p,
    const char *kid, unsigned family, kz_result *res);
KZ_HIDDEN kz_verdict kz_keys_load(kz_ctx *ctx, struct kz_provider *p,
    bool force, kz_result *res);
KZ_HIDDEN kz_verdict kz_discover(kz_ctx *ctx, struct kz_provider *p,
    kz_result *res);

/* ---- validation steps ---- */

KZ_HIDDEN kz_verdict kz_jwt_validate(kz_ctx *ctx, struct kz_provider *p,
    const char *tok, size_t len, kz_result *res);
KZ_HIDDEN kz_verdict kz_jwt_verify_sig(struct kz_key *key, unsigned alg,
    const char *signing_input, size_t si_len, const unsigned char *sig,
    size_t sig_len);
KZ_HIDDEN unsigned kz_alg_from_name(const char *name);
KZ_HIDDEN const char *kz_alg_name(unsigned alg);
KZ_HIDDEN unsigned kz_alg_family(unsigned alg);
KZ_HIDDEN kz_verdict kz_check_times(kz_ctx *ctx, const kz_identity *id,
    bool exp_required, kz_result *res);

KZ_HIDDEN kz_verdict kz_introspect(kz_ctx *ctx, struct kz_provider *p,
    const char *tok, size_t len, bool jwt_already_valid, kz_result *res);
KZ_HIDDEN kz_verdict kz_tokeninfo(kz_ctx *ctx, struct kz_provider *p,
    const char *tok, size_t len, kz_result *res);
/* wazo-auth (wazo.c, DESIGN §14).  The token travels in the URL path,
 * percent-encoded; no URL holding it is ever logged. */
KZ_HIDDEN kz_verdict kz_wazo_validate(kz_ctx *ctx, struct kz_provider *p,
    const char *tok, size_t len, kz_result *res);
/* The service's require_acl, asked only once the user is bound. */
KZ_HIDDEN kz_verdict kz_wazo_acl(kz_ctx *ctx, struct kz_provider *p,
    const char *tok, size_t len, const struct kz_strv *acl, kz_result *res);
/* {wazo_url}/PREFIX{escaped token}SUFFIX, malloc'd (a secret). */
KZ_HIDDEN char *kz_wazo_token_url(const struct kz_provider *p,
    const char *prefix, const char *tok, size_t len, const char *suffix);
/* "YYYY-MM-DDTHH:MM:SS[.ffffff]" (UTC, no zone) as epoch seconds; -1. */
KZ_HIDDEN int64_t kz_wazo_time(const char *s);
struct kz_enr;
/* Revokes a wazo enrollment's refresh token and last access token. */
KZ_HIDDEN kz_verdict kz_wazo_revoke(kz_ctx *ctx, struct kz_provider *p,
    struct kz_enr *e, kz_result *res);
/* Fills identity fields from a JSON claims object (JWT or introspection).
 * The _jv forms hold the checks; the json_t forms convert (kz_jv_from_json)
 * and call them. */
KZ_HIDDEN int kz_identity_from_claims(struct kz_provider *p, json_t *claims,
    bool provider_answer, kz_identity *id, kz_result *res);
KZ_HIDDEN int kz_identity_from_jv(struct kz_provider *p,
    const struct kz_jv *claims, bool provider_answer, kz_identity *id,
    kz_result *res);
/* The user name an answer gives: username_claim, then (provider_answer)
 * "username".  1 found (*name points into claims), 0 neither present, -1
 * one present but not a non-empty string (malformed, never a fallback). */
KZ_HIDDEN int kz_identity_name(const struct kz_provider *p, json_t *claims,
    bool provider_answer, const char **name, kz_result *res);
KZ_HIDDEN int kz_identity_name_jv(const struct kz_provider *p,
    const struct kz_jv *claims, bool provider_answer, const char **name,
    kz_result *res);
KZ_HIDDEN kz_verdict kz_map_status(long status, kz_result *res,
    const char *what);
KZ_HIDDEN kz_verdict kz_http_failure(const struct kz_http_resp *r,
    kz_result *res, const char *what);
KZ_HIDDEN char *kz_read_client_secret(kz_ctx *ctx, struct kz_provider *p,
    char *err, size_t errlen);

KZ_HIDDEN kz_verdict kz_aud_check(const struct kz_provider *p, json_t *aud,
    const char *what, kz_result *res);
KZ_HIDDEN kz_verdict kz_aud_check_jv(const struct kz_provider *p,
    const struct kz_jv *aud, const char *what, kz_result *res);
/* username_transform, user_map_file and the shape check (identity.c);
 * kz_local_name reads the map each time, kz_local_name_map uses one
 * loaded with kz_user_map_load (sync: once for every user). */
struct kz_user_map {
	struct kz_strv ext, loc;	/* the lines, in file order */
	size_t *order;			/* indexes sorted by (ext, line) */
};
KZ_HIDDEN kz_verdict kz_user_map_load(struct kz_provider *p,
    struct kz_user_map *m, kz_result *res);
KZ_HIDDEN void kz_user_map_free(struct kz_user_map *m);
KZ_HIDDEN kz_verdict kz_local_name_map(kz_ctx *ctx, struct kz_provider *p,
    const struct kz_user_map *map, const char *ext, char **out,
    kz_result *res);
KZ_HIDDEN kz_verdict kz_local_name(kz_ctx *ctx, struct kz_provider *p,
    const char *ext, char **out, kz_result *res);
KZ_HIDDEN kz_verdict kz_bind_user(kz_ctx *ctx, struct kz_provider *p,
    const char *want_user, kz_result *res);
KZ_HIDDEN void kz_unbind(kz_ctx *ctx);
/* The end-of-decision invariant: OK/FORBIDDEN only for a bound identity. */
KZ_HIDDEN kz_verdict kz_seal(kz_ctx *ctx, const kz_request *req,
    kz_verdict v, kz_result *res);
KZ_HIDDEN kz_verdict kz_authorize(kz_ctx *ctx, struct kz_provider *p,
    const struct kz_service *svc, kz_result *res);
KZ_HIDDEN kz_verdict kz_membership_check(kz_ctx *ctx, struct kz_provider *p,
    const char *group, const char *user, kz_result *res);

/* ---- the bound on remote validations of unknown tokens (ratelimit.c) ---- */

/* Takes one unknown-token validation from the buckets of source and of
 * the host: KZ_OK to go ahead, else UNAVAILABLE/rate_limited in res (the
 * provider must not be asked).  A NULL or empty source is not counted. */
KZ_HIDDEN kz_verdict kz_ratelimit_unknown(kz_ctx *ctx, const char *source,
    kz_result *res);

/* ---- caches (cache.c) and denylist (denylist.c) ---- */

enum kz_cache_hit { KZ_CACHE_MISS, KZ_CACHE_FRESH, KZ_CACHE_STALE };
/* What was asked about the token: its validation, or (for a JWT that
 * passed locally) the online revocation check. */
enum kz_cache_kind { KZ_CACHE_VALIDATION, KZ_CACHE_REVOCATION };
/* Looks up what the provider said of a token (by SHA-256, never the
 * token), for exactly this provider and kind of check. */
KZ_HIDDEN enum kz_cache_hit kz_cache_get(kz_ctx *ctx, const char *provider,
    enum kz_cache_kind kind, const char sha[65], kz_result *res);
KZ_HIDDEN void kz_cache_put(kz_ctx *ctx, const char *provider,
    enum kz_cache_kind kind, const char sha[65], const kz_result *res);
KZ_HIDDEN void kz_memcache_free(struct kz_memcache *mc);
KZ_HIDDEN bool kz_denylisted(kz_ctx *ctx, const char sha[65], const char *jti);
KZ_HIDDEN void kz_denylist_free(struct kz_denylist *d);
/* The fingerprint of an ECDSA-signed JWT's twin signature (r, n - s),
 * which verifies too, on the denylist? */
KZ_HIDDEN bool kz_denylisted_ec_twin(kz_ctx *ctx, unsigned alg,
    const char *signing_input, size_t si_len, const unsigned char *sig,
    size_t sig_len);

/* ---- PAM stacks (pamcheck.c), for the doctor ---- */

/* What the PAM check found about a service: it reaches pam_kztoken.so and
 * gets no policy (other: the section it looked for), or it is a
 * login-shell variant that skips the module its base service uses (other:
 * the base service). */
enum kz_pam_finding { KZ_PAM_NO_POLICY, KZ_PAM_VARIANT_SKIPS };
typedef void (*kz_pam_warn_fn)(void *arg, enum kz_pam_finding what,
    const char *service, const char *other);
/* Returns how many services reach the module, or -1 (no such dir). */
KZ_HIDDEN int kz_pam_services_check(kz_ctx *ctx, const char *dir,
    kz_pam_warn_fn warn, void *arg);
/* Whether one service's stack reaches the module (1) or not (0), with
 * the names whose policy it gets (the service, or service= arguments). */
KZ_HIDDEN int kz_pam_service_policies(const char *dir, const char *service,
    struct kz_strv *policies);

/* ---- the host around the module (doctor_host.c), for the doctor:
 * the pam-auth-update profile, the policy of every service, sshd, group
 * enrollments.  Reports through fn; *worst takes a failure's verdict. */
/* kztoken doctor's state (doctor.c), and one line of its report:
 * status 0 ok, 1 warning, 2 failure with the verdict that it is. */
struct kz_doc {
	kz_ctx *ctx;
	kz_doctor_fn fn;
	void *arg;
	kz_verdict worst;
	int unguarded;		/* PAM services with no policy */
};
KZ_HIDDEN void kz_doc_report(struct kz_doc *d, int status, kz_verdict v,
    const char *check, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
KZ_HIDDEN void kz_doctor_host(struct kz_doc *d);

/* ---- audit (audit.c) ---- */

KZ_HIDDEN void kz_audit(kz_ctx *ctx, const kz_request *req,
    const kz_result *res);
KZ_HIDDEN void kz_syslog_send(kz_ctx *ctx, int prio, const char *line);
/* "Feb  3 06:30:55" for now in local time, cached per second in ctx (may
 * be NULL); "" when the time cannot be had. */
KZ_HIDDEN const char *kz_syslog_stamp(kz_ctx *ctx, time_t now, char buf[32]);

/* ---- the NSS database (nssdb.c; format in nss_kztoken/kzdb.h) ---- */

struct kz_nss_user {
	char *name, *gecos, *dir, *shell;
	uint32_t uid, gid;
};

struct kz_nss_group {
	char *name;
	uint32_t gid;
	struct kz_strv members;		/* user names */
};

struct kz_nss_db {
	struct kz_nss_user *users;
	size_t nusers;
	struct kz_nss_group *groups;	/* private groups included */
	size_t ngroups;
	uint32_t uid_min, uid_max;
};

/* The file's bytes (malloc'd), or NULL when out of memory or too big. */
KZ_HIDDEN char *kz_nssdb_build(const struct kz_nss_db *db, int64_t now,
    size_t *len);
/* Builds and atomically replaces dir/kztoken.db (dir made 0755). */
KZ_HIDDEN int kz_nssdb_write(const char *dir, const struct kz_nss_db *db,
    int64_t now, char *err, size_t errlen);
KZ_HIDDEN void kz_nss_db_free(struct kz_nss_db *db);

/* ---- the organisation's directory (directory.c) ---- */

struct kz_dir_user {
	char *id;			/* the directory's immutable id */
	char *username, *display;
	bool active;
};

struct kz_dir_group {
	char *id, *name;
	struct kz_strv members;		/* ids of member users */
};

struct kz_dir {
	struct kz_dir_user *users;
	size_t nusers;
	struct kz_dir_group *groups;
	size_t ngroups;
	struct kz_strv missing;		/* [nss] groups the directory lacks */
	size_t requests, not_modified;	/* what reading it cost */
	uint64_t bytes;
};

/* Reads [nss] groups and their member users (SCIM 2.0, RFC 7644, or the
 * Kaizala platform API: [nss] directory_style) with the access token of
 * [nss] enrollment.  Anything but a complete answer is a failure: a
 * partial directory must never replace the database. */
KZ_HIDDEN kz_verdict kz_dir_fetch(kz_ctx *ctx, struct kz_provider *p,
    struct kz_dir *dir, kz_result *res);

/* One read of the directory in progress, shared by its dialects (SCIM in
 * directory.c, Kaizala in kaizala.c). */
struct kz_dir_fetch {
	kz_ctx *ctx;
	struct kz_provider *p;
	const char *enrollment;
	bool kaizala;		/* accessToken header; a 308 followed once */
	const char *base;	/* Kaizala: the API base moves are measured by */
	char *at;		/* access token, fetched once, wiped at end */
	bool refreshed;		/* the one forced refresh after a 401 */
	struct kz_dir *dir;
	json_t *cache_old;	/* SCIM: url -> {"etag", "body"} of the last */
	json_t *cache_new;	/* sync; what this one saw, written at the end */
};

/* The enrollment's access token into f->at (force: a fresh one). */
KZ_HIDDEN kz_verdict kz_dir_token(struct kz_dir_fetch *f, bool force,
    kz_result *res);
/* One GET with the token; *out the JSON object of a 200, NULL on a 404;
 * 401 refreshes the token once; any other status is a failure. */
KZ_HIDDEN kz_verdict kz_dir_get_json(struct kz_dir_fetch *f, const char *url,
    json_t **out, kz_result *res);
/* [nss] directory_style = kaizala (kaizala.c). */
KZ_HIDDEN kz_verdict kz_dir_read_kaizala(struct kz_dir_fetch *f,
    kz_result *res);
KZ_HIDDEN void kz_dir_free(struct kz_dir *dir);

/* ---- from the directory to the database (nssmap.c) ---- */

/* Names and IDs of the host's own accounts. */
struct kz_local {
	struct kz_strv names;
	uint32_t *ids;
	size_t nids;
	/* the subordinate ID ranges of /etc/subuid and /etc/subgid, sorted
	 * and merged: a local user owns every ID in them (user namespaces,
	 * newuidmap), so none of them may be a directory user's or group's */
	struct kz_id_range { uint32_t lo, hi; } *ranges;
	size_t nranges;
};

KZ_HIDDEN int kz_local_load(struct kz_local *l, const char *passwd_file,
    const char *group_file, char *err, size_t errlen);
/* Adds the ranges of subuid_file and subgid_file ("owner:start:count"
 * lines) to l; a missing file has none, an unreadable one is an error. */
KZ_HIDDEN int kz_local_load_ranges(struct kz_local *l,
    const char *subuid_file, const char *subgid_file, char *err,
    size_t errlen);
KZ_HIDDEN void kz_local_free(struct kz_local *l);
/* The stable ID of a directory object: SHA-256 of issuer, kind and id,
 * reduced into uid_min..uid_max (the same on every host). */
KZ_HIDDEN uint32_t kz_nss_id(const char *issuer, const char *kind,
    const char *id, uint32_t min, uint32_t max);
/* Maps the directory into users, private groups and groups; what it
 * leaves out (local names or IDs, system names, collisions, unusable
 * names) goes to refused, one line each. */
KZ_HIDDEN int kz_nss_map(kz_ctx *ctx, struct kz_provider *p,
    const struct kz_dir *dir, const struct kz_local *local,
    struct kz_nss_db *out, struct kz_strv *refused);

/* ==== Enrollment (store.c, refresh.c, enroll.c, membership.c) ==== */

/* One enrollment as stored.  Secrets are wiped by kz_enr_clear(). */
struct kz_enr {
	char *name, *provider, *subject;
	bool group;
	char *refresh_token, *access_token;
	int64_t refresh_exp, access_exp, access_iat;
	char *endpoint_url;	/* API base (Kaizala endpointUrl) */
	char *token_url;	/* set when the token service moved (308) */
	char *token_url_from;	/* the configured URL that move was from */
	int64_t enrolled_at, last_refresh, retry_after_until;
	kz_enr_state state;
	char message[200];
	char previous_fp[13];	/* the refresh token a rotation replaced */
};

KZ_HIDDEN void kz_enr_clear(struct kz_enr *e);
KZ_HIDDEN bool kz_enr_name_ok(const char *name);
/* Tokens are VSCHAR (RFC 6749 A.17): printable ASCII with space, as long
 * as any provider answer can carry (KZ_MAX_BODY). */
KZ_HIDDEN bool kz_enr_token_ok(const char *tok);
/* Checks (and with create makes) store_dir: a directory owned by root or
 * the caller, no group or world access at all.  0 good, -1 bad, 1 missing
 * (only without create). */
KZ_HIDDEN int kz_store_dir_ok(kz_ctx *ctx, bool create, char *err,
    size_t errlen);
/* The exclusive per-enrollment lock: the one-refresher rule.  Waits a
 * bounded time; returns the lock fd or -1 with err. */
KZ_HIDDEN int kz_store_lock(kz_ctx *ctx, const char *name, char *err,
    size_t errlen);
/* The same with a wait of wait_ms (0: only if free at once). */
KZ_HIDDEN int kz_store_lock_wait(kz_ctx *ctx, const char *name, long wait_ms,
    char *err, size_t errlen);
KZ_HIDDEN void kz_store_unlock(int fd);
/* 1 loaded, 0 no such enrollment, -1 error (err filled). */
KZ_HIDDEN int kz_store_load(kz_ctx *ctx, const char *name, struct kz_enr *e,
    char *err, size_t errlen);
/* Atomic replace; the caller holds the lock.  kz_store_begin reserves the
 * space any answer of the provider could need, before it is asked;
 * kz_store_commit refuses an enrollment it could not read back. */
KZ_HIDDEN int kz_store_save(kz_ctx *ctx, const struct kz_enr *e, char *err,
    size_t errlen);
KZ_HIDDEN int kz_store_begin(kz_ctx *ctx, const struct kz_enr *e,
    struct kz_atomic *tx, char *err, size_t errlen);
KZ_HIDDEN int kz_store_commit(kz_ctx *ctx, struct kz_atomic *tx,
    const struct kz_enr *e, char *err, size_t errlen);
KZ_HIDDEN int kz_store_remove(kz_ctx *ctx, const char *name, char *err,
    size_t errlen);
KZ_HIDDEN int kz_store_names(kz_ctx *ctx, struct kz_strv *out, char *err,
    size_t errlen);
/* Serialisation, exposed for the unit tests. */
KZ_HIDDEN char *kz_enr_format(const struct kz_enr *e, size_t *len);
KZ_HIDDEN int kz_enr_parse(char *buf, struct kz_enr *e, char *err,
    size_t errlen);

/* The state as seen now: active may have become expiring or expired. */
KZ_HIDDEN kz_enr_state kz_enr_state_now(kz_ctx *ctx, const struct kz_enr *e);
/* True when the access token is missing, within 10 % of its lifetime of
 * expiry, or received "later" than now (the clock went back). */
KZ_HIDDEN bool kz_enr_due(kz_ctx *ctx, const struct kz_enr *e);
/* True when the cached access token may be handed out: not expired, and
 * not received at a time the clock has since gone back before. */
KZ_HIDDEN bool kz_enr_access_valid(kz_ctx *ctx, const struct kz_enr *e);
/* One request to the token service in the provider's dialect; updates e
 * (tokens, expiry, state, message).  The caller holds the lock and saves
 * e afterwards, whatever the verdict. */
KZ_HIDDEN kz_verdict kz_refresh_once(kz_ctx *ctx, struct kz_provider *p,
    struct kz_enr *e, unsigned flags, kz_result *res);
/* Lock, load, refresh when due (or always with force), save, unlock; on
 * KZ_OK *token (if token is not NULL) is a copy of a valid access token. */
KZ_HIDDEN kz_verdict kz_enr_access(kz_ctx *ctx, const char *name,
    unsigned flags, bool force, char **token, kz_result *res);
KZ_HIDDEN void kz_enr_info(kz_ctx *ctx, const struct kz_enr *e,
    kz_enrollment_info *info);
/* A refresh run in a worker the caller cannot interrupt (guardian.c).
 * With wait, returns the worker's outcome (bounded by the deadline);
 * without, returns at once while the worker goes on.  own_caller: the
 * CLI, which may wait out a short Retry-After. */
typedef kz_verdict (*kz_guard_fn)(kz_ctx *ctx, void *arg, kz_result *res);
KZ_HIDDEN kz_verdict kz_guard_run(kz_ctx *ctx, kz_guard_fn fn, void *arg,
    bool wait, bool own_caller, kz_result *res);
/* ==== end of Enrollment ==== */

#endif /* KZ_INTERNAL_H */
