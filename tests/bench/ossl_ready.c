/*
 * ossl_ready.c - preloaded into the reference process of the login rows:
 * OpenSSL loaded and initialised the way a verifying login needs it
 * (configuration, the default provider, and the SHA-256 and RSA
 * implementations fetched), before pamtester runs pam_permit.so.  Whole login minus this
 * process is what libkzauth itself costs.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>

__attribute__((constructor)) static void
ready(void)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n;

	OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL);
	EVP_Digest("x", 1, md, &n, EVP_sha256(), NULL);
	EVP_PKEY_CTX_free(EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL));
	/* the implementations an RSA verification fetches */
	EVP_MD_free(EVP_MD_fetch(NULL, "SHA256", NULL));
	EVP_KEYMGMT_free(EVP_KEYMGMT_fetch(NULL, "RSA", NULL));
	EVP_SIGNATURE_free(EVP_SIGNATURE_fetch(NULL, "RSA", NULL));
}
