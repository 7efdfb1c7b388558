/*
 * salvage.c - reading one string member out of a JSON object that may be
 * cut short or broken further on: a token service that rotated and then
 * lost the connection (or sent broken JSON) has already killed the old
 * refresh token, so the new one must be kept if it arrived whole.
 *
 * Only members of the top-level object count; a value is taken only when
 * its closing quote arrived, and only plain printable ASCII (escapes of
 * printable ASCII included), so a half-received token is never adopted.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct cur {
	const char *p, *end;
};

static void
skip_ws(struct cur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' ||
	    *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static int
hexval(char h)
{
	if (h >= '0' && h <= '9')
		return h - '0';
	if (h >= 'a' && h <= 'f')
		return h - 'a' + 10;
	if (h >= 'A' && h <= 'F')
		return h - 'A' + 10;
	return -1;
}

/* A string at c->p (its opening quote); into out (at most cap - 1 bytes,
 * or only skipped when out is NULL).  0 when whole and printable ASCII,
 * -1 when cut, malformed or not ASCII. */
static int
string(struct cur *c, char *out, size_t cap)
{
	size_t n = 0;

	if (c->p >= c->end || *c->p++ != '"')
		return -1;
	while (c->p < c->end) {
		unsigned char ch = (unsigned char)*c->p++;
		int x = 0;

		if (ch == '"') {
			if (out != NULL)
				out[n] = '\0';
			return 0;
		}
		if (ch == '\\') {
			if (c->p >= c->end)
				return -1;
			switch (*c->p++) {
			case '"': ch = '"'; break;
			case '\\': ch = '\\'; break;
			case '/': ch = '/'; break;
			case 'u':
				if (c->end - c->p < 4)
					return -1;
				for (int i = 0; i < 4; i++) {
					int h = hexval(c->p[i]);

					if (h < 0)
						return -1;
					x = x * 16 + h;
				}
				c->p += 4;
				ch = (unsigned char)x;
				if (x > 0x7e)
					return -1;
				break;
			default:
				return -1;	/* \b \f \n \r \t: no token has them */
			}
		}
		if (ch < 0x20 || ch > 0x7e)
			return -1;
		if (out != NULL) {
			if (n + 1 >= cap)
				return -1;
			out[n++] = (char)ch;
		}
	}
	return -1;
}

/* Skips any value; -1 when cut or malformed. */
static int
skip_value(struct cur *c)
{
	int depth = 0;

	skip_ws(c);
	do {
		if (c->p >= c->end)
			return -1;
		if (*c->p == '"') {
			if (string(c, NULL, 0) != 0)
				return -1;
		} else if (*c->p == '{' || *c->p == '[') {
			if (++depth > KZ_MAX_JSON_DEPTH)
				return -1;
			c->p++;
		} else if (*c->p == '}' || *c->p == ']') {
			if (--depth < 0)
				return -1;
			c->p++;
		} else if (depth == 0) {
			/* a number, true, false or null: up to a delimiter */
			while (c->p < c->end && strchr(",}] \t\r\n", *c->p) == NULL)
				c->p++;
			return c->p < c->end ? 0 : -1;
		} else {
			c->p++;
		}
	} while (depth > 0);
	return 0;
}

char *
kz_json_salvage_str(const char *body, size_t len, const char *key)
{
	struct cur c;
	char name[64], *val;

	/* (no body + len on a NULL body: an answer cut before any byte) */
	if (body == NULL || (val = malloc(len + 1)) == NULL)
		return NULL;
	c.p = body;
	c.end = body + len;
	skip_ws(&c);
	if (c.p >= c.end || *c.p++ != '{')
		goto none;
	for (;;) {
		skip_ws(&c);
		if (c.p < c.end && *c.p == ',') {
			c.p++;
			skip_ws(&c);
		}
		if (c.p < c.end && *c.p == '"' && string(&c, name,
		    sizeof(name)) == 0) {
			skip_ws(&c);
			if (c.p >= c.end || *c.p++ != ':')
				goto none;
			skip_ws(&c);
			if (strcmp(name, key) == 0) {
				if (string(&c, val, len + 1) != 0 || val[0] == '\0')
					goto none;
				return val;
			}
			if (skip_value(&c) != 0)
				goto none;
			continue;
		}
		goto none;
	}
none:
	explicit_bzero(val, len + 1);
	free(val);
	return NULL;
}
