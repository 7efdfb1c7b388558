/*
 * doctor.c - `kztoken doctor`: one line per check of what a working host
 * needs: configuration, file permissions, clock, provider reachability,
 * JWKS, and the state of every enrollment.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "../../nss_kztoken/kzdb.h"

/* status: 0 ok, 1 warning, 2 failure (with the verdict that it is) */
void
kz_doc_report(struct kz_doc *d, int status, kz_verdict v, const char *check,
    const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (status == 2 && v > d->worst)
		d->worst = v;
	d->fn(d->arg, status, check, line);
}

static void
check_files(struct kz_doc *d)
{
	struct kz_config *c = d->ctx->cfg;
	char err[512], *buf;
	size_t len;
	int rc;

	kz_doc_report(d, 0, KZ_OK, "config", "%s: syntax and keys ok (%zu provider%s, "
	    "%zu service%s)", c->path, c->nproviders, c->nproviders == 1 ?
	    "" : "s", c->nservices, c->nservices == 1 ? "" : "s");
	if ((rc = kz_store_dir_ok(d->ctx, false, err, sizeof(err))) < 0)
		kz_doc_report(d, 2, KZ_ERROR, "store", "%s", err);
	else
		kz_doc_report(d, 0, KZ_OK, "store", "%s: %s", c->store_dir, rc > 0 ?
		    "not created yet (nothing enrolled)" : "0700, owner ok");
	if (access(c->cache_dir, F_OK) != 0)
		kz_doc_report(d, 0, KZ_OK, "cache", "%s: created on first use",
		    c->cache_dir);
	else if (kz_check_dir(c->cache_dir, false, err, sizeof(err)) != 0)
		kz_doc_report(d, 2, KZ_ERROR, "cache", "%s", err);
	else
		kz_doc_report(d, 0, KZ_OK, "cache", "%s: owner and mode ok",
		    c->cache_dir);
	if (kz_read_file(c->denylist_file, KZ_SF_MISSING_OK |
	    KZ_SF_ALLOW_GROUP_READ, 16 * 1024 * 1024, &buf, &len, err,
	    sizeof(err)) != 0)
		kz_doc_report(d, 2, KZ_ERROR, "denylist", "%s", err);
	else
		free(buf);
}

static void
check_provider(struct kz_doc *d, struct kz_provider *p)
{
	kz_ctx *ctx = d->ctx;
	struct kz_http_req req = { .method = "GET", .ca_file = p->ca_file,
		.allow_http_loopback = p->allow_http_loopback };
	struct kz_http_resp r;
	char check[96], err[512], *s;
	kz_result res;
	int64_t skew;

	snprintf(check, sizeof(check), "secret %s", p->name);
	if (p->client_secret_file != NULL) {
		if ((s = kz_read_client_secret(ctx, p, err, sizeof(err))) == NULL)
			kz_doc_report(d, 2, KZ_ERROR, check, "%s", err);
		else
			kz_doc_report(d, 0, KZ_OK, check, "%s: 0600, owner ok",
			    p->client_secret_file);
		kz_free_secret(s);
	}
	snprintf(check, sizeof(check), "ca %s", p->name);
	if (p->ca_file != NULL && access(p->ca_file, R_OK) != 0)
		kz_doc_report(d, 2, KZ_ERROR, check, "%s: %s", p->ca_file,
		    strerror(errno));

	req.url = p->discovery ? p->discovery : p->jwks_url ? p->jwks_url :
	    p->token_url ? p->token_url : p->introspection_url ?
	    p->introspection_url : p->tokeninfo_url ? p->tokeninfo_url :
	    p->wazo_url;
	snprintf(check, sizeof(check), "reach %s", p->name);
	if (req.url == NULL) {
		kz_doc_report(d, 0, KZ_OK, check, "no URL to reach (pinned keys only)");
		return;
	}
	kz_deadline_start(ctx);
	if (kz_http_do(ctx, &req, &r) != 0) {
		kz_doc_report(d, 2, KZ_UNAVAILABLE, check, "%s: %s", req.url, r.err);
		kz_http_resp_free(&r);
		return;
	}
	kz_doc_report(d, 0, KZ_OK, check, "%s answered HTTP %ld", req.url, r.status);
	snprintf(check, sizeof(check), "clock %s", p->name);
	if (r.date == 0) {
		kz_doc_report(d, 1, KZ_OK, check, "no Date header to compare with");
	} else {
		skew = kz_now(ctx) - r.date;
		if (llabs(skew) > ctx->cfg->leeway)
			kz_doc_report(d, 2, KZ_ERROR, check, "this host's clock is %llds "
			    "%s the provider's (leeway %lds): fix NTP",
			    (long long)llabs(skew), skew > 0 ? "ahead of" :
			    "behind", ctx->cfg->leeway);
		else
			kz_doc_report(d, 0, KZ_OK, check, "within %llds of the "
			    "provider's (leeway %lds)", (long long)llabs(skew),
			    ctx->cfg->leeway);
	}
	kz_http_resp_free(&r);

	snprintf(check, sizeof(check), "jwks %s", p->name);
	if (p->jwks_url || p->discovery || p->jwks_file) {
		memset(&res, 0, sizeof(res));
		kz_deadline_start(ctx);
		if (kz_keys_load(ctx, p, true, &res) != KZ_OK || p->keys == NULL)
			kz_doc_report(d, 2, res.verdict ? res.verdict : KZ_UNAVAILABLE,
			    check, "%s", res.detail);
		else
			kz_doc_report(d, 0, KZ_OK, check, "%zu usable key%s",
			    kz_keyset_usable(p->keys),
			    kz_keyset_usable(p->keys) == 1 ? "" : "s");
		kz_result_clear(&res);
	}
	ctx->deadline_ms = 0;
}

/* Whether the provider of an enrollment was seen rotating its refresh
 * token (the store keeps the fingerprint of the one it replaced). */
static bool
rotates(kz_ctx *ctx, const char *name)
{
	struct kz_enr e;
	char err[256];
	bool r;

	if (kz_store_load(ctx, name, &e, err, sizeof(err)) != 1)
		return false;
	r = e.previous_fp[0] != '\0';
	kz_enr_clear(&e);
	return r;
}

static void
check_enrollments(struct kz_doc *d)
{
	kz_enrollment_info *v;
	kz_result res;
	size_t n;
	char check[96];

	if (kz_enrollment_list(d->ctx, &v, &n, &res) != KZ_OK)
		kz_doc_report(d, 2, KZ_ERROR, "enrollments", "%s", res.detail);
	kz_result_clear(&res);
	if (n == 0)
		kz_doc_report(d, 0, KZ_OK, "enrollments", "none");
	for (size_t i = 0; i < n; i++) {
		kz_enrollment_info *e = &v[i];
		int64_t days = e->refresh_exp ? (e->refresh_exp -
		    kz_now(d->ctx)) / 86400 : -1;

		snprintf(check, sizeof(check), "enrollment %s", e->name);
		switch (e->state) {
		case KZ_ENR_ACTIVE:
			kz_doc_report(d, 0, KZ_OK, check, "active (%s %s)%s", e->kind,
			    e->subject, rotates(d->ctx, e->name) ? "; its "
			    "provider rotates refresh tokens: where it keeps no "
			    "grace for the previous one (node-oidc-provider), a "
			    "crash during a refresh ends the enrollment" : "");
			break;
		case KZ_ENR_EXPIRING:
			kz_doc_report(d, 1, KZ_OK, check, "expiring: the refresh token "
			    "lapses in %lld days; renew with kztoken enroll %s",
			    (long long)days, e->name);
			break;
		case KZ_ENR_EXPIRED:
		case KZ_ENR_REVOKED:
			kz_doc_report(d, 2, KZ_UNAUTHENTICATED, check, "%s: renew with "
			    "kztoken enroll %s", kz_enr_state_name(e->state),
			    e->name);
			break;
		default:
			kz_doc_report(d, 2, KZ_UNAVAILABLE, check, "error: %s",
			    e->message[0] ? e->message : "(no message)");
			break;
		}
	}
	free(v);
}

static void
on_unguarded(void *arg, enum kz_pam_finding what, const char *service,
    const char *other)
{
	struct kz_doc *d = arg;

	d->unguarded++;
	if (what == KZ_PAM_VARIANT_SKIPS)
		kz_doc_report(d, 1, KZ_OK, "pam", "service %s does not use "
		    "pam_kztoken.so while %s does: `%s` is not gated by the "
		    "token (give /etc/pam.d/%s the lines of %s)", service, other,
		    strcmp(service + strlen(service) - 2, "-i") == 0 ?
		    "sudo -i" : "su -l", service, other);
	else
		kz_doc_report(d, 1, KZ_OK, "pam", "service %s reaches pam_kztoken.so "
		    "but no [service %s] (nor its base service, nor [service "
		    "default]) applies: any valid token of the user is enough "
		    "there", service, other);
}

/* The PAM services that reach the module and fall through to no policy
 * while another service has one.  KZTOKEN_PAM_DIR is a test hook, read
 * with secure_getenv like KZTOKEN_LOG_FILE. */
static void
check_pam(struct kz_doc *d)
{
	const char *dir = secure_getenv("KZTOKEN_PAM_DIR");
	int n;

	if (dir == NULL)
		dir = "/etc/pam.d";
	n = kz_pam_services_check(d->ctx, dir, on_unguarded, d);
	if (n < 0)
		kz_doc_report(d, 1, KZ_OK, "pam", "cannot read %s", dir);
	else if (n == 0)
		kz_doc_report(d, 1, KZ_OK, "pam", "no service in %s uses "
		    "pam_kztoken.so yet", dir);
	else if (d->unguarded == 0)
		kz_doc_report(d, 0, KZ_OK, "pam", "%d service%s use%s pam_kztoken.so; "
		    "each has a policy or needs none", n, n == 1 ? "" : "s",
		    n == 1 ? "s" : "");
}

/*
 * Whether the line of database db in nsswitch.conf text names source,
 * read as glibc reads it: a line may be indented, "db:" may have blanks
 * before its colon, sources end at white space or at the "[...]" of their
 * actions, and '#' starts a comment.  Of two lines for one database glibc
 * uses the last, so the last decides.
 */
bool
kz_nsswitch_has(const char *text, const char *db, const char *source)
{
	size_t dl = strlen(db), sl = strlen(source);
	bool has = false;

	for (const char *l = text; l != NULL && *l; ) {
		const char *end = strchr(l, '\n'), *c = l;

		if (end == NULL)
			end = l + strlen(l);
		c += strspn(c, " \t");
		if ((size_t)(end - c) > dl && strncmp(c, db, dl) == 0) {
			c += dl;
			c += strspn(c, " \t");
			if (c < end && *c == ':') {
				has = false;
				for (c++; c < end && *c != '#'; ) {
					size_t n;

					c += strspn(c, " \t\r");
					if (c < end && *c == '[') {	/* actions */
						const char *rb = memchr(c, ']',
						    (size_t)(end - c));

						c = rb ? rb + 1 : end;
						continue;
					}
					n = strcspn(c, " \t\r\n#[");
					if ((size_t)(end - c) < n)
						n = (size_t)(end - c);
					if (n == sl && strncmp(c, source, n) == 0)
						has = true;
					if (n == 0)
						break;
					c += n;
				}
			}
		}
		l = *end ? end + 1 : NULL;
	}
	return has;
}

/* Whether passwd and group in nsswitch.conf name the module. */
static void
check_nsswitch(struct kz_doc *d)
{
	char err[256], *buf;
	size_t len;

	if (kz_read_file("/etc/nsswitch.conf", 0, 65536, &buf, &len, err,
	    sizeof(err)) != 0)
		return;
	if (!kz_nsswitch_has(buf, "passwd", "kztoken") ||
	    !kz_nsswitch_has(buf, "group", "kztoken"))
		kz_doc_report(d, 1, KZ_OK, "nss", "/etc/nsswitch.conf: add kztoken to "
		    "the passwd and group lines (the package does)");
	free(buf);
}

/* [nss]: the database kztoken sync wrote, its age, what it left out. */
static void
check_nss(struct kz_doc *d)
{
	const struct kz_nss_conf *nc = &d->ctx->cfg->nss;
	char path[4096], err[512], *buf = NULL, *line, *save = NULL;
	struct kzdb db;
	struct stat st;
	size_t len;
	int shown = 0;

	if (!nc->present)
		return;
	snprintf(path, sizeof(path), "%s/%s", nc->db_dir, KZDB_FILE);
	if (stat(path, &st) != 0) {
		kz_doc_report(d, 1, KZ_OK, "nss", "%s: not written yet; run `kztoken "
		    "sync`", path);
	} else if (kz_read_file(path, 0, KZDB_MAX_SIZE, &buf, &len, err,
	    sizeof(err)) != 0 || kzdb_open(&db, buf, len) != 0) {
		kz_doc_report(d, 2, KZ_ERROR, "nss", "%s: not a usable database "
		    "(%s); run `kztoken sync`", path, buf ? "bad format" : err);
	} else {
		int64_t age = kz_now(d->ctx) - (int64_t)st.st_mtime;

		kz_doc_report(d, age > 3 * nc->sync_interval ? 1 : 0, KZ_OK, "nss",
		    "%s: %u users, %u groups, written %llds ago%s", path,
		    db.h->npw, db.h->ngr - db.h->npw, (long long)age,
		    age > 3 * nc->sync_interval ? " (is kztoken-sync.timer "
		    "running? is the directory reachable?)" : "");
	}
	free(buf);
	if (strcmp(nc->db_dir, KZDB_DIR) != 0)
		kz_doc_report(d, 1, KZ_OK, "nss", "db_dir is %s, but the module reads "
		    KZDB_DIR " (bind-mount it there)", nc->db_dir);
	snprintf(path, sizeof(path), "%s/refused", nc->db_dir);
	if (kz_read_file(path, KZ_SF_MISSING_OK, 1024 * 1024, &buf, &len, err,
	    sizeof(err)) == 0 && buf != NULL) {
		for (line = strtok_r(buf, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save))
			if (shown++ < 20)
				kz_doc_report(d, 1, KZ_OK, "nss", "left out %s", line);
		if (shown > 20)
			kz_doc_report(d, 1, KZ_OK, "nss", "... and %d more in %s",
			    shown - 20, path);
		free(buf);
	}
	check_nsswitch(d);
}

kz_verdict
kz_doctor(kz_ctx *ctx, kz_doctor_fn fn, void *arg)
{
	struct kz_doc d = { .ctx = ctx, .fn = fn, .arg = arg, .worst = KZ_OK };

	check_files(&d);
	for (size_t i = 0; i < ctx->cfg->nproviders; i++)
		check_provider(&d, &ctx->cfg->providers[i]);
	check_enrollments(&d);
	check_pam(&d);
	kz_doctor_host(&d);
	check_nss(&d);
	return d.worst;
}
