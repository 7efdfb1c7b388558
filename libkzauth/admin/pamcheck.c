/*
 * pamcheck.c - for `kztoken doctor`: which PAM services under /etc/pam.d
 * reach pam_kztoken.so, and which of them fall through to no policy while
 * another service has one (DESIGN.md section 6).  That is how `sudo -i`
 * once skipped the sudo group gate: service sudo-i had no section.
 *
 * A service reaches the module through its own lines, `@include`, or an
 * `include`/`substack` control.  The policy it gets is the `service=`
 * argument of the module line, else the PAM service name, looked up the
 * way a login looks it up (kz_config_service).
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_DEPTH 8		/* include chains deeper than this are cut */
#define MAX_FILE (64 * 1024)

/* What one file leads to: the module with the PAM service's own name
 * (plain), and any service= names that module lines force. */
struct reach {
	bool plain;
	struct kz_strv forced;
};

static void scan_file(const char *dir, const char *name, int depth,
    struct reach *r);

static bool
is_module(const char *tok)
{
	const char *base = strrchr(tok, '/');

	return strcmp(base ? base + 1 : tok, "pam_kztoken.so") == 0;
}

/* A control is one word or a bracketed list that may hold spaces. */
static char *
next_token(char **s)
{
	char *p = *s + strspn(*s, " \t"), *start = p;

	if (*p == '\0')
		return NULL;
	if (*p == '[') {
		p = strchr(p, ']');
		p = p ? p + 1 : start + strlen(start);
	} else {
		p += strcspn(p, " \t");
	}
	if (*p != '\0')
		*p++ = '\0';
	*s = p;
	return start;
}

static void
scan_line(const char *dir, char *line, int depth, struct reach *r)
{
	char *type, *control, *module, *arg;
	bool forced = false;

	if ((type = next_token(&line)) == NULL)
		return;
	if (strcmp(type, "@include") == 0) {
		if ((module = next_token(&line)) != NULL)
			scan_file(dir, module, depth + 1, r);
		return;
	}
	if (*type == '-')
		type++;
	if (strcmp(type, "auth") != 0 && strcmp(type, "account") != 0)
		return;
	if ((control = next_token(&line)) == NULL ||
	    (module = next_token(&line)) == NULL)
		return;
	if (strcmp(control, "include") == 0 || strcmp(control, "substack") == 0) {
		scan_file(dir, module, depth + 1, r);
		return;
	}
	if (!is_module(module))
		return;
	while ((arg = next_token(&line)) != NULL) {
		if (strncmp(arg, "service=", 8) == 0 && arg[8] != '\0') {
			if (!kz_strv_has(&r->forced, arg + 8))
				kz_strv_push(&r->forced, arg + 8,
				    strlen(arg + 8));
			forced = true;
		}
	}
	if (!forced)
		r->plain = true;
}

static void
scan_file(const char *dir, const char *name, int depth, struct reach *r)
{
	char path[PATH_MAX], err[256], *buf, *line, *save = NULL;
	size_t len;

	if (depth > MAX_DEPTH || strchr(name, '/') != NULL ||
	    snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path) ||
	    kz_read_file(path, 0, MAX_FILE, &buf, &len,
	    err, sizeof(err)) != 0)
		return;
	for (line = strtok_r(buf, "\n", &save); line;
	    line = strtok_r(NULL, "\n", &save)) {
		char *hash = strchr(line, '#');

		if (hash != NULL)
			*hash = '\0';
		scan_line(dir, line, depth, r);
	}
	free(buf);
}

/* Files that are pieces of other stacks, or left behind by dpkg and
 * editors, are no service of their own. */
static bool
is_service_name(const char *n)
{
	size_t len = strlen(n);

	return n[0] != '.' && strncmp(n, "common-", 7) != 0 &&
	    strstr(n, ".dpkg-") == NULL && strstr(n, ".ucf-") == NULL &&
	    n[len - 1] != '~';
}

static bool
any_requirement(const struct kz_config *c)
{
	for (size_t i = 0; i < c->nservices; i++) {
		const struct kz_service *s = &c->services[i];

		if (s->require_group.n || s->require_scope.n ||
		    s->max_token_age > 0)
			return true;
	}
	return false;
}

static void
judge(kz_ctx *ctx, const char *service, const char *policy, bool strict,
    kz_pam_warn_fn warn, void *arg, int *reached)
{
	(*reached)++;
	if (strict && kz_config_service(ctx->cfg, policy) == NULL)
		warn(arg, KZ_PAM_NO_POLICY, service, policy);
}

static bool
reaches(const char *dir, const char *name)
{
	struct reach r = { 0 };
	bool yes;

	scan_file(dir, name, 0, &r);
	yes = r.plain || r.forced.n > 0;
	kz_strv_free(&r.forced);
	return yes;
}

/* A login-shell variant (sudo-i, su-l) that does not reach the module
 * while its base service does: Debian's sudo-i includes common-auth, not
 * sudo, so a token-only sudo still leaves `sudo -i` to the password. */
static void
check_variant(const char *dir, const char *name, kz_pam_warn_fn warn,
    void *arg)
{
	size_t n = strlen(name);
	char base[NAME_MAX + 1];

	if (n < 3 || n > NAME_MAX || name[n - 2] != '-' ||
	    (name[n - 1] != 'i' && name[n - 1] != 'l'))
		return;
	memcpy(base, name, n - 2);
	base[n - 2] = '\0';
	if (reaches(dir, base) && !reaches(dir, name))
		warn(arg, KZ_PAM_VARIANT_SKIPS, name, base);
}

int
kz_pam_services_check(kz_ctx *ctx, const char *dir, kz_pam_warn_fn warn,
    void *arg)
{
	bool strict = any_requirement(ctx->cfg);
	struct dirent *de;
	int reached = 0;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		struct reach r = { 0 };

		if (!is_service_name(de->d_name))
			continue;
		check_variant(dir, de->d_name, warn, arg);
		scan_file(dir, de->d_name, 0, &r);
		if (r.plain)
			judge(ctx, de->d_name, de->d_name, strict, warn, arg,
			    &reached);
		for (size_t i = 0; i < r.forced.n; i++)
			judge(ctx, de->d_name, r.forced.v[i], strict, warn,
			    arg, &reached);
		kz_strv_free(&r.forced);
	}
	closedir(d);
	return reached;
}

int
kz_pam_service_policies(const char *dir, const char *service,
    struct kz_strv *policies)
{
	struct reach r = { 0 };

	memset(policies, 0, sizeof(*policies));
	if (!is_service_name(service))
		return 0;
	scan_file(dir, service, 0, &r);
	if (r.plain)
		kz_strv_push(policies, service, strlen(service));
	for (size_t i = 0; i < r.forced.n; i++)
		if (!kz_strv_has(policies, r.forced.v[i]))
			kz_strv_push(policies, r.forced.v[i],
			    strlen(r.forced.v[i]));
	kz_strv_free(&r.forced);
	return policies->n > 0;
}
