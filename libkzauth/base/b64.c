/*
 * b64.c - strict base64url, because libjwt's decoder skips characters
 * outside the alphabet and so accepts tokens that are not what was signed.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "internal.h"

/* Value + 1 of each base64url character, 0 outside the alphabet: a table,
 * since every byte of every token passes through here. */
static const unsigned char b64url_table[256] = {
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6,
	['G'] = 7, ['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12,
	['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17,
	['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22,
	['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27,
	['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
	['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37,
	['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
	['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47,
	['v'] = 48, ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52,
	['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56, ['4'] = 57,
	['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62,
	['-'] = 63, ['_'] = 64,
};

/* Four characters at a time: three bytes per step, one table lookup per
 * character and one test per step (a character outside the alphabet
 * turns its value negative); the tail of two or three characters gives
 * one or two bytes whose leftover bits must be zero, or two encodings
 * would mean one value.  out needs len / 4 * 3 + 3 bytes (NUL-terminated). */
int
kz_b64url_decode_to(const char *in, size_t len, unsigned char *out,
    size_t cap, size_t *outlen)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0, i = 0, tail = len % 4;
	unsigned long v;

	*outlen = 0;
	if (tail == 1 || cap < len / 4 * 3 + 3)
		return -1;
	for (; i + 4 <= len; i += 4) {
		int a = b64url_table[s[i]] - 1, b = b64url_table[s[i + 1]] - 1,
		    c = b64url_table[s[i + 2]] - 1, d = b64url_table[s[i + 3]] - 1;

		if ((a | b | c | d) < 0)
			goto bad;
		v = (unsigned long)a << 18 | (unsigned long)b << 12 |
		    (unsigned long)c << 6 | (unsigned long)d;
		out[o++] = (unsigned char)(v >> 16);
		out[o++] = (unsigned char)(v >> 8);
		out[o++] = (unsigned char)v;
	}
	if (tail > 0) {
		int a = b64url_table[s[i]] - 1, b = b64url_table[s[i + 1]] - 1,
		    c = tail == 3 ? b64url_table[s[i + 2]] - 1 : 0;

		if ((a | b | c) < 0)
			goto bad;
		v = (unsigned long)a << 18 | (unsigned long)b << 12 |
		    (unsigned long)c << 6;
		out[o++] = (unsigned char)(v >> 16);
		if (tail == 3)
			out[o++] = (unsigned char)(v >> 8);
		if ((tail == 2 ? v & 0xffff : v & 0xff) != 0)
			goto bad;
	}
	out[o] = '\0';
	*outlen = o;
	return 0;
bad:
	explicit_bzero(out, o);
	return -1;
}

int
kz_b64url_decode(const char *in, size_t len, unsigned char **out,
    size_t *outlen)
{
	size_t cap = len / 4 * 3 + 3;
	unsigned char *buf;

	*out = NULL;
	*outlen = 0;
	if (len % 4 == 1 || (buf = malloc(cap)) == NULL)
		return -1;
	if (kz_b64url_decode_to(in, len, buf, cap, outlen) != 0) {
		free(buf);
		return -1;
	}
	*out = buf;
	return 0;
}

static char *
b64_encode(const unsigned char *in, size_t len, bool url)
{
	size_t cap = 4 * ((len + 2) / 3) + 1;
	char *out = malloc(cap);
	int n;

	if (out == NULL)
		return NULL;
	n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	if (n < 0) {
		free(out);
		return NULL;
	}
	out[n] = '\0';
	if (url) {
		for (int i = 0; i < n; i++) {
			if (out[i] == '+')
				out[i] = '-';
			else if (out[i] == '/')
				out[i] = '_';
		}
		while (n > 0 && out[n - 1] == '=')
			out[--n] = '\0';
	}
	return out;
}

char *
kz_b64url_encode(const unsigned char *in, size_t len)
{
	return b64_encode(in, len, true);
}

char *
kz_b64_encode(const unsigned char *in, size_t len)
{
	return b64_encode(in, len, false);
}
