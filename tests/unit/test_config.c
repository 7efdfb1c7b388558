/*
 * test_config.c - the INI configuration: defaults, every kind of error
 * naming file, line and key, and files opened the way ssh opens keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kztest.h"

#define BASE "[provider corp]\nissuer = https://idp\naudience = a, b\n" \
	"jwks_url = https://idp/jwks\n"

static char err[512];

static struct kz_config *
parse_ok(const char *text)
{
	struct kz_config *c = NULL;

	if (kz_config_parse_string(&c, "t.conf", text, err, sizeof(err)) != 0)
		fail_msg("unexpected config error: %s", err);
	return c;
}

static void
parse_err(const char *text, const char *want)
{
	struct kz_config *c = NULL;

	if (kz_config_parse_string(&c, "t.conf", text, err, sizeof(err)) != -1)
		fail_msg("config accepted, expected '%s':\n%s", want, text);
	assert_null(c);
	if (strstr(err, want) == NULL)
		fail_msg("error '%s' lacks '%s'", err, want);
}

static void
defaults(void **state)
{
	struct kz_config *c = parse_ok(BASE);
	struct kz_provider *p;

	(void)state;
	assert_string_equal(c->provider, "corp");	/* the only one */
	assert_int_equal(c->timeout, 5);
	assert_int_equal(c->connect_timeout, 2);
	assert_int_equal(c->leeway, 60);
	assert_int_equal(c->max_token_length, 16384);
	assert_string_equal(c->store_dir, "/etc/kztoken/enrolled");
	assert_string_equal(c->cache_dir, "/var/cache/kztoken");
	assert_int_equal(c->cache_ttl, 300);
	assert_int_equal(c->negative_cache_ttl, 30);
	assert_int_equal(c->offline_grace, 0);
	assert_string_equal(c->denylist_file, "/etc/kztoken/denylist");
	assert_int_equal(c->warn_days, 30);
	p = kz_config_provider(c, "corp");
	assert_non_null(p);
	assert_int_equal(p->validation, KZ_VAL_AUTO);
	assert_int_equal(p->algorithms, KZ_ALG_RS256 | KZ_ALG_ES256);
	assert_int_equal(p->jwks_max_age, 3600);
	assert_int_equal(p->jwks_refetch_interval, 10);
	assert_string_equal(p->tokeninfo_header, "Authorization");
	assert_string_equal(p->username_claim, "preferred_username");
	assert_string_equal(p->groups_claim, "groups");
	assert_string_equal(p->scope_claim, "scope");
	assert_int_equal(p->membership_ttl, 300);
	assert_int_equal(p->audience.n, 2);
	assert_string_equal(p->audience.v[1], "b");
	assert_null(kz_config_service(c, "sshd"));
	kz_config_free(c);
}

static void
full_example(void **state)
{
	struct kz_config *c = parse_ok(
	    "[kztoken]\nprovider = corp   ; default provider\ntimeout = 7\n"
	    "debug = true\n\n" BASE
	    "validation = auto\nalgorithms = RS256, ES256, ES384\n"
	    "introspection_url = https://idp/introspect\n"
	    "revocation_check = introspect\nclient_id = host\n"
	    "client_secret_file = /etc/kztoken/secrets/corp\n"
	    "tokeninfo_url = https://api/v1/groups\n"
	    "tokeninfo_header = accessToken\n"
	    "username_transform = strip_domain, lowercase\n"
	    "token_style = kaizala\n"
	    "membership_check = enrollment\n"
	    "membership_url = https://api/groups/{group}/members/{user}\n"
	    "[service sshd]\nrequire_scope = login\n"
	    "[service sudo]\nrequire_group = ops-admins\nmax_token_age = 600\n"
	    "[service default]\nrequire_scope = host\n");
	struct kz_provider *p = kz_config_provider(c, "corp");
	const struct kz_service *s;

	(void)state;
	assert_int_equal(c->timeout, 7);
	assert_true(c->debug);
	assert_int_equal(p->algorithms, KZ_ALG_RS256 | KZ_ALG_ES256 |
	    KZ_ALG_ES384);
	assert_true(p->revocation_introspect);
	assert_string_equal(p->tokeninfo_header, "accessToken");
	assert_int_equal(p->username_transform, KZ_XFORM_STRIP_DOMAIN |
	    KZ_XFORM_LOWERCASE);
	assert_int_equal(p->token_style, KZ_STYLE_KAIZALA);
	assert_int_equal(p->membership_check, KZ_MEMBER_ENROLLMENT);
	s = kz_config_service(c, "sudo");
	assert_string_equal(s->require_group.v[0], "ops-admins");
	assert_int_equal(s->max_token_age, 600);
	/* a service without a section of its own falls back to default */
	s = kz_config_service(c, "login");
	assert_string_equal(s->name, "default");
	kz_config_free(c);
}

static void
errors_name_line_and_key(void **state)
{
	(void)state;
	parse_err(BASE "colour = blue\n", "t.conf:5: [provider corp] colour: "
	    "unknown key");
	parse_err("[kztoken]\ntimeout = soon\n" BASE,
	    "t.conf:2: [kztoken] timeout: 'soon' is not a whole number");
	parse_err("[kztoken]\ntimeout = 0\n" BASE, "t.conf:2: [kztoken] timeout");
	parse_err("[kztoken]\ndebug = maybe\n" BASE, "debug: 'maybe' is not true");
	parse_err("[mystery]\na = b\n" BASE, "t.conf:2: [mystery]: unknown section");
	parse_err(BASE "validation = magic\n", "t.conf:5: [provider corp] "
	    "validation: 'magic' is not one of");
	parse_err(BASE "algorithms = RS256, none\n", "'none' is not a "
	    "supported algorithm");
	parse_err(BASE "algorithms = PS256, ps256\n", "'ps256' is not a "
	    "supported");
	parse_err(BASE "algorithms = EdDSA, Ed25519\n", "'Ed25519' is not a "
	    "supported");
	kz_config_free(parse_ok(BASE "algorithms = PS256, PS384, PS512, EdDSA, "
	    "RS384, ES512\n"));
	parse_err(BASE "allowed_hosts = idp.example.com/path\n",
	    "allowed_hosts: 'idp.example.com/path' is not a host");
	parse_err(BASE "allowed_hosts = user@idp.example.com\n",
	    "allowed_hosts: 'user@idp.example.com' is not a host");
	kz_config_free(parse_ok(BASE "allowed_hosts = a.example.com, "
	    "b.example.com:8443, [::1]:443\n"));
	parse_err(BASE "jwks_url = http://idp.example.com/jwks\n",
	    "jwks_url: 'http://idp.example.com/jwks' is not an https:// URL");
	parse_err(BASE "tokeninfo_header = Cookie\n", "tokeninfo_header");
	parse_err("this is not ini\n" BASE, "t.conf:1:");
	parse_err(BASE "[service sudo]\nrequire_group = \n", "require_group");
	parse_err(BASE "[service sudo]\nprovider = other\n",
	    "[service sudo] provider: no [provider other]");
	parse_err(BASE "[provider corp]\nissuer = x\n", "appears twice");
}

static void
cross_key_rules(void **state)
{
	(void)state;
	parse_err("[kztoken]\ntimeout = 3\n", "no [provider NAME] section");
	parse_err("[provider a]\nissuer = https://i\naudience = x\n"
	    "validation = jwt\n", "validation = jwt needs jwks_file");
	parse_err("[provider a]\naudience = x\njwks_url = https://i/j\n",
	    "issuer: required");
	parse_err("[provider a]\nissuer = https://i\njwks_url = https://i/j\n",
	    "audience: required");
	parse_err("[provider a]\nvalidation = introspect\n"
	    "introspection_url = https://i/x\n", "needs client_id");
	parse_err(BASE "algorithms = HS256\n", "HS* needs hmac_secret_file");
	/* introspection for logins needs an audience: some providers say
	 * nothing else that tells a refresh token from an access token */
	parse_err("[provider a]\nvalidation = introspect\nclient_id = c\n"
	    "introspection_url = https://i/x\n",
	    "audience: required when introspection validates logins");
	parse_err(BASE "membership_check = enrollment\n", "needs membership_url");
	parse_err(BASE "[provider b]\nvalidation = tokeninfo\n"
	    "tokeninfo_url = https://t/x\n", "must name the default provider");
	parse_err("[kztoken]\nprovider = x\n" BASE, "no [provider x]");
	/* http only to loopback, and only when allowed */
	parse_err(BASE "introspection_url = http://127.0.0.1:9/x\nclient_id = c\n",
	    "uses plain HTTP");
	kz_config_free(parse_ok(BASE "introspection_url = http://127.0.0.1:9/x\n"
	    "allow_http_loopback = true\n"));
}

static void
long_lines(void **state)
{
	char text[1024];

	(void)state;
	snprintf(text, sizeof(text), BASE "introspection_url = https://idp/%0300d\n", 0);
	parse_err(text, "t.conf:5: line longer than");
}

static char *
write_file(const char *name, const char *text, mode_t mode)
{
	char *path;
	FILE *f;

	if (asprintf(&path, "%s/%s", kzt_dir(), name) < 0)
		abort();
	unlink(path);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
	return path;
}

static void
file_safety(void **state)
{
	struct kz_config *c = NULL;
	char *ok = write_file("ok.conf", BASE, 0600);
	char *g = write_file("g.conf", BASE, 0640);
	char *w = write_file("w.conf", BASE, 0666);
	char *o = write_file("o.conf", BASE, 0644);
	char link[600];
	kz_ctx *ctx = NULL;

	(void)state;
	assert_int_equal(kz_config_load(&c, ok, err, sizeof(err)), 0);
	kz_config_free(c);
	assert_int_equal(kz_config_load(&c, g, err, sizeof(err)), 0);
	kz_config_free(c);
	assert_int_equal(kz_config_load(&c, w, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "permissions 0666 are too open"));
	assert_int_equal(kz_config_load(&c, o, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "permissions 0644 are too open"));
	snprintf(link, sizeof(link), "%s/link.conf", kzt_dir());
	unlink(link);
	assert_int_equal(symlink(ok, link), 0);
	assert_int_equal(kz_config_load(&c, link, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "symbolic link"));
	assert_int_equal(kz_ctx_open(&ctx, "/nonexistent/kz.conf", err,
	    sizeof(err)), KZ_ERROR);
	assert_null(ctx);
	assert_non_null(strstr(err, "/nonexistent/kz.conf"));
	free(ok);
	free(g);
	free(w);
	free(o);
}

static void
dirs(void **state)
{
	char d[600], e[256];

	(void)state;
	snprintf(d, sizeof(d), "%s/newdir", kzt_dir());
	assert_int_equal(kz_check_dir(d, true, e, sizeof(e)), 0);
	chmod(d, 0777);
	assert_int_equal(kz_check_dir(d, false, e, sizeof(e)), -1);
	assert_non_null(strstr(e, "world-writable"));
	chmod(d, 0700);
	assert_int_equal(kz_check_dir(d, false, e, sizeof(e)), 0);
}

/* DESIGN.md sections 9 and 6: the device_* keys with their defaults, and
 * the step-up keys of a service. */
static void
device_and_step_up_keys(void **state)
{
	struct kz_config *c = parse_ok(BASE);
	struct kz_provider *p = kz_config_provider(c, "corp");
	const struct kz_service *s;

	(void)state;
	assert_null(p->device_authorization_url);
	assert_null(p->device_client_id);	/* client_id is used then */
	assert_string_equal(p->device_scope, "openid");
	assert_null(p->device_resource);
	assert_int_equal(p->device_timeout, 120);
	kz_config_free(c);
	c = parse_ok(BASE "device_authorization_url = https://idp/device\n"
	    "device_client_id = pub\ndevice_scope = openid profile\n"
	    "device_resource = api://host-fleet\ndevice_timeout = 300\n"
	    "[service sudo]\nrequire_acr = mfa, phr\nrequire_amr = otp hwk\n");
	p = kz_config_provider(c, "corp");
	assert_string_equal(p->device_authorization_url, "https://idp/device");
	assert_string_equal(p->device_client_id, "pub");
	assert_string_equal(p->device_scope, "openid profile");
	assert_string_equal(p->device_resource, "api://host-fleet");
	assert_int_equal(p->device_timeout, 300);
	s = kz_config_service(c, "sudo-i");
	assert_non_null(s);
	assert_int_equal(s->require_acr.n, 2);
	assert_string_equal(s->require_acr.v[1], "phr");
	assert_int_equal(s->require_amr.n, 2);
	assert_string_equal(s->require_amr.v[0], "otp");
	kz_config_free(c);
	parse_err(BASE "device_authorization_url = http://idp.example/device\n",
	    "is not an https:// URL");
	parse_err(BASE "device_authorization_url = http://127.0.0.1/device\n",
	    "uses plain HTTP");
	parse_err(BASE "device_timeout = 4\n", "device_timeout");
	parse_err(BASE "device_timeout = 3601\n", "device_timeout");
	parse_err(BASE "[service sudo]\nrequire_acr = ,\n", "require_acr: needs "
	    "at least one name");
	parse_err(BASE "[service sudo]\nrequire_amr =\n", "require_amr");
}

/* Lists (groups, audiences, algorithms): commas and every ASCII blank
 * separate items, at their start and inside alike. */
static void
list_separators(void **state)
{
	struct kz_strv sv = { 0 };

	(void)state;
	assert_int_equal(kz_strv_split(&sv, " a,\vb c\fd,,\r\ne\t"), 0);
	assert_int_equal(sv.n, 5);
	assert_string_equal(sv.v[0], "a");
	assert_string_equal(sv.v[1], "b");
	assert_string_equal(sv.v[2], "c");
	assert_string_equal(sv.v[3], "d");
	assert_string_equal(sv.v[4], "e");
	kz_strv_free(&sv);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults),
		cmocka_unit_test(full_example),
		cmocka_unit_test(errors_name_line_and_key),
		cmocka_unit_test(cross_key_rules),
		cmocka_unit_test(long_lines),
		cmocka_unit_test(list_separators),
		cmocka_unit_test(file_safety),
		cmocka_unit_test(dirs),
		cmocka_unit_test(device_and_step_up_keys),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
