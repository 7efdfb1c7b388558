/*
 * nssread.c - the NSS database reader of libnss_kztoken.so.2, compiled
 * into libkzauth as well: the sync applies the module's own reserved
 * names, and the doctor and the tests read the file the module reads.
 * One source (nss_kztoken/kzdb.c), so the two can never disagree.
 */
#include "../../nss_kztoken/kzdb.c"
