/*
 * url.c - which URLs libkzauth talks to (DESIGN §4): https, or http with
 * allow_http_loopback to a host that is exactly an IPv4 literal in
 * 127.0.0.0/8, [::1] or localhost; never userinfo, never a fragment.
 *
 * Two readers must agree.  kz_url_syntax_ok() is our own strict reading
 * (no libcurl: config parsing is on the fast JWT path, which must not load
 * it); kz_url_allowed() adds libcurl's own URL parser, the one that will
 * pick the host it connects to, and refuses the URL unless libcurl sees
 * the same scheme and host and no user, password, options, zone or
 * fragment.  A URL the two read differently (127.1, 0x7f.1, backslashes,
 * percent-encoded hosts) is refused.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "internal.h"

struct url_parts {
	bool https;
	const char *host;	/* brackets included for IPv6 */
	size_t host_len;
	const char *port;	/* digits after the host's ':', or NULL */
	size_t port_len;
};

/* a.b.c.d in decimal, no leading zeros, first octet 127 */
static bool
ipv4_loopback(const char *h, size_t n)
{
	unsigned part = 0, val = 0, digits = 0, first = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i == n || h[i] == '.') {
			if (digits == 0 || val > 255)
				return false;
			if (part == 0)
				first = val;
			if (++part > 4)
				return false;
			val = digits = 0;
		} else if (h[i] >= '0' && h[i] <= '9') {
			if (digits > 0 && val == 0)
				return false;	/* leading zero: octal to some */
			val = val * 10 + (unsigned)(h[i] - '0');
			if (++digits > 3)
				return false;
		} else {
			return false;
		}
	}
	return part == 4 && first == 127;
}

static bool
host_is_loopback(const char *h, size_t n)
{
	return (n == 9 && kz_strncaseeq(h, "localhost", 9)) ||
	    (n == 5 && memcmp(h, "[::1]", 5) == 0) || ipv4_loopback(h, n);
}

static bool
port_ok(const char *p, size_t n)
{
	long v = 0;

	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

/* scheme://host[:port][/path][?query], read strictly. */
static int
url_split(const char *url, struct url_parts *u)
{
	const char *a, *end, *port;
	size_t alen, hlen;

	if (url == NULL || strlen(url) > KZ_MAX_URL)
		return -1;
	for (const char *c = url; *c; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f ||
		    *c == '\\' || *c == '#')
			return -1;
	if (kz_strncaseeq(url, "https://", 8))
		u->https = true, a = url + 8;
	else if (kz_strncaseeq(url, "http://", 7))
		u->https = false, a = url + 7;
	else
		return -1;
	alen = strcspn(a, "/?");
	end = a + alen;
	/* no userinfo, no percent-encoding in the authority */
	if (memchr(a, '@', alen) != NULL || memchr(a, '%', alen) != NULL)
		return -1;
	if (*a == '[') {
		const char *rb = memchr(a, ']', alen);

		if (rb == NULL)
			return -1;
		hlen = (size_t)(rb - a) + 1;
		if (hlen < 4 || strspn(a + 1, "0123456789abcdefABCDEF:.") !=
		    hlen - 2)
			return -1;
	} else {
		hlen = strspn(a, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_");
		if (hlen > alen)
			hlen = alen;
		if (hlen == 0 || a[0] == '.' || a[0] == '-')
			return -1;
	}
	port = a + hlen;
	if (port != end && (*port != ':' ||
	    !port_ok(port + 1, (size_t)(end - port - 1))))
		return -1;
	u->host = a;
	u->host_len = hlen;
	u->port = port != end ? port + 1 : NULL;
	u->port_len = port != end ? (size_t)(end - port - 1) : 0;
	return 0;
}

int
kz_url_syntax_ok(const char *url, bool allow_http_loopback)
{
	struct url_parts u;

	if (url_split(url, &u) != 0)
		return -1;
	if (u.https)
		return 0;
	return allow_http_loopback && host_is_loopback(u.host, u.host_len) ?
	    0 : -1;
}

struct curlu_api {
	CURLU *(*url)(void);
	void (*cleanup)(CURLU *);
	CURLUcode (*set)(CURLU *, CURLUPart, const char *, unsigned int);
	CURLUcode (*get)(const CURLU *, CURLUPart, char **, unsigned int);
	void (*free)(void *);
};

/* True when libcurl finds no such part in the URL. */
static bool
part_absent(const struct curlu_api *api, CURLU *h, CURLUPart part)
{
	char *v = NULL;
	CURLUcode rc = api->get(h, part, &v, 0);

	api->free(v);
	return rc != CURLUE_OK;
}

/* libcurl's reading: same scheme, same host, nothing else in the
 * authority. */
static int
curl_agrees(const struct curlu_api *api, const char *url,
    const struct url_parts *u)
{
	CURLU *h = api->url();
	char *scheme = NULL, *host = NULL;
	int rc = -1;

	if (h == NULL || api->set(h, CURLUPART_URL, url, 0) != CURLUE_OK)
		goto out;
	if (api->get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    api->get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto out;
	if (strcmp(scheme, u->https ? "https" : "http") != 0 ||
	    strlen(host) != u->host_len ||
	    !kz_strncaseeq(host, u->host, u->host_len))
		goto out;
	if (part_absent(api, h, CURLUPART_USER) &&
	    part_absent(api, h, CURLUPART_PASSWORD) &&
	    part_absent(api, h, CURLUPART_OPTIONS) &&
	    part_absent(api, h, CURLUPART_ZONEID) &&
	    part_absent(api, h, CURLUPART_FRAGMENT))
		rc = 0;
out:
	if (scheme)
		api->free(scheme);
	if (host)
		api->free(host);
	if (h)
		api->cleanup(h);
	return rc;
}

int
kz_url_allowed(const char *url, bool allow_http_loopback)
{
	struct curlu_api api;
	struct url_parts u;
	void *dl;
	int rc = -1;

	if (kz_url_syntax_ok(url, allow_http_loopback) != 0 ||
	    url_split(url, &u) != 0)
		return -1;
	if ((dl = kz_curl_dlopen()) == NULL)
		return -1;	/* no second opinion: no URL */
#define SYM(field, name) \
	if ((*(void **)&api.field = dlsym(dl, name)) == NULL) goto out
	SYM(url, "curl_url");
	SYM(cleanup, "curl_url_cleanup");
	SYM(set, "curl_url_set");
	SYM(get, "curl_url_get");
	SYM(free, "curl_free");
#undef SYM
	rc = curl_agrees(&api, url, &u);
out:
	dlclose(dl);
	return rc;
}

/* The port a URL reaches, with the scheme's default filled in. */
static long
effective_port(const struct url_parts *u)
{
	long v = 0;

	if (u->port == NULL)
		return u->https ? 443 : 80;
	for (size_t i = 0; i < u->port_len; i++)
		v = v * 10 + (u->port[i] - '0');
	return v;
}

static bool
same_host(const struct url_parts *a, const char *host, size_t n)
{
	return a->host_len == n && kz_strncaseeq(a->host, host, n);
}

/* An allowed_hosts entry, "host" or "host:port" (the scheme's default
 * port when none is given), read with the same strict rules as a URL;
 * anything after the authority makes it no entry. */
static int
entry_split(const char *entry, bool https, struct url_parts *e, char *buf,
    size_t buflen)
{
	int n = snprintf(buf, buflen, "%s://%s", https ? "https" : "http",
	    entry);

	if (n < 0 || (size_t)n >= buflen || url_split(buf, e) != 0 ||
	    e->host + e->host_len + (e->port ? e->port_len + 1 : 0) !=
	    buf + n)
		return -1;
	return 0;
}

static bool
entry_matches(const struct url_parts *u, const char *entry)
{
	struct url_parts e;
	char buf[300];

	return entry_split(entry, u->https, &e, buf, sizeof(buf)) == 0 &&
	    same_host(u, e.host, e.host_len) &&
	    effective_port(u) == effective_port(&e);
}

int
kz_url_host_entry_ok(const char *entry)
{
	struct url_parts e;
	char buf[300];

	return entry_split(entry, true, &e, buf, sizeof(buf));
}

int
kz_url_same_site(const char *url, const char *base,
    const struct kz_strv *allowed, bool allow_http_loopback)
{
	struct url_parts u, b;

	/* the strict reader alone (no libcurl here: the JWKS cache is read
	 * on the fast path); every request adds libcurl's opinion anyway */
	if (base == NULL || url_split(url, &u) != 0 ||
	    url_split(base, &b) != 0 || u.https != b.https ||
	    kz_url_syntax_ok(url, allow_http_loopback) != 0)
		return -1;
	if (same_host(&u, b.host, b.host_len) &&
	    effective_port(&u) == effective_port(&b))
		return 0;
	for (size_t i = 0; allowed != NULL && i < allowed->n; i++)
		if (entry_matches(&u, allowed->v[i]))
			return 0;
	return -1;
}
