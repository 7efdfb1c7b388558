/*
 * doctor_host.c - the part of `kztoken doctor` that looks at the host
 * around the module (issue 13, finding 8): whether the pam-auth-update
 * profile is on and which services it reaches, the policy each service
 * that reaches the module gets, whether sshd actually hands tokens to
 * PAM at a keyboard-interactive prompt (`sshd -T`), and whether a group
 * that is to be confirmed through an enrollment has one.
 *
 * Test hooks, read with secure_getenv like KZTOKEN_PAM_DIR: KZTOKEN_ROOT
 * (a prefix for the host's files) and KZTOKEN_SSHD (the sshd binary).
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

extern char **environ;

struct host {
	struct kz_doc *d;
	kz_ctx *ctx;
	const char *root;
	char pamdir[PATH_MAX];
};

#define say(h, ...) kz_doc_report((h)->d, __VA_ARGS__)

/* Appends " name" to a list of at most n bytes ("..." once full). */
static void
add(char *list, size_t n, const char *name)
{
	size_t len = strlen(list);

	if (len + strlen(name) + 6 < n)
		snprintf(list + len, n - len, "%s%s", len ? " " : "", name);
	else if (len + 5 < n && strcmp(list + len - 3, "...") != 0)
		snprintf(list + len, n - len, " ...");
}

/* ---- the profile and every service's policy ---- */

static bool
names_module(const char *path)
{
	char *buf, *line, *save = NULL, err[256];
	size_t len;
	bool found = false;

	if (kz_read_file(path, KZ_SF_MISSING_OK, 64 * 1024, &buf, &len, err,
	    sizeof(err)) != 0 || buf == NULL)
		return false;
	for (line = strtok_r(buf, "\n", &save); line && !found;
	    line = strtok_r(NULL, "\n", &save))
		found = line[strspn(line, " \t")] != '#' &&
		    strstr(line, "pam_kztoken.so") != NULL;
	free(buf);
	return found;
}

static void
check_profile_and_services(struct host *h)
{
	char path[PATH_MAX], via[1024] = "", policies[1024] = "", item[300];
	struct dirent **names = NULL;
	bool profile, enabled;
	int n;

	snprintf(path, sizeof(path), "%s/usr/share/pam-configs/kztoken",
	    h->root);
	profile = access(path, F_OK) == 0;
	enabled = snprintf(path, sizeof(path), "%s/common-auth", h->pamdir) <
	    (int)sizeof(path) && names_module(path);

	if ((n = scandir(h->pamdir, &names, NULL, alphasort)) < 0)
		return;		/* check_pam says it cannot read the dir */
	for (int i = 0; i < n; i++) {
		struct kz_strv pol;
		const struct kz_service *s;

		if (kz_pam_service_policies(h->pamdir, names[i]->d_name,
		    &pol) > 0) {
			for (size_t j = 0; j < pol.n; j++) {
				s = kz_config_service(h->ctx->cfg, pol.v[j]);
				snprintf(item, sizeof(item), "%s=%s%s%s",
				    names[i]->d_name, s ? "[service " : "",
				    s ? s->name : "none", s ? "]" : "");
				add(policies, sizeof(policies), item);
			}
			if (enabled && snprintf(path, sizeof(path), "%s/%s",
			    h->pamdir, names[i]->d_name) < (int)sizeof(path) &&
			    !names_module(path))
				add(via, sizeof(via), names[i]->d_name);
		}
		kz_strv_free(&pol);
		free(names[i]);
	}
	free(names);

	if (enabled)
		say(h, 0, KZ_OK, "profile", "pam-auth-update profile kztoken "
		    "enabled: a token logs in wherever common-auth is included "
		    "(%s); `kztoken setup sshd|sudo` gives those two services "
		    "their own recipe instead", via[0] ? via : "no service");
	else
		say(h, 0, KZ_OK, "profile", "pam-auth-update profile kztoken "
		    "%s", profile ? "not enabled (pam-auth-update --enable "
		    "kztoken turns it on for every service that includes "
		    "common-auth)" : "not installed");
	if (policies[0] != '\0')
		say(h, 0, KZ_OK, "policies", "service=policy (none: any "
		    "valid token of the user): %s", policies);
}

/* ---- sshd ---- */

/* `sshd -T` of the host's configuration into out; its exit status. */
static int
sshd_effective(struct host *h, const char *sshd, char *out, size_t n)
{
	char conf[PATH_MAX];
	char *argv[] = { (char *)sshd, "-T", "-f", conf, NULL };
	posix_spawn_file_actions_t fa;
	int p[2], status = -1;
	size_t len = 0;
	ssize_t r;
	pid_t pid;

	snprintf(conf, sizeof(conf), "%s/etc/ssh/sshd_config", h->root);
	out[0] = '\0';
	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	if (posix_spawn(&pid, sshd, &fa, NULL, argv, environ) != 0)
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	while (pid > 0 && len + 1 < n &&
	    (r = read(p[0], out + len, n - 1 - len)) != 0) {
		if (r < 0)
			break;
		len += (size_t)r;
	}
	out[len] = '\0';
	close(p[0]);
	if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status))
		return WEXITSTATUS(status);
	return -1;
}

/* The value of one keyword in `sshd -T` output ("" when absent). */
static void
value_of(const char *out, const char *key, char *val, size_t n)
{
	size_t k = strlen(key);

	val[0] = '\0';
	for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l,
	    '\n') + 1 : NULL) {
		if (strncmp(l, key, k) == 0 && l[k] == ' ') {
			snprintf(val, n, "%.*s", (int)strcspn(l + k + 1, "\n"),
			    l + k + 1);
			return;
		}
	}
}

static void
check_sshd(struct host *h)
{
	const char *sshd = secure_getenv("KZTOKEN_SSHD");
	char out[32768], pam[16], kbd[16], methods[256];
	struct kz_strv pol;
	int reaches, rc;

	if (sshd == NULL)
		sshd = "/usr/sbin/sshd";
	if (access(sshd, X_OK) != 0) {
		say(h, 0, KZ_OK, "sshd", "%s not installed: skipped", sshd);
		return;
	}
	reaches = kz_pam_service_policies(h->pamdir, "sshd", &pol);
	kz_strv_free(&pol);
	if ((rc = sshd_effective(h, sshd, out, sizeof(out))) != 0) {
		out[strcspn(out, "\r\n")] = '\0';
		say(h, 1, KZ_OK, "sshd", "sshd -T failed (exit %d): %s", rc,
		    out);
		return;
	}
	value_of(out, "usepam", pam, sizeof(pam));
	value_of(out, "kbdinteractiveauthentication", kbd, sizeof(kbd));
	value_of(out, "authenticationmethods", methods, sizeof(methods));
	if (reaches <= 0) {
		say(h, 0, KZ_OK, "sshd", "its PAM stack does not reach "
		    "pam_kztoken.so: no token login over ssh (kztoken setup "
		    "sshd)");
		return;
	}
	if (strcmp(pam, "yes") != 0)
		say(h, 2, KZ_ERROR, "sshd", "UsePAM %s: sshd never asks PAM, "
		    "so no token logs in; run kztoken setup sshd", pam);
	else if (strcmp(kbd, "yes") != 0)
		say(h, 2, KZ_ERROR, "sshd", "KbdInteractiveAuthentication %s: "
		    "a token can only go through the password method, which "
		    "answers every \"part N\" prompt of a long token with the "
		    "same string (reason=malformed); run kztoken setup sshd",
		    kbd);
	else if (strcmp(methods, "any") != 0 &&
	    strstr(methods, "keyboard-interactive") == NULL)
		say(h, 2, KZ_ERROR, "sshd", "AuthenticationMethods %s has no "
		    "keyboard-interactive: no token can log in", methods);
	else
		say(h, 0, KZ_OK, "sshd", "UsePAM yes, keyboard-interactive "
		    "yes, AuthenticationMethods %s", methods);
}

/* ---- groups to be confirmed through an enrollment ---- */

static bool
enrolled(const kz_enrollment_info *v, size_t n, const char *provider,
    const char *group)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].kind, "group") == 0 &&
		    strcmp(v[i].subject, group) == 0 &&
		    strcmp(v[i].provider, provider) == 0)
			return true;
	return false;
}

static void
check_group_enrollments(struct host *h)
{
	struct kz_config *c = h->ctx->cfg;
	kz_enrollment_info *v = NULL;
	kz_result res;
	size_t n = 0;

	memset(&res, 0, sizeof(res));
	if (kz_enrollment_list(h->ctx, &v, &n, &res) != KZ_OK)
		n = 0;		/* check_enrollments reports that */
	kz_result_clear(&res);
	for (size_t i = 0; i < c->nservices; i++) {
		const struct kz_service *s = &c->services[i];
		const char *pname = s->provider ? s->provider : c->provider;
		struct kz_provider *p = pname ? kz_config_provider(c, pname) :
		    NULL;

		if (p == NULL || p->membership_check != KZ_MEMBER_ENROLLMENT)
			continue;
		for (size_t g = 0; g < s->require_group.n; g++) {
			const char *grp = s->require_group.v[g];

			if (enrolled(v, n, p->name, grp))
				continue;
			say(h, 2, KZ_UNAVAILABLE, "membership", "[service %s] "
			    "require_group = %s and provider %s has "
			    "membership_check = enrollment, but no group token "
			    "for %s is enrolled: a token that does not list the "
			    "group gets UNAVAILABLE; kztoken enroll NAME "
			    "--provider %s --group %s", s->name, grp, p->name,
			    grp, p->name, grp);
		}
	}
	free(v);
}

void
kz_doctor_host(struct kz_doc *d)
{
	struct host h = { .d = d, .ctx = d->ctx };
	const char *dir = secure_getenv("KZTOKEN_PAM_DIR");

	h.root = secure_getenv("KZTOKEN_ROOT");
	if (h.root == NULL)
		h.root = "";
	if (dir != NULL)
		snprintf(h.pamdir, sizeof(h.pamdir), "%s", dir);
	else
		snprintf(h.pamdir, sizeof(h.pamdir), "%s/etc/pam.d", h.root);
	check_profile_and_services(&h);
	check_sshd(&h);
	check_group_enrollments(&h);
}
