/*
 * ctx.c - the decision context: configuration, callbacks, clock and the
 * one network deadline of a decision.  No global state lives anywhere in
 * libkzauth; everything a decision needs hangs off its kz_ctx.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static int64_t
wall_now(void)
{
	return (int64_t)time(NULL);
}

int64_t
kz_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

kz_verdict
kz_ctx_open(kz_ctx **out, const char *path, char *err, size_t errlen)
{
	kz_ctx *ctx;

	*out = NULL;
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return KZ_ERROR;
	}
	if (kz_config_load(&ctx->cfg, path ? path : KZ_DEFAULT_CONFIG, err,
	    errlen) != 0) {
		free(ctx);
		return KZ_ERROR;
	}
	ctx->debug = ctx->cfg->debug;
	ctx->now = wall_now;
	ctx->logfd = -1;
	*out = ctx;
	return KZ_OK;
}

void
kz_ctx_close(kz_ctx *ctx)
{
	if (ctx == NULL)
		return;
	kz_http_free(ctx->http);
	kz_memcache_free(ctx->cache);
	if (ctx->logfd >= 0)
		close(ctx->logfd);
	kz_denylist_free(ctx->deny);
	kz_unbind(ctx);
	free(ctx->hdr_b64);
	json_decref(ctx->hdr_json);
	EVP_MD_CTX_free(ctx->tok_md);
	EVP_MD_CTX_free(ctx->si_md);
	EVP_MD_free(ctx->sha256);
	kz_config_free(ctx->cfg);
	free(ctx);
}

void
kz_ctx_set_trace(kz_ctx *ctx, kz_trace_fn fn, void *arg)
{
	ctx->trace = fn;
	ctx->trace_arg = arg;
}

void
kz_ctx_set_log(kz_ctx *ctx, kz_log_fn fn, void *arg)
{
	ctx->log = fn;
	ctx->log_arg = arg;
}

void
kz_ctx_set_debug(kz_ctx *ctx, int on)
{
	ctx->debug = on != 0;
}

size_t
kz_ctx_max_token_length(const kz_ctx *ctx)
{
	return ctx->cfg->max_token_length;
}

void
kz_trace(kz_ctx *ctx, const char *step, int ok, const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	if (ctx->trace == NULL && !ctx->debug)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (ctx->trace != NULL)
		ctx->trace(ctx->trace_arg, step, ok, detail);
	kz_debug(ctx, "step %s: %s: %s", step, ok > 0 ? "pass" : ok == 0 ?
	    "FAIL" : "info", detail);
}

int64_t
kz_now(kz_ctx *ctx)
{
	return ctx->now();
}

void
kz_deadline_start(kz_ctx *ctx)
{
	ctx->deadline_ms = kz_monotonic_ms() + ctx->cfg->timeout * 1000;
}

void
kz_deadline_start_until(kz_ctx *ctx, int64_t limit_ms)
{
	kz_deadline_start(ctx);
	if (ctx->deadline_ms > limit_ms)
		ctx->deadline_ms = limit_ms;
}

long
kz_deadline_left(kz_ctx *ctx)
{
	int64_t left;

	if (ctx->deadline_ms == 0)
		kz_deadline_start(ctx);
	left = ctx->deadline_ms - kz_monotonic_ms();
	return left > 0 ? (long)left : 0;
}
