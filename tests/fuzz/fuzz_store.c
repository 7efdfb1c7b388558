/*
 * fuzz_store.c - an enrollment store file (root's, but it may be damaged
 * or edited by hand): kz_enr_parse, and formatting what it accepted must
 * parse again to the same.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct kz_enr e, again;
	char err[256], *buf = malloc(size + 1), *txt;
	size_t len;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	if (kz_enr_parse(buf, &e, err, sizeof(err)) == 0) {
		if ((txt = kz_enr_format(&e, &len)) != NULL) {
			if (kz_enr_parse(txt, &again, err, sizeof(err)) != 0 ||
			    strcmp(again.refresh_token, e.refresh_token) != 0 ||
			    strcmp(again.name, e.name) != 0) {
				fprintf(stderr, "round trip: %s\n", err);
				abort();
			}
			kz_enr_clear(&again);
			explicit_bzero(txt, len);
			free(txt);
		}
		kz_enr_clear(&e);
	}
	explicit_bzero(buf, size);
	free(buf);
	return 0;
}
