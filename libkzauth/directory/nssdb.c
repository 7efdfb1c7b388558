/*
 * nssdb.c - writes the NSS database that libnss_kztoken.so.2 reads (the
 * format is described in nss_kztoken/kzdb.h): records, sorted indexes by
 * name and by id, the (user, gid) member index for initgroups, strings.
 * Written atomically (temp file, fsync, rename), so a process that has
 * the old file mapped keeps a consistent view of it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "../../nss_kztoken/kzdb.h"

struct strbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

/* Appends s with its NUL; returns its offset in the string area. */
static uint32_t
str_add(struct strbuf *sb, const char *s)
{
	size_t n = strlen(s) + 1, off = sb->len;

	if (sb->len + n > sb->cap) {
		size_t cap = sb->cap ? sb->cap : 4096;
		char *np;

		while (cap < sb->len + n)
			cap *= 2;
		if ((np = realloc(sb->p, cap)) == NULL) {
			sb->oom = true;
			return 0;
		}
		sb->p = np;
		sb->cap = cap;
	}
	memcpy(sb->p + sb->len, s, n);
	sb->len += n;
	return (uint32_t)off;
}

/* qsort_r comparators over arrays of indexes into the input. */
static int
cmp_user_name(const void *a, const void *b, void *arg)
{
	const struct kz_nss_db *db = arg;

	return strcmp(db->users[*(const uint32_t *)a].name,
	    db->users[*(const uint32_t *)b].name);
}

static int
cmp_user_id(const void *a, const void *b, void *arg)
{
	const struct kz_nss_db *db = arg;
	uint32_t x = db->users[*(const uint32_t *)a].uid;
	uint32_t y = db->users[*(const uint32_t *)b].uid;

	return x < y ? -1 : x > y;
}

static int
cmp_group_name(const void *a, const void *b, void *arg)
{
	const struct kz_nss_db *db = arg;

	return strcmp(db->groups[*(const uint32_t *)a].name,
	    db->groups[*(const uint32_t *)b].name);
}

static int
cmp_group_id(const void *a, const void *b, void *arg)
{
	const struct kz_nss_db *db = arg;
	uint32_t x = db->groups[*(const uint32_t *)a].gid;
	uint32_t y = db->groups[*(const uint32_t *)b].gid;

	return x < y ? -1 : x > y;
}

struct mempair {
	const char *user;
	uint32_t gid, str;	/* str: the name's offset in the string area */
};

static int
cmp_mem(const void *a, const void *b)
{
	const struct mempair *x = a, *y = b;
	int c = strcmp(x->user, y->user);

	return c ? c : (x->gid < y->gid ? -1 : x->gid > y->gid);
}

static uint32_t *
order(size_t n, int (*cmp)(const void *, const void *, void *),
    const struct kz_nss_db *db)
{
	uint32_t *ix = malloc((n ? n : 1) * sizeof(*ix));

	if (ix == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		ix[i] = (uint32_t)i;
	qsort_r(ix, n, sizeof(*ix), cmp, (void *)db);
	return ix;
}

static void
put32(char *buf, size_t off, uint32_t v)
{
	memcpy(buf + off, &v, sizeof(v));
}

char *
kz_nssdb_build(const struct kz_nss_db *db, int64_t now, size_t *lenp)
{
	struct kzdb_header h = { 0 };
	struct strbuf sb = { 0 };
	struct mempair *mp = NULL;
	uint32_t *pwn = NULL, *pwi = NULL, *grn = NULL, *gri = NULL;
	size_t nmem = 0, off, pw_at, gr_at, arr_at, str_at, total;
	uint32_t *stroff = NULL;	/* per user: name gecos dir shell */
	uint32_t *gstr = NULL;		/* per group: name */
	uint32_t *mstr = NULL;		/* per member, in group order */
	char *buf = NULL;

	for (size_t i = 0; i < db->ngroups; i++)
		nmem += db->groups[i].members.n;
	if (db->nusers > 0x1000000 || db->ngroups > 0x1000000 ||
	    nmem > 0x4000000)
		return NULL;
	stroff = calloc(4 * db->nusers + 1, sizeof(*stroff));
	gstr = calloc(db->ngroups + 1, sizeof(*gstr));
	mstr = calloc(nmem + 1, sizeof(*mstr));
	mp = calloc(nmem + 1, sizeof(*mp));
	pwn = order(db->nusers, cmp_user_name, db);
	pwi = order(db->nusers, cmp_user_id, db);
	grn = order(db->ngroups, cmp_group_name, db);
	gri = order(db->ngroups, cmp_group_id, db);
	if (!stroff || !gstr || !mstr || !mp || !pwn || !pwi || !grn || !gri)
		goto out;
	for (size_t i = 0; i < db->nusers; i++) {
		const struct kz_nss_user *u = &db->users[i];

		stroff[4 * i] = str_add(&sb, u->name);
		stroff[4 * i + 1] = str_add(&sb, u->gecos ? u->gecos : "");
		stroff[4 * i + 2] = str_add(&sb, u->dir);
		stroff[4 * i + 3] = str_add(&sb, u->shell);
	}
	nmem = 0;
	for (size_t i = 0; i < db->ngroups; i++) {
		const struct kz_nss_group *g = &db->groups[i];

		gstr[i] = str_add(&sb, g->name);
		for (size_t j = 0; j < g->members.n; j++, nmem++) {
			mstr[nmem] = str_add(&sb, g->members.v[j]);
			mp[nmem].user = g->members.v[j];
			mp[nmem].gid = g->gid;
			mp[nmem].str = mstr[nmem];
		}
	}
	if (sb.oom)
		goto out;
	qsort(mp, nmem, sizeof(*mp), cmp_mem);

	/* header, pw, gr, member arrays, 4 indexes, pairs, strings */
	pw_at = sizeof(h);
	gr_at = pw_at + db->nusers * sizeof(struct kzdb_pw);
	arr_at = gr_at + db->ngroups * sizeof(struct kzdb_gr);
	h.pw_byname = (uint32_t)(arr_at + nmem * 4);
	h.pw_byid = h.pw_byname + (uint32_t)(db->nusers * 4);
	h.gr_byname = h.pw_byid + (uint32_t)(db->nusers * 4);
	h.gr_byid = h.gr_byname + (uint32_t)(db->ngroups * 4);
	h.mem = h.gr_byid + (uint32_t)(db->ngroups * 4);
	str_at = h.mem + nmem * sizeof(struct kzdb_mem);
	total = (str_at + sb.len + 3) & ~(size_t)3;
	if (total > KZDB_MAX_SIZE || (buf = calloc(1, total)) == NULL)
		goto out;

	memcpy(h.magic, KZDB_MAGIC, 8);
	h.version = KZDB_VERSION;
	h.size = (uint32_t)total;
	h.uid_min = db->uid_min;
	h.uid_max = db->uid_max;
	h.npw = (uint32_t)db->nusers;
	h.ngr = (uint32_t)db->ngroups;
	h.nmem = (uint32_t)nmem;
	h.written_lo = (uint32_t)((uint64_t)now & 0xffffffffu);
	h.written_hi = (uint32_t)((uint64_t)now >> 32);
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + str_at, sb.p, sb.len);

	for (size_t i = 0; i < db->nusers; i++) {
		off = pw_at + i * sizeof(struct kzdb_pw);
		put32(buf, off, db->users[i].uid);
		put32(buf, off + 4, db->users[i].gid);
		for (int k = 0; k < 4; k++)
			put32(buf, off + 8 + 4 * (size_t)k,
			    (uint32_t)str_at + stroff[4 * i + (size_t)k]);
		put32(buf, h.pw_byname + 4 * i,
		    (uint32_t)(pw_at + pwn[i] * sizeof(struct kzdb_pw)));
		put32(buf, h.pw_byid + 4 * i,
		    (uint32_t)(pw_at + pwi[i] * sizeof(struct kzdb_pw)));
	}
	nmem = 0;
	for (size_t i = 0; i < db->ngroups; i++) {
		const struct kz_nss_group *g = &db->groups[i];

		off = gr_at + i * sizeof(struct kzdb_gr);
		put32(buf, off, g->gid);
		put32(buf, off + 4, (uint32_t)str_at + gstr[i]);
		put32(buf, off + 8, (uint32_t)g->members.n);
		put32(buf, off + 12, (uint32_t)(arr_at + nmem * 4));
		for (size_t j = 0; j < g->members.n; j++, nmem++)
			put32(buf, arr_at + nmem * 4,
			    (uint32_t)str_at + mstr[nmem]);
		put32(buf, h.gr_byname + 4 * i,
		    (uint32_t)(gr_at + grn[i] * sizeof(struct kzdb_gr)));
		put32(buf, h.gr_byid + 4 * i,
		    (uint32_t)(gr_at + gri[i] * sizeof(struct kzdb_gr)));
	}
	for (size_t i = 0; i < nmem; i++) {
		put32(buf, h.mem + 8 * i, (uint32_t)str_at + mp[i].str);
		put32(buf, h.mem + 8 * i + 4, mp[i].gid);
	}
	*lenp = total;
out:
	free(sb.p);
	free(stroff);
	free(gstr);
	free(mstr);
	free(mp);
	free(pwn);
	free(pwi);
	free(grn);
	free(gri);
	return buf;
}

int
kz_nssdb_write(const char *dir, const struct kz_nss_db *db, int64_t now,
    char *err, size_t errlen)
{
	char path[4096], *buf;
	size_t len = 0;
	int rc;

	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: cannot create: %s", dir,
		    strerror(errno));
		return -1;
	}
	if (kz_check_dir(dir, false, err, errlen) != 0)
		return -1;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, KZDB_FILE) >=
	    sizeof(path)) {
		snprintf(err, errlen, "%s: path too long", dir);
		return -1;
	}
	if ((buf = kz_nssdb_build(db, now, &len)) == NULL) {
		snprintf(err, errlen, "%s: cannot build the database (out of "
		    "memory or too large)", path);
		return -1;
	}
	rc = kz_write_file_atomic(path, buf, len, 0644, err, errlen);
	free(buf);
	return rc;
}

void
kz_nss_db_free(struct kz_nss_db *db)
{
	for (size_t i = 0; i < db->nusers; i++) {
		free(db->users[i].name);
		free(db->users[i].gecos);
		free(db->users[i].dir);
		free(db->users[i].shell);
	}
	for (size_t i = 0; i < db->ngroups; i++) {
		free(db->groups[i].name);
		kz_strv_free(&db->groups[i].members);
	}
	free(db->users);
	free(db->groups);
	memset(db, 0, sizeof(*db));
}
