/*
 * audit.c - the one audit line of each decision, and log delivery.
 *
 * We write to /dev/log ourselves instead of calling openlog(): the module
 * lives inside sshd and sudo, whose syslog ident and facility must not
 * change under them.  The line carries the fingerprint, never the token.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* A datagram socket connected to /dev/log, or -1. */
static int
log_socket(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", _PATH_LOG);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The syslog time stamp ("Dec  2 06:30:55"), made once a second per
 * context: localtime_r and formatting per line cost more than the rest of
 * the line.  The month in English whatever the host's locale (RFC 3164;
 * strftime's %b would write "Şub" under sudo in a Turkish locale). */
const char *
kz_syslog_stamp(kz_ctx *ctx, time_t now, char buf[32])
{
	static const char mon[12][4] = { "Jan", "Feb", "Mar", "Apr", "May",
		"Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	if (ctx != NULL && ctx->log_stamp_at == (int64_t)now &&
	    ctx->log_stamp[0] != '\0')
		return ctx->log_stamp;
	if (localtime_r(&now, &tm) == NULL || tm.tm_mon < 0 || tm.tm_mon > 11)
		buf[0] = '\0';
	else
		snprintf(buf, 32, "%s %2d %02d:%02d:%02d", mon[tm.tm_mon],
		    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (ctx != NULL) {
		memcpy(ctx->log_stamp, buf, sizeof(ctx->log_stamp));
		ctx->log_stamp_at = (int64_t)now;
	}
	return buf;
}

/*
 * One connected socket per context, made on first use: a socket per line,
 * or a path lookup per send, cost more than the rest of a JWT decision.
 * If the log daemon restarted (the send fails), connect once more and
 * resend, as glibc's syslog does.  Without a log daemon (no socket, and
 * the one retry of this second spent) nothing is formatted for it.
 */
void
kz_syslog_send(kz_ctx *ctx, int prio, const char *line)
{
	char msg[2048], buf[32];
	time_t now = time(NULL);
	int fd, n;

	fd = ctx != NULL ? ctx->logfd : -1;
	/* No log daemon: try again at most once a second, not per line. */
	if (fd < 0 && ctx != NULL && ctx->log_retry == (int64_t)now)
		return;
	if (fd < 0 && (fd = log_socket()) < 0) {
		if (ctx != NULL)
			ctx->log_retry = (int64_t)now;
		return;
	}
	n = snprintf(msg, sizeof(msg), "<%d>%s kztoken[%ld]: %s",
	    LOG_AUTHPRIV | (prio & LOG_PRIMASK), kz_syslog_stamp(ctx, now, buf),
	    (long)getpid(), line);
	if (n >= 0 && (size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	if (n >= 0 && send(fd, msg, (size_t)n, MSG_NOSIGNAL) < 0 &&
	    errno != EAGAIN) {
		close(fd);
		if ((fd = log_socket()) >= 0)
			(void)send(fd, msg, (size_t)n, MSG_NOSIGNAL);
	}
	if (ctx != NULL)
		ctx->logfd = fd;
	else if (fd >= 0)
		close(fd);
}

/* A copy of each line to a file, for tests and for hosts without syslog.
 * secure_getenv: never honoured in setuid processes such as sudo. */
static void
file_sink(int prio, const char *line)
{
	const char *path = secure_getenv("KZTOKEN_LOG_FILE");
	char buf[2048];
	int fd, n;

	if (path == NULL || *path != '/')
		return;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK,
	    0600);
	if (fd < 0)
		return;
	n = snprintf(buf, sizeof(buf), "kztoken[%ld]: %s\n", (long)getpid(),
	    line);
	if (n > 0)
		(void)!write(fd, buf, (size_t)n < sizeof(buf) ? (size_t)n :
		    sizeof(buf) - 1);
	close(fd);
	(void)prio;
}

/* Every line goes out as one line of printable ASCII: a kid or a detail
 * from a hostile token must not forge a line of its own (debug lines
 * quote such text). */
static void
send_clean(kz_ctx *ctx, int prio, const char *line)
{
	kz_syslog_send(ctx, prio, line);
	file_sink(prio, line);
	if (ctx != NULL && ctx->log != NULL)
		ctx->log(ctx->log_arg, prio, line);
}

static void
deliver(kz_ctx *ctx, int prio, const char *raw)
{
	char line[1024];

	kz_sanitize(line, sizeof(line), raw, 0);
	send_clean(ctx, prio, line);
}

void
kz_log(kz_ctx *ctx, int prio, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	deliver(ctx, prio, line);
}

void
kz_debug(kz_ctx *ctx, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (ctx == NULL || !ctx->debug)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	deliver(ctx, LOG_DEBUG, line);
}

/*
 * Text from a token or a provider may hold escape sequences, CR, LF or
 * bytes that are not ASCII: each would drive the admin's terminal or split
 * a log line.  Every byte outside printable ASCII becomes '?'.  As a word
 * (the audit line's values) space and '"' become '?' too and nothing
 * becomes "-".  out may be in: each byte is read before it is written.
 */
/* What each byte may stay as: in a line (printable ASCII), in a word
 * (printable ASCII but space and '"'). */
enum { IN_LINE = 1, IN_WORD = 2 };
static const unsigned char keep_class[256] = {
	[0x20] = IN_LINE, [0x21] = IN_LINE | IN_WORD, [0x22] = IN_LINE,
	[0x23 ... 0x7e] = IN_LINE | IN_WORD,
};

char *
kz_sanitize(char *out, size_t outlen, const char *in, int word)
{
	unsigned char want = word ? IN_WORD : IN_LINE;
	size_t o = 0;

	if (outlen == 0)
		return out;
	if (in == NULL)
		in = word ? "-" : "";
	for (; *in && o + 1 < outlen; in++) {
		unsigned char c = (unsigned char)*in;

		out[o++] = (keep_class[c] & want) ? (char)c : '?';
	}
	out[o] = '\0';
	if (word && o == 0 && outlen > 1) {
		out[0] = '-';
		out[1] = '\0';
	}
	return out;
}

/* The audit line is put together here, not by vsnprintf: a dozen %s
 * were most of its cost.  The same text: pieces in order, cut at the
 * end of the buffer as snprintf cuts.  Each piece is made printable as
 * it is copied in (the values as words, cut to their own caps), so the
 * line is as deliver's kz_sanitize would leave it and goes out without
 * a second pass. */
struct line {
	char *buf;
	size_t len, cap;	/* len < cap; buf[len] == '\0' */
};

/* Text of ours: printable ASCII already (the literals below). */
static void
put(struct line *l, const char *s)
{
	size_t n = strlen(s), room = l->cap - 1 - l->len;

	if (n > room)
		n = room;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	l->buf[l->len] = '\0';
}

/* s as kz_sanitize(tmp, max, s, word) and then put(l, tmp): at most
 * max - 1 bytes of s, each kept or '?', and in a word "-" for nothing. */
static void
put_clean(struct line *l, const char *s, size_t max, int word)
{
	unsigned char want = word ? IN_WORD : IN_LINE;
	char *o = l->buf + l->len;
	size_t n = l->cap - 1 - l->len, i;

	if (n > max - 1)
		n = max - 1;
	if (s == NULL)
		s = "";
	for (i = 0; i < n && s[i] != '\0'; i++)
		o[i] = (keep_class[(unsigned char)s[i]] & want) ? s[i] : '?';
	/* (with no room left, i is 0 here and put adds nothing) */
	if (i == 0 && word) {
		put(l, "-");
		return;
	}
	l->len += i;
	l->buf[l->len] = '\0';
}

void
kz_audit(kz_ctx *ctx, const kz_request *req, const kz_result *res)
{
	char buf[1024];
	const char *s = req->log_service ? req->log_service : req->service;
	struct line l = { buf, 0, sizeof(buf) };

	buf[0] = '\0';
	/* service=%s user=%s verdict=%s reason=%s iss=%s sub=%s kid=%s
	 * method=%s fp=%s[ enrollment=%s][ via=check]; the caps are those
	 * of the words' buffers before (64, 128, 256, 128, 96) */
	put(&l, "service=");
	put_clean(&l, s ? s : "default", 64, 1);
	put(&l, " user=");
	put_clean(&l, req->user ? req->user : res->id.user, 128, 1);
	put(&l, " verdict=");
	put_clean(&l, kz_verdict_name(res->verdict), sizeof(buf), 0);
	put(&l, " reason=");
	put_clean(&l, kz_reason_name(res->reason), sizeof(buf), 0);
	put(&l, " iss=");
	put_clean(&l, res->id.iss, 256, 1);
	put(&l, " sub=");
	put_clean(&l, res->id.sub, 128, 1);
	put(&l, " kid=");
	put_clean(&l, res->id.kid, 96, 1);
	put(&l, req->device ? " method=device fp=" : " method=token fp=");
	put_clean(&l, res->fp[0] ? res->fp : "-", sizeof(buf), 0);
	if (res->enrollment) {
		put(&l, " enrollment=");
		put_clean(&l, res->enrollment, sizeof(buf), 0);
	}
	if (req->flags & KZ_REQ_VIA_CHECK)
		put(&l, " via=check");
	send_clean(ctx, res->verdict == KZ_OK ? LOG_INFO : LOG_NOTICE, buf);
}
