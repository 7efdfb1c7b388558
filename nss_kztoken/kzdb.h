/*
 * kzdb.h - the NSS database of kztoken: its file format (written by
 * libkzauth/directory/nssdb.c for `kztoken sync`, read by libnss_kztoken.so.2) and
 * the bounds-checked reader over a mapped copy of it (kzdb.c).
 *
 * One file, db_dir/kztoken.db, replaced as a whole (temp file, fsync,
 * rename), so a process that has the old one mapped keeps reading a
 * consistent old view.  Host byte order, every number a uint32_t, every
 * offset counted from the start of the file and 4-byte aligned:
 *
 *   header      struct kzdb_header (magic, version, size of the file,
 *               uid_min/uid_max the writer applied, counts, offsets)
 *   pw records  struct kzdb_pw   { uid, gid, name, gecos, dir, shell }
 *   gr records  struct kzdb_gr   { gid, name, nmem, mem }  mem: offset of
 *               nmem uint32_t string offsets (the member names)
 *   indexes     pw_byname, pw_byid, gr_byname, gr_byid: arrays of record
 *               offsets sorted by strcmp() of the name or by the id;
 *               mem: struct kzdb_mem { user, gid } sorted by (user, gid),
 *               the groups of each user for initgroups
 *   strings     NUL-terminated
 *
 * A lookup is a binary search: no scan.  The reader trusts nothing: every
 * offset is checked against the size before use, a string must end inside
 * the file, and an index that is not sorted only makes lookups miss.
 */
#ifndef KZDB_H
#define KZDB_H

#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KZDB_MAGIC "KZNSSDB1"
#define KZDB_VERSION 1u
#define KZDB_FILE "kztoken.db"
#define KZDB_DIR "/var/lib/kztoken/nss"
#define KZDB_MAX_SIZE (512u * 1024 * 1024)
/* Below this no ID is ever served, whatever the header says. */
#define KZDB_ID_FLOOR 1000u

struct kzdb_header {
	char magic[8];
	uint32_t version;
	uint32_t size;			/* of the whole file */
	uint32_t uid_min, uid_max;	/* what the writer applied */
	uint32_t npw, ngr, nmem;
	uint32_t pw_byname, pw_byid, gr_byname, gr_byid, mem;
	uint32_t written_lo, written_hi; /* time of the sync, seconds */
	uint32_t reserved[3];
};

struct kzdb_pw {
	uint32_t uid, gid, name, gecos, dir, shell;
};

struct kzdb_gr {
	uint32_t gid, name, nmem, mem;
};

struct kzdb_mem {
	uint32_t user, gid;
};

/* A checked view of a mapped database. */
struct kzdb {
	const unsigned char *base;
	size_t size;
	const struct kzdb_header *h;
};

enum kzdb_rc { KZDB_FOUND, KZDB_NOTFOUND, KZDB_ERANGE };

/* Checks the header and that every index lies inside the file: 0 usable,
 * -1 not a database (the caller treats it as missing). */
int kzdb_open(struct kzdb *db, const void *base, size_t size);

/* Lookups: fill *pw / *gr with strings copied into buf. */
enum kzdb_rc kzdb_pwnam(const struct kzdb *db, const char *name,
    struct passwd *pw, char *buf, size_t buflen);
enum kzdb_rc kzdb_pwuid(const struct kzdb *db, uint32_t uid,
    struct passwd *pw, char *buf, size_t buflen);
enum kzdb_rc kzdb_grnam(const struct kzdb *db, const char *name,
    struct group *gr, char *buf, size_t buflen);
enum kzdb_rc kzdb_grgid(const struct kzdb *db, uint32_t gid,
    struct group *gr, char *buf, size_t buflen);
/* The i-th entry in name order (enumeration); NOTFOUND past the end or
 * for an entry that may not be served (the caller moves on). */
enum kzdb_rc kzdb_pwent(const struct kzdb *db, uint32_t i,
    struct passwd *pw, char *buf, size_t buflen);
enum kzdb_rc kzdb_grent(const struct kzdb *db, uint32_t i,
    struct group *gr, char *buf, size_t buflen);
/* Calls fn for each servable gid that user is a member of; stops when fn
 * returns non-zero and returns that. */
int kzdb_user_groups(const struct kzdb *db, const char *user,
    int (*fn)(void *arg, uint32_t gid), void *arg);

/* Names never served whatever the database says: root and the system
 * accounts Debian creates (in any case), all-digit names, "." and "..",
 * names with '@' or longer than 32. */
bool kzdb_reserved_name(const char *name);

#endif
