/*
 * cmd_setup.c - `kztoken setup sshd|sudo [--token-only|--token-or-password]
 * [--dry-run] [--force]` and `kztoken setup --undo [--dry-run] [--force]`
 * (DESIGN.md section 8): one supported recipe per case, written where
 * sshd and PAM read it, backed up, recorded, validated, and undone byte
 * for byte.
 *
 * The recipes (the same in README.md and kztoken(8)):
 *  - the PAM file of the service (sshd; sudo and sudo-i: `sudo -i` is
 *    its own PAM service) gets the token lines in place of its
 *    `@include common-auth`.  So for these services the pam-auth-update
 *    profile no longer applies (nothing asks twice), and what the user
 *    must present is what the recipe says, whatever common-auth holds:
 *      token-only:        auth required pam_kztoken.so
 *      token-or-password: a token (refused tokens end the stack), or a
 *                         password for pam_unix at the same prompt
 *  - sshd gets a drop-in that sorts first (sshd keeps the first value
 *    it reads): PAM through keyboard-interactive, which asks for each
 *    part of a long token (the password method would answer every part
 *    prompt with the same string), and the methods that may log in.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kztoken.h"
#include "setup.h"

#define DROPIN "/etc/ssh/sshd_config.d/00-kztoken.conf"
#define SSHD_CONFIG "/etc/ssh/sshd_config"
#define PAM_DIR "/etc/pam.d"

enum recipe { TOKEN_ONLY, TOKEN_OR_PASSWORD };
static const char *const recipe_name[] = { "token-only", "token-or-password" };

/* What replaces `@include common-auth`. */
static const char *const pam_auth[] = {
	"auth       required   pam_kztoken.so\n",
	"auth       [success=done ignore=ignore default=die]   pam_kztoken.so "
	    "ignore_non_token [prompt=Token or password: ]\n"
	"auth       required   pam_unix.so use_first_pass\n",
};

static const char *const sshd_methods[] = {
	"keyboard-interactive",
	"publickey keyboard-interactive",
};

/* A file setup writes: where, what it was, what it becomes. */
/* Files one recipe writes: the PAM file and its partner (sudo-i, or
 * sshd's drop-in). */
#define PLAN_FILES 2

struct plan {
	const char *path;	/* host path */
	const char *service;	/* PAM service, NULL for the sshd drop-in */
	const char *tmpl;	/* Debian's file, when the host has none */
	char *old;		/* current content (NULL: missing) */
	size_t oldlen;
	struct stat st;
	char *base;		/* what the recipe is applied to */
	char *new;
	size_t newlen;
	struct setup_entry *prev;	/* from an earlier setup */
};

static const char sshd_tmpl[] = "#%PAM-1.0\n@include common-auth\n"
    "account    required     pam_nologin.so\n@include common-account\n"
    "@include common-session\n@include common-password\n";
static const char sudo_tmpl[] = "#%PAM-1.0\n"
    "session    required   pam_limits.so\n@include common-auth\n"
    "@include common-account\n@include common-session-noninteractive\n";
static const char sudo_i_tmpl[] = "#%PAM-1.0\n"
    "session    required   pam_limits.so\n@include common-auth\n"
    "@include common-account\n@include common-session\n";

static void
usage(void)
{
	fprintf(stderr, "usage: kztoken setup sshd|sudo [--token-only|"
	    "--token-or-password] [--dry-run] [--force]\n"
	    "       kztoken setup --undo [--dry-run] [--force]\n");
}

/* ---- running sshd and diff ---- */

/* Runs argv with stdout (and stderr, when out is given) into out. */
static int
run(char *const argv[], char *out, size_t n)
{
	int p[2] = { -1, -1 }, status;
	size_t len = 0;
	ssize_t r;
	pid_t pid;

	if (out != NULL && pipe2(p, O_CLOEXEC) != 0)
		return -1;
	fflush(stdout);
	if ((pid = fork()) < 0) {
		if (out != NULL) {
			close(p[0]);
			close(p[1]);
		}
		return -1;
	}
	if (pid == 0) {
		if (out != NULL && (dup2(p[1], 1) < 0 || dup2(p[1], 2) < 0))
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	if (out != NULL) {
		close(p[1]);
		while ((r = read(p[0], out + len, n - 1 - len)) != 0) {
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 || (len += (size_t)r) == n - 1)
				break;
		}
		out[len] = '\0';
		close(p[0]);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
show_diff(const char *path, const char *old, const char *new, size_t newlen)
{
	char tmp[] = "/tmp/kztoken-setup.XXXXXX", host[PATH_MAX], la[300], lb[300];
	char *argv[] = { "/usr/bin/diff", "-u", "--label", la, "--label", lb,
		host, tmp, NULL };
	int fd;

	snprintf(la, sizeof(la), "%s%s", old ? "a" : "", old ? path :
	    "/dev/null");
	snprintf(lb, sizeof(lb), "b%s", path);
	if (old == NULL)
		snprintf(host, sizeof(host), "/dev/null");
	else if (setup_path(host, sizeof(host), path) != 0)
		return;
	if ((fd = mkstemp(tmp)) < 0)
		return;
	if (write(fd, new, newlen) != (ssize_t)newlen ||
	    run(argv, NULL, 0) > 1)
		printf("--- %s (diff failed; the new file:)\n%s", path, new);
	close(fd);
	unlink(tmp);
}

/* ---- the PAM recipe ---- */

static bool
is_include_common_auth(const char *line, size_t n)
{
	char buf[128], a[16], b[64], c;

	if (n >= sizeof(buf))
		return false;
	memcpy(buf, line, n);
	buf[n] = '\0';
	return sscanf(buf, "%15s %63s %c", a, b, &c) == 2 &&
	    strcmp(a, "@include") == 0 && strcmp(b, "common-auth") == 0;
}

/* The base file with its `@include common-auth` line replaced. */
static char *
pam_apply(const struct plan *p, enum recipe r, const char *cmd, size_t *lenp)
{
	const char *b = p->base, *line, *nl;
	char *out = NULL;
	size_t len = 0;
	bool done = false;
	FILE *f;

	if ((f = open_memstream(&out, &len)) == NULL)
		return NULL;
	for (line = b; *line != '\0'; line = nl) {
		size_t n;

		nl = strchr(line, '\n');
		nl = nl ? nl + 1 : line + strlen(line);
		n = (size_t)(nl - line) - (nl[-1] == '\n');
		if (!done && is_include_common_auth(line, n)) {
			fprintf(f, "# %s (this replaces \"@include common-auth\";"
			    " kztoken setup --undo restores it)\n%s", cmd,
			    pam_auth[r]);
			done = true;
			continue;
		}
		fwrite(line, 1, (size_t)(nl - line), f);
	}
	fclose(f);
	if (!done) {
		fprintf(stderr, "kztoken: %s%s has no line \"@include "
		    "common-auth\" for the token lines to replace%s; restore "
		    "Debian's file or edit it by hand\n", setup_root(), p->path,
		    strstr(b, "pam_kztoken.so") ? " (it already names "
		    "pam_kztoken.so: hand-written?)" : "");
		free(out);
		return NULL;
	}
	*lenp = len;
	return out;
}

static bool
module_installed(const char *module)
{
	static const char *const dirs[] = { "/lib/*/security", "/usr/lib/*/security",
		"/lib/security", "/usr/lib/security" };
	char pat[PATH_MAX];
	glob_t g;
	bool found = false;

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && !found; i++) {
		if (snprintf(pat, sizeof(pat), "%s%s/%s", setup_root(), dirs[i],
		    module) >= (int)sizeof(pat))
			continue;
		found = glob(pat, 0, NULL, &g) == 0;
		globfree(&g);
	}
	return found;
}

static bool
pam_file_exists(const char *name)
{
	char path[PATH_MAX];

	return strchr(name, '/') == NULL && snprintf(path, sizeof(path),
	    "%s" PAM_DIR "/%s", setup_root(), name) < (int)sizeof(path) &&
	    access(path, F_OK) == 0;
}

/* A PAM file that parses: every line a comment, an @include of a file
 * that exists, or TYPE CONTROL MODULE [ARGS] with a known type and
 * control; the modules of the recipe must be installed, or the stack
 * would refuse everyone ("Module is unknown"). */
static int
pam_validate(const char *path, const char *text)
{
	static const char *const types[] = { "auth", "account", "password",
		"session" };
	static const char *const controls[] = { "required", "requisite",
		"sufficient", "optional", "include", "substack" };
	char *copy = strdup(text), *line, *save = NULL;
	int lineno = 0, bad = 0;

	for (line = copy ? strtok_r(copy, "\n", &save) : NULL; line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char type[32] = "", control[256] = "", module[256] = "";
		const char *t, *m;
		bool ok = false;

		lineno++;
		line += strspn(line, " \t");
		if (*line == '#' || *line == '\0')
			continue;
		if (sscanf(line, "@include %255s", module) == 1) {
			if (!(ok = pam_file_exists(module)))
				fprintf(stderr, "kztoken: %s line %d: @include "
				    "%s: no such file\n", path, lineno, module);
			bad += !ok;
			continue;
		}
		if (sscanf(line, "%31s", type) == 1) {
			t = type + (*type == '-');
			for (size_t i = 0; i < 4; i++)
				ok = ok || strcmp(t, types[i]) == 0;
		}
		line += strlen(type) + strspn(line + strlen(type), " \t");
		if (ok && *line == '[') {
			const char *e = strchr(line, ']');

			ok = e != NULL && e - line < (long)sizeof(control);
			line = ok ? (char *)e + 1 : line;
		} else if (ok && sscanf(line, "%255s", control) == 1) {
			ok = false;
			for (size_t i = 0; i < 6; i++)
				ok = ok || strcmp(control, controls[i]) == 0;
			line += strlen(control);
		}
		ok = ok && sscanf(line, "%255s", module) == 1;
		if (!ok) {
			fprintf(stderr, "kztoken: %s line %d does not parse as "
			    "TYPE CONTROL MODULE\n", path, lineno);
			bad++;
			continue;
		}
		m = strrchr(module, '/') ? strrchr(module, '/') + 1 : module;
		if ((!strcmp(m, "pam_kztoken.so") || !strcmp(m, "pam_unix.so"))
		    && !module_installed(m)) {
			fprintf(stderr, "kztoken: %s line %d: %s is not installed "
			    "in %s/lib/*/security: this stack would refuse "
			    "everyone\n", path, lineno, m, setup_root());
			bad++;
		}
	}
	free(copy);
	return bad == 0 && copy != NULL ? 0 : -1;
}

/* ---- the sshd recipe ---- */

static char *
sshd_dropin(enum recipe r, const char *cmd, size_t *lenp)
{
	char *out = NULL;

	if (asprintf(&out, "# Written by \"%s\"; \"kztoken setup --undo\" "
	    "removes it.\n"
	    "# Tokens go through PAM at the keyboard-interactive prompt, "
	    "which asks for\n# each part of a long token.  This file sorts "
	    "first: sshd keeps the first\n# value it reads.\n"
	    "UsePAM yes\nKbdInteractiveAuthentication yes\n"
	    "AuthenticationMethods %s\n", cmd, sshd_methods[r]) < 0)
		return NULL;
	*lenp = strlen(out);
	return out;
}

/* `sshd -T` on the host's whole configuration: it must parse and the
 * drop-in's values must be the ones in force.  Returns 0 when they are,
 * 1 when sshd is not there to ask, -1 otherwise (said on stderr). */
static int
sshd_validate(enum recipe r)
{
	const char *sshd = secure_getenv("KZTOKEN_SSHD");
	char conf[PATH_MAX], out[32768], want[128];
	char *argv[] = { NULL, "-T", "-f", conf, NULL };
	const char *need[] = { "usepam yes", "kbdinteractiveauthentication yes",
		want };
	int rc;

	argv[0] = (char *)(sshd != NULL ? sshd : "/usr/sbin/sshd");
	if (access(argv[0], X_OK) != 0) {
		fprintf(stderr, "kztoken: warning: %s not found: the sshd "
		    "configuration was not validated\n", argv[0]);
		return 1;
	}
	if (setup_path(conf, sizeof(conf), SSHD_CONFIG) != 0)
		return -1;
	if ((rc = run(argv, out, sizeof(out))) != 0) {
		out[strcspn(out, "\r\n")] = '\0';	/* its first line says why */
		fprintf(stderr, "kztoken: %s -T -f %s failed (exit %d): %s\n",
		    argv[0], conf, rc, tool_clean(out));
		return -1;
	}
	snprintf(want, sizeof(want), "authenticationmethods %s",
	    sshd_methods[r]);
	for (size_t i = 0; i < 3; i++) {
		const char *hit = strstr(out, need[i]);
		size_t n = strlen(need[i]);

		while (hit && !((hit == out || hit[-1] == '\n') &&
		    (hit[n] == '\n' || hit[n] == '\0')))
			hit = strstr(hit + 1, need[i]);
		if (hit == NULL) {
			fprintf(stderr, "kztoken: sshd -T does not show \"%s\": "
			    "%s does not include sshd_config.d/*.conf first, or "
			    "a Match block or earlier line sets it otherwise\n",
			    need[i], conf);
			return -1;
		}
	}
	return 0;
}

/* ---- planning, applying, undoing ---- */

static void
plan_free(struct plan *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(p[i].old);
		free(p[i].base);
		free(p[i].new);
	}
}

/* Reads the current file and the one the recipe starts from: the backup
 * when an earlier setup replaced it (so a second setup, or another mode,
 * starts from the administrator's file again), else the current file,
 * else Debian's. */
static int
plan_load(struct plan *p, struct manifest *m, bool force)
{
	char path[PATH_MAX], sha[65];
	struct stat st;
	size_t len;
	int rc;

	if (setup_path(path, sizeof(path), p->path) != 0 ||
	    (rc = setup_read(path, &p->old, &p->oldlen, &p->st)) < 0)
		return -1;
	if ((p->prev = manifest_find(m, p->path)) != NULL) {
		if (p->old != NULL)
			setup_sha256(p->old, p->oldlen, sha);
		/* as the last run wrote it, or still as it was before it (a
		 * run cut short before it wrote this file) */
		if ((p->old == NULL ? p->prev->existed :
		    strcmp(sha, p->prev->written_sha) != 0 &&
		    !(p->prev->existed && strcmp(sha, p->prev->backup_sha) == 0)) &&
		    !force) {
			fprintf(stderr, "kztoken: %s was changed since kztoken "
			    "setup wrote it: setting it up again would lose "
			    "that (--force to do it anyway)\n", path);
			return -1;
		}
		if (!p->prev->existed)
			return (p->base = strdup(p->tmpl ? p->tmpl : "")) ? 0 : -1;
		if (setup_backup_path(path, sizeof(path), p->path) != 0 ||
		    setup_read(path, &p->base, &len, &st) != 0)
			return -1;
		setup_sha256(p->base, len, sha);
		if (strcmp(sha, p->prev->backup_sha) != 0) {
			fprintf(stderr, "kztoken: %s: the backup does not match "
			    "its recorded sha256: left alone\n", path);
			return -1;
		}
		return 0;
	}
	p->base = strdup(p->old ? p->old : p->tmpl ? p->tmpl : "");
	return p->base ? 0 : -1;
}

static bool
same(const struct plan *p)
{
	return p->old != NULL && p->oldlen == p->newlen &&
	    memcmp(p->old, p->new, p->newlen) == 0;
}

/* Puts back what a failed setup run replaced. */
static void
rollback(struct plan *p, size_t n)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < n; i++) {
		/* a backup this run made goes too: the manifest will not
		 * name it */
		if (p[i].prev == NULL && p[i].old != NULL &&
		    setup_backup_path(path, sizeof(path), p[i].path) == 0)
			unlink(path);
		if (setup_path(path, sizeof(path), p[i].path) != 0)
			continue;
		if (p[i].old == NULL)
			unlink(path);
		else
			setup_write(path, p[i].old, p[i].oldlen,
			    p[i].st.st_mode & 07777, p[i].st.st_uid,
			    p[i].st.st_gid, geteuid() == 0);
		fprintf(stderr, "kztoken: %s put back as it was\n", path);
	}
}

static int
apply(struct plan *p, size_t n, struct manifest *m, const char *what)
{
	char path[PATH_MAX], state[PATH_MAX], backup[PATH_MAX];
	struct setup_entry *ent[PLAN_FILES];

	if (n > PLAN_FILES ||
	    setup_path(state, sizeof(state), SETUP_STATE) != 0 ||
	    setup_mkdirs(state, 0700) != 0)
		return -1;
	/* Every backup and the manifest naming it first, then the files: a
	 * run killed between two files (SIGKILL, SIGHUP of a dropped ssh
	 * session, power) leaves a manifest that undo can follow.  A file
	 * not written yet is still as it was, which undo_check accepts. */
	for (size_t i = 0; i < n; i++) {
		struct setup_entry *e = p[i].prev;
		mode_t mode = p[i].old ? p[i].st.st_mode & 07777 : 0644;

		if (setup_path(path, sizeof(path), p[i].path) != 0 ||
		    setup_mkdirs_parent(path) != 0)
			goto fail;
		ent[i] = e;	/* an earlier run's entry, or the new one below */
		if (e == NULL) {
			if (m->n == SETUP_MAX_FILES)
				goto fail;
			e = &m->e[m->n++];
			memset(e, 0, sizeof(*e));
			snprintf(e->path, sizeof(e->path), "%s", p[i].path);
			e->existed = p[i].old != NULL;
			e->mode = p[i].old ? mode : 0;
			e->uid = p[i].old ? p[i].st.st_uid : 0;
			e->gid = p[i].old ? p[i].st.st_gid : 0;
			snprintf(e->backup_sha, sizeof(e->backup_sha), "-");
			if (e->existed) {
				setup_sha256(p[i].old, p[i].oldlen, e->backup_sha);
				if (setup_backup_path(backup, sizeof(backup),
				    p[i].path) != 0 || setup_write(backup,
				    p[i].old, p[i].oldlen, 0600, 0, 0, false) != 0)
					goto fail;
			}
			/* (an entry of an earlier run keeps what that run
			 * wrote until this one has written the file) */
			setup_sha256(p[i].new, p[i].newlen, e->written_sha);
			snprintf(e->what, sizeof(e->what), "%s", what);
			ent[i] = e;
		}
	}
	if (manifest_save(m) != 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		mode_t mode = p[i].old ? p[i].st.st_mode & 07777 : 0644;

		if (setup_path(path, sizeof(path), p[i].path) != 0 ||
		    setup_write(path, p[i].new, p[i].newlen, mode,
		    p[i].st.st_uid, p[i].st.st_gid, p[i].old && geteuid() == 0))
			goto fail;
		setup_sha256(p[i].new, p[i].newlen, ent[i]->written_sha);
		snprintf(ent[i]->what, sizeof(ent[i]->what), "%s", what);
	}
	return manifest_save(m);
fail:
	rollback(p, n);
	return -1;
}

static int
do_setup(const char *target, enum recipe r, bool dry, bool force)
{
	struct plan p[PLAN_FILES] = { { 0 } };
	struct manifest m, saved;
	char cmd[128], what[32], conf[PATH_MAX];
	size_t n = PLAN_FILES;
	int rc = EXIT_USAGE;
	bool sshd = strcmp(target, "sshd") == 0;

	snprintf(cmd, sizeof(cmd), "kztoken setup %s --%s", target,
	    recipe_name[r]);
	snprintf(what, sizeof(what), "%s:%s", target, recipe_name[r]);
	if (sshd) {
		if (setup_path(conf, sizeof(conf), SSHD_CONFIG) != 0)
			return EXIT_USAGE;
		if (access(conf, F_OK) != 0) {
			fprintf(stderr, "kztoken: %s: %s (is openssh-server "
			    "installed?)\n", conf, strerror(errno));
			return EXIT_USAGE;
		}
		p[0] = (struct plan){ .path = DROPIN };
		p[1] = (struct plan){ .path = PAM_DIR "/sshd", .service = "sshd",
			.tmpl = sshd_tmpl };
	} else {
		p[0] = (struct plan){ .path = PAM_DIR "/sudo", .service = "sudo",
			.tmpl = sudo_tmpl };
		p[1] = (struct plan){ .path = PAM_DIR "/sudo-i",
			.service = "sudo-i", .tmpl = sudo_i_tmpl };
	}
	if (manifest_load(&m) != 0)
		return EXIT_USAGE;
	saved = m;
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX];

		if (plan_load(&p[i], &m, force) != 0)
			goto out;
		p[i].new = p[i].service ? pam_apply(&p[i], r, cmd, &p[i].newlen) :
		    sshd_dropin(r, cmd, &p[i].newlen);
		if (p[i].new == NULL || setup_path(path, sizeof(path),
		    p[i].path) != 0 || (p[i].service &&
		    pam_validate(path, p[i].new) != 0))
			goto out;
	}
	if (dry) {
		for (size_t i = 0; i < n; i++)
			if (!same(&p[i]))
				show_diff(p[i].path, p[i].old, p[i].new,
				    p[i].newlen);
		printf("kztoken setup: dry run, nothing changed\n");
		rc = 0;
		goto out;
	}
	if (apply(p, n, &m, what) != 0) {
		/* the write-ahead manifest named this run's files */
		manifest_save(&saved);
		if (saved.n == 0 && setup_path(conf, sizeof(conf),
		    SETUP_STATE) == 0)
			(void)rmdir(conf);
		goto out;
	}
	if (sshd && sshd_validate(r) < 0) {
		rollback(p, n);
		manifest_save(&saved);
		if (saved.n == 0 && setup_path(conf, sizeof(conf),
		    SETUP_STATE) == 0)
			(void)rmdir(conf);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		printf("%s %s%s%s%s%s\n", p[i].prev ? "rewrote" : p[i].old ?
		    "replaced" : "created", setup_root(), p[i].path,
		    p[i].old && !p[i].prev ? " (backup in " : "",
		    p[i].old && !p[i].prev ? setup_root() : "",
		    p[i].old && !p[i].prev ? SETUP_STATE ")" : "");
	printf("kztoken setup %s: %s; undo with: kztoken setup --undo\n%s",
	    target, recipe_name[r], sshd ? "now run: systemctl reload ssh "
	    "(keep this session open until a token login works)\n" : "");
	rc = 0;
out:
	plan_free(p, n);
	return rc;
}

/* Refuses (without --force) when any file differs from what setup wrote,
 * or a backup from what it saved: undo must not destroy an edit. */
static bool
is_setup_path(const char *path)
{
	static const char *const ours[] = { DROPIN, PAM_DIR "/sshd",
		PAM_DIR "/sudo", PAM_DIR "/sudo-i" };

	for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
		if (strcmp(path, ours[i]) == 0)
			return true;
	return false;
}

static int
undo_check(struct manifest *m, bool force)
{
	char path[PATH_MAX], sha[65];
	int bad = 0;

	for (size_t i = 0; i < m->n; i++) {
		struct setup_entry *e = &m->e[i];
		struct stat st;
		char *buf;
		size_t len;
		int rc;

		/* undo writes as root: only ever the files setup writes */
		if (!is_setup_path(e->path)) {
			fprintf(stderr, "kztoken: the manifest names %s, which "
			    "setup never writes: nothing undone\n", e->path);
			return -1;
		}
		if (setup_path(path, sizeof(path), e->path) != 0)
			return -1;
		rc = setup_read(path, &buf, &len, &st);
		if (rc == 0)
			setup_sha256(buf, len, sha);
		free(buf);
		/* as setup wrote it, or still as it was before (a run cut
		 * short before it wrote this file): undo loses nothing */
		if (rc < 0 || (rc == 1 ? e->existed :
		    strcmp(sha, e->written_sha) != 0 &&
		    !(e->existed && strcmp(sha, e->backup_sha) == 0))) {
			fprintf(stderr, "kztoken: %s was %s since kztoken setup "
			    "wrote it%s\n", path, rc == 1 ? "removed" : "changed",
			    force ? ": --force, undoing anyway" : "");
			bad += !force;
		}
		if (!e->existed)
			continue;
		if (setup_backup_path(path, sizeof(path), e->path) != 0 ||
		    setup_read(path, &buf, &len, &st) != 0)
			return -1;
		setup_sha256(buf, len, sha);
		free(buf);
		if (strcmp(sha, e->backup_sha) != 0) {
			fprintf(stderr, "kztoken: %s does not match its recorded "
			    "sha256: not restoring from it\n", path);
			return -1;
		}
	}
	if (bad > 0)
		fprintf(stderr, "kztoken: nothing undone: undo would lose "
		    "those changes (--force to undo anyway)\n");
	return bad > 0 ? -1 : 0;
}

static int
do_undo(bool dry, bool force)
{
	char path[PATH_MAX], backup[PATH_MAX];
	struct manifest m;
	struct stat st;
	int rc = 0;

	if (manifest_load(&m) != 0)
		return EXIT_USAGE;
	if (m.n == 0) {
		printf("kztoken setup --undo: nothing to undo\n");
		return 0;
	}
	if (undo_check(&m, force) != 0)
		return EXIT_USAGE;
	for (size_t i = m.n; i-- > 0;) {
		struct setup_entry *e = &m.e[i];
		char *buf = NULL, *cur = NULL;
		size_t len = 0, curlen;

		if (setup_path(path, sizeof(path), e->path) != 0 ||
		    setup_backup_path(backup, sizeof(backup), e->path) != 0 ||
		    (e->existed && setup_read(backup, &buf, &len, &st) != 0))
			return EXIT_USAGE;
		if (dry) {
			if (setup_read(path, &cur, &curlen, &st) < 0)
				cur = NULL;
			show_diff(e->path, cur, buf ? buf : "", len);
			free(cur);
		} else if (e->existed ? setup_write(path, buf, len, e->mode,
		    e->uid, e->gid, geteuid() == 0) != 0 :
		    unlink(path) != 0 && errno != ENOENT) {
			rc = EXIT_USAGE;
		} else {
			unlink(backup);
			printf("%s %s\n", e->existed ? "restored" : "removed", path);
			m.n = i;	/* what is left to undo */
		}
		free(buf);
		if (rc != 0)
			break;
	}
	if (dry) {
		printf("kztoken setup --undo: dry run, nothing changed\n");
		return 0;
	}
	if (manifest_save(&m) != 0)
		rc = EXIT_USAGE;
	if (rc == 0 && setup_path(path, sizeof(path), SETUP_STATE) == 0)
		(void)rmdir(path);
	return rc;
}

int
cmd_setup(int argc, char **argv, const char *config)
{
	const char *target = NULL;
	bool undo = false, dry = false, force = false;
	int recipe = -1;

	(void)config;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--undo"))
			undo = true;
		else if (!strcmp(argv[i], "--dry-run"))
			dry = true;
		else if (!strcmp(argv[i], "--force"))
			force = true;
		else if (!strcmp(argv[i], "--token-only") && recipe < 0)
			recipe = TOKEN_ONLY;
		else if (!strcmp(argv[i], "--token-or-password") && recipe < 0)
			recipe = TOKEN_OR_PASSWORD;
		else if ((!strcmp(argv[i], "sshd") || !strcmp(argv[i], "sudo")) &&
		    target == NULL)
			target = argv[i];
		else {
			usage();
			return EXIT_USAGE;
		}
	}
	if (undo ? target != NULL || recipe >= 0 : target == NULL) {
		usage();
		return EXIT_USAGE;
	}
	if (undo)
		return do_undo(dry, force);
	return do_setup(target, recipe < 0 ? TOKEN_OR_PASSWORD :
	    (enum recipe)recipe, dry, force);
}
