/*
 * safefile.c - files opened the way ssh opens keys: no symlinks, a trusted
 * owner, no loose modes, bounded size; and replaced atomically.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* Root, or the user we run as (so tests run unprivileged). */
bool
kz_owner_ok(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

static int
check_mode(const char *path, const struct stat *st, unsigned flags,
    char *err, size_t errlen)
{
	mode_t bad = S_IWGRP | S_IWOTH;
	const char *most = "no group or world write";

	if (flags & KZ_SF_SECRET) {
		bad |= S_IRWXG | S_IRWXO;
		most = "0600";
	} else if (flags & KZ_SF_ALLOW_GROUP_READ) {
		bad |= S_IRWXO;
		most = "0640";
	}
	if (!kz_owner_ok(st->st_uid)) {
		snprintf(err, errlen, "%s: owned by uid %u, not root or uid %u",
		    path, (unsigned)st->st_uid, (unsigned)geteuid());
		return -1;
	}
	if (st->st_mode & bad) {
		snprintf(err, errlen, "%s: permissions %04o are too open "
		    "(at most %s)", path, (unsigned)(st->st_mode & 07777), most);
		return -1;
	}
	return 0;
}

int
kz_read_file(const char *path, unsigned flags, size_t max, char **bufp,
    size_t *lenp, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd;

	*bufp = NULL;
	*lenp = 0;
	/* O_NONBLOCK: a FIFO planted where a file should be must not hang
	 * the open (and with it sudo or sshd); fstat then refuses it. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK);
	if (fd < 0) {
		int e = errno;

		if (e == ENOENT && (flags & KZ_SF_MISSING_OK))
			return 0;
		snprintf(err, errlen, "%s: %s", path, e == ELOOP ?
		    "is a symbolic link (refused)" : strerror(e));
		errno = e;
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto fail;
	}
	if (check_mode(path, &st, flags, err, errlen) != 0)
		goto fail;
	if ((size_t)st.st_size > max) {
		snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
		goto fail;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	while (len < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + len, (size_t)st.st_size - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	close(fd);
	*bufp = buf;
	*lenp = len;
	return 0;
fail:
	close(fd);
	if (buf != NULL) {
		explicit_bzero(buf, (size_t)st.st_size + 1);
		free(buf);
	}
	errno = EPERM;
	return -1;
}

int
kz_check_dir(const char *path, bool create, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st) != 0) {
		if (errno == ENOENT && create) {
			if (mkdir(path, 0700) != 0 && errno != EEXIST) {
				snprintf(err, errlen, "%s: cannot create: %s",
				    path, strerror(errno));
				return -1;
			}
			return kz_check_dir(path, false, err, errlen);
		}
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory (or a symlink)", path);
		return -1;
	}
	if (!kz_owner_ok(st.st_uid)) {
		snprintf(err, errlen, "%s: owned by uid %u, not root or uid %u",
		    path, (unsigned)st.st_uid, (unsigned)geteuid());
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen, "%s: group- or world-writable (%04o)",
		    path, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

static int
write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, data, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		data += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Creates the temp file beside path and, with reserve, allocates that
 * many bytes in it, so that a full disk fails here, before anything that
 * cannot be undone (such as asking a provider to rotate a token). */
int
kz_atomic_begin(struct kz_atomic *tx, const char *path, mode_t mode,
    size_t reserve, char *err, size_t errlen)
{
	int rc;

	tx->fd = -1;
	if (snprintf(tx->tmp, sizeof(tx->tmp), "%s.tmp.%ld", path,
	    (long)getpid()) >= (int)sizeof(tx->tmp) ||
	    snprintf(tx->path, sizeof(tx->path), "%s", path) >=
	    (int)sizeof(tx->path)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	tx->fd = open(tx->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, mode);
	/* Our PID in the name: one left there was a killed process's whose
	 * PID we now have, and would make every later write fail. */
	if (tx->fd < 0 && errno == EEXIST && unlink(tx->tmp) == 0)
		tx->fd = open(tx->tmp, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, mode);
	if (tx->fd < 0) {
		snprintf(err, errlen, "%s: %s", tx->tmp, strerror(errno));
		return -1;
	}
	if (fchmod(tx->fd, mode) != 0) {
		snprintf(err, errlen, "%s: %s", tx->tmp, strerror(errno));
		kz_atomic_abort(tx);
		return -1;
	}
	if (reserve > 0 && (rc = posix_fallocate(tx->fd, 0,
	    (off_t)reserve)) != 0) {
		snprintf(err, errlen, "%s: cannot reserve %zu bytes: %s",
		    tx->path, reserve, strerror(rc));
		kz_atomic_abort(tx);
		return -1;
	}
	return 0;
}

void
kz_atomic_abort(struct kz_atomic *tx)
{
	if (tx->fd < 0)
		return;
	close(tx->fd);
	unlink(tx->tmp);
	tx->fd = -1;
}

/* Writes into the (reserved) temp file, cuts it to len, fsync, rename,
 * fsync of the directory.  Ends the transaction either way. */
int
kz_atomic_commit(struct kz_atomic *tx, const char *data, size_t len,
    char *err, size_t errlen)
{
	char dir[PATH_MAX];
	int dfd;

	if (write_all(tx->fd, data, len) != 0 || ftruncate(tx->fd,
	    (off_t)len) != 0 || fsync(tx->fd) != 0) {
		snprintf(err, errlen, "%s: write failed: %s", tx->path,
		    strerror(errno));
		kz_atomic_abort(tx);
		return -1;
	}
	if (close(tx->fd) != 0 || rename(tx->tmp, tx->path) != 0) {
		snprintf(err, errlen, "%s: %s", tx->path, strerror(errno));
		unlink(tx->tmp);
		tx->fd = -1;
		return -1;
	}
	tx->fd = -1;
	/* The rename is durable only once the directory is on disk. */
	snprintf(dir, sizeof(dir), "%s", tx->path);
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
}

int
kz_write_file_atomic(const char *path, const char *data, size_t len,
    mode_t mode, char *err, size_t errlen)
{
	struct kz_atomic tx;

	if (kz_atomic_begin(&tx, path, mode, 0, err, errlen) != 0)
		return -1;
	return kz_atomic_commit(&tx, data, len, err, errlen);
}
