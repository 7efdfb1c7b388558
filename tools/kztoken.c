/*
 * kztoken.c - the admin command: dispatch and what subcommands share.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "kztoken.h"

static const struct cmd cmds[] = {
	{ "check", "check [--service S] [--user U] [--explain] [--json] [--device] "
	  "< token",
	  cmd_check },
	{ "deny", "deny FINGERPRINT | --jti JTI", cmd_deny },
	{ "enroll", "enroll NAME [--provider P] (--group G | --user U) "
	  "[--refresh-token-file F] [--force]", cmd_enroll },
	{ "list", "list [--json]", cmd_list },
	{ "refresh", "refresh [NAME | --all] [--if-due]", cmd_refresh },
	{ "token", "token NAME", cmd_token },
	{ "exec", "exec NAME -- COMMAND [ARG...]", cmd_exec },
	{ "revoke", "revoke NAME [--local-only]", cmd_revoke },
	{ "doctor", "doctor [--json]", cmd_doctor },
	{ "setup", "setup sshd|sudo [--token-only|--token-or-password] "
	  "[--dry-run] [--force] | setup --undo [--dry-run] [--force]",
	  cmd_setup },
	{ "sync", "sync [--if-due]", cmd_sync },
};

const char *
tool_config_path(const char *opt)
{
	const char *env = getenv("KZTOKEN_CONFIG");

	if (opt != NULL)
		return opt;
	return env != NULL && *env != '\0' ? env : KZ_DEFAULT_CONFIG;
}

kz_ctx *
tool_open(const char *config)
{
	char err[512];
	kz_ctx *ctx;

	if (kz_ctx_open(&ctx, tool_config_path(config), err, sizeof(err)) !=
	    KZ_OK) {
		fprintf(stderr, "kztoken: %s\n", err);
		return NULL;
	}
	return ctx;
}

void
tool_usage(const struct cmd *c)
{
	fprintf(stderr, "usage: kztoken %s [--config PATH]\n", c->synopsis);
}

bool
tool_is_tty(void)
{
	return isatty(STDERR_FILENO) == 1;
}

char *
tool_clean(char *s)
{
	return s != NULL ? kz_sanitize(s, strlen(s) + 1, s, 0) : NULL;
}

json_t *
tool_json_str(const char *s)
{
	json_t *j;
	char *c;

	if (s == NULL)
		return NULL;
	if ((j = json_string(s)) != NULL || (c = strdup(s)) == NULL)
		return j;
	j = json_string(tool_clean(c));
	free(c);
	return j;
}

/* jansson's ENSURE_ASCII escapes all but DEL, which may stand only inside
 * a string in its output: write it as an escape as well. */
static int
dump_ascii(const char *buf, size_t size, void *arg)
{
	FILE *f = arg;

	for (size_t i = 0; i < size; i++) {
		if (buf[i] == 0x7f)
			fputs("\\u007f", f);
		else
			fputc(buf[i], f);
	}
	return 0;
}

void
tool_json_print(json_t *o)
{
	if (o != NULL)
		json_dump_callback(o, dump_ascii, stdout,
		    JSON_INDENT(2) | JSON_ENSURE_ASCII);
	putchar('\n');
}

char *
tool_read_secret(const char *file, size_t max, size_t *lenp)
{
	int fd = file ? tool_open_secret_file(file, max) : STDIN_FILENO;
	char *buf = calloc(1, max + 2), *s;
	size_t len = 0, start = 0;
	struct termios saved, quiet;
	bool echo_off = false;
	ssize_t r;

	*lenp = 0;
	if (fd < 0 || buf == NULL) {
		if (fd >= 0 && fd != STDIN_FILENO)
			close(fd);
		free(buf);
		return NULL;
	}
	/* At a terminal: ask, and keep the token off the screen. */
	if (fd == STDIN_FILENO && isatty(fd) && tcgetattr(fd, &saved) == 0) {
		quiet = saved;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		echo_off = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
		fprintf(stderr, "Token (end with Enter): ");
	}
	while (len <= max && (r = read(fd, buf + len, max + 1 - len)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		len += (size_t)r;
		if (echo_off && buf[len - 1] == '\n')
			break;
	}
	if (echo_off) {
		tcsetattr(fd, TCSAFLUSH, &saved);
		fputc('\n', stderr);
	}
	if (fd != STDIN_FILENO)
		close(fd);
	if (len > max) {
		/* over the cap: report the length, keep nothing */
		explicit_bzero(buf, max + 2);
		free(buf);
		*lenp = len;
		errno = E2BIG;
		return NULL;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
	    buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		buf[--len] = '\0';
	while (start < len && (buf[start] == ' ' || buf[start] == '\t'))
		start++;
	s = buf;
	if (start > 0) {
		memmove(s, s + start, len - start + 1);
		len -= start;
	}
	*lenp = len;
	return s;
}

static void
usage_all(FILE *f)
{
	fprintf(f, "usage: kztoken COMMAND [--config PATH] [options]\n"
	    "       kztoken --version\n\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  kztoken %s\n", cmds[i].synopsis);
	fprintf(f, "\nExit codes: 0 OK, 1 unauthenticated, 2 forbidden, "
	    "3 unavailable, 4 config or usage error.\n"
	    "See kztoken(8) and kztoken.conf(5).\n");
}

int
main(int argc, char **argv)
{
	const char *config = NULL;
	int i;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("kztoken %s\n", KZTOKEN_VERSION);
		return 0;
	}
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage_all(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	/* --config may stand anywhere, before or after the subcommand, but
	 * not after "--": what follows is another command's (exec). */
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			config = argv[i + 1];
			memmove(&argv[i], &argv[i + 2],
			    (size_t)(argc - i - 1) * sizeof(char *));
			argc -= 2;
			i--;
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			config = argv[i] + 9;
			memmove(&argv[i], &argv[i + 1],
			    (size_t)(argc - i) * sizeof(char *));
			argc--;
			i--;
		}
	}
	if (argc < 2) {
		usage_all(stderr);
		return EXIT_USAGE;
	}
	for (size_t c = 0; c < sizeof(cmds) / sizeof(cmds[0]); c++) {
		if (strcmp(argv[1], cmds[c].name) != 0)
			continue;
		for (i = 2; i < argc && strcmp(argv[i], "--") != 0; i++) {
			if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
				printf("usage: kztoken %s [--config PATH]\n",
				    cmds[c].synopsis);
				return 0;
			}
		}
		return cmds[c].run(argc - 1, argv + 1, config);
	}
	fprintf(stderr, "kztoken: unknown command '%s'\n", argv[1]);
	usage_all(stderr);
	return EXIT_USAGE;
}
