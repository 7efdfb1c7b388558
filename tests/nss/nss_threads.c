/*
 * nss_threads.c - 16 threads look users and groups up through the
 * module's entry points while the database file is replaced (copy to a
 * temporary name, rename over it: what kztoken sync does) N times.
 * Built with -fsanitize=thread together with the module's sources by
 * test_threads.sh.  Exit 0 only when every answer was one of the two
 * consistent versions and nothing was ever missing.
 *
 *   nss_threads DBDIR V1.db V2.db N
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nss_kztoken.h"

static atomic_int stop, bad, seen;

static void *
reader(void *arg)
{
	struct passwd pw;
	struct group gr;
	char buf[1024];
	int e;

	while (!atomic_load(&stop)) {
		if (_nss_kztoken_getpwnam_r("alice", &pw, buf, sizeof(buf), &e) !=
		    NSS_STATUS_SUCCESS ||
		    !((pw.pw_uid == 300000 && strcmp(pw.pw_gecos, "v1") == 0) ||
		    (pw.pw_uid == 300005 && strcmp(pw.pw_gecos, "v2") == 0)))
			atomic_fetch_add(&bad, 1);
		if (_nss_kztoken_getgrnam_r("ops", &gr, buf, sizeof(buf), &e) !=
		    NSS_STATUS_SUCCESS || gr.gr_mem[0] == NULL)
			atomic_fetch_add(&bad, 1);
		atomic_fetch_add(&seen, 1);
	}
	return NULL;
}

static int
install(const char *dir, const char *src)
{
	char tmp[4096], dst[4096], buf[65536];
	int in, out;
	ssize_t n;

	snprintf(tmp, sizeof(tmp), "%s/kztoken.db.tmp", dir);
	snprintf(dst, sizeof(dst), "%s/kztoken.db", dir);
	if ((in = open(src, O_RDONLY)) < 0 ||
	    (out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		return -1;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			return -1;
	close(in);
	if (fsync(out) != 0 || close(out) != 0)
		return -1;
	return rename(tmp, dst);
}

int
main(int argc, char **argv)
{
	pthread_t t[16];
	int n;

	if (argc != 5)
		return 4;
	n = atoi(argv[4]);
	setenv("KZTOKEN_NSS_DIR", argv[1], 1);
	if (install(argv[1], argv[2]) != 0)
		return 3;
	for (int i = 0; i < 16; i++)
		pthread_create(&t[i], NULL, reader, NULL);
	for (int i = 0; i < n; i++) {
		if (install(argv[1], i % 2 ? argv[2] : argv[3]) != 0)
			return 3;
		usleep(3000);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 16; i++)
		pthread_join(t[i], NULL);
	/* enumeration once more, single threaded, after all that */
	_nss_kztoken_setpwent(0);
	{
		struct passwd pw;
		char buf[1024];
		int e, k = 0;

		while (_nss_kztoken_getpwent_r(&pw, buf, sizeof(buf), &e) ==
		    NSS_STATUS_SUCCESS)
			k++;
		_nss_kztoken_endpwent();
		if (k != 2)
			atomic_fetch_add(&bad, 1);
	}
	printf("%d lookups, %d wrong\n", atomic_load(&seen), atomic_load(&bad));
	return atomic_load(&bad) == 0 && atomic_load(&seen) > 100 ? 0 : 1;
}
