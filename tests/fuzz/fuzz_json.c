/*
 * fuzz_json.c - libkzauth's JSON reader (json.c) against jansson's own on
 * the same bytes: both must accept exactly the same documents and give
 * equal values, so that replacing the reader changed speed and nothing
 * else.  jansson runs with JSON_REJECT_DUPLICATES, and its answer counts
 * only where the nesting is within KZ_MAX_JSON_DEPTH, the one limit we
 * add on purpose.
 *
 * The arena tree of jtree.c (kz_jv_parse, the JWT claims) is held to
 * kz_json_load the same way: both accept the same documents, and the tree
 * has the same values (its strings NUL-terminated at their length, every
 * member found by kz_jv_get); so does kz_jv_from_json of that value.
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

/* A tree and a jansson value hold the same JSON. */
static bool
jv_equal(const struct kz_jv *t, json_t *j, int depth)
{
	const struct kz_jv *m;
	const char *k;
	json_t *x;
	size_t i = 0;

	if (t == NULL || j == NULL || depth > KZ_MAX_JSON_DEPTH)
		return false;
	switch (t->type) {
	case KZ_JT_NULL:
		return json_is_null(j);
	case KZ_JT_TRUE:
		return json_is_true(j);
	case KZ_JT_FALSE:
		return json_is_false(j);
	case KZ_JT_INT:
		return json_is_integer(j) && json_integer_value(j) == t->u.i;
	case KZ_JT_REAL:
		return json_is_real(j) && json_real_value(j) == t->u.d;
	case KZ_JT_STR:
		return json_is_string(j) && t->u.s != NULL &&
		    json_string_length(j) == t->n && strlen(t->u.s) == t->n &&
		    memcmp(json_string_value(j), t->u.s, t->n) == 0;
	case KZ_JT_ARR:
		if (!json_is_array(j) || json_array_size(j) != t->n ||
		    kz_jv_items(t) != t->u.first)
			return false;
		for (m = t->u.first; m != NULL; m = m->next, i++)
			if (m->key != NULL ||
			    !jv_equal(m, json_array_get(j, i), depth + 1))
				return false;
		return i == t->n;
	case KZ_JT_OBJ:
		if (!json_is_object(j) || json_object_size(j) != t->n ||
		    kz_jv_items(t) != NULL)
			return false;
		for (m = t->u.first; m != NULL; m = m->next, i++)
			if (m->key == NULL || strlen(m->key) != m->klen ||
			    !jv_equal(m, json_object_get(j, m->key), depth + 1))
				return false;
		json_object_foreach(j, k, x)
			if (!jv_equal(kz_jv_get(t, k), x, depth + 1))
				return false;
		return i == t->n;
	}
	return false;
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	/* an exact-size copy, so ASan sees any read past the end */
	char *buf = malloc(size ? size : 1);
	json_error_t jerr;
	json_t *ours, *theirs;
	struct kz_arena arena, conv;
	const struct kz_jv *tree;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	ours = kz_json_load(buf, size);
	kz_arena_init(&arena);
	tree = kz_jv_parse(&arena, buf, size);
	if ((tree == NULL) != (ours == NULL) ||
	    (tree != NULL && !jv_equal(tree, ours, 0)))
		abort();
	kz_arena_init(&conv);
	if (ours != NULL && !jv_equal(kz_jv_from_json(&conv, ours), ours, 0))
		abort();
	kz_arena_free(&conv);
	kz_arena_free(&arena);
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
