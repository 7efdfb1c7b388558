/*
 * config.c - loads /etc/kztoken/kztoken.conf (DESIGN.md section 9) with
 * libinih.  Every key is declared once in a table with its type and range;
 * an unknown key or a bad value is an error naming file, line and key.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "internal.h"

enum sect { S_MAIN, S_PROVIDER, S_SERVICE, S_NSS };
enum type { T_STR, T_URL, T_LONG, T_SIZE, T_BOOL, T_STRV, T_ENUM, T_ALGS,
	T_XFORM };

struct key {
	enum sect sect;
	const char *name;
	enum type type;
	size_t off;
	long min, max;
	const char *const *words;	/* T_ENUM: value i is words[i] */
};

static const char *const validation_words[] = { "auto", "jwt", "introspect",
	"tokeninfo", "wazo", NULL };
static const char *const style_words[] = { "oauth2", "kaizala", "wazo", NULL };
static const char *const member_words[] = { "claims", "enrollment", NULL };
static const char *const revcheck_words[] = { "none", "introspect", NULL };
static const char *const dirstyle_words[] = { "scim", "kaizala", NULL };
static const char *const header_words[] = { "Authorization", "X-Auth-Token",
	"accessToken", NULL };

#define M(n, t, f, lo, hi) { S_MAIN, n, t, offsetof(struct kz_config, f), lo, hi, NULL }
#define P(n, t, f, lo, hi) { S_PROVIDER, n, t, offsetof(struct kz_provider, f), lo, hi, NULL }
#define PE(n, f, w) { S_PROVIDER, n, T_ENUM, offsetof(struct kz_provider, f), 0, 0, w }
#define SV(n, t, f, lo, hi) { S_SERVICE, n, t, offsetof(struct kz_service, f), lo, hi, NULL }
#define N(n, t, f, lo, hi) { S_NSS, n, t, offsetof(struct kz_config, nss.f), lo, hi, NULL }
#define DAY 86400L
#define YEAR (366 * DAY)

static const struct key keys[] = {
	M("provider", T_STR, provider, 0, 0),
	M("timeout", T_LONG, timeout, 1, 300),
	M("connect_timeout", T_LONG, connect_timeout, 1, 300),
	M("leeway", T_LONG, leeway, 0, 3600),
	M("max_token_length", T_SIZE, max_token_length, 64, 1024 * 1024),
	M("store_dir", T_STR, store_dir, 0, 0),
	M("cache_dir", T_STR, cache_dir, 0, 0),
	M("cache_ttl", T_LONG, cache_ttl, 0, YEAR),
	M("negative_cache_ttl", T_LONG, negative_cache_ttl, 0, YEAR),
	M("offline_grace", T_LONG, offline_grace, 0, YEAR),
	M("denylist_file", T_STR, denylist_file, 0, 0),
	M("warn_days", T_LONG, warn_days, 0, 3660),
	M("debug", T_BOOL, debug, 0, 0),

	P("issuer", T_STR, issuer, 0, 0),
	P("audience", T_STRV, audience, 0, 0),
	PE("validation", validation, validation_words),
	P("wazo_url", T_URL, wazo_url, 0, 0),
	P("algorithms", T_ALGS, algorithms, 0, 0),
	P("jwks_url", T_URL, jwks_url, 0, 0),
	P("discovery", T_URL, discovery, 0, 0),
	P("jwks_file", T_STR, jwks_file, 0, 0),
	P("jwks_max_age", T_LONG, jwks_max_age, 0, YEAR),
	P("jwks_refetch_interval", T_LONG, jwks_refetch_interval, 0, DAY),
	P("hmac_secret_file", T_STR, hmac_secret_file, 0, 0),
	P("introspection_url", T_URL, introspection_url, 0, 0),
	P("revocation_url", T_URL, revocation_url, 0, 0),
	PE("revocation_check", revocation_introspect, revcheck_words),
	P("tokeninfo_url", T_URL, tokeninfo_url, 0, 0),
	PE("tokeninfo_header", tokeninfo_header, header_words),
	P("token_url", T_URL, token_url, 0, 0),
	PE("token_style", token_style, style_words),
	P("allowed_hosts", T_STRV, allowed_hosts, 0, 0),
	P("client_id", T_STR, client_id, 0, 0),
	P("client_secret_file", T_STR, client_secret_file, 0, 0),
	P("ca_file", T_STR, ca_file, 0, 0),
	P("allow_http_loopback", T_BOOL, allow_http_loopback, 0, 0),
	P("username_claim", T_STR, username_claim, 0, 0),
	P("username_transform", T_XFORM, username_transform, 0, 0),
	P("user_map_file", T_STR, user_map_file, 0, 0),
	P("user_map_only", T_BOOL, user_map_only, 0, 0),
	P("groups_claim", T_STR, groups_claim, 0, 0),
	P("scope_claim", T_STR, scope_claim, 0, 0),
	PE("membership_check", membership_check, member_words),
	P("membership_url", T_URL, membership_url, 0, 0),
	P("membership_ttl", T_LONG, membership_ttl, 0, YEAR),
	P("device_authorization_url", T_URL, device_authorization_url, 0, 0),
	P("device_client_id", T_STR, device_client_id, 0, 0),
	P("device_scope", T_STR, device_scope, 0, 0),
	P("device_resource", T_STR, device_resource, 0, 0),
	P("device_timeout", T_LONG, device_timeout, 5, 3600),

	SV("provider", T_STR, provider, 0, 0),
	SV("require_group", T_STRV, require_group, 0, 0),
	SV("require_scope", T_STRV, require_scope, 0, 0),
	SV("require_acl", T_STRV, require_acl, 0, 0),
	SV("max_token_age", T_LONG, max_token_age, 0, YEAR),
	SV("require_acr", T_STRV, require_acr, 0, 0),
	SV("require_amr", T_STRV, require_amr, 0, 0),

	N("enrollment", T_STR, enrollment, 0, 0),
	{ S_NSS, "directory_style", T_ENUM,
	  offsetof(struct kz_config, nss.directory_style), 0, 0, dirstyle_words },
	N("directory_url", T_URL, directory_url, 0, 0),
	N("groups", T_STRV, groups, 0, 0),
	N("uid_min", T_LONG, uid_min, 1000, 4294967294L),
	N("uid_max", T_LONG, uid_max, 1000, 4294967294L),
	N("home", T_STR, home, 0, 0),
	N("shell", T_STR, shell, 0, 0),
	N("sync_interval", T_LONG, sync_interval, 60, 7 * DAY),
	N("db_dir", T_STR, db_dir, 0, 0),
};

struct parse {
	struct kz_config *cfg;
	const char *file;
	const char *text, *pos;
	int line;		/* line the reader handed out last */
	char *err;
	size_t errlen;
	bool failed;
	char cur_section[128];
	bool new_header;	/* the reader passed a [section] line */
	void *cur;		/* struct of the current section */
	enum sect cur_kind;
};

/* Names a discovery document or a provider's console uses, and the key
 * that holds the same thing here. */
static const char *const discovery_names[][2] = {
	{ "jwks_uri", "jwks_url" },
	{ "token_endpoint", "token_url" },
	{ "introspection_endpoint", "introspection_url" },
	{ "revocation_endpoint", "revocation_url" },
	{ "client_secret", "client_secret_file" },
	{ "audiences", "audience" },
	{ "aud", "audience" },
	{ "iss", "issuer" },
};

static int
fail(struct parse *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(struct parse *ps, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ps->failed)		/* the first error is the one to fix */
		return 0;
	ps->failed = true;
	n = snprintf(ps->err, ps->errlen, "%s:%d: ", ps->file, ps->line);
	if (n < 0 || (size_t)n >= ps->errlen)
		return 0;
	va_start(ap, fmt);
	vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return 0;
}

static void
provider_defaults(struct kz_provider *p)
{
	p->validation = KZ_VAL_AUTO;
	p->algorithms = KZ_ALG_RS256 | KZ_ALG_ES256;
	p->jwks_max_age = 3600;
	p->jwks_refetch_interval = 10;
	p->token_style = KZ_STYLE_OAUTH2;
	p->membership_check = KZ_MEMBER_CLAIMS;
	p->membership_ttl = 300;
	p->device_timeout = 120;
}

static void
config_defaults(struct kz_config *c)
{
	c->timeout = 5;
	c->connect_timeout = 2;
	c->leeway = 60;
	c->max_token_length = 16384;
	c->cache_ttl = 300;
	c->negative_cache_ttl = 30;
	c->offline_grace = 0;
	c->warn_days = 30;
	c->nss.directory_style = KZ_DIR_SCIM;
	c->nss.uid_min = 200000;
	c->nss.uid_max = 2000200000;
	c->nss.sync_interval = 900;
}

/* Opens a [provider X] or [service X] section, or finds it again. */
static int
enter_section(struct parse *ps, const char *section)
{
	struct kz_config *c = ps->cfg;
	const char *name;

	snprintf(ps->cur_section, sizeof(ps->cur_section), "%s", section);
	if (strcmp(section, "kztoken") == 0) {
		ps->cur_kind = S_MAIN;
		ps->cur = c;
		return 1;
	}
	if (strncmp(section, "provider ", 9) == 0) {
		name = section + 9;
		while (*name == ' ')
			name++;
		for (size_t i = 0; i < c->nproviders; i++)
			if (strcmp(c->providers[i].name, name) == 0)
				return fail(ps, "[%s]: section appears twice", section);
		struct kz_provider *np = realloc(c->providers,
		    (c->nproviders + 1) * sizeof(*np));
		if (np == NULL)
			return fail(ps, "out of memory");
		c->providers = np;
		memset(&np[c->nproviders], 0, sizeof(*np));
		provider_defaults(&np[c->nproviders]);
		np[c->nproviders].name = strdup(name);
		ps->cur = &np[c->nproviders++];
		ps->cur_kind = S_PROVIDER;
		return *name ? 1 : fail(ps, "[provider]: needs a name");
	}
	if (strncmp(section, "service ", 8) == 0) {
		name = section + 8;
		while (*name == ' ')
			name++;
		for (size_t i = 0; i < c->nservices; i++)
			if (strcmp(c->services[i].name, name) == 0)
				return fail(ps, "[%s]: section appears twice", section);
		struct kz_service *ns = realloc(c->services,
		    (c->nservices + 1) * sizeof(*ns));
		if (ns == NULL)
			return fail(ps, "out of memory");
		c->services = ns;
		memset(&ns[c->nservices], 0, sizeof(*ns));
		ns[c->nservices].name = strdup(name);
		ps->cur = &ns[c->nservices++];
		ps->cur_kind = S_SERVICE;
		return *name ? 1 : fail(ps, "[service]: needs a name");
	}
	if (strcmp(section, "nss") == 0) {
		c->nss.present = true;
		ps->cur_kind = S_NSS;
		ps->cur = c;
		return 1;
	}
	ps->cur = NULL;
	return fail(ps, "[%s]: unknown section (expected [kztoken], "
	    "[provider NAME], [service NAME] or [nss])", section);
}

static int
set_value(struct parse *ps, const struct key *k, const char *value)
{
	char *field = (char *)ps->cur + k->off;
	const char *sec = ps->cur_section;
	long l;
	bool b;

	switch (k->type) {
	case T_URL:
		if (kz_url_syntax_ok(value, true) != 0)
			return fail(ps, "[%s] %s: '%s' is not an https:// URL",
			    sec, k->name, value);
		/* FALLTHROUGH */
	case T_STR:
		if (*value == '\0')
			return fail(ps, "[%s] %s: empty value", sec, k->name);
		free(*(char **)field);
		if ((*(char **)field = strdup(value)) == NULL)
			return fail(ps, "out of memory");
		return 1;
	case T_LONG:
		if (kz_parse_long(value, k->min, k->max, &l) != 0)
			return fail(ps, "[%s] %s: '%s' is not a whole number "
			    "from %ld to %ld", sec, k->name, value, k->min,
			    k->max);
		*(long *)field = l;
		return 1;
	case T_SIZE:
		if (kz_parse_long(value, k->min, k->max, &l) != 0)
			return fail(ps, "[%s] %s: '%s' is not a whole number "
			    "from %ld to %ld", sec, k->name, value, k->min,
			    k->max);
		*(size_t *)field = (size_t)l;
		return 1;
	case T_BOOL:
		if (kz_parse_bool(value, &b) != 0)
			return fail(ps, "[%s] %s: '%s' is not true or false",
			    sec, k->name, value);
		*(bool *)field = b;
		return 1;
	case T_STRV: {
		struct kz_strv *sv = (struct kz_strv *)field;

		kz_strv_free(sv);
		if (kz_strv_split(sv, value) != 0 || sv->n == 0)
			return fail(ps, "[%s] %s: needs at least one name",
			    sec, k->name);
		return 1;
	}
	case T_ENUM:
		for (int i = 0; k->words[i] != NULL; i++) {
			if (strcmp(value, k->words[i]) != 0)
				continue;
			if (k->words == header_words) {
				free(*(char **)field);
				*(char **)field = strdup(value);
			} else if (k->words == revcheck_words) {
				*(bool *)field = i == 1;
			} else {
				*(int *)field = i;
			}
			return 1;
		}
		return fail(ps, "[%s] %s: '%s' is not one of the allowed "
		    "values", sec, k->name, value);
	case T_ALGS: {
		struct kz_strv sv = { 0 };
		unsigned mask = 0;

		if (kz_strv_split(&sv, value) != 0 || sv.n == 0) {
			kz_strv_free(&sv);
			return fail(ps, "[%s] %s: needs at least one algorithm",
			    sec, k->name);
		}
		for (size_t i = 0; i < sv.n; i++) {
			unsigned a = kz_alg_from_name(sv.v[i]);

			if (a == KZ_ALG_NONE) {
				fail(ps, "[%s] %s: '%s' is not a supported "
				    "algorithm (RS256/384/512, PS256/384/512, "
				    "ES256/384/512, EdDSA, HS256/384/512)", sec, k->name, sv.v[i]);
				kz_strv_free(&sv);
				return 0;
			}
			mask |= a;
		}
		kz_strv_free(&sv);
		*(unsigned *)field = mask;
		return 1;
	}
	case T_XFORM: {
		struct kz_strv sv = { 0 };
		unsigned x = 0;

		kz_strv_split(&sv, value);
		for (size_t i = 0; i < sv.n; i++) {
			if (strcmp(sv.v[i], "strip_domain") == 0)
				x |= KZ_XFORM_STRIP_DOMAIN;
			else if (strcmp(sv.v[i], "lowercase") == 0)
				x |= KZ_XFORM_LOWERCASE;
			else if (strcmp(sv.v[i], "none") != 0) {
				fail(ps, "[%s] %s: '%s' is not none, "
				    "strip_domain or lowercase", sec, k->name,
				    sv.v[i]);
				kz_strv_free(&sv);
				return 0;
			}
		}
		kz_strv_free(&sv);
		*(unsigned *)field = x;
		return 1;
	}
	}
	return fail(ps, "internal error");
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *ps = user;

	if (ps->failed)
		return 0;
	/* inih reports no headers, so a repeated [provider x] would merge
	 * silently: the reader tells us a header went by. */
	if (ps->new_header || strcmp(section, ps->cur_section) != 0 ||
	    ps->cur == NULL) {
		ps->new_header = false;
		if (!enter_section(ps, section))
			return 0;
	}
	if (*section == '\0')
		return fail(ps, "%s: key outside any section", name);
	for (size_t i = 0; i < KZ_NELEM(keys); i++)
		if (keys[i].sect == ps->cur_kind && strcmp(keys[i].name, name) == 0)
			return set_value(ps, &keys[i], value);
	for (size_t i = 0; i < KZ_NELEM(discovery_names); i++)
		if (strcmp(name, discovery_names[i][0]) == 0)
			return fail(ps, "[%s] %s: unknown key (did you mean %s?)",
			    section, name, discovery_names[i][1]);
	return fail(ps, "[%s] %s: unknown key", section, name);
}

/* Feeds inih line by line from memory, so we know the line number. */
static char *
reader(char *str, int num, void *stream)
{
	struct parse *ps = stream;
	size_t n, take;

	if (*ps->pos == '\0')
		return NULL;
	n = strcspn(ps->pos, "\n");
	ps->line++;
	take = n + (ps->pos[n] == '\n');
	if ((int)take >= num) {
		fail(ps, "line longer than %d characters", num - 3);
		take = (size_t)num - 1;
		n = take;
	}
	memcpy(str, ps->pos, take);
	str[take] = '\0';
	ps->pos += take;
	if (str[strspn(str, " \t")] == '[')
		ps->new_header = true;
	return str;
}

static int
url_checks(struct parse *ps, struct kz_provider *p)
{
	for (size_t i = 0; i < p->allowed_hosts.n; i++)
		if (kz_url_host_entry_ok(p->allowed_hosts.v[i]) != 0)
			return fail(ps, "[provider %s] allowed_hosts: '%s' is "
			    "not a host or host:port", p->name,
			    p->allowed_hosts.v[i]);
	const char *urls[] = { p->jwks_url, p->discovery, p->introspection_url,
		p->revocation_url, p->tokeninfo_url, p->token_url,
		p->membership_url, p->device_authorization_url, p->wazo_url };

	for (size_t i = 0; i < KZ_NELEM(urls); i++)
		if (urls[i] && kz_url_syntax_ok(urls[i], p->allow_http_loopback))
			return fail(ps, "[provider %s]: %s uses plain HTTP; "
			    "only https, or http to loopback with "
			    "allow_http_loopback = true", p->name, urls[i]);
	return 1;
}

static int
nss_checks(struct parse *ps, struct kz_nss_conf *n)
{
	if (!n->present)
		return 1;
	if (n->uid_min >= n->uid_max)
		return fail(ps, "[nss] uid_min: must be below uid_max");
	if (n->enrollment == NULL)
		return fail(ps, "[nss] enrollment: required (the enrollment "
		    "whose token reads the directory)");
	/* Kaizala's API base comes with the token (endpointUrl) */
	if (n->directory_url == NULL && n->directory_style == KZ_DIR_SCIM)
		return fail(ps, "[nss] directory_url: required (with "
		    "directory_style = scim)");
	if (n->groups.n == 0)
		return fail(ps, "[nss] groups: required (the directory groups "
		    "whose members become users)");
	if (n->home[0] != '/')
		return fail(ps, "[nss] home: must be an absolute path");
	return 1;
}

/* Cross-key rules that no single line can break. */
static int
finish(struct parse *ps)
{
	struct kz_config *c = ps->cfg;

	ps->line = 0;		/* these errors name no line */
	if (c->nproviders == 0)
		return fail(ps, "no [provider NAME] section");
	if (c->provider == NULL && c->nproviders == 1)
		c->provider = strdup(c->providers[0].name);
	if (c->provider == NULL)
		return fail(ps, "[kztoken] provider: must name the default "
		    "provider when there are several");
	if (kz_config_provider(c, c->provider) == NULL)
		return fail(ps, "[kztoken] provider: no [provider %s]",
		    c->provider);
	if (c->connect_timeout > c->timeout)
		c->connect_timeout = c->timeout;
	for (size_t i = 0; i < c->nproviders; i++) {
		struct kz_provider *p = &c->providers[i];
		bool has_keys = p->jwks_url || p->discovery || p->jwks_file ||
		    p->hmac_secret_file;
		bool remote = p->introspection_url || p->discovery;

		if (p->tokeninfo_header == NULL)
			p->tokeninfo_header = strdup("Authorization");
		if (p->username_claim == NULL)
			p->username_claim = strdup("preferred_username");
		if (p->groups_claim == NULL)
			p->groups_claim = strdup("groups");
		if (p->scope_claim == NULL)
			p->scope_claim = strdup("scope");
		if (p->device_scope == NULL)
			p->device_scope = strdup("openid");
		if (!url_checks(ps, p))
			return 0;
		if ((p->validation == KZ_VAL_JWT || p->validation == KZ_VAL_AUTO)
		    && p->issuer == NULL)
			return fail(ps, "[provider %s] issuer: required to "
			    "validate JWTs", p->name);
		if (p->validation == KZ_VAL_JWT && !has_keys)
			return fail(ps, "[provider %s]: validation = jwt needs "
			    "jwks_file, jwks_url, discovery or hmac_secret_file",
			    p->name);
		if (p->validation == KZ_VAL_AUTO && !has_keys && !remote &&
		    !p->tokeninfo_url)
			return fail(ps, "[provider %s]: validation = auto needs "
			    "keys (jwks_file, jwks_url, discovery) or "
			    "introspection_url or tokeninfo_url", p->name);
		if (p->validation == KZ_VAL_INTROSPECT && !remote)
			return fail(ps, "[provider %s]: validation = introspect "
			    "needs introspection_url (or discovery)", p->name);
		if ((p->validation == KZ_VAL_INTROSPECT ||
		    p->revocation_introspect) && p->client_id == NULL)
			return fail(ps, "[provider %s]: introspection needs "
			    "client_id and client_secret_file", p->name);
		if (p->validation == KZ_VAL_TOKENINFO && !p->tokeninfo_url)
			return fail(ps, "[provider %s]: validation = tokeninfo "
			    "needs tokeninfo_url", p->name);
		if ((p->validation == KZ_VAL_WAZO ||
		    p->token_style == KZ_STYLE_WAZO) && !p->wazo_url)
			return fail(ps, "[provider %s]: validation = wazo and "
			    "token_style = wazo need wazo_url", p->name);
		if (p->token_style == KZ_STYLE_WAZO && !p->client_id)
			return fail(ps, "[provider %s]: token_style = wazo needs "
			    "client_id (the refresh token's client)", p->name);
		/* An introspection answer without a usable token_type (some
		 * providers omit it for refresh tokens) can only be told
		 * from a login by its audience. */
		if (p->audience.n == 0 && (p->validation == KZ_VAL_INTROSPECT ||
		    (p->validation == KZ_VAL_AUTO && remote)))
			return fail(ps, "[provider %s] audience: required when "
			    "introspection validates logins (else a refresh "
			    "token or another application's token would pass)",
			    p->name);
		if ((p->algorithms & KZ_ALG_HMAC) && !p->hmac_secret_file)
			return fail(ps, "[provider %s] algorithms: HS* needs "
			    "hmac_secret_file", p->name);
		if (p->user_map_only && !p->user_map_file)
			return fail(ps, "[provider %s] user_map_only: needs "
			    "user_map_file (else no name could log in)",
			    p->name);
		if (p->membership_check == KZ_MEMBER_ENROLLMENT &&
		    !p->membership_url)
			return fail(ps, "[provider %s]: membership_check = "
			    "enrollment needs membership_url", p->name);
		/* Without an audience any token the issuer mints for any
		 * application would log in here. */
		if (p->audience.n == 0 && (p->validation == KZ_VAL_JWT ||
		    (p->validation == KZ_VAL_AUTO && has_keys)))
			return fail(ps, "[provider %s] audience: required to "
			    "validate JWTs", p->name);
	}
	for (size_t i = 0; i < c->nservices; i++) {
		struct kz_service *s = &c->services[i];

		const struct kz_provider *sp;

		if (s->provider && !kz_config_provider(c, s->provider))
			return fail(ps, "[service %s] provider: no [provider %s]",
			    s->name, s->provider);
		/* only wazo-auth checks ACLs: anywhere else the requirement
		 * would be silently unmet or silently ignored */
		sp = kz_config_provider(c, s->provider ? s->provider :
		    c->provider);
		if (s->require_acl.n > 0 && sp->validation != KZ_VAL_WAZO)
			return fail(ps, "[service %s] require_acl: needs a "
			    "provider with validation = wazo", s->name);
	}
	return nss_checks(ps, &c->nss);
}

int
kz_config_parse_string(struct kz_config **out, const char *name,
    const char *text, char *err, size_t errlen)
{
	struct parse ps = { 0 };
	struct kz_config *c;
	int rc;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	config_defaults(c);
	c->path = strdup(name);
	c->store_dir = strdup("/etc/kztoken/enrolled");
	c->cache_dir = strdup("/var/cache/kztoken");
	c->denylist_file = strdup("/etc/kztoken/denylist");
	c->nss.home = strdup("/home/%u");
	c->nss.shell = strdup("/bin/bash");
	c->nss.db_dir = strdup("/var/lib/kztoken/nss");
	ps.cfg = c;
	ps.file = name;
	ps.text = ps.pos = text;
	ps.err = err;
	ps.errlen = errlen;
	rc = ini_parse_stream(reader, &ps, handler, &ps);
	if (rc != 0 && !ps.failed) {
		ps.line = rc;
		fail(&ps, "syntax error (expected [section] or key = value)");
	}
	if (!ps.failed)
		finish(&ps);
	if (ps.failed) {
		kz_config_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

int
kz_config_load(struct kz_config **out, const char *path, char *err,
    size_t errlen)
{
	char *text;
	size_t len;
	int rc;

	*out = NULL;
	if (kz_read_file(path, KZ_SF_ALLOW_GROUP_READ, KZ_MAX_CONFIG, &text,
	    &len, err, errlen) != 0)
		return -1;
	if (memchr(text, '\0', len) != NULL) {
		snprintf(err, errlen, "%s: contains a NUL byte", path);
		free(text);
		return -1;
	}
	rc = kz_config_parse_string(out, path, text, err, errlen);
	free(text);
	return rc;
}

static void
provider_free(struct kz_provider *p)
{
	char **strs[] = { &p->name, &p->issuer, &p->jwks_url, &p->discovery,
		&p->jwks_file, &p->hmac_secret_file, &p->introspection_url,
		&p->revocation_url, &p->tokeninfo_url, &p->tokeninfo_header,
		&p->token_url, &p->client_id, &p->client_secret_file,
		&p->ca_file, &p->username_claim, &p->user_map_file,
		&p->groups_claim, &p->scope_claim, &p->membership_url,
		&p->wazo_url,
		&p->disc_jwks_url, &p->disc_introspection_url,
		&p->disc_token_url, &p->disc_revocation_url,
		&p->device_authorization_url, &p->device_client_id,
		&p->device_scope, &p->device_resource, &p->disc_device_url };

	for (size_t i = 0; i < KZ_NELEM(strs); i++)
		free(*strs[i]);
	kz_strv_free(&p->audience);
	kz_strv_free(&p->allowed_hosts);
	kz_keyset_free(p->keys);
}

void
kz_config_free(struct kz_config *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nproviders; i++)
		provider_free(&c->providers[i]);
	for (size_t i = 0; i < c->nservices; i++) {
		free(c->services[i].name);
		free(c->services[i].provider);
		kz_strv_free(&c->services[i].require_group);
		kz_strv_free(&c->services[i].require_scope);
		kz_strv_free(&c->services[i].require_acr);
		kz_strv_free(&c->services[i].require_amr);
		kz_strv_free(&c->services[i].require_acl);
	}
	free(c->providers);
	free(c->services);
	free(c->path);
	free(c->provider);
	free(c->store_dir);
	free(c->cache_dir);
	free(c->denylist_file);
	free(c->nss.enrollment);
	free(c->nss.directory_url);
	kz_strv_free(&c->nss.groups);
	free(c->nss.home);
	free(c->nss.shell);
	free(c->nss.db_dir);
	free(c);
}

struct kz_provider *
kz_config_provider(struct kz_config *c, const char *name)
{
	for (size_t i = 0; i < c->nproviders; i++)
		if (strcmp(c->providers[i].name, name) == 0)
			return &c->providers[i];
	return NULL;
}

static const struct kz_service *
service_named(const struct kz_config *c, const char *name, size_t len)
{
	for (size_t i = 0; i < c->nservices; i++)
		if (strlen(c->services[i].name) == len &&
		    strncmp(c->services[i].name, name, len) == 0)
			return &c->services[i];
	return NULL;
}

/*
 * The policy of a PAM service (DESIGN.md section 6): its own section;
 * else, for Debian's login-shell variants (sudo-i, su-l, runuser-l), the
 * section of the name without that suffix, since `sudo -i` is still sudo;
 * else [service default]; else none.  Only one suffix is stripped, and
 * only a whole "-i" or "-l".
 */
const struct kz_service *
kz_config_service(const struct kz_config *c, const char *name)
{
	const struct kz_service *s;
	size_t n = name ? strlen(name) : 0;

	if (name == NULL)
		return service_named(c, "default", 7);
	if ((s = service_named(c, name, n)) != NULL)
		return s;
	if (n > 2 && name[n - 2] == '-' && (name[n - 1] == 'i' ||
	    name[n - 1] == 'l') &&
	    (s = service_named(c, name, n - 2)) != NULL)
		return s;
	return service_named(c, "default", 7);
}
