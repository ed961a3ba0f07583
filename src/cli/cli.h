/* cli.h — the escort command line: one entry point per subcommand group, plus the few
 * helpers they share (usage errors, rules loading). Exit codes are documented in escort(1):
 * 0 ok, 1 findings at or above --fail-on / refused, 2 usage, 3 or more errors. */
#ifndef ESCORT_CLI_CLI_H
#define ESCORT_CLI_CLI_H

#include "lockbox/lockbox.h"

#include <stdint.h>
#include <sys/types.h>

struct json_t;
struct wf;

#define CLI_EXIT_OK 0
#define CLI_EXIT_FINDINGS 1
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_ERROR 3

int cli_analyze(int argc, char **argv);
int cli_explain(int argc, char **argv);
int cli_init(int argc, char **argv);  /* escort init: data directory and signing key */
int cli_audit(int argc, char **argv); /* escort audit: the tamper-evident log */
int cli_policy(int argc, char **argv); /* escort policy check|explain */
int cli_serve(int argc, char **argv);  /* escort serve: escortd (src/server) */
int cli_session(int argc, char **argv); /* escort session (src/cli/session.c) */
int cli_rules(int argc, char **argv);   /* escort rules check (src/cli/rules.c) */
int cli_shell(int argc, char **argv);   /* escort shell: the SSH front door */

/* The data directory: the --data (alias -d, --data-dir) value if given, else $ESCORT_DATA,
 * else $ESCORT_DATA_DIR (older name), else ./escort-data. */
const char *cli_data_dir(const char *opt);

/* Exit codes of the request/user/policy-load commands (escort-request(1)). */
#define CLI_EXIT_FAIL 1     /* other errors */
#define CLI_EXIT_REFUSED 3  /* refused by policy or authorization */
#define CLI_EXIT_NOTFOUND 4 /* no such request, identity or target */
#define CLI_EXIT_CONFLICT 5 /* the request is in the wrong state */

int cli_request(int argc, char **argv);     /* escort request: the change-request workflow */
int cli_user(int argc, char **argv);        /* escort user: tokens (data directory owner) */
int cli_policy_load(int argc, char **argv); /* escort policy load FILE (data dir owner); argv[0]
                                             * is "load" */
/* Maps a workflow result (0, WF_E*, ESC_E*) to the exit codes above. */
int cli_wf_exit(int rc);
/* 0 and "owner:NAME" in actor when the caller owns the data directory; else prints why
 * and returns an exit code. */
int cli_owner_actor(const char *sub, const char *dir, char *actor, size_t len);
/* Appends untrusted bytes for a terminal, escaping control, invalid and invisible
 * characters (newlines kept when keep_newlines). */
void cli_escape(buf *out, const unsigned char *p, size_t n, int keep_newlines);
/* Opens the workflow on dir (loading the rules into *lb first when need_lockbox) and
 * authenticates $ESCORT_TOKEN, whose identity goes into who; msg gets wf's messages. On
 * failure prints "escort SUB: why" and returns the exit code; the caller closes what it
 * got (wf_close, lockbox_free, buf_free) either way. */
int cli_wf_login(const char *sub, const char *dir, int need_lockbox, lockbox **lb,
                 struct wf **w, char *who, size_t whon, buf *msg);
/* A whole positive decimal number (request and session ids): 0, or -1 for anything else. */
int cli_parse_pos(const char *s, int64_t *v);
/* A time for people (audit_time_format), "-" when unset; returns t. */
const char *cli_time_str(int64_t us, char *t, size_t n);
/* Tells stderr what a run's result object says besides output and error: what was
 * redacted from the caller's view and what the attestation found changed on the target. */
void cli_run_details(const struct json_t *res);


/* (owner.c) Run by root on a data directory that belongs to another user (the one the
 * subcommand's --data/-d/--data-dir or the defaults name), becomes that user for good
 * (setgid, initgroups, setuid, checked), after forking a signer and a broker for the keys
 * only root may read (escortd's layout, docs/privsep.md); else does nothing. 0, or an exit
 * code after printing why. */
int cli_become_owner(const char *sub, int argc, char **argv);
/* (owner.c) `escort init`: the user the data directory dir is for: --user NAME (root only;
 * neither root nor in group root), else as root the owner of an existing dir when not
 * root, else the system user "escort" when it exists. *give = 1 with its ids, or 0 when it
 * stays the caller's. 0 or an exit code (printed). */
int cli_init_user(const char *name, const char *dir, uid_t *uid, gid_t *gid, int *give);
/* Gives dir, all but signing.key and keys/, to uid:gid (privsep_give_datadir); 0 or -1
 * (printed). */
int cli_init_give(const char *dir, uid_t uid, gid_t gid);

/* Prints "escort SUB: message" to stderr (printf-style). */
void cli_warnx(const char *sub, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Loads the shipped rules (ESCORT_RULES, the install data dir, or ../rules next to the
 * binary), /etc/escort/rules.d when present, then each of `extra` (n entries).
 * Prints a file:line:col error and returns NULL on failure. */
lockbox *cli_load_rules(const char *sub, char **extra, int nextra);

/* Parses a risk name (none, low, medium, high, critical); -1 when unknown. */
int cli_parse_risk(const char *s);

#endif
