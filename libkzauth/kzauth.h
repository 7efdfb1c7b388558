/*
 * kzauth.h - the one public header of libkzauth, the kztoken core.
 *
 * A decision takes a token, the user it should authenticate and the
 * service it is for, and answers one verdict with one reason (DESIGN.md
 * section 3).  Every path that does not end in a proven KZ_OK denies.
 *
 * Nothing here keeps global state: each kz_ctx owns its configuration,
 * its parsed keys and its in-memory caches, so a host process (sshd, sudo)
 * may open and close as many as it likes.  A kz_ctx is not thread-safe;
 * use one per thread.
 */
#ifndef KZAUTH_H
#define KZAUTH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Everything declared here is the exported API; the rest of the library
 * is built with hidden visibility. */
#pragma GCC visibility push(default)

#define KZ_DEFAULT_CONFIG "/etc/kztoken/kztoken.conf"

/* Verdicts.  The numbers are also the exit codes of `kztoken check`. */
typedef enum kz_verdict {
	KZ_OK = 0,
	KZ_UNAUTHENTICATED = 1,	/* 401 */
	KZ_FORBIDDEN = 2,	/* 403 */
	KZ_UNAVAILABLE = 3,	/* 503 */
	KZ_ERROR = 4		/* 500: local problem */
} kz_verdict;

typedef enum kz_reason {
	KZ_R_NONE = 0,
	KZ_R_MALFORMED,
	KZ_R_TOO_LONG,
	KZ_R_LIKELY_TRUNCATED,
	KZ_R_BAD_SIGNATURE,
	KZ_R_ALG_NOT_ALLOWED,
	KZ_R_UNKNOWN_KID,
	KZ_R_EXPIRED,
	KZ_R_NOT_YET_VALID,
	KZ_R_ISSUED_IN_FUTURE,
	KZ_R_BAD_ISSUER,
	KZ_R_BAD_AUDIENCE,
	KZ_R_INACTIVE,
	KZ_R_REVOKED,
	KZ_R_DENYLISTED,
	KZ_R_WRONG_TOKEN_TYPE,
	KZ_R_USER_MISMATCH,
	KZ_R_MISSING_GROUP,
	KZ_R_MISSING_SCOPE,
	KZ_R_TOKEN_TOO_OLD,
	KZ_R_PROVIDER_UNREACHABLE,
	KZ_R_TIMEOUT,
	KZ_R_RATE_LIMITED,
	KZ_R_CONFIG,
	/* beyond the minimum set of DESIGN.md section 3 */
	KZ_R_PROVIDER_ERROR,	/* 5xx or an answer we cannot read */
	KZ_R_NOT_A_TOKEN,	/* plainly a password, not a token */
	KZ_R_ENROLLMENT,	/* a needed enrollment is revoked/broken */
	KZ_R_INTERNAL,		/* out of memory, unreadable file */
	KZ_R_INSUFFICIENT_AUTH,	/* the login lacks the acr/amr the service needs */
	KZ_R_ACCESS_DENIED,	/* device flow: the user refused at the provider */
	KZ_R_MAX
} kz_reason;

const char *kz_verdict_name(kz_verdict v);	/* "OK", "FORBIDDEN", ... */
const char *kz_reason_name(kz_reason r);	/* "missing_group", ... */

/* Where an identity came from. */
typedef enum kz_source {
	KZ_SRC_NONE = 0,
	KZ_SRC_JWT,
	KZ_SRC_INTROSPECT,
	KZ_SRC_TOKENINFO,
} kz_source;

/* What a decision learnt about the token.  Strings are owned by the
 * result and freed by kz_result_clear(); absent ones are NULL. */
typedef struct kz_identity {
	char *user;		/* local user name after mapping */
	char *sub;
	char *iss;
	char *kid;
	char *jti;
	char *provider;		/* config provider name */
	char **groups;
	size_t ngroups;
	char **scopes;
	size_t nscopes;
	int64_t exp, iat, nbf, auth_time;	/* 0 = absent */
	kz_source source;
	int from_cache;
	char *acr;		/* how the user logged in (step-up, section 6) */
	char **amr;
	size_t namr;
} kz_identity;

typedef struct kz_result {
	kz_verdict verdict;
	kz_reason reason;
	char fp[13];		/* first 12 hex digits of SHA-256(token) */
	char detail[256];	/* for the administrator; never a secret */
	char user_msg[160];	/* short text for the user (PAM conversation) */
	char *enrollment;	/* enrollment to renew, when that is the cause */
	kz_identity id;
} kz_result;

void kz_result_clear(kz_result *res);

typedef struct kz_ctx kz_ctx;

/*
 * Opens a context on a configuration file (NULL: KZ_DEFAULT_CONFIG).
 * On failure returns KZ_ERROR and writes a message naming file, line and
 * key into err.  The file must not be a symlink, must be owned by root or
 * the caller, and must not be group- or world-writable.
 */
kz_verdict kz_ctx_open(kz_ctx **ctx, const char *config_path,
    char *err, size_t errlen);
void kz_ctx_close(kz_ctx *ctx);

/* Receives each pipeline step for `kztoken check --explain`.  ok is 1 for
 * pass, 0 for fail, -1 for a step that was skipped or only informs. */
typedef void (*kz_trace_fn)(void *arg, const char *step, int ok,
    const char *detail);
void kz_ctx_set_trace(kz_ctx *ctx, kz_trace_fn fn, void *arg);

/* Receives every log line (audit and debug) in addition to syslog. */
typedef void (*kz_log_fn)(void *arg, int priority, const char *line);
void kz_ctx_set_log(kz_ctx *ctx, kz_log_fn fn, void *arg);

/* Overrides the configured debug flag (pam module argument `debug`). */
void kz_ctx_set_debug(kz_ctx *ctx, int on);

typedef struct kz_request {
	const char *token;
	size_t token_len;
	const char *user;	/* the user to bind, NULL: whoever the token names */
	const char *service;	/* policy section; NULL: "default" */
	const char *log_service;	/* service= in the audit line; NULL: service */
	const char *source;	/* remote host (PAM_RHOST) for the rate limit
				 * of unknown tokens; NULL: local, not limited */
	int device;		/* the token came from the device flow: the
				 * audit line says method=device */
	unsigned flags;		/* KZ_REQ_* */
} kz_request;

/* The first answer of a login that may come in parts: a likely_truncated
 * result writes no audit line, since the caller asks for the rest and
 * decides on the whole token, and that one attempt gets one line (a
 * failure line first would count twice in fail2ban). */
#define KZ_REQ_FIRST_PART 1u
/* `kztoken check`: the audit line says via=check, so that it is never
 * taken for a login. */
#define KZ_REQ_VIA_CHECK 2u

/*
 * The whole pipeline: shape, route, validate, revocation, identity,
 * authorisation by the service policy.  Fills res, writes one audit line,
 * and returns res->verdict.  Never blocks longer than the configured
 * `timeout` on network work.
 */
kz_verdict kz_decide(kz_ctx *ctx, const kz_request *req, kz_result *res);

/*
 * Login by device authorization (RFC 8628, DESIGN.md section 15), in two
 * steps around the user's visit to the provider:
 *   kz_device_start asks the provider for a device code, for the policy
 *   and provider of req->service (with the acr_values its require_acr
 *   names); kz_device_prompt is then the text to show, "Open URL and enter
 *   CODE, then press Enter: "; after Enter, kz_device_poll polls the token
 *   endpoint until the user approved, refused, or device_timeout passed,
 *   and runs kz_decide on the access token it got (req with the token and
 *   device set).  Neither step logs the device code or the user code.  A
 *   step that fails fills res, writes the audit line, returns the verdict
 *   (and kz_device_start leaves *dev NULL).
 */
typedef struct kz_device kz_device;
kz_verdict kz_device_start(kz_ctx *ctx, const kz_request *req,
    kz_device **dev, kz_result *res);
const char *kz_device_prompt(const kz_device *dev);
kz_verdict kz_device_poll(kz_ctx *ctx, kz_device *dev, const kz_request *req,
    kz_result *res);
void kz_device_free(kz_device *dev);

/* Shape classes of DESIGN.md section 4.1. */
typedef enum kz_shape {
	KZ_SHAPE_JWT,
	KZ_SHAPE_OPAQUE,
	KZ_SHAPE_MALFORMED,
	KZ_SHAPE_TOO_LONG,
} kz_shape;
kz_shape kz_token_shape(const char *tok, size_t len, size_t max_len);

/* True when the input is plainly not a token (a password): too short, or
 * with characters no bearer token has.  For `ignore_non_token`. */
int kz_is_plainly_not_token(const char *s, size_t len);

/* True when len is a common client input cap (255, 511, 1023, 4095). */
int kz_is_truncation_length(size_t len);

/* Writes the first 12 hex digits of SHA-256(tok) and a NUL into fp. */
void kz_fingerprint(const char *tok, size_t len, char fp[13]);

/* The configured max_token_length, and the path of the loaded config. */
size_t kz_ctx_max_token_length(const kz_ctx *ctx);

/* Adds a fingerprint (12 to 64 hex digits) or "jti:VALUE" to the
 * configured denylist.  Returns KZ_OK or KZ_ERROR with err filled. */
kz_verdict kz_denylist_add(kz_ctx *ctx, const char *entry, char *err,
    size_t errlen);

/* Copies in (NULL: nothing) into out, at most outlen - 1 bytes and a NUL,
 * with every byte outside printable ASCII as '?': text from tokens and
 * providers (escape sequences, CR, LF) for a terminal or a log line.  With
 * word set, space and '"' become '?' as well and an empty result is "-"
 * (the audit line's values).  out may be in.  Returns out. */
char *kz_sanitize(char *out, size_t outlen, const char *in, int word);

/* Frees a secret string after wiping it. */
void kz_free_secret(char *s);

/* ==== Enrollment (store.c, refresh.c, enroll.c, doctor.c) ====
 * Refresh tokens enrolled on the host (DESIGN.md section 5).  Every call
 * reads or replaces the store under the enrollment's lock; none prints a
 * secret.  The verdict of each call is also the exit code of the matching
 * `kztoken` subcommand: KZ_UNAUTHENTICATED/revoked for a dead refresh
 * token, KZ_UNAVAILABLE when the provider could not be asked, KZ_ERROR for
 * a local or configuration problem. */

typedef enum kz_enr_state {
	KZ_ENR_ACTIVE = 0,
	KZ_ENR_EXPIRING,	/* refresh token within warn_days of expiry */
	KZ_ENR_EXPIRED,
	KZ_ENR_REVOKED,
	KZ_ENR_ERROR
} kz_enr_state;

const char *kz_enr_state_name(kz_enr_state s);	/* "active", ... */

typedef struct kz_enrollment_info {
	char name[65];
	char provider[65];
	char kind[8];		/* "group" or "user" */
	char subject[129];	/* the group or the user */
	kz_enr_state state;
	int64_t refresh_exp;	/* 0: unknown */
	int64_t access_exp;	/* 0: no access token cached */
	int64_t enrolled_at, last_refresh;
	char refresh_fp[13];	/* fingerprint of the refresh token */
	char endpoint_url[256];
	char message[200];	/* last problem, for the administrator */
} kz_enrollment_info;

#define KZ_REFRESH_IF_DUE 1u	/* only when the access token is due */
#define KZ_REFRESH_WAIT 2u	/* may sleep for a short Retry-After */
#define KZ_ENROLL_FORCE 4u	/* replace an active enrollment */

/* Proves the refresh token with one refresh, then stores it.  is_group
 * selects the kind; subject is the group or user. */
kz_verdict kz_enroll(kz_ctx *ctx, const char *name, const char *provider,
    int is_group, const char *subject, const char *refresh_token,
    unsigned flags, kz_result *res);
/* Every enrollment, sorted by name; *out is freed with free(). */
kz_verdict kz_enrollment_list(kz_ctx *ctx, kz_enrollment_info **out,
    size_t *n, kz_result *res);
kz_verdict kz_enrollment_get(kz_ctx *ctx, const char *name,
    kz_enrollment_info *info, kz_result *res);
kz_verdict kz_enrollment_refresh(kz_ctx *ctx, const char *name,
    unsigned flags, kz_result *res);
/* A valid access token, refreshed first when due; free with
 * kz_free_secret(). */
kz_verdict kz_enrollment_token(kz_ctx *ctx, const char *name,
    unsigned flags, char **token, kz_result *res);
/* The client_id of enrollment NAME's provider, copied into buf (for
 * `kztoken exec`, the OAUTH_CLIENT_ID of the OAuth2 connector scheme);
 * buf is empty when the provider names none. */
kz_verdict kz_enrollment_client_id(kz_ctx *ctx, const char *name, char *buf,
    size_t len, kz_result *res);
/* RFC 7009 at revocation_url unless local_only, then removes it. */
kz_verdict kz_enrollment_revoke(kz_ctx *ctx, const char *name,
    int local_only, kz_result *res);

/* `kztoken doctor`: each check reports one line with status 0 ok,
 * 1 warning, 2 failure; returns the worst verdict of the failures (KZ_OK
 * when nothing failed). */
typedef void (*kz_doctor_fn)(void *arg, int status, const char *check,
    const char *detail);
kz_verdict kz_doctor(kz_ctx *ctx, kz_doctor_fn fn, void *arg);
/* ==== end of Enrollment ==== */

/* ==== The NSS database (DESIGN.md section 16) ==== */

#define KZ_SYNC_IF_DUE 1u	/* only when sync_interval has passed */

typedef struct kz_sync_opts {
	unsigned flags;
	const char *passwd_file;	/* local accounts; NULL: /etc/passwd */
	const char *group_file;		/* NULL: /etc/group */
	const char *subuid_file;	/* NULL: /etc/subuid */
	const char *subgid_file;	/* NULL: /etc/subgid */
} kz_sync_opts;

typedef struct kz_sync_report {
	int skipped;			/* --if-due and not due */
	size_t users, groups;		/* written (groups: not private) */
	size_t requests, not_modified;
	unsigned long long bytes;
	char **refused;			/* one line per entry left out */
	size_t nrefused;
	char db[512];			/* the file written */
} kz_sync_report;

/* `kztoken sync`: reads the directory with [nss] enrollment and replaces
 * the database atomically; on any failure the old database stays. */
kz_verdict kz_nss_sync(kz_ctx *ctx, const kz_sync_opts *opts,
    kz_sync_report *rep, kz_result *res);
void kz_sync_report_clear(kz_sync_report *rep);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* KZAUTH_H */
