/*
 * ref_b64.h - a reference base64url decoder for the tests and fuzzers to
 * compare kz_b64url_decode with: RFC 4648 section 5 without padding,
 * strict, written the slow and obvious way (6 bits per character, whole
 * bytes out), so that it shares no trick with the fast one.
 */
#ifndef KZ_REF_B64_H
#define KZ_REF_B64_H

#include <stddef.h>

static inline int
ref_b64val(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ?
	    c - 'a' + 26 : c >= '0' && c <= '9' ? c - '0' + 52 : c == '-' ?
	    62 : c == '_' ? 63 : -1;
}

/* 0 and the byte count in *olen, or -1: a byte outside the alphabet, a
 * length of 1 mod 4, or leftover bits of the last character not zero. */
static inline int
ref_b64_decode(const char *in, size_t len, unsigned char *out, size_t *olen)
{
	unsigned long acc = 0;
	int bits = 0;
	size_t o = 0;

	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int v = ref_b64val((unsigned char)in[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6 | (unsigned long)v) & 0xffffff;
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	if (bits > 0 && (acc & ((1UL << bits) - 1)) != 0)
		return -1;
	*olen = o;
	return 0;
}

#endif
