/*
 * ratelimit.c - a bound on how often a stranger can make us ask the
 * provider about a token nobody has seen.
 *
 * Each opaque-looking string typed at a login prompt costs one
 * introspection (or tokeninfo call) with the host's client credentials; a
 * stranger typing them in a loop would push the provider into 429 and so
 * every token login of the host into UNAVAILABLE.  Before such a call
 * (a cache miss of a token not validated locally) we take one unit from
 * two fixed-window buckets: one for the request's source (PAM_RHOST) and
 * one for the whole host.  An empty bucket answers UNAVAILABLE /
 * rate_limited without asking the provider.  Cached tokens and JWTs
 * validated locally never get here.  A request without a remote source
 * (sudo, su, a console login, `kztoken check`) counts for the user who
 * runs it (the real uid: the invoking user under sudo), so a local user
 * looping sudo with junk is bounded too; root's own requests (the
 * admin's tools, root at the console) are not counted.
 *
 * Every login is a new process, so the buckets are small files under
 * cache_dir/ratelimit, locked with flock(LOCK_NB): a bucket that stays
 * locked for the few milliseconds we wait counts as empty (fail closed,
 * and cheaply: a login never waits on another).  Source buckets are
 * KZ_RL_SLOTS files chosen by a hash of the source, so no stream of new
 * addresses can fill the disk; sources that share a slot share its limit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/*
 * Fixed defaults: DESIGN.md section 9 admits no new configuration key.
 * Ten unknown tokens a minute is far more than a person mistyping, and the
 * host-wide sixty stays well under the request rates providers allow a
 * client (Keycloak, Entra ID and Okta all allow hundreds a minute).
 */
#define KZ_RL_WINDOW 60		/* seconds */
#define KZ_RL_PER_SOURCE 10	/* unknown tokens per source and window */
/* The host-wide cap protects the provider from a flood from many sources;
 * set too low it hands anyone with a few addresses a lockout of every
 * opaque-token login, so it is well above what one source may send. */
#define KZ_RL_PER_HOST 300	/* unknown tokens per host and window */
#define KZ_RL_SLOTS 4096	/* source buckets (files): 3 hex digits */
#define KZ_RL_LOCK_TRIES 4	/* LOCK_NB attempts, 1 ms apart */
_Static_assert(KZ_RL_SLOTS == 16 * 16 * 16, "a slot is named by 3 hex digits");

/* Opens (creating) one bucket file the way safefile.c opens files: no
 * link, a regular file of a trusted owner, no group or world write. */
static int
open_bucket(int dirfd, const char *name, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	fd = openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "ratelimit/%s: %s", name, errno == ELOOP ?
		    "is a symbolic link (refused)" : strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    !kz_owner_ok(st.st_uid) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(err, errlen, "ratelimit/%s: not a regular file of "
		    "root, or group- or world-writable", name);
		close(fd);
		return -1;
	}
	return fd;
}

static bool
lock_briefly(int fd)
{
	const struct timespec ms = { 0, 1000000 };

	for (int i = 0; i < KZ_RL_LOCK_TRIES; i++) {
		if (i > 0)
			nanosleep(&ms, NULL);
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return true;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return false;
	}
	return false;
}

/* "WINDOW COUNT\n" of the current window: its count, else 0 (another
 * window, or anything else in the file: start afresh). */
static long
stored_count(char *buf, long window)
{
	char *sp = strchr(buf, ' '), *nl = strchr(buf, '\n');
	long w, count;

	if (sp == NULL || nl == NULL)
		return 0;
	*sp = *nl = '\0';
	if (kz_parse_long(buf, 0, LONG_MAX, &w) != 0 || w != window ||
	    kz_parse_long(sp + 1, 0, LONG_MAX, &count) != 0)
		return 0;
	return count;
}

/*
 * Takes one unit from the bucket "name" for the window of now: 1 when
 * taken, 0 when the bucket is empty, -1 (err filled) when it cannot be
 * used.
 */
static int
take(int dirfd, const char *name, int64_t now, long limit, char *err,
    size_t errlen)
{
	char buf[64];
	long window = (long)(now / KZ_RL_WINDOW), count;
	ssize_t n;
	int fd, rc = -1, len;

	if ((fd = open_bucket(dirfd, name, err, errlen)) < 0)
		return -1;
	if (!lock_briefly(fd)) {
		snprintf(err, errlen, "ratelimit/%s: locked by another login",
		    name);
		goto out;
	}
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	if ((count = stored_count(buf, window)) >= limit) {
		rc = 0;
		goto out;
	}
	len = snprintf(buf, sizeof(buf), "%ld %ld\n", window, count + 1);
	if (pwrite(fd, buf, (size_t)len, 0) != len ||
	    ftruncate(fd, len) != 0) {
		snprintf(err, errlen, "ratelimit/%s: %s", name, strerror(errno));
		goto out;
	}
	rc = 1;
out:
	close(fd);	/* drops the lock */
	return rc;
}

/* cache_dir/ratelimit, checked (and made) like the decision cache. */
static int
open_dir(kz_ctx *ctx, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	int fd;

	if (snprintf(dir, sizeof(dir), "%s/ratelimit", ctx->cfg->cache_dir) >=
	    (int)sizeof(dir)) {
		snprintf(err, errlen, "cache_dir: path too long");
		return -1;
	}
	if (kz_check_dir(ctx->cfg->cache_dir, true, err, errlen) != 0 ||
	    kz_check_dir(dir, true, err, errlen) != 0)
		return -1;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) < 0)
		snprintf(err, errlen, "cache_dir/ratelimit: %s",
		    strerror(errno));
	return fd;
}

/*
 * What counts as one source: an IPv6 address by its /64 (one site's
 * subnet, where an attacker may hold every address), an IPv4-mapped IPv6
 * address as the IPv4 address, anything else as it is.
 */
static void
source_key(const char *source, char *out, size_t n)
{
	struct in6_addr a6;

	if (strchr(source, ':') != NULL &&
	    inet_pton(AF_INET6, source, &a6) == 1) {
		if (IN6_IS_ADDR_V4MAPPED(&a6)) {
			inet_ntop(AF_INET, &a6.s6_addr[12], out, (socklen_t)n);
			return;
		}
		memset(&a6.s6_addr[8], 0, 8);
		inet_ntop(AF_INET6, &a6, out, (socklen_t)n);
		return;
	}
	snprintf(out, n, "%s", source);
}

/* The host's own secret for choosing slots, so that no one can pick an
 * address that shares a victim's slot.  Made once; unusable means
 * unsalted slots, which still limit. */
static void
salt_of(int dirfd, unsigned char salt[32])
{
	int fd = openat(dirfd, "salt", O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	struct stat st;

	memset(salt, 0, 32);
	if (fd < 0 && errno == ENOENT) {
		unsigned char fresh[32];

		if (getrandom(fresh, sizeof(fresh), 0) == sizeof(fresh) &&
		    (fd = openat(dirfd, "salt", O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600)) >= 0) {
			(void)!write(fd, fresh, sizeof(fresh));
			close(fd);
		}
		explicit_bzero(fresh, sizeof(fresh));
		fd = openat(dirfd, "salt", O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
		    O_CLOEXEC);
	}
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    kz_owner_ok(st.st_uid) && !(st.st_mode & 077) &&
	    read(fd, salt, 32) != 32)
		memset(salt, 0, 32);
	close(fd);
}

static void
slot_name(int dirfd, const char *source, char name[16])
{
	unsigned char salt[32];
	char key[INET6_ADDRSTRLEN + 64], in[sizeof(key) + 64], sha[65];
	size_t n;

	source_key(source, key, sizeof(key));
	salt_of(dirfd, salt);
	kz_hex(salt, 16, in);		/* 32 hex digits of the salt */
	n = (size_t)snprintf(in + 32, sizeof(in) - 32, "|%s", key) + 32;
	kz_sha256_hex(in, n < sizeof(in) ? n : sizeof(in) - 1, sha);
	explicit_bzero(salt, sizeof(salt));
	snprintf(name, 16, "src-%.3s", sha);
}

kz_verdict
kz_ratelimit_unknown(kz_ctx *ctx, const char *source, kz_result *res)
{
	char name[16], err[256] = "", local[32];
	int dirfd, src = -1, host = -1;

	/* Test hook, like KZTOKEN_LOG_FILE: suites that make hundreds of
	 * uncached decisions a minute turn the limiter off.  secure_getenv:
	 * never honoured in setuid processes such as sudo and su. */
	const char *hook = secure_getenv("KZTOKEN_RATELIMIT");

	if (hook != NULL && strcmp(hook, "off") == 0)
		return KZ_OK;
	if (source == NULL || *source == '\0') {
		if (getuid() == 0)
			return KZ_OK;
		snprintf(local, sizeof(local), "uid:%u", (unsigned)getuid());
		source = local;
	}
	if ((dirfd = open_dir(ctx, err, sizeof(err))) >= 0) {
		/* three hex digits of the source's salted hash: KZ_RL_SLOTS
		 * files */
		slot_name(dirfd, source, name);
		src = take(dirfd, name, kz_now(ctx), KZ_RL_PER_SOURCE, err,
		    sizeof(err));
		if (src == 1)
			host = take(dirfd, "host", kz_now(ctx), KZ_RL_PER_HOST,
			    err, sizeof(err));
		close(dirfd);
	}
	if (src == 1 && host == 1)
		return KZ_OK;
	if (src == 0 || host == 0)
		return kz_set(res, KZ_UNAVAILABLE, KZ_R_RATE_LIMITED, "local "
		    "limit of %d unknown tokens a minute %s reached; provider "
		    "not asked", src == 0 ? KZ_RL_PER_SOURCE : KZ_RL_PER_HOST,
		    src == 0 ? "from this source" : "for this host");
	return kz_set(res, KZ_UNAVAILABLE, KZ_R_RATE_LIMITED, "local rate "
	    "limit of unknown tokens unusable (%s); provider not asked", err);
}
