/*
 * bench_mem.c - memory of a host process (sshd, sudo) that loads
 * libkzauth and decides: RSS before, after dlopen, after the first
 * decision, after a warm-up, and after 10,000 decisions.  Linked with
 * nothing of ours: it dlopen()s build/libkzauth.so.0 as pam_kztoken does.
 *
 *   bench_mem LIBKZAUTH CONFIG TOKENFILE [COUNT]
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kzauth.h"

static long
status_kb(const char *field)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, field, strlen(field)) == 0)
			v = atol(line + strlen(field) + 1);
	if (f)
		fclose(f);
	return v;
}

int
main(int argc, char **argv)
{
	kz_verdict (*open_)(kz_ctx **, const char *, char *, size_t);
	kz_verdict (*decide)(kz_ctx *, const kz_request *, kz_result *);
	void (*clear)(kz_result *);
	void (*close_)(kz_ctx *);
	char tok[20000], err[512];
	long count = argc > 4 ? atol(argv[4]) : 10000, base, r_load, r_first,
	    r_warm, r_end;
	kz_result res;
	kz_ctx *ctx;
	size_t len;
	void *dl;
	FILE *f;

	if (argc < 4 || (f = fopen(argv[3], "r")) == NULL ||
	    (len = fread(tok, 1, sizeof(tok) - 1, f)) == 0)
		return 2;
	fclose(f);
	while (len > 0 && tok[len - 1] == '\n')
		len--;
	tok[len] = '\0';
	base = status_kb("VmRSS");
	if ((dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "%s\n", dlerror());
		return 2;
	}
	*(void **)&open_ = dlsym(dl, "kz_ctx_open");
	*(void **)&decide = dlsym(dl, "kz_decide");
	*(void **)&clear = dlsym(dl, "kz_result_clear");
	*(void **)&close_ = dlsym(dl, "kz_ctx_close");
	if (!open_ || !decide || !clear || !close_)
		return 2;
	if (open_(&ctx, argv[2], err, sizeof(err)) != KZ_OK) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	r_load = status_kb("VmRSS");
	kz_request req = { .token = tok, .token_len = len, .user = "alice",
		.service = "default" };
	if (decide(ctx, &req, &res) != KZ_OK) {
		fprintf(stderr, "decision: %s\n", res.detail);
		return 1;
	}
	clear(&res);
	r_first = status_kb("VmRSS");
	for (long i = 0; i < 1000; i++) {
		decide(ctx, &req, &res);
		clear(&res);
	}
	r_warm = status_kb("VmRSS");
	for (long i = 0; i < count; i++) {
		if (decide(ctx, &req, &res) != KZ_OK)
			return 1;
		clear(&res);
	}
	r_end = status_kb("VmRSS");
	close_(ctx);
	printf("base_kb %ld\nload_kb %ld\nfirst_kb %ld\nwarm_kb %ld\n"
	    "end_kb %ld\nhwm_kb %ld\ngrowth_kb %ld\n", base, r_load - base,
	    r_first - base, r_warm - base, r_end - base, status_kb("VmHWM"),
	    r_end - r_warm);
	return 0;
}
