/*
 * setupfile.c - the file work of `kztoken setup`: read a config file
 * safely, hash it, replace it atomically with a given mode and owner, and
 * keep the manifest of what setup changed (DESIGN.md section 8).
 *
 * Everything lives under a root prefix ($KZTOKEN_ROOT, read with
 * secure_getenv; empty for the real host) so that tests work on a
 * throwaway tree and never on the machine's /etc.
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

#include <openssl/sha.h>

#include "setup.h"

#define MAX_CONF (1024 * 1024)

const char *
setup_root(void)
{
	const char *r = secure_getenv("KZTOKEN_ROOT");

	return r != NULL ? r : "";
}

int
setup_path(char *out, size_t n, const char *rel)
{
	if (snprintf(out, n, "%s%s", setup_root(), rel) >= (int)n) {
		fprintf(stderr, "kztoken: %s%s: path too long\n", setup_root(),
		    rel);
		return -1;
	}
	return 0;
}

void
setup_sha256(const char *buf, size_t len, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)buf, len, md);
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int
setup_read(const char *path, char **bufp, size_t *lenp, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	char *buf = NULL;
	size_t len = 0;
	ssize_t r;

	*bufp = NULL;
	*lenp = 0;
	if (fd < 0 && errno == ENOENT)
		return 1;
	if (fd < 0) {
		fprintf(stderr, "kztoken: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode) ||
	    st->st_size > MAX_CONF) {
		fprintf(stderr, "kztoken: %s: not a regular file of at most "
		    "1 MiB: left alone\n", path);
		close(fd);
		return -1;
	}
	if ((buf = malloc((size_t)st->st_size + 1)) == NULL) {
		close(fd);
		return -1;
	}
	while (len <= (size_t)st->st_size &&
	    (r = read(fd, buf + len, (size_t)st->st_size + 1 - len)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || len + (size_t)r > (size_t)st->st_size) {
			fprintf(stderr, "kztoken: %s: read failed or the file "
			    "changed while read\n", path);
			free(buf);
			close(fd);
			return -1;
		}
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
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

/* A temp file next to path, mode and owner set before the content goes
 * in, fsync, rename over path, fsync of the directory: a crash leaves the
 * old file or the new one, never half of one. */
int
setup_write(const char *path, const char *data, size_t len, mode_t mode,
    uid_t uid, gid_t gid, bool set_owner)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	int fd, dfd;

	if (snprintf(tmp, sizeof(tmp), "%s.kztoken-tmp.%ld", path,
	    (long)getpid()) >= (int)sizeof(tmp) ||
	    snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir)) {
		fprintf(stderr, "kztoken: %s: path too long\n", path);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd < 0) {
		fprintf(stderr, "kztoken: %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	if ((set_owner && fchown(fd, uid, gid) != 0) || fchmod(fd, mode) != 0 ||
	    write_all(fd, data, len) != 0 || fsync(fd) != 0 || close(fd) != 0) {
		fprintf(stderr, "kztoken: %s: write failed: %s\n", path,
		    strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, path) != 0) {
		fprintf(stderr, "kztoken: %s: %s\n", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* mkdir -p of the directories of a path below the root, mode 0755 except
 * the last (mode). */
int
setup_mkdirs(const char *path, mode_t mode)
{
	char p[PATH_MAX];
	size_t rootlen = strlen(setup_root());

	if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p))
		return -1;
	for (char *s = p + rootlen + 1; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			goto fail;
		*s = '/';
	}
	if (mkdir(p, mode) != 0 && errno != EEXIST)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "kztoken: %s: %s\n", p, strerror(errno));
	return -1;
}

int
setup_mkdirs_parent(const char *path)
{
	char p[PATH_MAX];

	if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p))
		return -1;
	return setup_mkdirs(dirname(p), 0755);
}

/* ---- the manifest: one line per file that setup replaced ----
 *   PATH EXISTED MODE UID GID BACKUP_SHA256|- WRITTEN_SHA256 WHAT
 * PATH is the host path (without the root prefix), one of setup's own. */

#define MANIFEST_HEAD "# kztoken setup manifest 1: path existed mode uid gid " \
	"sha256-of-backup sha256-written what\n"

int
manifest_load(struct manifest *m)
{
	char path[PATH_MAX], *buf, *line, *save = NULL;
	struct stat st;
	size_t len;
	int rc;

	memset(m, 0, sizeof(*m));
	if (setup_path(path, sizeof(path), SETUP_STATE "/manifest") != 0)
		return -1;
	if ((rc = setup_read(path, &buf, &len, &st)) != 0)
		return rc > 0 ? 0 : -1;
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		struct setup_entry *e = &m->e[m->n];
		unsigned mode, ex;
		long uid, gid;

		if (*line == '#')
			continue;
		if (m->n == SETUP_MAX_FILES || sscanf(line,
		    "%255s %u %o %ld %ld %64s %64s %31s", e->path, &ex, &mode,
		    &uid, &gid, e->backup_sha, e->written_sha, e->what) != 8 ||
		    ex > 1 || uid < 0 || gid < 0) {
			fprintf(stderr, "kztoken: %s: damaged line: %s\n", path,
			    line);
			free(buf);
			return -1;
		}
		e->existed = ex == 1;
		e->mode = (mode_t)mode & 07777;
		e->uid = (uid_t)uid;
		e->gid = (gid_t)gid;
		m->n++;
	}
	free(buf);
	return 0;
}

int
manifest_save(const struct manifest *m)
{
	char path[PATH_MAX], *buf = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	if (setup_path(path, sizeof(path), SETUP_STATE "/manifest") != 0)
		return -1;
	if (m->n == 0) {
		if (unlink(path) != 0 && errno != ENOENT)
			return -1;
		return 0;
	}
	if ((f = open_memstream(&buf, &len)) == NULL)
		return -1;
	fputs(MANIFEST_HEAD, f);
	for (size_t i = 0; i < m->n; i++) {
		const struct setup_entry *e = &m->e[i];

		fprintf(f, "%s %d %04o %ld %ld %s %s %s\n", e->path,
		    e->existed ? 1 : 0, (unsigned)e->mode, (long)e->uid,
		    (long)e->gid, e->existed ? e->backup_sha : "-",
		    e->written_sha, e->what);
	}
	fclose(f);
	rc = setup_write(path, buf, len, 0600, 0, 0, false);
	free(buf);
	return rc;
}

struct setup_entry *
manifest_find(struct manifest *m, const char *path)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->e[i].path, path) == 0)
			return &m->e[i];
	return NULL;
}

/* The backup of a host path: its path with '/' as '_', in the state
 * directory (setup's paths hold no '_' that could collide). */
int
setup_backup_path(char *out, size_t n, const char *path)
{
	char name[256];
	size_t i;

	for (i = 0; path[i + 1] != '\0' && i + 1 < sizeof(name); i++)
		name[i] = path[i + 1] == '/' ? '_' : path[i + 1];
	name[i] = '\0';
	if (snprintf(out, n, "%s" SETUP_STATE "/%s.orig", setup_root(), name) >=
	    (int)n)
		return -1;
	return 0;
}
