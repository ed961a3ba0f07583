/* remote.h — the CLI's remote mode: with `escort --server URL` (or $ESCORT_SERVER) the request,
 * policy explain and audit commands talk to `escort serve` over its JSON API (docs/api.md) as
 * the identity of $ESCORT_TOKEN, printing what the local mode prints, with its exit codes. */
#ifndef ESCORT_CLI_REMOTE_H
#define ESCORT_CLI_REMOTE_H

#include <stddef.h>
#include <stdint.h>

/* Consumes the global options in front of the command (--server URL, --cacert FILE, also
 * in the --opt=VALUE form) from argc and argv, keeping argv[0]. 0 or CLI_EXIT_USAGE. */
int cli_remote_options(int *argc, char ***argv);

/* 1 when a server is configured (--server, else a non-empty $ESCORT_SERVER); `--server ''`
 * forces the local mode. */
int cli_remote_active(void);
/* The server's URL: --server's, else $ESCORT_SERVER (NULL or "" when none). */
const char *cli_remote_url(void);
/* Plain http only to a loopback address (the token must not cross a network in clear),
 * https anywhere; checked with curl's URL parser. 0, else CLI_EXIT_USAGE (said why, with
 * sub as the subcommand's name) or CLI_EXIT_FAIL. */
int cli_remote_url_ok(const char *sub, const char *u);

/* One `escort request` command, already parsed and checked by request.c. */
struct cli_remote_req {
	const char *cmd; /* create, list, show, approve, deny, cancel, run */
	int64_t id;      /* show .. run */
	const char *target, *ticket, *just, *file, *state, *comment;
	int mine, json;
	int nwords;   /* create: the CMD words after -- */
	char **words;
};
int cli_remote_request(const struct cli_remote_req *q);

/* `escort policy explain` against the server's policy in force. */
int cli_remote_policy_explain(const char *op, const char *target, const char *cmd, size_t len,
                              int json);

/* `escort audit CMD ...` (argv[0] is CMD): verify, checkpoint, prove, pubkey and search go to
 * the server; check-proof stays local (it needs only the public key); the others are refused. */
int cli_remote_audit(int argc, char **argv);

#endif
