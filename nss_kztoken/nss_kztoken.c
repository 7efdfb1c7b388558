/*
 * nss_kztoken.c - libnss_kztoken.so.2: glibc's NSS entry points for the
 * users and groups `kztoken sync` wrote (DESIGN.md section 16).
 *
 * It reads one local file and nothing else: no network, no config, no
 * lock wait beyond the mutex below.  The one piece of shared state is the
 * current mapping of the database and the set/get/endent cursors, both
 * behind one mutex (as nss_files keeps its enumeration stream).  A
 * mapping is reference counted: a lookup holds the mapping it started
 * with, so a database replaced meanwhile (rename) is unmapped only when
 * the last reader is done.  Every call stats the path and maps the new
 * file when its inode, size or mtime changed.
 *
 * A missing, unreadable or malformed file answers NOTFOUND (never
 * UNAVAIL, so `getent` and the next source in nsswitch.conf carry on).
 */
#include <errno.h>
#include <fcntl.h>
#include <nss.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kzdb.h"
#include "nss_kztoken.h"

#define EXPORT __attribute__((visibility("default")))

struct map {
	unsigned refs;		/* the current pointer counts as one */
	void *base;
	size_t size;
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
	struct kzdb db;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct map *current;
static struct cursor {
	struct map *m;
	uint32_t pos;
} pwcur, grcur;

/* The compiled-in path; tests move it with KZTOKEN_NSS_DIR, which
 * secure_getenv ignores in setuid and setgid processes. */
static void
db_path(char *out, size_t n)
{
	const char *dir = secure_getenv("KZTOKEN_NSS_DIR");

	if (dir == NULL || *dir != '/')
		dir = KZDB_DIR;
	if ((size_t)snprintf(out, n, "%s/%s", dir, KZDB_FILE) >= n)
		out[0] = '\0';
}

static void
unref(struct map *m)
{
	if (m != NULL && --m->refs == 0) {
		munmap(m->base, m->size);
		free(m);
	}
}

static bool
same_file(const struct map *m, const struct stat *st)
{
	return m->dev == st->st_dev && m->ino == st->st_ino &&
	    m->size == (size_t)st->st_size &&
	    m->mtime.tv_sec == st->st_mtim.tv_sec &&
	    m->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* Maps the file: a regular file owned by root or by us, writable by its
 * owner only; NULL otherwise. */
static struct map *
map_file(const char *path)
{
	struct map *m;
	struct stat st;
	void *base;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) < 0)	/* a FIFO swapped in must not block */
		return NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_uid != 0 && st.st_uid != geteuid()) ||
	    (st.st_mode & 022) != 0 || st.st_size <= 0 ||
	    (uint64_t)st.st_size > KZDB_MAX_SIZE) {
		close(fd);
		return NULL;
	}
	base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (base == MAP_FAILED)
		return NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    kzdb_open(&m->db, base, (size_t)st.st_size) != 0) {
		munmap(base, (size_t)st.st_size);
		free(m);
		return NULL;
	}
	m->refs = 1;
	m->base = base;
	m->size = (size_t)st.st_size;
	m->dev = st.st_dev;
	m->ino = st.st_ino;
	m->mtime = st.st_mtim;
	return m;
}

/* Whether the file at path may be served, with its identity in *st.
 * Owner and mode every time: a chmod changes neither inode nor mtime,
 * and a file others may write is not ours to serve. */
static bool
look(char *path, size_t n, struct stat *st)
{
	db_path(path, n);
	return path[0] != '\0' && lstat(path, st) == 0 && S_ISREG(st->st_mode) &&
	    (st->st_uid == 0 || st->st_uid == geteuid()) &&
	    (st->st_mode & 022) == 0;
}

/* The current database for a file that looked like st, with a reference
 * for the caller, or NULL.  Called with the lock held. */
static struct map *
current_for(bool ok, const char *path, const struct stat *st)
{
	if (!ok) {
		unref(current);
		current = NULL;
		return NULL;
	}
	if (current == NULL || !same_file(current, st)) {
		unref(current);
		current = map_file(path);
	}
	if (current != NULL)
		current->refs++;
	return current;
}

static struct map *
acquire_locked(void)
{
	char path[4096];
	struct stat st;
	bool ok = look(path, sizeof(path), &st);

	return current_for(ok, path, &st);
}

/* The stat happens outside the lock, so lookups of many threads only
 * meet for a compare and a count. */
static struct map *
acquire(void)
{
	char path[4096];
	struct stat st;
	bool ok = look(path, sizeof(path), &st);
	struct map *m;

	pthread_mutex_lock(&lock);
	m = current_for(ok, path, &st);
	pthread_mutex_unlock(&lock);
	return m;
}

/* A child of fork() gets the lock as it was: taken around fork(), so it
 * is never inherited held by a thread that does not exist there. */
static void
fork_prepare(void)
{
	pthread_mutex_lock(&lock);
}

static void
fork_done(void)
{
	pthread_mutex_unlock(&lock);
}

__attribute__((constructor)) static void
module_init(void)
{
	pthread_atfork(fork_prepare, fork_done, fork_done);
}

static void
release(struct map *m)
{
	pthread_mutex_lock(&lock);
	unref(m);
	pthread_mutex_unlock(&lock);
}

static enum nss_status
status(enum kzdb_rc rc, int *errnop)
{
	switch (rc) {
	case KZDB_FOUND:
		return NSS_STATUS_SUCCESS;
	case KZDB_ERANGE:	/* glibc retries with a bigger buffer */
		*errnop = ERANGE;
		return NSS_STATUS_TRYAGAIN;
	default:
		*errnop = ENOENT;
		return NSS_STATUS_NOTFOUND;
	}
}

EXPORT enum nss_status
_nss_kztoken_getpwnam_r(const char *name, struct passwd *pw, char *buf,
    size_t buflen, int *errnop)
{
	struct map *m = acquire();
	enum kzdb_rc rc = KZDB_NOTFOUND;

	if (m != NULL && name != NULL)
		rc = kzdb_pwnam(&m->db, name, pw, buf, buflen);
	if (m != NULL)
		release(m);
	return status(rc, errnop);
}

EXPORT enum nss_status
_nss_kztoken_getpwuid_r(uid_t uid, struct passwd *pw, char *buf,
    size_t buflen, int *errnop)
{
	struct map *m = acquire();
	enum kzdb_rc rc = KZDB_NOTFOUND;

	if (m != NULL && uid <= UINT32_MAX)
		rc = kzdb_pwuid(&m->db, (uint32_t)uid, pw, buf, buflen);
	if (m != NULL)
		release(m);
	return status(rc, errnop);
}

EXPORT enum nss_status
_nss_kztoken_getgrnam_r(const char *name, struct group *gr, char *buf,
    size_t buflen, int *errnop)
{
	struct map *m = acquire();
	enum kzdb_rc rc = KZDB_NOTFOUND;

	if (m != NULL && name != NULL)
		rc = kzdb_grnam(&m->db, name, gr, buf, buflen);
	if (m != NULL)
		release(m);
	return status(rc, errnop);
}

EXPORT enum nss_status
_nss_kztoken_getgrgid_r(gid_t gid, struct group *gr, char *buf,
    size_t buflen, int *errnop)
{
	struct map *m = acquire();
	enum kzdb_rc rc = KZDB_NOTFOUND;

	if (m != NULL && gid <= UINT32_MAX)
		rc = kzdb_grgid(&m->db, (uint32_t)gid, gr, buf, buflen);
	if (m != NULL)
		release(m);
	return status(rc, errnop);
}

struct groups_out {
	gid_t skip;
	long *start, *size, limit;
	gid_t **groups;
	int err;
};

/* Appends gid once, growing the caller's array the way glibc expects:
 * double it, never past limit (when limit > 0). */
static int
add_group(void *arg, uint32_t gid)
{
	struct groups_out *o = arg;
	gid_t *g = *o->groups;
	long n;

	if (gid == o->skip)
		return 0;
	for (long i = 0; i < *o->start; i++)
		if (g[i] == gid)
			return 0;
	if (*o->start == *o->size) {
		if (o->limit > 0 && *o->size >= o->limit)
			return 1;	/* full: what fits is the answer */
		n = *o->size > 0 ? 2 * *o->size : 16;
		if (o->limit > 0 && n > o->limit)
			n = o->limit;
		if ((g = realloc(g, (size_t)n * sizeof(*g))) == NULL) {
			o->err = ENOMEM;
			return 1;
		}
		*o->groups = g;
		*o->size = n;
	}
	g[(*o->start)++] = gid;
	return 0;
}

EXPORT enum nss_status
_nss_kztoken_initgroups_dyn(const char *user, gid_t group, long *start,
    long *size, gid_t **groupsp, long limit, int *errnop)
{
	struct groups_out o = { .skip = group, .start = start, .size = size,
		.limit = limit, .groups = groupsp };
	struct map *m = acquire();

	if (m == NULL || user == NULL) {
		if (m != NULL)
			release(m);
		*errnop = ENOENT;
		return NSS_STATUS_NOTFOUND;
	}
	kzdb_user_groups(&m->db, user, add_group, &o);
	release(m);
	if (o.err != 0) {
		*errnop = o.err;
		return NSS_STATUS_TRYAGAIN;
	}
	return NSS_STATUS_SUCCESS;
}

/* ---- enumeration: a cursor holds the mapping it started on ---- */

static void
cursor_set(struct cursor *c)
{
	pthread_mutex_lock(&lock);
	unref(c->m);
	c->m = acquire_locked();
	c->pos = 0;
	pthread_mutex_unlock(&lock);
}

static void
cursor_end(struct cursor *c)
{
	pthread_mutex_lock(&lock);
	unref(c->m);
	c->m = NULL;
	c->pos = 0;
	pthread_mutex_unlock(&lock);
}

EXPORT enum nss_status
_nss_kztoken_setpwent(int stayopen)
{
	cursor_set(&pwcur);
	return NSS_STATUS_SUCCESS;
}

EXPORT enum nss_status
_nss_kztoken_endpwent(void)
{
	cursor_end(&pwcur);
	return NSS_STATUS_SUCCESS;
}

EXPORT enum nss_status
_nss_kztoken_setgrent(int stayopen)
{
	cursor_set(&grcur);
	return NSS_STATUS_SUCCESS;
}

EXPORT enum nss_status
_nss_kztoken_endgrent(void)
{
	cursor_end(&grcur);
	return NSS_STATUS_SUCCESS;
}

/* The next servable entry; on ERANGE the cursor stays, so the retry with
 * a bigger buffer gets the same entry. */
EXPORT enum nss_status
_nss_kztoken_getpwent_r(struct passwd *pw, char *buf, size_t buflen,
    int *errnop)
{
	enum kzdb_rc rc = KZDB_NOTFOUND;

	pthread_mutex_lock(&lock);
	if (pwcur.m == NULL && pwcur.pos == 0)	/* no setpwent: start now */
		pwcur.m = acquire_locked();
	while (pwcur.m != NULL && pwcur.pos < pwcur.m->db.h->npw) {
		rc = kzdb_pwent(&pwcur.m->db, pwcur.pos, pw, buf, buflen);
		if (rc == KZDB_ERANGE)
			break;
		pwcur.pos++;
		if (rc == KZDB_FOUND)
			break;
	}
	pthread_mutex_unlock(&lock);
	return status(rc, errnop);
}

EXPORT enum nss_status
_nss_kztoken_getgrent_r(struct group *gr, char *buf, size_t buflen,
    int *errnop)
{
	enum kzdb_rc rc = KZDB_NOTFOUND;

	pthread_mutex_lock(&lock);
	if (grcur.m == NULL && grcur.pos == 0)
		grcur.m = acquire_locked();
	while (grcur.m != NULL && grcur.pos < grcur.m->db.h->ngr) {
		rc = kzdb_grent(&grcur.m->db, grcur.pos, gr, buf, buflen);
		if (rc == KZDB_ERANGE)
			break;
		grcur.pos++;
		if (rc == KZDB_FOUND)
			break;
	}
	pthread_mutex_unlock(&lock);
	return status(rc, errnop);
}
