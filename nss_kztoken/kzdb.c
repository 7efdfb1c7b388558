/*
 * kzdb.c - the reader of the NSS database (format in kzdb.h).  Pure
 * functions over a mapped file: no allocation, no global state, and no
 * offset used before it is checked against the file's size.
 */
#include <string.h>
#include <strings.h>

#include "kzdb.h"

#define ALIGN4(o) (((o) & 3u) == 0)

/* An array of n items of sz bytes at off, inside the file. */

/* strcasecmp() == 0 in ASCII: the module runs in every process that
 * looks up a name, in its locale, and a Turkish one folds 'I' to 0xFD,
 * so "BIN" would pass as not reserved. */
static bool
ascii_caseeq(const char *a, const char *b)
{
	for (;; a++, b++) {
		int x = (unsigned char)*a, y = (unsigned char)*b;

		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (y >= 'A' && y <= 'Z')
			y += 'a' - 'A';
		if (x != y)
			return false;
		if (x == 0)
			return true;
	}
}

static bool
span_ok(const struct kzdb *db, uint32_t off, uint64_t n, size_t sz)
{
	uint64_t end = (uint64_t)off + n * sz;

	return ALIGN4(off) && off >= sizeof(struct kzdb_header) &&
	    n <= db->size / (sz ? sz : 1) && end <= db->size;
}

static uint32_t
u32_at(const struct kzdb *db, uint32_t off)
{
	uint32_t v;

	memcpy(&v, db->base + off, sizeof(v));
	return v;
}

/* The string at off, or NULL when it does not end inside the file. */
static const char *
str_at(const struct kzdb *db, uint32_t off)
{
	const unsigned char *s = db->base + off;

	if (off < sizeof(struct kzdb_header) || off >= db->size ||
	    memchr(s, '\0', db->size - off) == NULL)
		return NULL;
	return (const char *)s;
}

int
kzdb_open(struct kzdb *db, const void *base, size_t size)
{
	const struct kzdb_header *h = base;

	memset(db, 0, sizeof(*db));
	if (base == NULL || size < sizeof(*h) || size > KZDB_MAX_SIZE ||
	    ((uintptr_t)base & 7u) != 0)
		return -1;
	if (memcmp(h->magic, KZDB_MAGIC, 8) != 0 ||
	    h->version != KZDB_VERSION || h->size != size ||
	    h->uid_min > h->uid_max)
		return -1;
	db->base = base;
	db->size = size;
	db->h = h;
	if (!span_ok(db, h->pw_byname, h->npw, 4) ||
	    !span_ok(db, h->pw_byid, h->npw, 4) ||
	    !span_ok(db, h->gr_byname, h->ngr, 4) ||
	    !span_ok(db, h->gr_byid, h->ngr, 4) ||
	    !span_ok(db, h->mem, h->nmem, sizeof(struct kzdb_mem))) {
		memset(db, 0, sizeof(*db));
		return -1;
	}
	return 0;
}

bool
kzdb_reserved_name(const char *n)
{
	static const char *const names[] = { "root", "daemon", "bin", "sys",
		"sync", "games", "man", "lp", "mail", "news", "uucp", "proxy",
		"www-data", "backup", "list", "irc", "gnats", "nobody",
		"nogroup", "systemd-network", "systemd-resolve",
		"systemd-timesync", "messagebus", "sshd", "_apt", "adm",
		"wheel", "sudo", "shadow", "staff", "users", "disk", "tty",
		"kmem", "utmp", "operator", "admin",
		/* the rest of Debian's base groups */
		"dialout", "fax", "voice", "cdrom", "floppy", "tape", "audio",
		"dip", "src", "video", "sasl", "plugdev", "netdev",
		/* names a package creates only when getent does not find
		 * them, and then trusts: a directory "docker" would keep
		 * docker.io's postinst from making the group, and its socket
		 * (root) would go to the directory's docker */
		"systemd-journal", "systemd-coredump", "input", "kvm",
		"render", "sgx", "docker", "lxd", "incus", "incus-admin",
		"libvirt", "libvirt-qemu", "libvirt-dnsmasq", "crontab",
		"lpadmin", "ssl-cert", "tss", "wireshark", "vboxusers",
		"bluetooth", "scanner", "sambashare", "tcpdump", "polkitd",
		"postgres", "mysql", "redis", "postfix", "postdrop",
		"Debian-exim", "bind", "nginx", "uuidd", "dnsmasq", "avahi",
		"_chrony", "ntp", "ntpsec", "_ssh", NULL };

	size_t len = strlen(n), digits = strspn(n, "0123456789");

	/* Names no directory may hand out, whatever it says:
	 *  - all digits (or "+1000"): chown, find and id read a name before
	 *    a number, so a user "0" would take root's place;
	 *  - "." and "..": a home of /home/%u, a mail spool, a cron file
	 *    built from the name would land in the parent directory;
	 *  - longer than utmp keeps (32), or with '@' (user@host);
	 *  - the system names, in any case ("ROOT"). */
	if (len == 0 || len > 32 || digits == len ||
	    (n[0] == '+' && strspn(n + 1, "0123456789") == len - 1) ||
	    strcmp(n, ".") == 0 || strcmp(n, "..") == 0 ||
	    strchr(n, '@') != NULL)
		return true;
	for (size_t i = 0; names[i] != NULL; i++)
		if (ascii_caseeq(n, names[i]))
			return true;
	return false;
}

static bool
id_ok(const struct kzdb *db, uint32_t id)
{
	return id >= KZDB_ID_FLOOR && id >= db->h->uid_min &&
	    id <= db->h->uid_max;
}

static bool
name_ok(const char *n)
{
	return n != NULL && *n != '\0' && !kzdb_reserved_name(n);
}

/* Copies s into the caller's buffer; NULL when it does not fit. */
static char *
put(char **p, size_t *left, const char *s)
{
	size_t n = strlen(s) + 1;
	char *out = *p;

	if (n > *left)
		return NULL;
	memcpy(out, s, n);
	*p += n;
	*left -= n;
	return out;
}

static const struct kzdb_pw *
pw_rec(const struct kzdb *db, uint32_t off)
{
	if (!span_ok(db, off, 1, sizeof(struct kzdb_pw)))
		return NULL;
	return (const struct kzdb_pw *)(db->base + off);
}

static const struct kzdb_gr *
gr_rec(const struct kzdb *db, uint32_t off)
{
	if (!span_ok(db, off, 1, sizeof(struct kzdb_gr)))
		return NULL;
	return (const struct kzdb_gr *)(db->base + off);
}

static enum kzdb_rc
fill_pw(const struct kzdb *db, const struct kzdb_pw *r, struct passwd *pw,
    char *buf, size_t buflen)
{
	const char *name, *gecos, *dir, *shell;

	if (r == NULL || !id_ok(db, r->uid) || !id_ok(db, r->gid) ||
	    !name_ok(name = str_at(db, r->name)) ||
	    (gecos = str_at(db, r->gecos)) == NULL ||
	    (dir = str_at(db, r->dir)) == NULL || *dir != '/' ||
	    (shell = str_at(db, r->shell)) == NULL)
		return KZDB_NOTFOUND;
	/* "*": no password here and none in shadow; the token is the way */
	if ((pw->pw_name = put(&buf, &buflen, name)) == NULL ||
	    (pw->pw_passwd = put(&buf, &buflen, "*")) == NULL ||
	    (pw->pw_gecos = put(&buf, &buflen, gecos)) == NULL ||
	    (pw->pw_dir = put(&buf, &buflen, dir)) == NULL ||
	    (pw->pw_shell = put(&buf, &buflen, shell)) == NULL)
		return KZDB_ERANGE;
	pw->pw_uid = r->uid;
	pw->pw_gid = r->gid;
	return KZDB_FOUND;
}

static enum kzdb_rc
fill_gr(const struct kzdb *db, const struct kzdb_gr *r, struct group *gr,
    char *buf, size_t buflen)
{
	const char *name;
	uintptr_t pad;
	char **mem;

	if (r == NULL || !id_ok(db, r->gid) ||
	    !name_ok(name = str_at(db, r->name)) ||
	    !span_ok(db, r->mem, r->nmem, 4))
		return KZDB_NOTFOUND;
	for (uint32_t i = 0; i < r->nmem; i++)
		if (str_at(db, u32_at(db, r->mem + 4 * i)) == NULL)
			return KZDB_NOTFOUND;
	pad = (sizeof(char *) - ((uintptr_t)buf % sizeof(char *))) %
	    sizeof(char *);
	if (buflen < pad || (buflen - pad) / sizeof(char *) <= r->nmem)
		return KZDB_ERANGE;
	mem = (char **)(void *)(buf + pad);
	buf += pad + ((size_t)r->nmem + 1) * sizeof(char *);
	buflen -= pad + ((size_t)r->nmem + 1) * sizeof(char *);
	for (uint32_t i = 0; i < r->nmem; i++)
		if ((mem[i] = put(&buf, &buflen,
		    str_at(db, u32_at(db, r->mem + 4 * i)))) == NULL)
			return KZDB_ERANGE;
	mem[r->nmem] = NULL;
	if ((gr->gr_name = put(&buf, &buflen, name)) == NULL ||
	    (gr->gr_passwd = put(&buf, &buflen, "*")) == NULL)
		return KZDB_ERANGE;
	gr->gr_gid = r->gid;
	gr->gr_mem = mem;
	return KZDB_FOUND;
}

/* How an index is searched: record size, where the name offset sits in
 * the record (both kinds start with the id), by name or by id. */
struct key {
	size_t recsz, name_at;
	const char *name;
	uint32_t id;
	bool byname;
};

#define PW_KEY(n, i, b) { sizeof(struct kzdb_pw), \
	offsetof(struct kzdb_pw, name), n, i, b }
#define GR_KEY(n, i, b) { sizeof(struct kzdb_gr), \
	offsetof(struct kzdb_gr, name), n, i, b }

/* The key of record off against k: <0, 0, >0, or 2 when broken. */
static int
cmp_at(const struct kzdb *db, uint32_t off, const struct key *k)
{
	uint32_t id;
	const char *s;
	int c;

	if (!span_ok(db, off, 1, k->recsz))
		return 2;	/* broken: the search gives up */
	if (k->byname) {
		if ((s = str_at(db, u32_at(db, off + (uint32_t)k->name_at))) ==
		    NULL)
			return 2;
		c = strcmp(k->name, s);
		return c < 0 ? -1 : c > 0;
	}
	id = u32_at(db, off);
	return k->id < id ? -1 : k->id > id;
}

/* Binary search of an index of n record offsets; 0 when absent. */
static uint32_t
search(const struct kzdb *db, uint32_t index, uint32_t n,
    const struct key *k)
{
	uint32_t lo = 0, hi = n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		uint32_t off = u32_at(db, index + 4 * mid);
		int c = cmp_at(db, off, k);

		if (c == 2)
			return 0;
		if (c == 0)
			return off;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

/* A search of a passwd or group index, then the copy out. */
static enum kzdb_rc
find_pw(const struct kzdb *db, uint32_t index, const struct key *k,
    struct passwd *pw, char *buf, size_t buflen)
{
	uint32_t off = search(db, index, db->h->npw, k);

	return off ? fill_pw(db, pw_rec(db, off), pw, buf, buflen) :
	    KZDB_NOTFOUND;
}

static enum kzdb_rc
find_gr(const struct kzdb *db, uint32_t index, const struct key *k,
    struct group *gr, char *buf, size_t buflen)
{
	uint32_t off = search(db, index, db->h->ngr, k);

	return off ? fill_gr(db, gr_rec(db, off), gr, buf, buflen) :
	    KZDB_NOTFOUND;
}

enum kzdb_rc
kzdb_pwnam(const struct kzdb *db, const char *name, struct passwd *pw,
    char *buf, size_t buflen)
{
	if (db->h == NULL || !name_ok(name))
		return KZDB_NOTFOUND;
	return find_pw(db, db->h->pw_byname,
	    &(struct key)PW_KEY(name, 0, true), pw, buf, buflen);
}

enum kzdb_rc
kzdb_pwuid(const struct kzdb *db, uint32_t uid, struct passwd *pw,
    char *buf, size_t buflen)
{
	if (db->h == NULL || !id_ok(db, uid))
		return KZDB_NOTFOUND;
	return find_pw(db, db->h->pw_byid,
	    &(struct key)PW_KEY(NULL, uid, false), pw, buf, buflen);
}

enum kzdb_rc
kzdb_grnam(const struct kzdb *db, const char *name, struct group *gr,
    char *buf, size_t buflen)
{
	if (db->h == NULL || !name_ok(name))
		return KZDB_NOTFOUND;
	return find_gr(db, db->h->gr_byname,
	    &(struct key)GR_KEY(name, 0, true), gr, buf, buflen);
}

enum kzdb_rc
kzdb_grgid(const struct kzdb *db, uint32_t gid, struct group *gr,
    char *buf, size_t buflen)
{
	if (db->h == NULL || !id_ok(db, gid))
		return KZDB_NOTFOUND;
	return find_gr(db, db->h->gr_byid,
	    &(struct key)GR_KEY(NULL, gid, false), gr, buf, buflen);
}

enum kzdb_rc
kzdb_pwent(const struct kzdb *db, uint32_t i, struct passwd *pw, char *buf,
    size_t buflen)
{
	if (db->h == NULL || i >= db->h->npw)
		return KZDB_NOTFOUND;
	return fill_pw(db, pw_rec(db, u32_at(db, db->h->pw_byname + 4 * i)),
	    pw, buf, buflen);
}

enum kzdb_rc
kzdb_grent(const struct kzdb *db, uint32_t i, struct group *gr, char *buf,
    size_t buflen)
{
	if (db->h == NULL || i >= db->h->ngr)
		return KZDB_NOTFOUND;
	return fill_gr(db, gr_rec(db, u32_at(db, db->h->gr_byname + 4 * i)),
	    gr, buf, buflen);
}

/* The member pair i: its user name (NULL when broken) and gid. */
static const char *
mem_at(const struct kzdb *db, uint32_t i, uint32_t *gid)
{
	uint32_t off = db->h->mem + i * (uint32_t)sizeof(struct kzdb_mem);

	*gid = u32_at(db, off + 4);
	return str_at(db, u32_at(db, off));
}

int
kzdb_user_groups(const struct kzdb *db, const char *user,
    int (*fn)(void *arg, uint32_t gid), void *arg)
{
	uint32_t lo = 0, hi, gid;
	const char *s;
	int rc;

	if (db->h == NULL || !name_ok(user))
		return 0;
	hi = db->h->nmem;
	while (lo < hi) {	/* the first pair whose user is >= user */
		uint32_t mid = lo + (hi - lo) / 2;

		if ((s = mem_at(db, mid, &gid)) == NULL)
			return 0;
		if (strcmp(s, user) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < db->h->nmem; lo++) {
		if ((s = mem_at(db, lo, &gid)) == NULL || strcmp(s, user) != 0)
			break;
		if (id_ok(db, gid) && (rc = fn(arg, gid)) != 0)
			return rc;
	}
	return 0;
}
