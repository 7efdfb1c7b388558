/*
 * fuzz_parsers.c - the small parsers that later work added, each fed the
 * same hostile bytes: the salvage reader of cut provider answers
 * (salvage.c, which must never read past the body nor invent a token that
 * did not arrive whole), and the URL rules (url.c), whose strict reading
 * and libcurl's must agree before a URL is used.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static void
salvage(const unsigned char *data, size_t size)
{
	static const char *const keys[] = { "refresh_token", "refreshToken",
		"access_token", "" };
	/* an exact-size copy, so ASan sees any read past the body */
	char *body = malloc(size ? size : 1);

	if (body == NULL)
		return;
	memcpy(body, data, size);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char *v = kz_json_salvage_str(body, size, keys[i]);

		/* whatever it returns came out of the body */
		if (v != NULL && strlen(v) > size)
			abort();
		kz_free_secret(v);
	}
	free(body);
}

/* True when the authority (after "://", up to the path) holds a '@'. */
static bool
has_userinfo(const char *url)
{
	const char *a = strstr(url, "://");

	if (a == NULL)
		return false;
	a += 3;
	return memchr(a, '@', strcspn(a, "/?#")) != NULL;
}

static void
urls(const unsigned char *data, size_t size)
{
	char *url = malloc(size + 1);

	if (url == NULL)
		return;
	memcpy(url, data, size);
	url[size] = '\0';
	for (int loop = 0; loop <= 1; loop++) {
		int strict = kz_url_syntax_ok(url, loop);
		int full = kz_url_allowed(url, loop);

		/* the full check only ever refuses more */
		if (full == 0 && strict != 0)
			abort();
		/* nothing with a control byte or userinfo gets through */
		if (full == 0 && (strpbrk(url, "\r\n\t ") != NULL ||
		    has_userinfo(url)))
			abort();
	}
	free(url);
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	if (size > 64 * 1024)
		return 0;
	salvage(data, size);
	urls(data, size);
	return 0;
}
