/*
 * nssmap.c - from the directory to the NSS database (DESIGN.md section
 * 16): local names as PAM binds them (kz_local_name), IDs derived from
 * the issuer and the directory's immutable id, and the refusals: a local
 * account's name or ID, a system name, an unusable name, a collision
 * (both sides left out, so which one wins never depends on order).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <openssl/sha.h>

#include "internal.h"
#include "../../nss_kztoken/kzdb.h"

uint32_t
kz_nss_id(const char *issuer, const char *kind, const char *id,
    uint32_t min, uint32_t max)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	uint64_t v = 0, span = (uint64_t)max - min + 1;
	size_t li = strlen(issuer) + 1, lk = strlen(kind) + 1, ld = strlen(id);
	unsigned char *in = malloc(li + lk + ld + 1);

	if (in == NULL)
		return 0;	/* below uid_min: never served */
	/* NUL separators: ("a", "bc") and ("ab", "c") differ */
	memcpy(in, issuer, li);
	memcpy(in + li, kind, lk);
	memcpy(in + li + lk, id, ld);
	SHA256(in, li + lk + ld, md);
	free(in);
	for (int i = 0; i < 8; i++)
		v = v << 8 | md[i];
	return (uint32_t)(min + v % span);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
push_id(struct kz_local *l, const char *s)
{
	long id;
	uint32_t *ni;

	if (kz_parse_long(s, 0, 4294967295L, &id) != 0)
		return 0;
	if ((ni = realloc(l->ids, (l->nids + 1) * sizeof(*ni))) == NULL)
		return -1;
	l->ids = ni;
	l->ids[l->nids++] = (uint32_t)id;
	return 0;
}

/* name:x:ID:... lines, and with pw the primary GID after the ID (a
 * local user's group need not be in /etc/group, and a directory group
 * on it would own that user's files); a missing file is an error (fail
 * closed). */
static int
load_one(struct kz_local *l, const char *path, bool pw, char *err,
    size_t errlen)
{
	char *buf, *line, *save = NULL;
	size_t len;

	if (kz_read_file(path, 0, 64u * 1024 * 1024,
	    &buf, &len, err, errlen) != 0)
		return -1;
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':'), *c2, *c3, *c4 = NULL;

		if (c1 == NULL || (c2 = strchr(c1 + 1, ':')) == NULL)
			continue;
		if (kz_strv_push_big(&l->names, line, (size_t)(c1 - line)) != 0)
			goto oom;
		if ((c3 = strchr(c2 + 1, ':')) != NULL) {
			*c3 = '\0';
			if (pw && (c4 = strchr(c3 + 1, ':')) != NULL)
				*c4 = '\0';
		}
		if (push_id(l, c2 + 1) != 0 ||
		    (c4 != NULL && push_id(l, c3 + 1) != 0))
			goto oom;
	}
	free(buf);
	return 0;
oom:
	free(buf);
	snprintf(err, errlen, "out of memory");
	return -1;
}

int
kz_local_load(struct kz_local *l, const char *passwd_file,
    const char *group_file, char *err, size_t errlen)
{
	memset(l, 0, sizeof(*l));
	if (load_one(l, passwd_file, true, err, errlen) != 0 ||
	    load_one(l, group_file, false, err, errlen) != 0) {
		kz_local_free(l);
		return -1;
	}
	qsort(l->names.v, l->names.n, sizeof(char *), cmp_str);
	qsort(l->ids, l->nids, sizeof(uint32_t), cmp_u32);
	return 0;
}

/* owner:start:count lines of a subordinate ID file (subuid(5)); a
 * missing file has none, a line of another shape is skipped. */
static int
load_ranges(struct kz_local *l, const char *path, char *err, size_t errlen)
{
	char *buf = NULL, *line, *save = NULL;
	size_t len;

	if (kz_read_file(path, KZ_SF_MISSING_OK, 64u * 1024 * 1024,
	    &buf, &len, err, errlen) != 0)
		return -1;
	for (line = buf ? strtok_r(buf, "\n", &save) : NULL; line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':'), *c2;
		long start, count;
		struct kz_id_range *nr;

		if (c1 == NULL || (c2 = strchr(c1 + 1, ':')) == NULL)
			continue;
		*c2 = '\0';
		if (kz_parse_long(c1 + 1, 0, 4294967295L, &start) != 0 ||
		    kz_parse_long(c2 + 1, 1, 4294967296L, &count) != 0)
			continue;
		if ((nr = realloc(l->ranges, (l->nranges + 1) *
		    sizeof(*nr))) == NULL) {
			free(buf);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		l->ranges = nr;
		l->ranges[l->nranges].lo = (uint32_t)start;
		l->ranges[l->nranges++].hi = start + count - 1 > 4294967295L ?
		    UINT32_MAX : (uint32_t)(start + count - 1);
	}
	free(buf);
	return 0;
}

static int
cmp_range(const void *a, const void *b)
{
	return cmp_u32(&((const struct kz_id_range *)a)->lo,
	    &((const struct kz_id_range *)b)->lo);
}

int
kz_local_load_ranges(struct kz_local *l, const char *subuid_file,
    const char *subgid_file, char *err, size_t errlen)
{
	size_t j = 0;

	if (load_ranges(l, subuid_file, err, errlen) != 0 ||
	    load_ranges(l, subgid_file, err, errlen) != 0)
		return -1;
	/* sorted and merged, so one binary search answers */
	qsort(l->ranges, l->nranges, sizeof(*l->ranges), cmp_range);
	for (size_t i = 0; i < l->nranges; i++) {
		if (j > 0 && l->ranges[i].lo <= l->ranges[j - 1].hi) {
			if (l->ranges[i].hi > l->ranges[j - 1].hi)
				l->ranges[j - 1].hi = l->ranges[i].hi;
			continue;
		}
		l->ranges[j++] = l->ranges[i];
	}
	l->nranges = j;
	return 0;
}

void
kz_local_free(struct kz_local *l)
{
	kz_strv_free(&l->names);
	free(l->ids);
	free(l->ranges);
	memset(l, 0, sizeof(*l));
}

/* One claim on the shared name and ID spaces: a user claims its name
 * and its ID as uid and as the gid of its private group. */
struct claim {
	const char *name;
	uint32_t id;
	size_t idx;		/* users first, then groups */
	bool out;
};

static int
cmp_claim_name(const void *a, const void *b)
{
	return strcmp(((const struct claim *)a)->name,
	    ((const struct claim *)b)->name);
}

static int
cmp_claim_id(const void *a, const void *b)
{
	return cmp_u32(&((const struct claim *)a)->id,
	    &((const struct claim *)b)->id);
}

static int
refuse(struct kz_strv *refused, const char *kind, const char *name,
    const char *why)
{
	char line[600], clean[300];

	/* the name is the directory's: it goes to a log, a terminal and the
	 * refused file, one line each, so no control byte survives */
	kz_sanitize(clean, sizeof(clean), name, 0);
	snprintf(line, sizeof(line), "%s %s: %s", kind, clean, why);
	return kz_strv_push_big(refused, line, strlen(line));
}

#define GECOS_MAX 255

/* The directory's display name as a passwd gecos field: a ':' or a
 * newline would forge fields or lines for whoever rebuilds passwd lines
 * from getpwnam, and ',' separates gecos' own subfields. */
static char *
gecos_of(const char *disp)
{
	size_t n = disp ? strlen(disp) : 0;
	char *out;

	if (n > GECOS_MAX) {
		n = GECOS_MAX;
		while (n > 0 && ((unsigned char)disp[n] & 0xc0) == 0x80)
			n--;	/* not inside a UTF-8 sequence */
	}
	if ((out = malloc(n + 1)) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)disp[i];

		/* U+0080..U+009F (C2 80..C2 9F) are the C1 controls: U+009B
		 * is CSI, an escape sequence for a terminal that shows finger
		 * or getent output, as ESC [ is */
		if (c == 0xc2 && i + 1 < n &&
		    ((unsigned char)disp[i + 1] & 0xe0) == 0x80) {
			out[i] = out[i + 1] = ' ';
			i++;
			continue;
		}
		out[i] = c < 0x20 || c == 0x7f || c == ':' || c == ',' ?
		    ' ' : (char)c;
	}
	out[n] = '\0';
	return out;
}

/* Marks every claim that shares a key with another; by = name or id. */
static void
mark_dups(struct claim *c, size_t n, bool byname)
{
	qsort(c, n, sizeof(*c), byname ? cmp_claim_name : cmp_claim_id);
	for (size_t i = 1; i < n; i++) {
		bool same = byname ? strcmp(c[i].name, c[i - 1].name) == 0 :
		    c[i].id == c[i - 1].id;

		if (same)
			c[i].out = c[i - 1].out = true;
	}
}

/* A group name: what sudoers and getent can carry. */
static bool
group_name_ok(const char *g)
{
	size_t n = strlen(g);

	if (n == 0 || n > 64 || g[0] == '-')
		return false;
	for (; *g; g++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789._-", *g))
			return false;
	return true;
}

/* Whether id lies in a local user's subordinate range. */
static bool
in_ranges(const struct kz_local *l, uint32_t id)
{
	size_t lo = 0, hi = l->nranges;

	while (lo < hi) {	/* the first range that starts above id */
		size_t mid = lo + (hi - lo) / 2;

		if (l->ranges[mid].lo <= id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && id <= l->ranges[lo - 1].hi;
}

static bool
is_local(const struct kz_local *l, const char *name, uint32_t id)
{
	return bsearch(&name, l->names.v, l->names.n, sizeof(char *),
	    cmp_str) != NULL || bsearch(&id, l->ids, l->nids,
	    sizeof(uint32_t), cmp_u32) != NULL || in_ranges(l, id);
}

/* Each group's member ids, sorted, so membership is a bsearch. */
struct sorted {
	const char **v;
	size_t n;
};

static bool
member(const struct sorted *s, const char *id)
{
	return bsearch(&id, s->v, s->n, sizeof(char *), cmp_str) != NULL;
}

static bool
in_some_group(const struct sorted *sg, size_t ng, const char *id)
{
	for (size_t i = 0; i < ng; i++)
		if (member(&sg[i], id))
			return true;
	return false;
}

static struct sorted *
sort_members(const struct kz_dir *dir)
{
	struct sorted *sg = calloc(dir->ngroups + 1, sizeof(*sg));

	for (size_t i = 0; sg != NULL && i < dir->ngroups; i++) {
		const struct kz_strv *m = &dir->groups[i].members;

		if ((sg[i].v = malloc((m->n + 1) * sizeof(char *))) == NULL) {
			for (size_t j = 0; j < i; j++)
				free(sg[j].v);
			free(sg);
			return NULL;
		}
		memcpy(sg[i].v, m->v, m->n * sizeof(char *));
		sg[i].n = m->n;
		qsort(sg[i].v, sg[i].n, sizeof(char *), cmp_str);
	}
	return sg;
}

static char *
home_of(const char *pattern, const char *user)
{
	size_t n = strlen(pattern) + 1, ul = strlen(user);
	char *out, *o;

	for (const char *c = pattern; (c = strstr(c, "%u")) != NULL; c += 2)
		n += ul;
	if ((o = out = malloc(n)) == NULL)
		return NULL;
	for (const char *c = pattern; *c; ) {
		if (c[0] == '%' && c[1] == 'u') {
			memcpy(o, user, ul);
			o += ul;
			c += 2;
		} else {
			*o++ = *c++;
		}
	}
	*o = '\0';
	return out;
}

int
kz_nss_map(kz_ctx *ctx, struct kz_provider *p, const struct kz_dir *dir,
    const struct kz_local *local, struct kz_nss_db *out,
    struct kz_strv *refused)
{
	const struct kz_nss_conf *nc = &ctx->cfg->nss;
	uint32_t min = (uint32_t)nc->uid_min, max = (uint32_t)nc->uid_max;
	const char *issuer = p->issuer ? p->issuer : p->name;
	size_t nu = dir->nusers, ng = dir->ngroups, nc_ = 0;
	struct claim *cl = calloc(nu + ng + 1, sizeof(*cl));
	char **names = calloc(nu + 1, sizeof(char *));
	bool *keep = calloc(nu + ng + 1, sizeof(bool));
	struct sorted *sg = sort_members(dir);
	struct kz_user_map map = { 0 };
	kz_result mr = { 0 };
	int rc = -1;

	memset(out, 0, sizeof(*out));
	out->uid_min = min;
	out->uid_max = max;
	if (cl == NULL || names == NULL || keep == NULL || sg == NULL)
		goto done;
	if (kz_user_map_load(p, &map, &mr) != KZ_OK) {
		kz_log(ctx, LOG_ERR, "sync: %s", mr.detail);
		kz_result_clear(&mr);
		goto done;
	}
	for (size_t i = 0; i < dir->missing.n; i++)
		refuse(refused, "group", dir->missing.v[i], "not found in the "
		    "directory (its members lose it; check [nss] groups)");
	/* users: the name PAM would bind; inactive and non-members out */
	for (size_t i = 0; i < nu; i++) {
		const struct kz_dir_user *u = &dir->users[i];
		kz_result r = { 0 };
		uint32_t id = kz_nss_id(issuer, "user", u->id, min, max);

		if (!u->active || !in_some_group(sg, ng, u->id))
			continue;
		if (kz_local_name_map(ctx, p, &map, u->username, &names[i],
		    &r) != KZ_OK) {
			refuse(refused, "user", u->username, r.detail);
			kz_result_clear(&r);
			continue;
		}
		kz_result_clear(&r);
		if (kzdb_reserved_name(names[i])) {
			/* an unmapped phone number lands here, not a local name */
			refuse(refused, "user", names[i], "maps to nothing usable "
			    "(a number, a system name, '@', or longer than 32; "
			    "list it in user_map_file)");
			continue;
		}
		if (is_local(local, names[i], id)) {
			refuse(refused, "user", names[i], "the name or the ID "
			    "of a local account (or an ID in /etc/subuid or "
			    "/etc/subgid)");
			continue;
		}
		cl[nc_++] = (struct claim){ names[i], id, i, false };
	}
	for (size_t i = 0; i < ng; i++) {
		const struct kz_dir_group *g = &dir->groups[i];
		uint32_t id = kz_nss_id(issuer, "group", g->id, min, max);

		if (!group_name_ok(g->name) || kzdb_reserved_name(g->name) ||
		    is_local(local, g->name, id)) {
			refuse(refused, "group", g->name, "not a usable name, "
			    "or the name or ID of a local or system group (or "
			    "an ID in /etc/subuid or /etc/subgid)");
			continue;
		}
		cl[nc_++] = (struct claim){ g->name, id, nu + i, false };
	}
	mark_dups(cl, nc_, true);
	mark_dups(cl, nc_, false);
	for (size_t i = 0; i < nc_; i++) {
		if (cl[i].out)
			refuse(refused, cl[i].idx < nu ? "user" : "group",
			    cl[i].name, "collides with another directory entry "
			    "(same name or ID); both left out");
		else
			keep[cl[i].idx] = true;
	}
	out->users = calloc(nu + 1, sizeof(*out->users));
	out->groups = calloc(nu + ng + 1, sizeof(*out->groups));
	if (out->users == NULL || out->groups == NULL)
		goto done;
	for (size_t i = 0; i < nu; i++) {
		const struct kz_dir_user *u = &dir->users[i];
		struct kz_nss_user *o;
		struct kz_nss_group *pg;

		if (!keep[i])
			continue;
		o = &out->users[out->nusers++];
		o->name = strdup(names[i]);
		o->gecos = gecos_of(u->display);
		o->dir = home_of(nc->home, names[i]);
		o->shell = strdup(nc->shell);
		o->uid = o->gid = kz_nss_id(issuer, "user", u->id, min, max);
		pg = &out->groups[out->ngroups++];
		pg->name = strdup(names[i]);
		pg->gid = o->uid;
		if (!o->name || !o->gecos || !o->dir || !o->shell || !pg->name)
			goto done;
	}
	for (size_t i = 0; i < ng; i++) {
		const struct kz_dir_group *g = &dir->groups[i];
		struct kz_nss_group *o;

		if (!keep[nu + i])
			continue;
		o = &out->groups[out->ngroups++];
		o->name = strdup(g->name);
		o->gid = kz_nss_id(issuer, "group", g->id, min, max);
		if (o->name == NULL)
			goto done;
		/* members: the users kept, by their local names */
		for (size_t j = 0; j < nu; j++)
			if (keep[j] && member(&sg[i], dir->users[j].id) &&
			    kz_strv_push_big(&o->members,
			    names[j], strlen(names[j])) != 0)
				goto done;
	}
	for (size_t i = 0; i < refused->n; i++)
		kz_log(ctx, LOG_WARNING, "sync: left out %s", refused->v[i]);
	rc = 0;
done:
	for (size_t i = 0; i < nu && names; i++)
		free(names[i]);
	free(names);
	for (size_t i = 0; i < ng && sg; i++)
		free(sg[i].v);
	free(sg);
	kz_user_map_free(&map);
	free(cl);
	free(keep);
	if (rc != 0)
		kz_nss_db_free(out);
	return rc;
}
