/*
 * fuzz_nssdb.c - the NSS database as libnss_kztoken.so.2 maps it: any
 * bytes may be in the file (a damaged disk, a hostile writer), and no
 * lookup may read outside it, loop, or hand out a name or ID that is
 * never served.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../nss_kztoken/kzdb.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static int
check_gid(void *arg, uint32_t gid)
{
	if (gid < KZDB_ID_FLOOR)
		abort();
	return 0;
}

static void
check_pw(enum kzdb_rc rc, const struct passwd *pw)
{
	if (rc == KZDB_FOUND && (pw->pw_uid < KZDB_ID_FLOOR ||
	    kzdb_reserved_name(pw->pw_name) || pw->pw_dir[0] != '/'))
		abort();
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	/* mmap gives page alignment; malloc gives 16 */
	unsigned char *copy = malloc(size ? size : 1);
	struct kzdb db;
	struct passwd pw;
	struct group gr;
	char buf[2048];
	const char *names[] = { "alice", "bob", "root", "ops", "" };

	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	if (kzdb_open(&db, copy, size) == 0) {
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			check_pw(kzdb_pwnam(&db, names[i], &pw, buf,
			    sizeof(buf)), &pw);
			kzdb_grnam(&db, names[i], &gr, buf, sizeof(buf));
			kzdb_user_groups(&db, names[i], check_gid, NULL);
		}
		for (uint32_t id = 299990; id < 300010; id++) {
			check_pw(kzdb_pwuid(&db, id, &pw, buf, sizeof(buf)), &pw);
			kzdb_grgid(&db, id, &gr, buf, sizeof(buf));
		}
		for (uint32_t i = 0; i < 64; i++) {
			check_pw(kzdb_pwent(&db, i, &pw, buf, sizeof(buf)), &pw);
			if (kzdb_grent(&db, i, &gr, buf, sizeof(buf)) ==
			    KZDB_FOUND && gr.gr_gid < KZDB_ID_FLOOR)
				abort();
			/* tiny buffers: ERANGE, never an overrun */
			kzdb_pwent(&db, i, &pw, buf, 7);
			kzdb_grent(&db, i, &gr, buf, 9);
		}
	}
	free(copy);
	return 0;
}
