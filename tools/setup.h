/*
 * setup.h - `kztoken setup` (cmd_setup.c) and its file work (setupfile.c).
 */
#ifndef KZTOKEN_SETUP_H
#define KZTOKEN_SETUP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/stat.h>

/* Where setup keeps its manifest and backups (below the root prefix). */
#define SETUP_STATE "/var/lib/kztoken/setup"
#define SETUP_MAX_FILES 8

struct setup_entry {
	char path[256];		/* host path, e.g. /etc/pam.d/sudo */
	bool existed;		/* false: setup created it; undo removes it */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	char backup_sha[65];	/* of the file setup replaced ("-" if none) */
	char written_sha[65];	/* of what setup wrote */
	char what[32];		/* e.g. sudo:token-only */
};

struct manifest {
	struct setup_entry e[SETUP_MAX_FILES];
	size_t n;
};

/* The root prefix: $KZTOKEN_ROOT (secure_getenv), else "". */
const char *setup_root(void);
/* out = root prefix + rel; -1 (said on stderr) when too long. */
int setup_path(char *out, size_t n, const char *rel);
void setup_sha256(const char *buf, size_t len, char out[65]);
/* Reads a regular file (no symbolic link, at most 1 MiB), NUL-terminated.
 * 0 read, 1 missing, -1 refused (said on stderr). */
int setup_read(const char *path, char **buf, size_t *len, struct stat *st);
/* Replaces path atomically with data, mode and (set_owner) owner. */
int setup_write(const char *path, const char *data, size_t len, mode_t mode,
    uid_t uid, gid_t gid, bool set_owner);
/* Creates path's missing parent directories (0755) and path (mode). */
int setup_mkdirs(const char *path, mode_t mode);
/* Creates the missing directories above path (0755). */
int setup_mkdirs_parent(const char *path);
int setup_backup_path(char *out, size_t n, const char *path);

/* The manifest: 0 and m->n == 0 when setup has not run. */
int manifest_load(struct manifest *m);
/* Writes it, or removes it when empty. */
int manifest_save(const struct manifest *m);
struct setup_entry *manifest_find(struct manifest *m, const char *path);

#endif
