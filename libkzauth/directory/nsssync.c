/*
 * nsssync.c - `kztoken sync` (DESIGN.md sections 8 and 16): directory in,
 * mapped, written atomically.  Whatever fails before the write leaves the
 * previous database in place: a directory that cannot be read must not
 * make every directory user vanish from the hosts.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include "internal.h"
#include "../../nss_kztoken/kzdb.h"

#define REFUSED_FILE "refused"

static bool
due(kz_ctx *ctx, const char *db)
{
	struct stat st;
	int64_t age;

	if (stat(db, &st) != 0)
		return true;
	/* A database from the future (the clock was ahead once, or jumped
	 * back) is due now: waiting for the clock to catch up would keep
	 * removed users and members for as long as the jump. */
	age = kz_now(ctx) - (int64_t)st.st_mtime;
	return age < 0 || age >= ctx->cfg->nss.sync_interval;
}

/* Removes the temp files of writers that died (kill -9, power loss):
 * each may hold a whole database, and nothing else ever removes them. */
static void
sweep_stale(kz_ctx *ctx, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		const char *t = strstr(e->d_name, ".tmp.");
		char *end;
		long pid;

		if (t == NULL || (strncmp(e->d_name, KZDB_FILE,
		    strlen(KZDB_FILE)) != 0 && strncmp(e->d_name,
		    REFUSED_FILE, strlen(REFUSED_FILE)) != 0))
			continue;
		errno = 0;
		pid = strtol(t + 5, &end, 10);
		if (errno != 0 || *end != '\0' || pid <= 0 || pid > INT32_MAX ||
		    (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			kz_log(ctx, LOG_NOTICE, "sync: removed %s/%s, left by "
			    "a writer that died", dir, e->d_name);
	}
	closedir(d);
}

/* The provider whose issuer the IDs derive from: the enrollment's. */
static struct kz_provider *
enrollment_provider(kz_ctx *ctx, kz_result *res)
{
	const char *name = ctx->cfg->nss.enrollment;
	struct kz_provider *p = NULL;
	struct kz_enr e;
	char err[512];
	int rc;

	rc = kz_store_load(ctx, name, &e, err, sizeof(err));
	if (rc < 0) {
		kz_set(res, KZ_ERROR, KZ_R_CONFIG, "%s", err);
		return NULL;
	}
	if (rc == 0) {
		kz_set(res, KZ_ERROR, KZ_R_CONFIG, "[nss] enrollment: no "
		    "enrollment named %s (`kztoken enroll %s --group ...`)",
		    name, name);
		return NULL;
	}
	if ((p = kz_config_provider(ctx->cfg, e.provider)) == NULL)
		kz_set(res, KZ_ERROR, KZ_R_CONFIG, "enrollment %s names "
		    "provider %s, which the configuration lacks", name,
		    e.provider);
	kz_enr_clear(&e);
	return p;
}

/* The refusals, for `kztoken doctor`: one line each. */
static void
write_refused(kz_ctx *ctx, const struct kz_strv *refused)
{
	char path[4096], err[256];
	size_t len = 0;
	char *buf;

	for (size_t i = 0; i < refused->n; i++)
		len += strlen(refused->v[i]) + 1;
	if ((buf = malloc(len + 1)) == NULL)
		return;
	len = 0;
	for (size_t i = 0; i < refused->n; i++)
		len += (size_t)sprintf(buf + len, "%s\n", refused->v[i]);
	snprintf(path, sizeof(path), "%s/%s", ctx->cfg->nss.db_dir,
	    REFUSED_FILE);
	if (kz_write_file_atomic(path, buf, len, 0644, err, sizeof(err)) != 0)
		kz_log(ctx, LOG_WARNING, "sync: %s", err);
	free(buf);
}

kz_verdict
kz_nss_sync(kz_ctx *ctx, const kz_sync_opts *opts, kz_sync_report *rep,
    kz_result *res)
{
	const struct kz_nss_conf *nc = &ctx->cfg->nss;
	struct kz_strv refused = { 0 };
	struct kz_local local;
	struct kz_nss_db db = { 0 };
	struct kz_dir dir = { 0 };
	struct kz_provider *p;
	char err[512];
	kz_verdict v;

	memset(rep, 0, sizeof(*rep));
	memset(res, 0, sizeof(*res));
	if (!nc->present)
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "%s has no [nss] "
		    "section", ctx->cfg->path);
	snprintf(rep->db, sizeof(rep->db), "%s/%s", nc->db_dir, KZDB_FILE);
	if ((opts->flags & KZ_SYNC_IF_DUE) && !due(ctx, rep->db)) {
		rep->skipped = 1;
		return kz_set(res, KZ_OK, KZ_R_NONE, "not due (sync_interval "
		    "%lds)", nc->sync_interval);
	}
	if ((p = enrollment_provider(ctx, res)) == NULL)
		return res->verdict;
	/* 0755: every process that resolves a name reads the database */
	if (mkdir(nc->db_dir, 0755) != 0 && errno != EEXIST)
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "%s: cannot create: "
		    "%s", nc->db_dir, strerror(errno));
	if (kz_check_dir(nc->db_dir, false, err, sizeof(err)) != 0)
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "%s", err);
	sweep_stale(ctx, nc->db_dir);
	if (kz_local_load(&local, opts->passwd_file ? opts->passwd_file :
	    "/etc/passwd", opts->group_file ? opts->group_file : "/etc/group",
	    err, sizeof(err)) != 0)
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "local accounts: %s",
		    err);
	if (kz_local_load_ranges(&local, opts->subuid_file ?
	    opts->subuid_file : "/etc/subuid", opts->subgid_file ?
	    opts->subgid_file : "/etc/subgid", err, sizeof(err)) != 0) {
		kz_local_free(&local);
		return kz_set(res, KZ_ERROR, KZ_R_CONFIG, "local accounts: %s",
		    err);
	}
	v = kz_dir_fetch(ctx, p, &dir, res);
	rep->requests = dir.requests;
	rep->not_modified = dir.not_modified;
	rep->bytes = dir.bytes;
	if (v != KZ_OK) {
		kz_log(ctx, LOG_WARNING, "sync: the directory could not be "
		    "read; %s stays as it was", rep->db);
		goto out;
	}
	if (kz_nss_map(ctx, p, &dir, &local, &db, &refused) != 0) {
		v = kz_set(res, KZ_ERROR, KZ_R_CONFIG, "the directory could not "
		    "be mapped (user_map_file unreadable, or out of memory; "
		    "see the log)");
		goto out;
	}
	if (kz_nssdb_write(nc->db_dir, &db, kz_now(ctx), err,
	    sizeof(err)) != 0) {
		v = kz_set(res, KZ_ERROR, KZ_R_CONFIG, "%s", err);
		goto out;
	}
	write_refused(ctx, &refused);
	rep->users = db.nusers;
	rep->groups = db.ngroups - db.nusers;	/* private groups aside */
	rep->refused = refused.v;
	rep->nrefused = refused.n;
	refused.v = NULL;
	refused.n = 0;
	kz_log(ctx, LOG_INFO, "sync: %s: %zu users, %zu groups, %zu left out",
	    rep->db, rep->users, rep->groups, rep->nrefused);
	v = kz_set(res, KZ_OK, KZ_R_NONE, "%zu users, %zu groups",
	    rep->users, rep->groups);
out:
	kz_strv_free(&refused);
	kz_nss_db_free(&db);
	kz_dir_free(&dir);
	kz_local_free(&local);
	return v;
}

void
kz_sync_report_clear(kz_sync_report *rep)
{
	struct kz_strv sv = { rep->refused, rep->nrefused };

	kz_strv_free(&sv);
	memset(rep, 0, sizeof(*rep));
}
