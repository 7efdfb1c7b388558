/*
 * kztoken.h - shared parts of the admin command's subcommands.
 */
#ifndef KZTOKEN_TOOL_H
#define KZTOKEN_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kzauth.h"

/* The package's version (tests/cli/test_admin_small.sh holds it to the first
 * line of packaging/deb/debian/changelog). */
#define KZTOKEN_VERSION "0.1.0"

/* Exit codes (DESIGN.md section 8): the verdicts, and 4 for usage. */
#define EXIT_USAGE 4

struct cmd {
	const char *name;
	const char *synopsis;
	int (*run)(int argc, char **argv, const char *config);
};

/* The config path: --config, else $KZTOKEN_CONFIG, else the default. */
const char *tool_config_path(const char *opt);
/* Opens a context or prints why not; returns NULL on failure. */
kz_ctx *tool_open(const char *config);
void tool_usage(const struct cmd *c);
/* Reads a secret from a file or stdin (never argv) into a wiped buffer;
 * strips one trailing newline and surrounding white space. */
char *tool_read_secret(const char *file, size_t max, size_t *len);
/* Opens a secret's file for reading (secretfile.c): a regular file of at
 * most max bytes, no symbolic link in any component of the path, never
 * blocking (a FIFO is refused); warns on stderr when root does not own
 * it.  Returns the fd, or -1 after saying why on stderr. */
int tool_open_secret_file(const char *path, size_t max);
bool tool_is_tty(void);

/* Text a token, a provider or the store supplied is printed only through
 * these (the audit line's sanitiser): no escape sequence, CR or LF of
 * theirs reaches the admin's terminal. */
/* Cleans s in place (NULL stays NULL) and returns it. */
char *tool_clean(char *s);
/* A JSON string of s (NULL for NULL); cleaned text if s is not UTF-8. */
struct json_t *tool_json_str(const char *s);
/* Prints JSON and a newline on stdout, all ASCII: control characters,
 * DEL and non-ASCII characters as \u escapes. */
void tool_json_print(struct json_t *o);

int cmd_check(int argc, char **argv, const char *config);
int cmd_deny(int argc, char **argv, const char *config);

/* Enrollment subcommands (cmd_enroll.c, cmd_list.c, cmd_refresh.c,
 * cmd_doctor.c). */
int cmd_enroll(int argc, char **argv, const char *config);
int cmd_revoke(int argc, char **argv, const char *config);
int cmd_list(int argc, char **argv, const char *config);
int cmd_refresh(int argc, char **argv, const char *config);
int cmd_token(int argc, char **argv, const char *config);
int cmd_exec(int argc, char **argv, const char *config);
int cmd_doctor(int argc, char **argv, const char *config);
int cmd_setup(int argc, char **argv, const char *config);
int cmd_sync(int argc, char **argv, const char *config);
/* A time as 2026-01-31T12:00:00Z, or "-" for 0. */
const char *tool_when(int64_t t, char *buf, size_t n);

#endif
