/*
 * jtree.c - a read-only JSON tree in an arena (struct kz_jv), for the
 * claims every JWT decision reads.
 *
 * Building the claims as jansson values cost about 27 allocations for a
 * 9-member payload (the object, its hash buckets and pairs, two per
 * string), and as many frees.  This tree lives in one arena: a stack
 * buffer of the caller's (KZ_ARENA_STACK bytes), then heap blocks when a
 * document needs more.  Its reader reads exactly the language of
 * kz_json_load (json.c): an object or array at the top, RFC 8259, UTF-8
 * checked with json.c's own helpers, no U+0000, no duplicate member
 * names, integers that fit json_int_t, real numbers handed to jansson,
 * nesting at most KZ_MAX_JSON_DEPTH.  fuzz_json checks on every input
 * that kz_jv_parse and kz_json_load accept the same documents and give
 * equal values.
 *
 * Provider answers stay jansson values; kz_jv_from_json gives the same
 * tree for one, so that the claim checks (identity.c) have one form only.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define BLOCK_HDR 16		/* keeps the blocks' payload 16-aligned */
#define SMALL_OBJECT 16		/* members checked for duplicates one by one */

void
kz_arena_init(struct kz_arena *a)
{
	a->p = a->stack;
	a->left = sizeof(a->stack);
	a->heap = NULL;
	a->grow = 16384;
}

void
kz_arena_free(struct kz_arena *a)
{
	void *b = a->heap, *prev;

	while (b != NULL) {
		memcpy(&prev, b, sizeof(prev));
		free(b);
		b = prev;
	}
	kz_arena_init(a);
}

static void *
arena_alloc(struct kz_arena *a, size_t n)
{
	void *p;

	if (n > SIZE_MAX / 4)
		return NULL;
	n = (n + 7) & ~(size_t)7;
	if (n > a->left) {
		size_t sz = a->grow;
		unsigned char *b;

		if (n > sz - BLOCK_HDR)
			sz = n + BLOCK_HDR;
		if ((b = malloc(sz)) == NULL)
			return NULL;
		memcpy(b, &a->heap, sizeof(a->heap));
		a->heap = b;
		a->p = b + BLOCK_HDR;
		a->left = sz - BLOCK_HDR;
		if (a->grow < 1024 * 1024)
			a->grow *= 2;
	}
	p = a->p;
	a->p += n;
	a->left -= n;
	return p;
}

static struct kz_jv *
node(struct kz_arena *a, uint8_t type)
{
	struct kz_jv *v = arena_alloc(a, sizeof(*v));

	if (v != NULL) {
		memset(v, 0, sizeof(*v));
		v->type = type;
	}
	return v;
}

/* ---- the reader ---- */

struct jr {
	const unsigned char *p, *end;
	int depth;
	struct kz_arena *a;
};

static struct kz_jv *value(struct jr *r);

static void
skip_ws(struct jr *r)
{
	const unsigned char *p = r->p;

	while (p < r->end && (*p == ' ' || *p == '\t' || *p == '\n' ||
	    *p == '\r'))
		p++;
	r->p = p;
}

static bool
literal(struct jr *r, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
		return false;
	r->p += n;
	return true;
}

/* Printable ASCII but '"' and '\\': what a string holds as it is. */
static const unsigned char plain[256] = {
	[0x20 ... 0x21] = 1, [0x23 ... 0x5b] = 1, [0x5d ... 0x7f] = 1,
};

/* One \uXXXX escape (two for a surrogate pair) at *pp, just past the 'u',
 * within [*pp, end): as json.c's unicode_escape. */
static int
unicode_escape(const unsigned char **pp, const unsigned char *end,
    unsigned char *o, size_t *olen)
{
	const unsigned char *p = *pp;
	unsigned cp, lo;

	if (kz_json_hex4(p, end, &cp) != 0)
		return -1;
	p += 4;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return -1;			/* a lone low surrogate */
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
		    kz_json_hex4(p + 2, end, &lo) != 0 || lo < 0xdc00 ||
		    lo > 0xdfff)
			return -1;
		p += 6;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	if (cp == 0)
		return -1;			/* U+0000, as json.c */
	*olen = kz_json_put_utf8(cp, o);
	*pp = p;
	return 0;
}

/*
 * A string, r->p just past its opening quote: a NUL-terminated copy in
 * the arena, its length in *len; NULL when malformed.  The closing quote
 * is found first (an escape is a backslash and the byte after it), so the
 * copy is never longer than the raw text; the bytes are then checked and
 * decoded as json.c's string() does.
 */
static const char *
string(struct jr *r, uint32_t *len)
{
	const unsigned char *s = r->p, *q, *p, *end = r->end;
	unsigned char *o;
	size_t n = 0, k;

	/* (a local pointer: through r->p each byte read could alias it;
	 * four bytes a step while they are all plain) */
	for (p = s; end - p >= 4 && (plain[p[0]] & plain[p[1]] &
	    plain[p[2]] & plain[p[3]]); p += 4)
		;
	for (; p < end && plain[*p]; p++)
		;
	r->p = p;
	if (p < end && *p == '"') {	/* plain ASCII only */
		n = (size_t)(p - s);
		if ((o = arena_alloc(r->a, n + 1)) == NULL)
			return NULL;
		memcpy(o, s, n);
		o[n] = '\0';
		r->p = p + 1;
		*len = (uint32_t)n;
		return (const char *)o;
	}
	for (q = r->p; q < r->end && *q != '"'; q++)
		if (*q == '\\' && ++q == r->end)
			break;
	if (q >= r->end)
		return NULL;			/* no closing quote */
	if ((o = arena_alloc(r->a, (size_t)(q - s) + 1)) == NULL)
		return NULL;
	for (p = s; p < q;) {
		unsigned char c = *p;

		if (c >= 0x20 && c < 0x80 && c != '\\') {
			o[n++] = c;
			p++;
			continue;
		}
		if (c < 0x20)
			return NULL;
		if (c == '\\') {
			if (++p == q)
				return NULL;
			switch (*p++) {
			case '"': o[n++] = '"'; break;
			case '\\': o[n++] = '\\'; break;
			case '/': o[n++] = '/'; break;
			case 'b': o[n++] = '\b'; break;
			case 'f': o[n++] = '\f'; break;
			case 'n': o[n++] = '\n'; break;
			case 'r': o[n++] = '\r'; break;
			case 't': o[n++] = '\t'; break;
			case 'u':
				if (unicode_escape(&p, q, o + n, &k) != 0)
					return NULL;
				n += k;
				break;
			default:
				return NULL;
			}
			continue;
		}
		if ((k = kz_json_utf8_len(p, q)) == 0)
			return NULL;
		memcpy(o + n, p, k);
		n += k;
		p += k;
	}
	o[n] = '\0';
	r->p = q + 1;
	*len = (uint32_t)n;
	return (const char *)o;
}

/* A number, as json.c's number(): integers here, reals by jansson. */
static struct kz_jv *
number(struct jr *r)
{
	const unsigned char *s = r->p;
	bool real = false;
	struct kz_jv *v;
	long long i;
	unsigned long long m = 0, lim;
	bool neg;

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
	if (real) {
		json_error_t jerr;
		json_t *j = json_loadb((const char *)s, (size_t)(r->p - s),
		    JSON_DECODE_ANY, &jerr);

		v = NULL;
		if (json_is_real(j) && (v = node(r->a, KZ_JT_REAL)) != NULL)
			v->u.d = json_real_value(j);
		else if (json_is_integer(j) &&
		    (v = node(r->a, KZ_JT_INT)) != NULL)
			v->u.i = json_integer_value(j);
		json_decref(j);
		return v;
	}
	if (r->p - s >= 64)
		return NULL;			/* past any json_int_t */
	/* The digits are checked above: their value here, refused past
	 * the range of long long as strtoll refuses it (ERANGE), without
	 * a copy and a strtoll per number. */
	neg = *s == '-';
	lim = neg ? (unsigned long long)LLONG_MAX + 1 : LLONG_MAX;
	for (const unsigned char *d = s + neg; d < r->p; d++) {
		if (m > (lim - (unsigned)(*d - '0')) / 10)
			return NULL;
		m = m * 10 + (unsigned)(*d - '0');
	}
	i = !neg ? (long long)m : m == lim ? LLONG_MIN : -(long long)m;
	if ((v = node(r->a, KZ_JT_INT)) != NULL)
		v->u.i = (json_int_t)i;
	return v;
}

/* Member m is called key (kl bytes).  Most names of a length differ in
 * their first byte (sub, iss, jti, exp, aud): that is looked at before
 * memcmp is called. */
static inline bool
same_name(const struct kz_jv *m, const char *key, size_t kl)
{
	return m->klen == kl && (kl == 0 || (m->key[0] == key[0] &&
	    memcmp(m->key + 1, key + 1, kl - 1) == 0));
}

static int
cmp_member(const void *a, const void *b)
{
	const struct kz_jv *x = *(const struct kz_jv *const *)a;
	const struct kz_jv *y = *(const struct kz_jv *const *)b;

	if (x->klen != y->klen)
		return x->klen < y->klen ? -1 : 1;
	return memcmp(x->key, y->key, x->klen);
}

/* A large object's duplicates: sorted by name, then neighbours. */
static bool
has_duplicates(struct kz_arena *a, const struct kz_jv *o)
{
	const struct kz_jv **v = arena_alloc(a, o->n * sizeof(*v)), *m;
	size_t i = 0;

	if (v == NULL)
		return true;		/* out of memory: refused */
	for (m = o->u.first; m != NULL; m = m->next)
		v[i++] = m;
	qsort(v, o->n, sizeof(*v), cmp_member);
	for (i = 1; i < o->n; i++)
		if (cmp_member(&v[i - 1], &v[i]) == 0)
			return true;
	return false;
}

static struct kz_jv *
object(struct jr *r)
{
	struct kz_jv *o = node(r->a, KZ_JT_OBJ), *last = NULL, *m;
	const struct kz_jv *x;
	const char *key;
	uint32_t klen;

	if (o == NULL)
		return NULL;
	skip_ws(r);
	if (r->p < r->end && *r->p == '}') {
		r->p++;
		return o;
	}
	for (;;) {
		if (r->p == r->end || *r->p++ != '"' ||
		    (key = string(r, &klen)) == NULL)
			return NULL;
		skip_ws(r);
		if (r->p == r->end || *r->p++ != ':' || (m = value(r)) == NULL)
			return NULL;
		m->key = key;
		m->klen = klen;
		if (o->n < SMALL_OBJECT)
			for (x = o->u.first; x != NULL; x = x->next)
				if (same_name(x, key, klen))
					return NULL;	/* duplicate */
		if (last != NULL)
			last->next = m;
		else
			o->u.first = m;
		last = m;
		if (++o->n == UINT32_MAX)
			return NULL;
		skip_ws(r);
		if (r->p < r->end && *r->p == ',') {
			r->p++;
			skip_ws(r);
			continue;
		}
		if (r->p < r->end && *r->p == '}') {
			r->p++;
			break;
		}
		return NULL;
	}
	if (o->n > SMALL_OBJECT && has_duplicates(r->a, o))
		return NULL;
	return o;
}

static struct kz_jv *
array(struct jr *r)
{
	struct kz_jv *arr = node(r->a, KZ_JT_ARR), *last = NULL, *v;

	if (arr == NULL)
		return NULL;
	skip_ws(r);
	if (r->p < r->end && *r->p == ']') {
		r->p++;
		return arr;
	}
	for (;;) {
		if ((v = value(r)) == NULL)
			return NULL;
		if (last != NULL)
			last->next = v;
		else
			arr->u.first = v;
		last = v;
		if (++arr->n == UINT32_MAX)
			return NULL;
		skip_ws(r);
		if (r->p < r->end && *r->p == ',') {
			r->p++;
			continue;
		}
		if (r->p < r->end && *r->p == ']') {
			r->p++;
			return arr;
		}
		return NULL;
	}
}

static struct kz_jv *
value(struct jr *r)
{
	struct kz_jv *v;
	const char *s;
	uint32_t n;

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
		if ((s = string(r, &n)) == NULL ||
		    (v = node(r->a, KZ_JT_STR)) == NULL)
			return NULL;
		v->u.s = s;
		v->n = n;
		return v;
	case 't':
		return literal(r, "true") ? node(r->a, KZ_JT_TRUE) : NULL;
	case 'f':
		return literal(r, "false") ? node(r->a, KZ_JT_FALSE) : NULL;
	case 'n':
		return literal(r, "null") ? node(r->a, KZ_JT_NULL) : NULL;
	default:
		return number(r);
	}
}

const struct kz_jv *
kz_jv_parse(struct kz_arena *a, const char *buf, size_t len)
{
	struct jr r = { (const unsigned char *)buf,
		(const unsigned char *)buf + len, 0, a };
	const struct kz_jv *v;

	if (buf == NULL || len >= UINT32_MAX)
		return NULL;
	skip_ws(&r);
	if (r.p == r.end || (*r.p != '{' && *r.p != '['))
		return NULL;		/* an object or array, as json.c */
	if ((v = value(&r)) == NULL)
		return NULL;
	skip_ws(&r);
	return r.p == r.end ? v : NULL;
}

/* ---- from jansson ---- */

static struct kz_jv *
from_json(struct kz_arena *a, json_t *j, int depth)
{
	struct kz_jv *v, *last = NULL, *m;
	const char *k;
	json_t *x;
	size_t i;

	switch (json_typeof(j)) {
	case JSON_OBJECT:
		if (++depth > KZ_MAX_JSON_DEPTH ||
		    (v = node(a, KZ_JT_OBJ)) == NULL)
			return NULL;
		json_object_foreach(j, k, x) {
			size_t kl = strlen(k);

			if (kl >= UINT32_MAX || v->n == UINT32_MAX - 1 ||
			    (m = from_json(a, x, depth)) == NULL)
				return NULL;
			m->key = k;
			m->klen = (uint32_t)kl;
			if (last != NULL)
				last->next = m;
			else
				v->u.first = m;
			last = m;
			v->n++;
		}
		return v;
	case JSON_ARRAY:
		if (++depth > KZ_MAX_JSON_DEPTH ||
		    (v = node(a, KZ_JT_ARR)) == NULL)
			return NULL;
		json_array_foreach(j, i, x) {
			if (v->n == UINT32_MAX - 1 ||
			    (m = from_json(a, x, depth)) == NULL)
				return NULL;
			if (last != NULL)
				last->next = m;
			else
				v->u.first = m;
			last = m;
			v->n++;
		}
		return v;
	case JSON_STRING:
		if (json_string_length(j) >= UINT32_MAX ||
		    (v = node(a, KZ_JT_STR)) == NULL)
			return NULL;
		v->u.s = json_string_value(j);
		v->n = (uint32_t)json_string_length(j);
		return v;
	case JSON_INTEGER:
		if ((v = node(a, KZ_JT_INT)) != NULL)
			v->u.i = json_integer_value(j);
		return v;
	case JSON_REAL:
		if ((v = node(a, KZ_JT_REAL)) != NULL)
			v->u.d = json_real_value(j);
		return v;
	case JSON_TRUE:
		return node(a, KZ_JT_TRUE);
	case JSON_FALSE:
		return node(a, KZ_JT_FALSE);
	case JSON_NULL:
		return node(a, KZ_JT_NULL);
	}
	return NULL;
}

const struct kz_jv *
kz_jv_from_json(struct kz_arena *a, json_t *j)
{
	return j != NULL ? from_json(a, j, 0) : NULL;
}

/* ---- reading ---- */

const char *
kz_jv_str(const struct kz_jv *o, const char *key)
{
	const struct kz_jv *v = kz_jv_get(o, key);

	return kz_jv_is_str(v) ? v->u.s : NULL;
}

/* RFC 7519 NumericDate as DESIGN.md 4.6 bounds it: an integer from the
 * epoch to the end of year 9999, so that no later arithmetic (now - t,
 * t + leeway) can overflow.  1 present, 0 absent, -1 anything else. */
int
kz_jv_time(const struct kz_jv *v, int64_t *out)
{
	if (v == NULL)
		return 0;
	if (v->type != KZ_JT_INT || v->u.i < 0 || v->u.i > KZ_TIME_MAX)
		return -1;
	*out = (int64_t)v->u.i;
	return 1;
}

/* An array of strings, or one string of names separated by commas or
 * spaces; absent and null give none.  -1 for another type. */
int
kz_jv_names(const struct kz_jv *v, struct kz_strv *out)
{
	const struct kz_jv *item;

	if (v == NULL || v->type == KZ_JT_NULL)
		return 0;
	if (v->type == KZ_JT_STR)
		return kz_strv_split(out, v->u.s);
	if (v->type != KZ_JT_ARR)
		return -1;
	for (item = v->u.first; item != NULL; item = item->next)
		/* Names with white space or commas cannot be matched
		 * reliably. */
		if (item->type == KZ_JT_STR && item->n > 0 &&
		    kz_strv_push(out, item->u.s, item->n) != 0)
			return -1;
	return 0;
}
