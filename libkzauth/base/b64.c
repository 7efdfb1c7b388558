/*
 * b64.c - strict base64url, because libjwt's decoder skips characters
 * outside the alphabet and so accepts tokens that are not what was signed.
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "internal.h"

/*
 * Each base64url character's 6 bits, already shifted to where they go in
 * a group of four characters (24 bits), one table per position; a
 * character outside the alphabet sets bits above the 24 (B64_BAD).  A
 * group is then four lookups and an OR, and one test says whether all
 * four characters were in the alphabet: every byte of every token
 * passes through here.  The tables are spelt out by the preprocessor
 * from B64_VAL, so there is one definition of the alphabet.
 */
#define B64_BAD		0xff000000u
#define B64_VAL(c)	((c) >= 'A' && (c) <= 'Z' ? (c) - 'A' :		\
			 (c) >= 'a' && (c) <= 'z' ? (c) - 'a' + 26 :	\
			 (c) >= '0' && (c) <= '9' ? (c) - '0' + 52 :	\
			 (c) == '-' ? 62 : (c) == '_' ? 63 : -1)
#define B64_ENT(c, sh)	(B64_VAL(c) < 0 ? B64_BAD : (uint32_t)B64_VAL(c) << (sh))
#define B64_R4(c, sh)	B64_ENT((c), sh), B64_ENT((c) + 1, sh),	\
			B64_ENT((c) + 2, sh), B64_ENT((c) + 3, sh)
#define B64_R16(c, sh)	B64_R4((c), sh), B64_R4((c) + 4, sh),		\
			B64_R4((c) + 8, sh), B64_R4((c) + 12, sh)
#define B64_R64(c, sh)	B64_R16((c), sh), B64_R16((c) + 16, sh),	\
			B64_R16((c) + 32, sh), B64_R16((c) + 48, sh)
#define B64_TABLE(sh)	{ B64_R64(0, sh), B64_R64(64, sh),		\
			  B64_R64(128, sh), B64_R64(192, sh) }

static const uint32_t b64url_d0[256] = B64_TABLE(18);
static const uint32_t b64url_d1[256] = B64_TABLE(12);
static const uint32_t b64url_d2[256] = B64_TABLE(6);
static const uint32_t b64url_d3[256] = B64_TABLE(0);

/* Four characters at a time: three bytes per step; the tail of two or
 * three characters gives one or two bytes whose leftover bits must be
 * zero, or two encodings would mean one value.  out needs len / 4 * 3 + 3
 * bytes (NUL-terminated).  On failure the bytes written are cleared. */
int
kz_b64url_decode_to(const char *in, size_t len, unsigned char *out,
    size_t cap, size_t *outlen)
{
	const unsigned char *s = (const unsigned char *)in;
	const unsigned char *end4 = s + (len - len % 4);
	size_t o = 0, tail = len % 4;
	uint32_t v;

	*outlen = 0;
	if (tail == 1 || cap < len / 4 * 3 + 3)
		return -1;
	for (; s != end4; s += 4, o += 3) {
		v = b64url_d0[s[0]] | b64url_d1[s[1]] | b64url_d2[s[2]] |
		    b64url_d3[s[3]];
		if (v & B64_BAD)
			goto bad;
		/* the three bytes and a NUL in one store: out has room for
		 * it (out[len / 4 * 3] at most) */
		v = htobe32(v << 8);
		memcpy(out + o, &v, sizeof(v));
	}
	if (tail > 0) {
		v = b64url_d0[s[0]] | b64url_d1[s[1]] |
		    (tail == 3 ? b64url_d2[s[2]] : 0);
		if (v & B64_BAD)
			goto bad;
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
