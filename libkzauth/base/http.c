/*
 * http.c - HTTPS requests under the decision's one deadline.
 *
 * libcurl pulls in some 30 shared objects; loading them costs a fresh
 * login process several milliseconds.  A JWT checked against cached keys
 * needs no network, so libcurl is dlopen()ed on the first request only.
 *
 * Rules: https only (http to loopback only when allowed), TLS always
 * verified, no redirects followed, no proxy from the environment (sudo
 * runs with the user's environment; setuid_env.c), bodies capped at
 * KZ_MAX_BODY, secrets only in headers or POST bodies, never in a URL, no
 * control byte anywhere in a request.  The URL rules are in url.c.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include <curl/curl.h>

#include "internal.h"

struct kz_http {
	void *dl;
	CURL *curl;
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_cleanup)(CURL *);
	void (*easy_reset)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	time_t (*getdate)(const char *, const time_t *);
};

void *
kz_curl_dlopen(void)
{
	/* before libcurl exists in this process: curl_global_init() opens
	 * SSLKEYLOGFILE */
	(void)dlerror();
	if (kz_setuid_env_scrub() != 0)
		return NULL;
	/* NODELETE: libcurl and its TLS library must never be unloaded
	 * under a host process that may still hold their state. */
	return dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
}

static struct kz_http *
http_load(char *err, size_t errlen)
{
	struct kz_http *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	if ((h->dl = kz_curl_dlopen()) == NULL) {
		const char *why = dlerror();

		snprintf(err, errlen, "cannot load libcurl.so.4: %s", why ?
		    why : "a setuid process whose environment could not be "
		    "cleaned of SSLKEYLOGFILE, CURL_*, proxies");
		free(h);
		return NULL;
	}
#define SYM(field, name) \
	if ((*(void **)&h->field = dlsym(h->dl, name)) == NULL) goto missing
	SYM(easy_init, "curl_easy_init");
	SYM(easy_setopt, "curl_easy_setopt");
	SYM(easy_perform, "curl_easy_perform");
	SYM(easy_getinfo, "curl_easy_getinfo");
	SYM(easy_cleanup, "curl_easy_cleanup");
	SYM(easy_reset, "curl_easy_reset");
	SYM(easy_strerror, "curl_easy_strerror");
	SYM(slist_append, "curl_slist_append");
	SYM(slist_free_all, "curl_slist_free_all");
	SYM(getdate, "curl_getdate");
#undef SYM
	if ((h->curl = h->easy_init()) == NULL)
		goto missing;
	return h;
missing:
	snprintf(err, errlen, "libcurl.so.4 lacks a needed symbol");
	dlclose(h->dl);
	free(h);
	return NULL;
}

void
kz_http_free(struct kz_http *h)
{
	if (h == NULL)
		return;
	if (h->curl)
		h->easy_cleanup(h->curl);
	dlclose(h->dl);
	free(h);
}

void
kz_http_resp_free(struct kz_http_resp *r)
{
	if (r->body != NULL) {
		explicit_bzero(r->body, r->body_len);	/* may hold tokens */
		free(r->body);
	}
	free(r->location);
	free(r->etag);
	memset(r, 0, sizeof(*r));
}

struct sink {
	struct kz_http_resp *resp;
	size_t cap, max;
	bool overflow;
};

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	struct kz_http_resp *r = s->resp;
	size_t n = size * nmemb;

	if (r->body_len + n > s->max) {
		s->overflow = true;
		return 0;	/* aborts the transfer */
	}
	if (r->body_len + n + 1 > s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 4096;
		char *nb;

		while (ncap < r->body_len + n + 1)
			ncap *= 2;
		if ((nb = malloc(ncap)) == NULL)
			return 0;
		if (r->body != NULL) {
			memcpy(nb, r->body, r->body_len);
			explicit_bzero(r->body, r->body_len);
			free(r->body);
		}
		r->body = nb;
		s->cap = ncap;
	}
	memcpy(r->body + r->body_len, data, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
	return n;
}

static bool
has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

struct hdrsink {
	struct kz_http *h;
	struct kz_http_resp *resp;
};

/* RFC 9110 10.2.3: delay-seconds, of any length (more than a day is a
 * day: no longer wait is remembered), or an HTTP-date, measured against
 * the answer's Date once all headers are in (kz_http_do).  Anything else
 * is no Retry-After. */
#define MAX_RETRY_AFTER 86400

static void
retry_after(struct hdrsink *hs, char *v)
{
	size_t n = strlen(v), digits;
	time_t t;

	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		v[--n] = '\0';
	digits = strspn(v, "0123456789");
	if (n > 0 && digits == n) {
		long s;

		/* all digits: only too large a number fails */
		hs->resp->retry_after = kz_parse_long(v, 0, MAX_RETRY_AFTER,
		    &s) != 0 ? MAX_RETRY_AFTER : s;
	} else if (((v[0] >= 'A' && v[0] <= 'Z') || (v[0] >= 'a' &&
	    v[0] <= 'z')) && (t = hs->h->getdate(v, NULL)) > 0) {
		/* every HTTP-date begins with the day's name */
		hs->resp->retry_at = (int64_t)t;
	}
}

/* An HTTP-date Retry-After as seconds from the answer's Date (our clock
 * when it has none), within 0 .. a day. */
static void
retry_after_date(struct kz_http_resp *r)
{
	int64_t base = r->date > 0 ? r->date : (int64_t)time(NULL), d;

	if (r->retry_after >= 0 || r->retry_at <= 0)
		return;
	d = r->retry_at - base;
	r->retry_after = d < 0 ? 0 : d > MAX_RETRY_AFTER ? MAX_RETRY_AFTER :
	    (long)d;
}

static size_t
on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct hdrsink *hs = arg;
	size_t n = size * nmemb;
	char line[512];
	char *v;

	if (n >= sizeof(line))
		return n;
	memcpy(line, data, n);
	line[n] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	if ((v = strchr(line, ':')) == NULL)
		return n;
	*v++ = '\0';
	while (*v == ' ' || *v == '\t')
		v++;
	if (kz_strcaseeq(line, "Location")) {
		free(hs->resp->location);
		/* a Location with control bytes is no URL of ours */
		hs->resp->location = has_control(v) ? NULL : strdup(v);
	} else if (kz_strcaseeq(line, "ETag")) {
		free(hs->resp->etag);
		hs->resp->etag = has_control(v) ? NULL : strdup(v);
	} else if (kz_strcaseeq(line, "Retry-After")) {
		retry_after(hs, v);
	} else if (kz_strcaseeq(line, "Date")) {
		time_t t = hs->h->getdate(v, NULL);

		if (t > 0)
			hs->resp->date = (int64_t)t;
	}
	return n;
}

void
kz_url_escape_n(char *out, const char *in, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (kz_url_unreserved(c)) {
			*out++ = (char)c;
		} else {
			*out++ = '%';
			*out++ = hex[c >> 4];
			*out++ = hex[c & 15];
		}
	}
	*out = '\0';
}

void
kz_url_escape(char *out, const char *in)
{
	kz_url_escape_n(out, in, strlen(in));
}

bool
kz_is_dot_segment(const char *s)
{
	return s[0] == '\0' || strcmp(s, ".") == 0 || strcmp(s, "..") == 0;
}

int
kz_form_add(char **buf, size_t *len, const char *key, const char *val)
{
	size_t need = strlen(key) + 3 * strlen(val) + 3;
	char *nb = malloc(*len + need);

	if (nb == NULL)
		return -1;
	if (*buf != NULL) {
		memcpy(nb, *buf, *len);
		explicit_bzero(*buf, *len);
		free(*buf);
	}
	*buf = nb;
	if (*len > 0)
		nb[(*len)++] = '&';
	kz_url_escape(nb + *len, key);
	*len += strlen(nb + *len);
	nb[(*len)++] = '=';
	kz_url_escape(nb + *len, val);
	*len += strlen(nb + *len);
	return 0;
}

/* RFC 6749 2.3.1: id and secret are form-encoded before base64. */
static char *
basic_header(const char *user, const char *pass)
{
	size_t n = 3 * (strlen(user) + strlen(pass)) + 2;
	char *plain = malloc(n), *b64, *hdr = NULL;

	if (plain == NULL)
		return NULL;
	kz_url_escape(plain, user);
	strcat(plain, ":");
	kz_url_escape(plain + strlen(plain), pass);
	b64 = kz_b64_encode((unsigned char *)plain, strlen(plain));
	explicit_bzero(plain, n);
	free(plain);
	if (b64 != NULL && asprintf(&hdr, "Authorization: Basic %s", b64) < 0)
		hdr = NULL;
	kz_free_secret(b64);
	return hdr;
}

static kz_reason
map_curl_error(CURLcode rc, bool overflow)
{
	if (overflow)
		return KZ_R_PROVIDER_ERROR;
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return KZ_R_TIMEOUT;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
		return KZ_R_PROVIDER_UNREACHABLE;
	default:
		return KZ_R_PROVIDER_ERROR;
	}
}

static bool
name_printable(const char *s, size_t n)
{
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* A CR or LF in anything that becomes part of the request would let a
 * secret file or a config value add headers of its own (Kaizala sends the
 * client secret as a header).  Names what is wrong, never its value. */
static int
request_clean(const struct kz_http_req *req, char *err, size_t errlen)
{
	if (req->method == NULL || (strcmp(req->method, "GET") != 0 &&
	    strcmp(req->method, "POST") != 0 &&
	    strcmp(req->method, "DELETE") != 0)) {
		snprintf(err, errlen, "HTTP method not GET, POST or DELETE");
		return -1;
	}
	if (req->basic_user != NULL && has_control(req->basic_user)) {
		snprintf(err, errlen, "client_id holds a control character");
		return -1;
	}
	if (req->basic_pass != NULL && has_control(req->basic_pass)) {
		snprintf(err, errlen, "the client secret holds a control "
		    "character");
		return -1;
	}
	for (size_t i = 0; req->headers && req->headers[i]; i++) {
		const char *hd = req->headers[i];
		size_t n = strcspn(hd, ":");

		if (!has_control(hd) && hd[n] == ':' && n > 0)
			continue;
		/* the name alone, and only when it is printable */
		if (hd[n] == ':' && name_printable(hd, n))
			snprintf(err, errlen, "the value of HTTP header %.*s "
			    "holds a control character", (int)n, hd);
		else
			snprintf(err, errlen, "an HTTP header name is empty "
			    "or not printable");
		return -1;
	}
	return 0;
}

int
kz_http_do(kz_ctx *ctx, const struct kz_http_req *req,
    struct kz_http_resp *resp)
{
	struct curl_slist *hdrs = NULL;
	struct sink sink = { .resp = resp };
	struct hdrsink hs = { .resp = resp };
	char *auth = NULL;
	long left, conn_ms;
	CURLcode rc;
	struct kz_http *h;

	memset(resp, 0, sizeof(*resp));
	resp->retry_after = -1;
	sink.max = req->max_body ? req->max_body : KZ_MAX_BODY;
	if (kz_url_allowed(req->url, req->allow_http_loopback) != 0) {
		resp->fail = KZ_R_CONFIG;
		snprintf(resp->err, sizeof(resp->err), "URL not allowed "
		    "(https only; http only to loopback when allowed)");
		return -1;
	}
	if (request_clean(req, resp->err, sizeof(resp->err)) != 0) {
		resp->fail = KZ_R_CONFIG;
		return -1;
	}
	if ((left = kz_deadline_left(ctx)) <= 0) {
		resp->fail = KZ_R_TIMEOUT;
		snprintf(resp->err, sizeof(resp->err), "deadline spent "
		    "before the request");
		return -1;
	}
	if (ctx->http == NULL &&
	    (ctx->http = http_load(resp->err, sizeof(resp->err))) == NULL) {
		resp->fail = KZ_R_INTERNAL;
		return -1;
	}
	h = hs.h = ctx->http;
	h->easy_reset(h->curl);
	conn_ms = ctx->cfg->connect_timeout * 1000;
	if (conn_ms > left)
		conn_ms = left;

	h->easy_setopt(h->curl, CURLOPT_URL, req->url);
	h->easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
	h->easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, left);
	h->easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS, conn_ms);
	h->easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR,
	    req->allow_http_loopback ? "http,https" : "https");
	h->easy_setopt(h->curl, CURLOPT_FOLLOWLOCATION, 0L);
	h->easy_setopt(h->curl, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	h->easy_setopt(h->curl, CURLOPT_PROXY, "");
	h->easy_setopt(h->curl, CURLOPT_SSL_VERIFYPEER, 1L);
	h->easy_setopt(h->curl, CURLOPT_SSL_VERIFYHOST, 2L);
	if (req->ca_file != NULL)
		h->easy_setopt(h->curl, CURLOPT_CAINFO, req->ca_file);
	h->easy_setopt(h->curl, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)sink.max);
	h->easy_setopt(h->curl, CURLOPT_USERAGENT, "kztoken/1");
	h->easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
	h->easy_setopt(h->curl, CURLOPT_WRITEDATA, &sink);
	h->easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, on_header);
	h->easy_setopt(h->curl, CURLOPT_HEADERDATA, &hs);
	hdrs = h->slist_append(hdrs, "Accept: application/json");
	if (req->basic_user != NULL) {
		auth = basic_header(req->basic_user, req->basic_pass ?
		    req->basic_pass : "");
		if (auth != NULL)
			hdrs = h->slist_append(hdrs, auth);
	}
	for (size_t i = 0; req->headers && req->headers[i]; i++)
		hdrs = h->slist_append(hdrs, req->headers[i]);
	h->easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdrs);
	if (strcmp(req->method, "POST") == 0) {
		h->easy_setopt(h->curl, CURLOPT_POST, 1L);
		h->easy_setopt(h->curl, CURLOPT_POSTFIELDS,
		    req->body ? req->body : "");
		h->easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE,
		    (long)(req->body ? req->body_len : 0));
	} else {
		h->easy_setopt(h->curl, CURLOPT_HTTPGET, 1L);
		/* wazo-auth revokes with DELETE (no body) */
		if (strcmp(req->method, "DELETE") == 0)
			h->easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST,
			    "DELETE");
	}

	rc = h->easy_perform(h->curl);
	h->easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &resp->status);
	/* Our copies of secrets go now; curl's own die with the request. */
	h->easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
	h->slist_free_all(hdrs);
	kz_free_secret(auth);
	if (rc != CURLE_OK) {
		resp->fail = map_curl_error(rc, sink.overflow ||
		    rc == CURLE_FILESIZE_EXCEEDED);
		if (sink.overflow || rc == CURLE_FILESIZE_EXCEEDED)
			snprintf(resp->err, sizeof(resp->err), "answer larger "
			    "than %zu KiB", sink.max / 1024);
		else
			snprintf(resp->err, sizeof(resp->err), "%s",
			    h->easy_strerror(rc));
		resp->cut_status = resp->status;	/* body: what arrived */
		resp->status = 0;
		return -1;
	}
	retry_after_date(resp);
	/* a URL with a token in its path (wazo) is never logged */
	kz_debug(ctx, "http %s %s -> %ld (%zu bytes)", req->method,
	    req->url_secret ? "(URL holds a token: not logged)" : req->url,
	    resp->status, resp->body_len);
	return 0;
}

/*
 * kz_http_do, and a 308 (Kaizala: the endpoint moved, DESIGN.md section 5)
 * repeated once at its Location, the new URL of this very request, but
 * only on base's scheme and host or on a host of the provider's
 * allowed_hosts.  A move anywhere else is not followed, so nothing is
 * sent there: the 308 stands as the answer, and a warning names what
 * asked.  The move is not kept: the next request asks base again.
 */
int
kz_http_do_moved(kz_ctx *ctx, struct kz_provider *p,
    const struct kz_http_req *req, const char *base, const char *what,
    struct kz_http_resp *resp)
{
	struct kz_http_req again = *req;
	char *to;
	int rc;

	if ((rc = kz_http_do(ctx, req, resp)) != 0 || resp->status != 308)
		return rc;
	if (resp->location == NULL || kz_url_same_site(resp->location, base,
	    &p->allowed_hosts, p->allow_http_loopback) != 0) {
		kz_log(ctx, LOG_WARNING, "provider=%s: %s answered 308 to a "
		    "host that is neither its configured URL's nor in "
		    "allowed_hosts (or with no absolute Location); not "
		    "followed, nothing sent there", p->name, what);
		return 0;
	}
	if ((to = strdup(resp->location)) == NULL)
		return 0;
	kz_http_resp_free(resp);
	again.url = to;
	rc = kz_http_do(ctx, &again, resp);
	free(to);
	return rc;
}
