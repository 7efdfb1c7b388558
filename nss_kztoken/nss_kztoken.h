/*
 * nss_kztoken.h - the entry points glibc looks up in libnss_kztoken.so.2
 * (the _nss_SERVICE_FUNCTION_r conventions of glibc's nss_files).
 */
#ifndef NSS_KZTOKEN_H
#define NSS_KZTOKEN_H

#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <sys/types.h>

enum nss_status _nss_kztoken_getpwnam_r(const char *name, struct passwd *pw,
    char *buf, size_t buflen, int *errnop);
enum nss_status _nss_kztoken_getpwuid_r(uid_t uid, struct passwd *pw,
    char *buf, size_t buflen, int *errnop);
enum nss_status _nss_kztoken_getgrnam_r(const char *name, struct group *gr,
    char *buf, size_t buflen, int *errnop);
enum nss_status _nss_kztoken_getgrgid_r(gid_t gid, struct group *gr,
    char *buf, size_t buflen, int *errnop);
enum nss_status _nss_kztoken_initgroups_dyn(const char *user, gid_t group,
    long *start, long *size, gid_t **groupsp, long limit, int *errnop);
enum nss_status _nss_kztoken_setpwent(int stayopen);
enum nss_status _nss_kztoken_endpwent(void);
enum nss_status _nss_kztoken_getpwent_r(struct passwd *pw, char *buf,
    size_t buflen, int *errnop);
enum nss_status _nss_kztoken_setgrent(int stayopen);
enum nss_status _nss_kztoken_endgrent(void);
enum nss_status _nss_kztoken_getgrent_r(struct group *gr, char *buf,
    size_t buflen, int *errnop);

#endif
