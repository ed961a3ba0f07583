/* main.c — `escort` entry point: git-style dispatch to subcommands, --help, --version.
 * Kept thin on purpose: every subcommand lives in its own file over libescort. */
#include "cli/cli.h"
#include "cli/remote.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct subcommand {
	const char *name;
	int (*run)(int, char **);
	const char *summary;
	int as_owner; /* run by root on another user's data directory: become that user */
};

static const struct subcommand subcommands[] = {
	{ "analyze", cli_analyze, "analyze command records and print one JSON object each", 0 },
	{ "explain", cli_explain, "explain a command in plain words, with its risk", 0 },
	{ "rules", cli_rules, "validate directories of lockbox or Sigma rules", 0 },
	{ "init", cli_init, "create the data directory and the audit signing key", 0 },
	{ "audit", cli_audit, "verify, prove, checkpoint and export the audit log", 1 },
	{ "request", cli_request,
	  "create, approve, deny, cancel, run and show change requests", 1 },
	{ "user", cli_user, "issue and revoke identity tokens (data directory owner)", 1 },
	{ "policy", cli_policy, "check and load policies; explain a decision for a command", 1 },
	{ "serve", cli_serve, "run escortd: the HTTP JSON API and the web console", 0 },
	{ "session", cli_session,
	  "escorted interactive sessions: start, join, kill, replay, verify", 1 },
	{ "shell", cli_shell,
	  "the SSH front door: ForceCommand for operators on a jump host", 1 },
};

static void
usage(FILE *fp)
{
	size_t i;

	fprintf(fp, "usage: escort [--version] [--help] [--server URL [--cacert FILE]] <command> "
	            "[<args>]\n\n"
	            "escort: escorted privileged access. Commands:\n");
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(fp, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(fp, "\n--server URL (or $ESCORT_SERVER) sends request, policy explain and audit\n"
	            "commands to 'escort serve' with the token of $ESCORT_TOKEN; --cacert FILE\n"
	            "(or $ESCORT_CACERT) trusts a self-signed certificate.\n"
	            "\nRun 'escort <command> --help' for a command's options; see escort(1).\n"
	            "Exit status: 0 ok, 1 findings or refused, 2 usage error, 3 or more other "
	            "errors.\n");
}

void
cli_warnx(const char *sub, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "escort%s%s: ", sub ? " " : "", sub ? sub : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
main(int argc, char **argv)
{
	size_t i;

	if (cli_remote_options(&argc, &argv) != 0) /* --server URL, --cacert FILE */
		return CLI_EXIT_USAGE;
	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		if (argc > 2 && strcmp(argv[1], "help") == 0) {
			for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++) {
				if (strcmp(argv[2], subcommands[i].name) == 0) {
					char *hargv[] = { argv[2], "--help", NULL };
					return subcommands[i].run(2, hargv);
				}
			}
			cli_warnx(NULL, "no such command: %s", argv[2]);
			return CLI_EXIT_USAGE;
		}
		usage(stdout);
		return CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("escort %s\n", ESCORT_VERSION);
		return CLI_EXIT_OK;
	}
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++) {
		if (strcmp(argv[1], subcommands[i].name) != 0)
			continue;
		/* before anything is opened: files made as root would lock escortd's worker out
		 * (init and serve decide about users themselves) */
		if (subcommands[i].as_owner) {
			int rc = cli_become_owner(argv[1], argc - 1, argv + 1);

			if (rc != 0)
				return rc;
		}
		return subcommands[i].run(argc - 1, argv + 1);
	}
	cli_warnx(NULL, "'%s' is not an escort command; see 'escort --help'", argv[1]);
	return CLI_EXIT_USAGE;
}
