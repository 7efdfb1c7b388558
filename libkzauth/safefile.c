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
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
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

int
kz_write_file_atomic(const char *path, const char *data, size_t len,
    mode_t mode, char *err, size_t errlen)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	int fd, dfd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp) || snprintf(dir, sizeof(dir), "%s", path) >=
	    (int)sizeof(dir)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    mode);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 ||
	    fsync(fd) != 0) {
		snprintf(err, errlen, "%s: write failed: %s", path,
		    strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	/* The rename is durable only once the directory is on disk. */
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
}
