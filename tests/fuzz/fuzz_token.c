/*
 * fuzz_token.c - a token from a hostile client: the shape check, the
 * "plainly not a token" test, and the whole local pipeline (kz_decide
 * with a pinned JWKS and an HMAC secret, no network), for three services.
 */
#include "fuzz_common.h"

static kz_ctx *ctx;

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static const char *services[] = { "default", "sudo", "sshd" };
	char *tok;
	kz_result res;
	kz_request req = { 0 };

	if (ctx == NULL) {
		char lines[512];

		fuzz_setup();
		snprintf(lines, sizeof(lines), "validation = jwt\n"
		    "algorithms = RS256, ES256, HS256, ES384, RS512\n"
		    "jwks_file = %s/keys.jwks\nhmac_secret_file = %s/hmac\n",
		    fuzz_dir, fuzz_dir);
		ctx = fuzz_ctx("token", lines);
	}
	/* An exact-size copy, so ASan sees any read past the end. */
	if ((tok = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(tok, data, size);
	(void)kz_token_shape(tok, size, 16384);
	(void)kz_is_plainly_not_token(tok, size);
	(void)kz_is_truncation_length(size);
	req.token = tok;
	req.token_len = size;
	req.user = size % 2 ? "alice" : NULL;
	req.service = services[size % 3];
	if (kz_decide(ctx, &req, &res) == KZ_OK &&
	    (res.id.user == NULL || res.id.source != KZ_SRC_JWT))
		abort();	/* an OK must name a user and a source */
	kz_result_clear(&res);
	free(tok);
	return 0;
}
