/*
 * ossl_ready.c - the reference modules of the login rows, stacked before
 * pam_permit.so.  It is linked against libcrypto and loaded by libpam
 * exactly as pam_kztoken.so is, so libcrypto's own start-up (its ~3,200
 * relocations, resolved through the scope of a dlopened module) is in
 * each reference.  Module arguments choose what it does:
 *
 *   (none)   loads and initialises OpenSSL the way a verifying login
 *            needs it: the configuration, the default provider, and the
 *            SHA-256 and RSA implementations fetched
 *   prompt   the same, and asks for the token through the application's
 *            conversation as pam_kztoken does (pamtester reads it one
 *            byte per read(2): the application's cost, not libkzauth's)
 *   linked   calls nothing at all: what merely loading libcrypto costs,
 *            the floor under any module that verifies with OpenSSL
 *
 * A JWT login minus the "prompt" process is what libkzauth itself costs.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

static void
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

int pam_sm_authenticate(pam_handle_t *, int, int, const char **);
int pam_sm_setcred(pam_handle_t *, int, int, const char **);
int pam_sm_acct_mgmt(pam_handle_t *, int, int, const char **);

int
pam_sm_authenticate(pam_handle_t *h, int flags, int argc, const char **argv)
{
	const char *tok;

	(void)flags;
	if (argc == 1 && strcmp(argv[0], "linked") == 0)
		return PAM_IGNORE;
	ready();
	if (argc == 1 && strcmp(argv[0], "prompt") == 0 &&
	    pam_get_authtok(h, PAM_AUTHTOK, &tok, "Access token: ") != PAM_SUCCESS)
		return PAM_AUTH_ERR;
	return PAM_IGNORE;
}

int
pam_sm_setcred(pam_handle_t *h, int flags, int argc, const char **argv)
{
	(void)h; (void)flags; (void)argc; (void)argv;
	return PAM_IGNORE;
}

int
pam_sm_acct_mgmt(pam_handle_t *h, int flags, int argc, const char **argv)
{
	(void)h; (void)flags; (void)argc; (void)argv;
	return PAM_IGNORE;
}
