/*
 * fuzz_jwks.c - a JWKS document from a provider (or a tampered cache
 * file): kz_keyset_from_json, and every key it accepts back into PEM.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct kz_keyset *ks = NULL;
	char err[256], *buf = malloc(size + 1);

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	if (kz_keyset_from_json(buf, size, &ks, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < ks->nkeys; i++) {
			char *pem;

			if (!kz_key_ready(&ks->keys[i]))
				continue;
			pem = kz_key_to_pem(&ks->keys[i]);

			if (ks->keys[i].family != KZ_ALG_HMAC &&
			    ks->keys[i].pkey == NULL)
				abort();
			free(pem);
		}
		kz_keyset_free(ks);
	}
	free(buf);
	return 0;
}
