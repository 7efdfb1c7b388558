/*
 * fake_http.c - kz_http_do for the fuzz targets: the provider's answer
 * is whatever the fuzzer says (status, body, headers), with the same
 * contract as http.c (bodies over KZ_MAX_BODY are a failure).  http.c is
 * compiled with -Dkz_http_do=kz_http_do_real so the rest of it (form
 * encoding, URL rules) stays the real code.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "fake_http.h"

struct fake_answer fake_answer;
unsigned fake_requests;

int
kz_http_do(kz_ctx *ctx, const struct kz_http_req *req,
    struct kz_http_resp *resp)
{
	const struct fake_answer *a = &fake_answer;

	(void)ctx;
	memset(resp, 0, sizeof(*resp));
	resp->retry_after = -1;
	fake_requests++;
	if (kz_url_allowed(req->url, req->allow_http_loopback) != 0) {
		resp->fail = KZ_R_CONFIG;
		return -1;
	}
	if (a->fail != KZ_R_NONE) {
		resp->fail = a->fail;
		memcpy(resp->err, "injected", 9);
		return -1;
	}
	if (a->len > KZ_MAX_BODY) {
		resp->fail = KZ_R_PROVIDER_ERROR;
		return -1;
	}
	resp->status = a->status;
	resp->retry_after = a->retry_after;
	resp->date = a->date;
	if (a->location != NULL)
		resp->location = strdup(a->location);
	/* exact size + NUL, as http.c keeps it */
	if ((resp->body = malloc(a->len + 1)) == NULL)
		return -1;
	memcpy(resp->body, a->body, a->len);
	resp->body[a->len] = '\0';
	resp->body_len = a->len;
	return 0;
}
