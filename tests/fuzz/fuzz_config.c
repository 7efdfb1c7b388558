/*
 * fuzz_config.c - the INI configuration parser, kz_config_parse_string,
 * and the lookups every decision makes on what it accepted.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct kz_config *cfg = NULL;
	char err[512], *text = malloc(size + 1);

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (kz_config_parse_string(&cfg, "fuzz.conf", text, err,
	    sizeof(err)) == 0) {
		if (cfg->provider == NULL ||
		    kz_config_provider(cfg, cfg->provider) == NULL)
			abort();	/* finish() promises a default provider */
		(void)kz_config_service(cfg, "sudo");
		(void)kz_config_service(cfg, "default");
		kz_config_free(cfg);
	} else if (memchr(err, '\0', sizeof(err)) == NULL) {
		abort();
	}
	free(text);
	return 0;
}
