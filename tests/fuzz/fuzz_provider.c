/*
 * fuzz_provider.c - answers from a hostile or broken provider, through
 * the real code that reads them: RFC 7662 introspection, tokeninfo, the
 * JWKS and discovery documents, and the token endpoint's refresh answers
 * (oauth2 and Kaizala dialects).  Input: one byte picks the endpoint, one
 * the HTTP status, one the headers; the rest is the body.
 */
#include "fuzz_answers.h"
#include "fake_http.h"

#include <openssl/hmac.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static char hs256[1024];

static const long statuses[] = { 200, 200, 200, 200, 400, 401, 403, 404,
	429, 500, 503, 308, 302, 0 };
static const kz_reason fails[] = { KZ_R_NONE, KZ_R_NONE, KZ_R_NONE,
	KZ_R_NONE, KZ_R_TIMEOUT, KZ_R_PROVIDER_UNREACHABLE, KZ_R_PROVIDER_ERROR };

/* The HS256 seed token, signed now with the fuzz secret. */
static void
sign_hs256(void)
{
	const char *si = HS256_JWT;
	size_t silen = strrchr(si, '.') - si;
	unsigned char mac[32];
	unsigned int maclen = 0;
	char *sig;

	HMAC(EVP_sha256(), FUZZ_HMAC, (int)strlen(FUZZ_HMAC),
	    (const unsigned char *)si, silen, mac, &maclen);
	sig = kz_b64url_encode(mac, maclen);
	snprintf(hs256, sizeof(hs256), "%.*s.%s", (int)silen, si, sig);
	free(sig);
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char lines[1024], path[256], *body;
	kz_ctx *ctx;
	unsigned which;

	if (size < 3)
		return 0;
	fuzz_setup();
	if (hs256[0] == '\0')
		sign_hs256();
	which = data[0] % 8;
	fake_answer.status = statuses[data[1] % KZ_NELEM(statuses)];
	fake_answer.fail = fails[(data[1] >> 4) % KZ_NELEM(fails)];
	fake_answer.retry_after = data[2] & 1 ? (long)(data[2] >> 1) : -1;
	fake_answer.location = data[2] & 2 ? "https://idp.test/moved/token" :
	    data[2] & 4 ? "http://evil.test/x" : NULL;
	fake_answer.date = data[2] & 8 ? FUZZ_NOW + 600 : 0;
	/* exact-size copy so ASan sees reads past the end */
	if ((body = malloc(size - 3 + 1)) == NULL)
		return 0;
	memcpy(body, data + 3, size - 3);
	fake_answer.body = body;
	fake_answer.len = size - 3;
	/* nothing from the previous input may answer for this one */
	snprintf(path, sizeof(path), "%s/cache/jwks-p.json", fuzz_dir);
	unlink(path);

	switch (which) {
	case 0:		/* introspection of an opaque token */
	case 1:
		ctx = fuzz_ctx("introspect", "introspection_url = "
		    "https://idp.test/introspect\ngroups_claim = groups\n");
		decide(ctx, OPAQUE, which ? "sudo" : "sshd");
		break;
	case 2:		/* tokeninfo, Kaizala-style header */
		ctx = fuzz_ctx("tokeninfo", "validation = tokeninfo\n"
		    "tokeninfo_url = https://idp.test/tokeninfo\n"
		    "tokeninfo_header = accessToken\n");
		decide(ctx, OPAQUE, "sudo");
		break;
	case 3:		/* the JWKS, for a kid we do not know yet */
		ctx = fuzz_ctx("jwks", "jwks_url = https://idp.test/jwks\n");
		decide(ctx, RS256_JWT, "default");
		break;
	case 4:		/* discovery, then whatever it points to */
		ctx = fuzz_ctx("discovery", "discovery = "
		    "https://idp.test/.well-known/openid-configuration\n");
		decide(ctx, OPAQUE, "default");
		break;
	case 5:		/* revocation_check on a JWT that verifies */
		snprintf(lines, sizeof(lines), "algorithms = HS256\n"
		    "hmac_secret_file = %s/hmac\nintrospection_url = "
		    "https://idp.test/introspect\nrevocation_check = "
		    "introspect\n", fuzz_dir);
		ctx = fuzz_ctx("revocation", lines);
		decide(ctx, hs256, "default");
		break;
	case 6:		/* the token endpoint, oauth2 */
		ctx = fuzz_ctx("oauth2", "token_url = https://idp.test/token\n"
		    "introspection_url = https://idp.test/introspect\n");
		refresh(ctx, "g1");
		break;
	default:	/* the token endpoint, Kaizala */
		ctx = fuzz_ctx("kaizala", "token_url = "
		    "https://idp.test/kaizala/token\ntoken_style = kaizala\n"
		    "tokeninfo_url = https://idp.test/tokeninfo\n");
		refresh(ctx, "g2");
		break;
	}
	kz_ctx_close(ctx);
	free(body);
	return 0;
}
