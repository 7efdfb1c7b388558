/*
 * json.c - the JSON reader behind kz_json_parse: every JWT header and
 * claim set, JWKS, provider answer and store file goes through it.
 *
 * jansson's own reader pulls the input through a callback one byte at a
 * time, about 30 ns a byte: for the 200-byte claims of a typical access
 * token that is a fifth of an RSA-2048 verification.  This reader walks
 * the buffer with a pointer and builds the same jansson values.  It reads
 * the same language as json_loadb(JSON_REJECT_DUPLICATES): RFC 8259, an
 * object or array at the top, UTF-8 checked (no overlong forms, no
 * surrogates, nothing past U+10FFFF), no U+0000, no duplicate member
 * names, integers that fit json_int_t; real numbers are handed to jansson
 * itself so that rounding and range are exactly its own.  fuzz_json
 * checks on every input that both accept the same documents and give
 * equal values.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "internal.h"

struct rd {
	const unsigned char *p, *end;
	int depth;
};

static json_t *value(struct rd *r);

static void
skip_ws(struct rd *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' ||
	    *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static bool
literal(struct rd *r, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
		return false;
	r->p += n;
	return true;
}

/* Length of the UTF-8 sequence at p (RFC 3629), 0 when it is not one. */
size_t
kz_json_utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0], lo = 0x80, hi = 0xbf;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (c == 0xed)
			hi = 0x9f;	/* UTF-16 surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;	/* overlong */
		else if (c == 0xf4)
			hi = 0x8f;	/* past U+10FFFF */
	} else
		return 0;
	if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

int
kz_json_hex4(const unsigned char *p, const unsigned char *end, unsigned *out)
{
	unsigned v = 0;

	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		unsigned c = p[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			d = (c | 0x20) - 'a' + 10;
		else
			return -1;
		v = v << 4 | d;
	}
	*out = v;
	return 0;
}

size_t
kz_json_put_utf8(unsigned cp, unsigned char *o)
{
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xc0 | cp >> 6);
		o[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xe0 | cp >> 12);
		o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (unsigned char)(0xf0 | cp >> 18);
	o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/* One \uXXXX escape (two for a surrogate pair) at p, just past the 'u'. */
static int
unicode_escape(struct rd *r, unsigned char *o, size_t *olen)
{
	unsigned cp, lo;

	if (kz_json_hex4(r->p, r->end, &cp) != 0)
		return -1;
	r->p += 4;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return -1;			/* a lone low surrogate */
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' ||
		    kz_json_hex4(r->p + 2, r->end, &lo) != 0 || lo < 0xdc00 ||
		    lo > 0xdfff)
			return -1;
		r->p += 6;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	if (cp == 0)
		return -1;			/* U+0000: as jansson without
						 * JSON_ALLOW_NUL */
	*olen = kz_json_put_utf8(cp, o);
	return 0;
}

/* Printable ASCII but '"' and '\\': what a string holds as it is. */
static const unsigned char plain[256] = {
	[0x20 ... 0x21] = 1, [0x23 ... 0x5b] = 1, [0x5d ... 0x7f] = 1,
};

/*
 * A string, r->p just past its opening quote.  Without escapes the bytes
 * are used where they lie; with escapes they are decoded into *buf (never
 * longer than the raw text).  Returns the length, -1 when malformed.
 */
static ssize_t
string(struct rd *r, const char **out, char **buf)
{
	const unsigned char *s = r->p;
	unsigned char *o = NULL;
	size_t n = 0, k;

	*buf = NULL;
	while (r->p < r->end) {
		unsigned char c;

		/* Until the first escape the bytes stay where they lie: skip
		 * the plain ASCII of a run with one table lookup a byte. */
		if (o == NULL) {
			while (r->p < r->end && plain[*r->p])
				r->p++;
			if (r->p == r->end)
				break;
		}
		if ((c = *r->p) == '"')
			break;

		if (c >= 0x20 && c < 0x80 && c != '\\') {	/* plain ASCII */
			if (o != NULL)
				o[n] = c;
			n++;
			r->p++;
			continue;
		}
		if (c < 0x20)
			goto bad;
		if (c == '\\') {
			if (o == NULL) {
				if ((o = malloc((size_t)(r->end - s))) == NULL)
					goto bad;
				memcpy(o, s, (size_t)(r->p - s));
				n = (size_t)(r->p - s);
			}
			if (++r->p == r->end)
				goto bad;
			switch (*r->p++) {
			case '"': o[n++] = '"'; break;
			case '\\': o[n++] = '\\'; break;
			case '/': o[n++] = '/'; break;
			case 'b': o[n++] = '\b'; break;
			case 'f': o[n++] = '\f'; break;
			case 'n': o[n++] = '\n'; break;
			case 'r': o[n++] = '\r'; break;
			case 't': o[n++] = '\t'; break;
			case 'u':
				if (unicode_escape(r, o + n, &k) != 0)
					goto bad;
				n += k;
				break;
			default:
				goto bad;
			}
			continue;
		}
		if ((k = kz_json_utf8_len(r->p, r->end)) == 0)
			goto bad;
		if (o != NULL)
			memcpy(o + n, r->p, k);
		n += k;
		r->p += k;
	}
	if (r->p == r->end)
		goto bad;
	r->p++;				/* the closing quote */
	*out = o != NULL ? (const char *)o : (const char *)s;
	*buf = (char *)o;
	return o != NULL ? (ssize_t)n : (ssize_t)(r->p - 1 - s);
bad:
	free(o);
	return -1;
}

/* A number: integers here, anything with a fraction or an exponent by
 * jansson, so that a real is exactly what jansson would make of it. */
static json_t *
number(struct rd *r)
{
	const unsigned char *s = r->p;
	bool real = false;
	char text[64], *end;
	json_error_t jerr;
	long long v;

	if (r->p < r->end && *r->p == '-')
		r->p++;
	if (r->p == r->end || *r->p < '0' || *r->p > '9')
		return NULL;
	if (*r->p == '0')
		r->p++;
	else
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	if (r->p < r->end && *r->p == '.') {
		real = true;
		if (++r->p == r->end || *r->p < '0' || *r->p > '9')
			return NULL;
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	}
	if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
		real = true;
		if (++r->p < r->end && (*r->p == '+' || *r->p == '-'))
			r->p++;
		if (r->p == r->end || *r->p < '0' || *r->p > '9')
			return NULL;
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	}
	if (real)
		return json_loadb((const char *)s, (size_t)(r->p - s),
		    JSON_DECODE_ANY, &jerr);
	if ((size_t)(r->p - s) >= sizeof(text))
		return NULL;			/* past any json_int_t */
	memcpy(text, s, (size_t)(r->p - s));
	text[r->p - s] = '\0';
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno != 0 || *end != '\0')
		return NULL;
	return json_integer((json_int_t)v);
}

static json_t *
object(struct rd *r)
{
	json_t *obj = json_object(), *v;
	const char *key;
	char *kbuf;
	ssize_t klen;
	size_t n;

	if (obj == NULL)
		return NULL;
	skip_ws(r);
	if (r->p < r->end && *r->p == '}') {
		r->p++;
		return obj;
	}
	for (;;) {
		if (r->p == r->end || *r->p++ != '"' ||
		    (klen = string(r, &key, &kbuf)) < 0)
			goto bad;
		skip_ws(r);
		if (r->p == r->end || *r->p++ != ':' ||
		    (v = value(r)) == NULL) {
			free(kbuf);
			goto bad;
		}
		/* A duplicate name replaces its member, so the object does
		 * not grow: one hash of the name instead of a lookup first. */
		n = json_object_size(obj);
		if (json_object_setn_new_nocheck(obj, key, (size_t)klen,
		    v) != 0 || json_object_size(obj) != n + 1) {
			free(kbuf);
			goto bad;
		}
		free(kbuf);
		skip_ws(r);
		if (r->p < r->end && *r->p == ',') {
			r->p++;
			skip_ws(r);
			continue;
		}
		if (r->p < r->end && *r->p == '}') {
			r->p++;
			return obj;
		}
		goto bad;
	}
bad:
	json_decref(obj);
	return NULL;
}

static json_t *
array(struct rd *r)
{
	json_t *arr = json_array(), *v;

	if (arr == NULL)
		return NULL;
	skip_ws(r);
	if (r->p < r->end && *r->p == ']') {
		r->p++;
		return arr;
	}
	for (;;) {
		if ((v = value(r)) == NULL || json_array_append_new(arr, v) != 0)
			goto bad;
		skip_ws(r);
		if (r->p < r->end && *r->p == ',') {
			r->p++;
			continue;
		}
		if (r->p < r->end && *r->p == ']') {
			r->p++;
			return arr;
		}
		goto bad;
	}
bad:
	json_decref(arr);
	return NULL;
}

static json_t *
value(struct rd *r)
{
	json_t *v = NULL;
	const char *s;
	char *buf;
	ssize_t n;

	skip_ws(r);
	if (r->p == r->end)
		return NULL;
	switch (*r->p) {
	case '{':
	case '[':
		if (++r->depth > KZ_MAX_JSON_DEPTH)
			return NULL;
		v = *r->p++ == '{' ? object(r) : array(r);
		r->depth--;
		return v;
	case '"':
		r->p++;
		if ((n = string(r, &s, &buf)) < 0)
			return NULL;
		v = json_stringn_nocheck(s, (size_t)n);
		free(buf);
		return v;
	case 't':
		return literal(r, "true") ? json_true() : NULL;
	case 'f':
		return literal(r, "false") ? json_false() : NULL;
	case 'n':
		return literal(r, "null") ? json_null() : NULL;
	default:
		return number(r);
	}
}

json_t *
kz_json_load(const char *buf, size_t len)
{
	struct rd r = { (const unsigned char *)buf,
		(const unsigned char *)buf + len, 0 };
	json_t *v;

	skip_ws(&r);
	if (r.p == r.end || (*r.p != '{' && *r.p != '['))
		return NULL;		/* an object or array, as jansson */
	if ((v = value(&r)) == NULL)
		return NULL;
	skip_ws(&r);
	if (r.p != r.end) {
		json_decref(v);
		return NULL;
	}
	return v;
}
