/*
 * fuzz_http.c - the live HTTP answer layer: the REAL kz_http_do, libcurl
 * and its header and body callbacks, reading hostile bytes off a socket.
 * A loopback server thread in this harness answers every request with
 * the fuzz input as the raw HTTP response (status line, headers such as
 * Location, Retry-After, Date, Content-Length, chunking, then the body)
 * and closes.  The requests go over http to 127.0.0.1 with
 * allow_http_loopback, through the code that reads the answers:
 * introspection, tokeninfo, JWKS, discovery, the oauth2 and Kaizala
 * token endpoints, and kz_http_do alone (whose results are checked
 * against its contract).  Input: one byte picks the route; the rest is
 * what the server sends.
 *
 * (A thread is fine here: it is the test's provider, not the library.)
 */
#include "fuzz_answers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <strings.h>
#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static struct {
	pthread_mutex_t mu;
	const unsigned char *data;	/* the answer, under mu */
	size_t len;
	int port;
} srv = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* Reads one request: the head, then Content-Length bytes of body, so
 * that closing after the answer sends no RST. */
static void
read_request(int c)
{
	char buf[65536];
	size_t len = 0, want = 0;
	char *end = NULL;
	struct pollfd pfd = { .fd = c, .events = POLLIN };

	while (len < sizeof(buf) - 1 && (end == NULL || len < want)) {
		ssize_t n;

		if (poll(&pfd, 1, 1000) <= 0 ||
		    (n = read(c, buf + len, sizeof(buf) - 1 - len)) <= 0)
			return;
		len += (size_t)n;
		buf[len] = '\0';
		if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL) {
			const char *cl = strcasestr(buf, "\r\nContent-Length:");

			want = (size_t)(end + 4 - buf);
			if (cl != NULL && cl < end)
				want += strtoul(cl + 17, NULL, 10);
		}
	}
}

static void *
serve(void *arg)
{
	int ls = (int)(intptr_t)arg;

	for (;;) {
		int c = accept(ls, NULL, NULL);
		size_t off = 0;

		if (c < 0)
			continue;
		read_request(c);
		pthread_mutex_lock(&srv.mu);
		while (off < srv.len) {
			ssize_t n = send(c, srv.data + off, srv.len - off,
			    MSG_NOSIGNAL);

			if (n <= 0)
				break;
			off += (size_t)n;
		}
		pthread_mutex_unlock(&srv.mu);
		close(c);
	}
	return NULL;
}

static void
server_start(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	pthread_t t;
	int ls, one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((ls = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(ls, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(ls, 16) != 0 ||
	    getsockname(ls, (struct sockaddr *)&a, &alen) != 0 ||
	    pthread_create(&t, NULL, serve, (void *)(intptr_t)ls) != 0) {
		perror("fuzz_http server");
		abort();
	}
	pthread_detach(t);
	srv.port = ntohs(a.sin_port);
}

static bool
printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* kz_http_do alone: what it hands its callers must keep its promises. */
static void
raw_request(kz_ctx *ctx, const char *url, bool post)
{
	struct kz_http_req req = { .method = post ? "POST" : "GET",
		.url = url, .allow_http_loopback = true,
		.basic_user = "host-fleet", .basic_pass = "secret",
		.body = "token=x", .body_len = 7 };
	struct kz_http_resp r;

	if (kz_http_do(ctx, &req, &r) == 0) {
		if (r.fail != KZ_R_NONE || r.body_len > KZ_MAX_BODY ||
		    (r.body != NULL && r.body[r.body_len] != '\0') ||
		    (r.body == NULL && r.body_len != 0) ||
		    r.retry_after < -1 || r.retry_after > 86400 ||
		    (r.location != NULL && !printable(r.location)))
			abort();
	} else if (r.fail == KZ_R_NONE || r.status != 0 ||
	    memchr(r.err, '\0', sizeof(r.err)) == NULL) {
		abort();
	}
	kz_http_resp_free(&r);
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char lines[1024], base[64], path[256];
	unsigned char *copy;
	kz_ctx *ctx;

	if (size < 1)
		return 0;
	fuzz_setup();
	if (srv.port == 0)
		server_start();
	/* exact-size copy so ASan sees reads past the end */
	if ((copy = malloc(size - 1 + 1)) == NULL)
		return 0;
	memcpy(copy, data + 1, size - 1);
	pthread_mutex_lock(&srv.mu);
	srv.data = copy;
	srv.len = size - 1;
	pthread_mutex_unlock(&srv.mu);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", srv.port);
	/* nothing from the previous input may answer for this one */
	snprintf(path, sizeof(path), "%s/cache/jwks-p.json", fuzz_dir);
	unlink(path);

	switch (data[0] % 8) {
	case 0:		/* introspection of an opaque token */
	case 1:
		snprintf(lines, sizeof(lines), "allow_http_loopback = true\n"
		    "introspection_url = %s/introspect\ngroups_claim = groups\n",
		    base);
		ctx = fuzz_ctx("introspect", lines);
		decide(ctx, OPAQUE, data[0] % 8 ? "sudo" : "sshd");
		break;
	case 2:		/* tokeninfo, Kaizala-style header */
		snprintf(lines, sizeof(lines), "allow_http_loopback = true\n"
		    "validation = tokeninfo\ntokeninfo_url = %s/tokeninfo\n"
		    "tokeninfo_header = accessToken\n", base);
		ctx = fuzz_ctx("tokeninfo", lines);
		decide(ctx, OPAQUE, "sudo");
		break;
	case 3:		/* the JWKS, for a kid we do not know yet */
		snprintf(lines, sizeof(lines), "allow_http_loopback = true\n"
		    "jwks_url = %s/jwks\n", base);
		ctx = fuzz_ctx("jwks", lines);
		decide(ctx, RS256_JWT, "default");
		break;
	case 4:		/* discovery, then whatever it points to */
		snprintf(lines, sizeof(lines), "allow_http_loopback = true\n"
		    "discovery = %s/.well-known/openid-configuration\n", base);
		ctx = fuzz_ctx("discovery", lines);
		decide(ctx, OPAQUE, "default");
		break;
	case 5:		/* the token endpoint, oauth2 */
		snprintf(lines, sizeof(lines), "allow_http_loopback = true\n"
		    "token_url = %s/token\nintrospection_url = %s/introspect\n",
		    base, base);
		ctx = fuzz_ctx("oauth2", lines);
		refresh(ctx, "g1");
		break;
	case 6:		/* the token endpoint, Kaizala (308 Location, 429) */
		snprintf(lines, sizeof(lines), "allow_http_loopback = true\n"
		    "token_url = %s/kaizala/token\ntoken_style = kaizala\n"
		    "tokeninfo_url = %s/tokeninfo\n", base, base);
		ctx = fuzz_ctx("kaizala", lines);
		refresh(ctx, "g2");
		break;
	default:	/* kz_http_do alone, GET then POST */
		snprintf(lines, sizeof(lines), "allow_http_loopback = true\n"
		    "introspection_url = %s/introspect\n", base);
		ctx = fuzz_ctx("raw", lines);
		snprintf(path, sizeof(path), "%s/raw", base);
		raw_request(ctx, path, false);
		raw_request(ctx, path, true);
		break;
	}
	kz_ctx_close(ctx);
	pthread_mutex_lock(&srv.mu);
	srv.data = NULL;
	srv.len = 0;
	pthread_mutex_unlock(&srv.mu);
	free(copy);
	return 0;
}
