/*
 * secretfile.c - opens a file that holds a secret (--refresh-token-file).
 *
 * kztoken runs as root and the path may come from anyone's directory: a
 * symbolic link anywhere in it could make root read its own client secret
 * and send it out as a "refresh token", and a FIFO would block forever.
 * So the path is walked one component at a time without following links,
 * the file is opened non-blocking, and only a regular file of bounded size
 * is read.  Messages name the path, never the contents.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kztoken.h"

/* Says why a component could not be opened: a link, or errno. */
static void
component_error(int dirfd, const char *path, const char *name, int e)
{
	struct stat st;

	if ((e == ELOOP || e == ENOTDIR) &&
	    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		fprintf(stderr, "kztoken: %s: \"%s\" is a symbolic link "
		    "(refused: no link anywhere in the path)\n", path, name);
	else
		fprintf(stderr, "kztoken: %s: %s\n", path, strerror(e));
}

/* Every directory of path, opened O_PATH without following a link; the
 * last component is left in *last.  Returns the directory fd or -1. */
static int
walk_dirs(const char *path, char *copy, size_t n, char **last)
{
	char *comp, *next;
	int dirfd, fd;

	if (snprintf(copy, n, "%s", path) >= (int)n) {
		fprintf(stderr, "kztoken: %s: path too long\n", path);
		return -1;
	}
	dirfd = open(copy[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY |
	    O_CLOEXEC);
	if (dirfd < 0) {
		fprintf(stderr, "kztoken: %s: %s\n", path, strerror(errno));
		return -1;
	}
	comp = copy;
	for (;;) {
		while (*comp == '/')
			comp++;
		if ((next = strchr(comp, '/')) == NULL)
			break;
		*next++ = '\0';
		while (*next == '/')
			next++;
		if (*next == '\0')	/* "dir/": the last one is a directory */
			break;
		fd = openat(dirfd, comp, O_PATH | O_NOFOLLOW | O_DIRECTORY |
		    O_CLOEXEC);
		if (fd < 0) {
			component_error(dirfd, path, comp, errno);
			close(dirfd);
			return -1;
		}
		close(dirfd);
		dirfd = fd;
		comp = next;
	}
	*last = comp;
	return dirfd;
}

int
tool_open_secret_file(const char *path, size_t max)
{
	char copy[PATH_MAX], *last = NULL;
	struct stat st;
	int dirfd, fd;

	if ((dirfd = walk_dirs(path, copy, sizeof(copy), &last)) < 0)
		return -1;
	if (*last == '\0') {
		fprintf(stderr, "kztoken: %s: is a directory, not a regular "
		    "file\n", path);
		close(dirfd);
		return -1;
	}
	/* O_NONBLOCK: a FIFO opens at once (and is refused below) instead
	 * of waiting for a writer; O_NOCTTY: a terminal is not adopted. */
	fd = openat(dirfd, last, O_RDONLY | O_NONBLOCK | O_NOFOLLOW |
	    O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		component_error(dirfd, path, last, errno);
	close(dirfd);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "kztoken: %s: not a regular file (refused)\n",
		    path);
		close(fd);
		return -1;
	}
	if (st.st_size < 0 || (size_t)st.st_size > max) {
		fprintf(stderr, "kztoken: %s: larger than %zu bytes (refused)\n",
		    path, max);
		close(fd);
		return -1;
	}
	if (st.st_uid != 0)
		fprintf(stderr, "kztoken: warning: %s is owned by uid %u, not "
		    "root: another user may have written or may read this "
		    "secret\n", path, (unsigned)st.st_uid);
	return fd;
}
