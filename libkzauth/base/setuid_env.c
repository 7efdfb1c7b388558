/*
 * setuid_env.c - in a setuid or setgid process (sudo, su: the kernel sets
 * AT_SECURE) the invoking user's environment must steer nothing that
 * libcurl or OpenSSL do.  glibc already drops LD_*, LOCALDOMAIN,
 * RES_OPTIONS, HOSTALIASES and the like at exec; libcurl reads its
 * variables with plain getenv(), so the user could name the file that
 * receives the TLS session secrets (SSLKEYLOGFILE) or a proxy.  We remove
 * them from the environment before libcurl initialises.
 *
 * Checked (libcurl 7.88, OpenSSL 3.0), read with plain getenv():
 *   libcurl  SSLKEYLOGFILE (vtls/keylog.c, opened at curl_global_init),
 *            <scheme>_proxy / <SCHEME>_PROXY, all_proxy, ALL_PROXY,
 *            no_proxy, NO_PROXY (url.c; CURLOPT_PROXY "" also ignores
 *            them), CURL_SSL_BACKEND (vtls.c), CURL_HOME and HOME/USER
 *            for .netrc (netrc.c; CURLOPT_NETRC is never set), CURL_*
 *            debug knobs of debug builds.
 *   OpenSSL  OPENSSL_ia32cap and the other OPENSSL_*cap (cpuid; read by
 *            libcrypto's constructor, before any code of ours runs, and
 *            they only pick CPU code paths), OPENSSL_TRACE and
 *            OPENSSL_MALLOC_* (special builds only).
 * Read with secure_getenv() (ossl_safe_getenv), so already ignored here,
 * removed anyway: OPENSSL_CONF, OPENSSL_CONF_INCLUDE, OPENSSL_MODULES,
 * OPENSSL_ENGINES, SSL_CERT_FILE, SSL_CERT_DIR, CTLOG_FILE, RANDFILE.
 * HOME and USER stay: the host (sudo) hands them on and nothing of ours
 * reads them.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "internal.h"

extern char **environ;

static bool
steers_tls(const char *var, size_t n)
{
	static const char *const exact[] = { "SSLKEYLOGFILE", "SSL_CERT_FILE",
		"SSL_CERT_DIR", "CTLOG_FILE", "RANDFILE" };

	for (size_t i = 0; i < KZ_NELEM(exact); i++)
		if (strlen(exact[i]) == n && strncmp(var, exact[i], n) == 0)
			return true;
	return (n > 5 && strncmp(var, "CURL_", 5) == 0) ||
	    (n > 8 && strncmp(var, "OPENSSL_", 8) == 0) ||
	    (n >= 6 && kz_strncaseeq(var + n - 6, "_proxy", 6));
}

/* Drops entry i of the process's own environment array, whatever hooks
 * sit on unsetenv(): the pointers after it move down by one. */
static void
drop_entry(size_t i)
{
	for (; environ[i] != NULL; i++)
		environ[i] = environ[i + 1];
}

/*
 * 0 when nothing of the kind is left; -1 (refuse the network) if a
 * variable could not be removed.  Two copies may hold it: sudo puts hooks
 * on getenv() and unsetenv() that work on its own copy of the
 * environment (the one libcurl's getenv() then reads), while the process's
 * environ array stays as it was.  So each variable is removed through
 * unsetenv(), checked through getenv() (the way libcurl reads it), and
 * then dropped from environ by hand if it is still there.
 */
int
kz_setuid_env_scrub(void)
{
	char name[128];
	size_t i = 0;

	if (getauxval(AT_SECURE) == 0)
		return 0;
	while (environ != NULL && environ[i] != NULL) {
		const char *var = environ[i], *eq = strchr(var, '=');
		size_t n = eq ? (size_t)(eq - var) : 0;

		if (n == 0 || n >= sizeof(name) || !steers_tls(var, n)) {
			i++;
			continue;
		}
		memcpy(name, var, n);
		name[n] = '\0';
		if (unsetenv(name) != 0 || getenv(name) != NULL)
			return -1;
		/* unsetenv() shifted the entries down, or a hook left the
		 * array alone: then drop the entry here */
		if (environ[i] == var)
			drop_entry(i);
	}
	return 0;
}
