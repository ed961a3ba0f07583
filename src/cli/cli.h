/* cli.h — the escort command line: one entry point per subcommand group, plus the few
 * helpers they share (usage errors, rules loading). Exit codes are documented in escort(1):
 * 0 ok, 1 findings at or above --fail-on / refused, 2 usage, 3 or more errors. */
#ifndef ESCORT_CLI_CLI_H
#define ESCORT_CLI_CLI_H

#include "lockbox/lockbox.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FINDINGS 1
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_ERROR 3

int cli_analyze(int argc, char **argv);
int cli_explain(int argc, char **argv);
int cli_init(int argc, char **argv);  /* escort init: data directory and signing key */
int cli_audit(int argc, char **argv); /* escort audit: the tamper-evident log */

/* The data directory: the -d/--data-dir value if given, else $ESCORT_DATA_DIR, else
 * /var/lib/escort. */
const char *cli_data_dir(const char *opt);

/* Prints "escort SUB: message" to stderr (printf-style). */
void cli_warnx(const char *sub, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Loads the shipped rules (ESCORT_RULES, the install data dir, or ../rules next to the
 * binary), /etc/escort/rules.d when present, then each of `extra` (n entries).
 * Prints a file:line:col error and returns NULL on failure. */
lockbox *cli_load_rules(const char *sub, char **extra, int nextra);

/* Parses a risk name (none, low, medium, high, critical); -1 when unknown. */
int cli_parse_risk(const char *s);

#endif
