/*
 * store.c - the enrollment store (DESIGN.md section 5): one file per
 * enrollment in store_dir, "key value" lines, 0600, replaced atomically.
 *
 * The format is lines rather than JSON so that the refresh token is
 * parsed in place in a buffer we wipe, never copied into a JSON library's
 * nodes that are freed unwiped.  Every value is VSCHAR (printable ASCII),
 * so a line can neither break nor inject another key.
 *
 * Locking: NAME.lock beside NAME.enr, flock()ed exclusively by whoever
 * may refresh.  The file itself is only ever replaced by rename(), so a
 * reader without the lock sees the old or the new file, never a mix.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define ENR_SUFFIX ".enr"
/* A token is as long as a provider answer may be; a file holds a refresh
 * token and an access token, maybe from two answers. */
#define TOKEN_MAX KZ_MAX_BODY
#define ENR_MAX_FILE (2 * KZ_MAX_BODY + 64 * 1024)
#define STORE_RESERVE (32 * 1024)	/* beyond the current file's size */

static const char *const state_names[] = {
	[KZ_ENR_ACTIVE] = "active",
	[KZ_ENR_EXPIRING] = "expiring",
	[KZ_ENR_EXPIRED] = "expired",
	[KZ_ENR_REVOKED] = "revoked",
	[KZ_ENR_ERROR] = "error",
};

const char *
kz_enr_state_name(kz_enr_state s)
{
	return (unsigned)s < KZ_NELEM(state_names) ? state_names[s] : "error";
}

void
kz_enr_clear(struct kz_enr *e)
{
	free(e->name);
	free(e->provider);
	free(e->subject);
	kz_free_secret(e->refresh_token);
	kz_free_secret(e->access_token);
	free(e->endpoint_url);
	free(e->token_url);
	free(e->token_url_from);
	memset(e, 0, sizeof(*e));
}

/* Names become file names: no slash, no dot, nothing a shell mangles. */
bool
kz_enr_name_ok(const char *name)
{
	size_t n = 0;

	if (name == NULL || *name == '\0' || *name == '-')
		return false;
	for (; name[n]; n++) {
		char c = name[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '@'))
			return false;
	}
	return n <= 64;
}

static bool
vschar_ok(const char *s, size_t max)
{
	size_t n = 0;

	if (s == NULL)
		return false;
	for (; s[n]; n++)
		if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7e)
			return false;
	return n <= max;
}

bool
kz_enr_token_ok(const char *tok)
{
	return tok != NULL && *tok != '\0' && vschar_ok(tok, TOKEN_MAX);
}

int
kz_store_dir_ok(kz_ctx *ctx, bool create, char *err, size_t errlen)
{
	const char *dir = ctx->cfg->store_dir;
	struct stat st;

	if (!create && lstat(dir, &st) != 0 && errno == ENOENT) {
		snprintf(err, errlen, "%s: does not exist", dir);
		return 1;
	}
	if (kz_check_dir(dir, create, err, errlen) != 0)
		return -1;
	/* kz_check_dir allows a readable directory; the store is secret. */
	if (lstat(dir, &st) != 0 || (st.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s: permissions %04o are too open "
		    "(store_dir must be 0700)", dir,
		    (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

static int
enr_path(kz_ctx *ctx, const char *name, const char *suffix, char *out,
    size_t n, char *err, size_t errlen)
{
	if (!kz_enr_name_ok(name)) {
		snprintf(err, errlen, "bad enrollment name '%.64s' (letters, "
		    "digits, _ - @; at most 64)", name ? name : "");
		return -1;
	}
	if (snprintf(out, n, "%s/%s%s", ctx->cfg->store_dir, name, suffix) >=
	    (int)n) {
		snprintf(err, errlen, "store path too long");
		return -1;
	}
	return 0;
}

/* The lock file, made when missing; on a read-only store an existing one
 * is opened read-only (flock works on it) so that readers still agree. */
static int
open_lock(const char *path)
{
	/* O_NONBLOCK: a FIFO in its place must not hang the open; the
	 * caller's fstat refuses anything but a regular file. */
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC |
	    O_NOCTTY | O_NONBLOCK, 0600);

	if (fd < 0 && (errno == EROFS || errno == EACCES))
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY |
		    O_NONBLOCK);
	return fd;
}

int
kz_store_lock(kz_ctx *ctx, const char *name, char *err, size_t errlen)
{
	return kz_store_lock_wait(ctx, name, -1, err, errlen);
}

/* wait_ms < 0: bounded by the running deadline, else by timeout. */
int
kz_store_lock_wait(kz_ctx *ctx, const char *name, long wait_ms, char *err,
    size_t errlen)
{
	char path[PATH_MAX];
	struct stat st, cur;
	int64_t until;
	long nap = 2, left;
	int fd;

	if (kz_store_dir_ok(ctx, true, err, errlen) != 0 ||
	    enr_path(ctx, name, ".lock", path, sizeof(path), err, errlen) != 0)
		return -1;
again:
	if ((fd = open_lock(path)) < 0) {
		snprintf(err, errlen, "%s: %s", path, errno == ELOOP ?
		    "is a symbolic link (refused)" : strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    !kz_owner_ok(st.st_uid)) {
		snprintf(err, errlen, "%s: not a regular file of root or uid %u",
		    path, (unsigned)geteuid());
		close(fd);
		return -1;
	}
	/* The wait is part of the decision: bounded by its deadline when
	 * one runs, else by timeout; polling, so a stopped holder cannot
	 * hang sudo. */
	left = kz_deadline_left(ctx);
	until = kz_monotonic_ms() + (wait_ms >= 0 ? wait_ms :
	    ctx->deadline_ms != 0 ? left : (long)ctx->cfg->timeout * 1000);
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		struct timespec ts;
		int64_t now;

		if (errno != EWOULDBLOCK && errno != EINTR) {
			snprintf(err, errlen, "%s: lock: %s", path,
			    strerror(errno));
			close(fd);
			return -1;
		}
		if ((now = kz_monotonic_ms()) >= until) {
			snprintf(err, errlen, "enrollment %s is locked by another "
			    "process (a refresh that does not end?)", name);
			close(fd);
			return -1;
		}
		if (nap > until - now)
			nap = (long)(until - now);
		ts.tv_sec = 0;
		ts.tv_nsec = nap * 1000000L;
		nanosleep(&ts, NULL);
		if (nap < 50)
			nap *= 2;
	}
	/* kz_store_remove unlinks the lock file under the lock: a waiter
	 * that got the lock of that unlinked inode locks the new file. */
	if (stat(path, &cur) != 0 || cur.st_ino != st.st_ino ||
	    cur.st_dev != st.st_dev) {
		close(fd);
		goto again;
	}
	return fd;
}

void
kz_store_unlock(int fd)
{
	if (fd >= 0)
		close(fd);	/* drops the flock */
}

/* ---- format ---- */

struct wbuf {
	char *p;
	size_t len, cap;
	bool fail;
};

/* Grows by copying into a fresh buffer and wiping the old: it holds the
 * refresh token. */
static void
wb_add(struct wbuf *b, const char *key, const char *val)
{
	size_t need;

	if (val == NULL || b->fail)
		return;
	need = strlen(key) + strlen(val) + 3;
	if (b->len + need > b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 1024;
		char *np;

		while (ncap < b->len + need)
			ncap *= 2;
		if ((np = malloc(ncap)) == NULL) {
			b->fail = true;
			return;
		}
		if (b->p != NULL) {
			memcpy(np, b->p, b->len);
			explicit_bzero(b->p, b->cap);
			free(b->p);
		}
		b->p = np;
		b->cap = ncap;
	}
	b->len += (size_t)snprintf(b->p + b->len, b->cap - b->len, "%s %s\n",
	    key, val);
}

static void
wb_int(struct wbuf *b, const char *key, int64_t v)
{
	char num[32];

	snprintf(num, sizeof(num), "%" PRId64, v);
	wb_add(b, key, num);
}

char *
kz_enr_format(const struct kz_enr *e, size_t *len)
{
	struct wbuf b = { 0 };
	char msg[sizeof(e->message)];
	size_t i;

	/* the message may quote a provider: keep it one printable line */
	for (i = 0; e->message[i] && i + 1 < sizeof(msg); i++)
		msg[i] = (e->message[i] >= 0x20 && e->message[i] < 0x7f) ?
		    e->message[i] : '?';
	msg[i] = '\0';
	wb_add(&b, "#", "kztoken enrollment: 0600, replaced atomically; "
	    "edit only with kztoken");
	wb_add(&b, "version", "1");
	wb_add(&b, "name", e->name);
	wb_add(&b, "provider", e->provider);
	wb_add(&b, "kind", e->group ? "group" : "user");
	wb_add(&b, e->group ? "group" : "user", e->subject);
	wb_add(&b, "state", kz_enr_state_name(e->state));
	wb_int(&b, "enrolled_at", e->enrolled_at);
	wb_int(&b, "last_refresh", e->last_refresh);
	wb_add(&b, "refresh_token", e->refresh_token);
	wb_int(&b, "refresh_token_expiry", e->refresh_exp);
	wb_add(&b, "access_token", e->access_token);
	wb_int(&b, "access_token_expiry", e->access_exp);
	wb_int(&b, "access_token_issued", e->access_iat);
	wb_add(&b, "endpoint_url", e->endpoint_url);
	wb_add(&b, "token_url", e->token_url);
	wb_add(&b, "token_url_from", e->token_url_from);
	wb_int(&b, "retry_after_until", e->retry_after_until);
	if (msg[0])
		wb_add(&b, "message", msg);
	if (e->previous_fp[0])
		wb_add(&b, "previous_fp", e->previous_fp);
	if (b.fail) {
		if (b.p)
			explicit_bzero(b.p, b.cap);
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

static int
set_int(const char *v, int64_t *out)
{
	long long x;
	char *end;

	errno = 0;
	x = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || x < 0)
		return -1;
	*out = x;
	return 0;
}

static int
set_str(char **dst, const char *v)
{
	if (*dst != NULL)
		return -1;	/* a key twice: the file is not ours */
	return (*dst = strdup(v)) == NULL ? -1 : 0;
}

static int
parse_line(struct kz_enr *e, const char *k, const char *v, bool *kind_group)
{
	if (strcmp(k, "#") == 0)
		return 0;
	if (strcmp(k, "version") == 0)
		return strcmp(v, "1") == 0 ? 0 : -1;
	if (strcmp(k, "name") == 0)
		return set_str(&e->name, v);
	if (strcmp(k, "provider") == 0)
		return set_str(&e->provider, v);
	if (strcmp(k, "kind") == 0) {
		if (strcmp(v, "group") != 0 && strcmp(v, "user") != 0)
			return -1;
		*kind_group = strcmp(v, "group") == 0;
		return 0;
	}
	if (strcmp(k, "group") == 0) {
		e->group = true;
		return set_str(&e->subject, v);
	}
	if (strcmp(k, "user") == 0)
		return set_str(&e->subject, v);
	if (strcmp(k, "state") == 0) {
		for (size_t i = 0; i < KZ_NELEM(state_names); i++)
			if (strcmp(v, state_names[i]) == 0) {
				e->state = (kz_enr_state)i;
				return 0;
			}
		return -1;
	}
	if (strcmp(k, "refresh_token") == 0)
		return kz_enr_token_ok(v) ? set_str(&e->refresh_token, v) : -1;
	if (strcmp(k, "access_token") == 0)
		return kz_enr_token_ok(v) ? set_str(&e->access_token, v) : -1;
	if (strcmp(k, "endpoint_url") == 0)
		return set_str(&e->endpoint_url, v);
	if (strcmp(k, "token_url") == 0)
		return set_str(&e->token_url, v);
	if (strcmp(k, "token_url_from") == 0)
		return set_str(&e->token_url_from, v);
	if (strcmp(k, "message") == 0) {
		snprintf(e->message, sizeof(e->message), "%s", v);
		return 0;
	}
	if (strcmp(k, "previous_fp") == 0) {
		if (strlen(v) >= sizeof(e->previous_fp))
			return -1;
		snprintf(e->previous_fp, sizeof(e->previous_fp), "%s", v);
		return 0;
	}
	if (strcmp(k, "enrolled_at") == 0)
		return set_int(v, &e->enrolled_at);
	if (strcmp(k, "last_refresh") == 0)
		return set_int(v, &e->last_refresh);
	if (strcmp(k, "refresh_token_expiry") == 0)
		return set_int(v, &e->refresh_exp);
	if (strcmp(k, "access_token_expiry") == 0)
		return set_int(v, &e->access_exp);
	if (strcmp(k, "access_token_issued") == 0)
		return set_int(v, &e->access_iat);
	if (strcmp(k, "retry_after_until") == 0)
		return set_int(v, &e->retry_after_until);
	return -1;
}

/* Parses in place (buf is modified; the caller wipes it). */
int
kz_enr_parse(char *buf, struct kz_enr *e, char *err, size_t errlen)
{
	bool kind_group = false, seen_version = false;
	char *line = buf, *next;
	int lineno = 0;

	memset(e, 0, sizeof(*e));
	for (; line != NULL && *line != '\0'; line = next) {
		char *v;

		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (*line == '\0')
			continue;
		if ((v = strchr(line, ' ')) == NULL || !vschar_ok(v + 1,
		    TOKEN_MAX)) {
			snprintf(err, errlen, "line %d: not \"key value\"",
			    lineno);
			goto fail;
		}
		*v++ = '\0';
		if (strcmp(line, "version") == 0)
			seen_version = true;
		if (parse_line(e, line, v, &kind_group) != 0) {
			snprintf(err, errlen, "line %d: bad or repeated %.32s",
			    lineno, line);
			goto fail;
		}
	}
	if (!seen_version || e->name == NULL || e->provider == NULL ||
	    e->subject == NULL || e->refresh_token == NULL ||
	    kind_group != e->group) {
		snprintf(err, errlen, "incomplete (needs version, name, "
		    "provider, kind with its group or user, refresh_token)");
		goto fail;
	}
	return 0;
fail:
	kz_enr_clear(e);
	return -1;
}

/* ---- files ---- */

int
kz_store_load(kz_ctx *ctx, const char *name, struct kz_enr *e, char *err,
    size_t errlen)
{
	char path[PATH_MAX], perr[200], *buf;
	size_t len;
	bool binary;
	int rc;

	memset(e, 0, sizeof(*e));
	if ((rc = kz_store_dir_ok(ctx, false, err, errlen)) != 0)
		return rc > 0 ? 0 : -1;	/* no store yet: nothing enrolled */
	if (enr_path(ctx, name, ENR_SUFFIX, path, sizeof(path), err,
	    errlen) != 0)
		return -1;
	if (kz_read_file(path, KZ_SF_SECRET | KZ_SF_MISSING_OK, ENR_MAX_FILE,
	    &buf, &len, err, errlen) != 0)
		return -1;
	if (buf == NULL)
		return 0;
	/* decided before parsing, which cuts buf into strings */
	binary = strlen(buf) != len;
	if (binary || kz_enr_parse(buf, e, perr, sizeof(perr)) != 0) {
		snprintf(err, errlen, "%s: %s", path, binary ?
		    "binary content" : perr);
		explicit_bzero(buf, len);
		free(buf);
		return -1;
	}
	explicit_bzero(buf, len);
	free(buf);
	if (strcmp(e->name, name) != 0) {
		snprintf(err, errlen, "%s: holds enrollment '%.64s', not '%s'",
		    path, e->name, name);
		kz_enr_clear(e);
		return -1;
	}
	return 1;
}

/* Temp files of writers that died (only lock holders write, so any that
 * is there while we hold the lock is dead). */
static void
sweep_tmp(kz_ctx *ctx, const char *name)
{
	char prefix[96];
	struct dirent *de;
	DIR *d;

	snprintf(prefix, sizeof(prefix), "%s%s.tmp.", name, ENR_SUFFIX);
	if ((d = opendir(ctx->cfg->store_dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

int
kz_store_begin(kz_ctx *ctx, const struct kz_enr *e, struct kz_atomic *tx,
    char *err, size_t errlen)
{
	char path[PATH_MAX], *txt;
	size_t len;
	int rc;

	tx->fd = -1;
	if (kz_store_dir_ok(ctx, true, err, errlen) != 0 ||
	    enr_path(ctx, e->name, ENR_SUFFIX, path, sizeof(path), err,
	    errlen) != 0)
		return -1;
	if ((txt = kz_enr_format(e, &len)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	explicit_bzero(txt, len);
	free(txt);
	sweep_tmp(ctx, e->name);
	/* Room for the answer: tokens of a provider keep their size, so the
	 * current file and a generous margin.  An answer larger still is
	 * kept without its access token (refresh_locked). */
	rc = kz_atomic_begin(tx, path, 0600, len + STORE_RESERVE, err, errlen);
	return rc;
}

/* The store never writes what kz_store_load would refuse: a value out of
 * range would make the enrollment, and its refresh token, unreadable. */
static int
readable(const char *txt, size_t len, char *err, size_t errlen)
{
	char *copy = malloc(len + 1), perr[200];
	struct kz_enr back;
	int rc;

	if (copy == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(copy, txt, len);
	copy[len] = '\0';
	rc = kz_enr_parse(copy, &back, perr, sizeof(perr));
	if (rc == 0)
		kz_enr_clear(&back);
	else
		snprintf(err, errlen, "refusing to write an enrollment that "
		    "could not be read back (%s)", perr);
	explicit_bzero(copy, len + 1);
	free(copy);
	return rc;
}

int
kz_store_commit(kz_ctx *ctx, struct kz_atomic *tx, const struct kz_enr *e,
    char *err, size_t errlen)
{
	char *txt;
	size_t len;
	int rc;

	(void)ctx;
	if (!kz_enr_token_ok(e->refresh_token)) {
		snprintf(err, errlen, "enrollment %s: no usable refresh token",
		    e->name);
		kz_atomic_abort(tx);
		return -1;
	}
	if ((txt = kz_enr_format(e, &len)) == NULL) {
		snprintf(err, errlen, "out of memory");
		kz_atomic_abort(tx);
		return -1;
	}
	if ((rc = readable(txt, len, err, errlen)) == 0)
		rc = kz_atomic_commit(tx, txt, len, err, errlen);
	else
		kz_atomic_abort(tx);
	explicit_bzero(txt, len);
	free(txt);
	return rc;
}

int
kz_store_save(kz_ctx *ctx, const struct kz_enr *e, char *err, size_t errlen)
{
	struct kz_atomic tx;

	if (kz_store_begin(ctx, e, &tx, err, errlen) != 0)
		return -1;
	return kz_store_commit(ctx, &tx, e, err, errlen);
}

int
kz_store_remove(kz_ctx *ctx, const char *name, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int dfd;

	if (enr_path(ctx, name, ENR_SUFFIX, path, sizeof(path), err,
	    errlen) != 0)
		return -1;
	if (unlink(path) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((dfd = open(ctx->cfg->store_dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	/* The caller holds the lock: its file goes too (a waiter sees it
	 * unlinked once it gets it, and locks afresh: kz_store_lock). */
	if (enr_path(ctx, name, ".lock", path, sizeof(path), err, errlen) != 0)
		return -1;
	(void)unlink(path);
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
kz_store_names(kz_ctx *ctx, struct kz_strv *out, char *err, size_t errlen)
{
	size_t sl = strlen(ENR_SUFFIX);
	struct dirent *de;
	DIR *d;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = kz_store_dir_ok(ctx, false, err, errlen)) != 0)
		return rc > 0 ? 0 : -1;
	if ((d = opendir(ctx->cfg->store_dir)) == NULL) {
		snprintf(err, errlen, "%s: %s", ctx->cfg->store_dir,
		    strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);

		if (n <= sl || strcmp(de->d_name + n - sl, ENR_SUFFIX) != 0)
			continue;
		de->d_name[n - sl] = '\0';
		if (kz_enr_name_ok(de->d_name) &&
		    kz_strv_push(out, de->d_name, n - sl) != 0)
			break;
	}
	closedir(d);
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(char *), cmp_str);
	return 0;
}
