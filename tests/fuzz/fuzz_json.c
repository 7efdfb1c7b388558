/*
 * fuzz_json.c - libkzauth's JSON reader (json.c) against jansson's own on
 * the same bytes: both must accept exactly the same documents and give
 * equal values, so that replacing the reader changed speed and nothing
 * else.  jansson runs with JSON_REJECT_DUPLICATES, and its answer counts
 * only where the nesting is within KZ_MAX_JSON_DEPTH, the one limit we
 * add on purpose.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

/* Nesting depth of a document jansson accepted (brackets outside strings). */
static int
depth_of(const char *s, size_t n)
{
	int d = 0, max = 0;
	bool in_str = false;

	for (size_t i = 0; i < n; i++) {
		if (in_str) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_str = false;
		} else if (s[i] == '"')
			in_str = true;
		else if (s[i] == '{' || s[i] == '[')
			max = ++d > max ? d : max;
		else if (s[i] == '}' || s[i] == ']')
			d--;
	}
	return max;
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	/* an exact-size copy, so ASan sees any read past the end */
	char *buf = malloc(size ? size : 1);
	json_error_t jerr;
	json_t *ours, *theirs;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	ours = kz_json_load(buf, size);
	theirs = json_loadb(buf, size, JSON_REJECT_DUPLICATES, &jerr);
	/* jansson's lexer drops a NUL byte that follows a number or a
	 * literal ("[1\0,2]" reads as [1,2]); ours refuses any NUL outside
	 * a string, as RFC 8259 does.  Stricter is the one difference
	 * allowed. */
	if (theirs != NULL && (depth_of(buf, size) > KZ_MAX_JSON_DEPTH ||
	    (ours == NULL && memchr(buf, '\0', size) != NULL))) {
		json_decref(theirs);
		theirs = NULL;
	}
	if ((ours == NULL) != (theirs == NULL) ||
	    (ours != NULL && !json_equal(ours, theirs)))
		abort();
	json_decref(ours);
	json_decref(theirs);
	free(buf);
	return 0;
}
