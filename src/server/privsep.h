/* privsep.h — privilege separation for `escort serve` (docs/privsep.md): the monitor loads
 * what needs privileges, then forks the signer (the audit signing key), the broker (the
 * target credentials, running commands) and the HTTP worker (unprivileged user, no
 * capabilities, no_new_privs, seccomp), which reaches the other two only through the
 * typed channels of audit/signer.h and broker/broker_priv.h.
 *
 * MUST: the worker holds no secret key material and cannot open DATA/keys/ or
 *       DATA/signing.key (root-owned, 0600/0700; checked before anything is forked).
 * MUST: privileges are dropped in the order setgroups, setresgid, setresuid, then
 *       no_new_privs and seccomp, all before the worker parses any request. */
#ifndef ESCORT_SERVER_PRIVSEP_H
#define ESCORT_SERVER_PRIVSEP_H

#include <stddef.h>
#include <sys/types.h>

enum privsep_mode {
	PRIVSEP_AUTO = 0, /* on when started as root: the worker runs as user, else the data
	                   * directory's owner, else "escort"; none of them: refused */
	PRIVSEP_ON,
	PRIVSEP_OFF,
};

#define PRIVSEP_DEFAULT_USER "escort" /* for a root-owned data directory; with PRIVSEP_ON
                                       * and no such user: "nobody" (warned) */

typedef struct privsep_opts {
	const char *datadir;
	const char *user; /* the worker's user when root (NULL: the data directory's owner;
	                   * root's: PRIVSEP_DEFAULT_USER) */
	int mode;         /* enum privsep_mode */
} privsep_opts;

/* Starts privilege separation. Returns 0 in the process that is to serve HTTP (the worker,
 * or the caller itself when privilege separation is off); 1 in the monitor once the worker
 * and its peers have ended, with the worker's exit status in *status (the caller exits
 * with it); a negative ESC_E* code with a message in err when it cannot start (nothing is
 * left running). Call before any thread exists. */
int privsep_start(const privsep_opts *o, int *status, char *err, size_t errlen);

/* In the worker: 0 when the signer and broker channels work (or privilege separation is
 * off), else 1 with what is gone in *what ("signer", "broker"): the server answers work
 * that needs it with 503 instead of starting it. */
int privsep_unavailable(const char **what);

/* Gives everything under datadir (not following links) except signing.key and keys/ to
 * uid:gid (root only). */
int privsep_give_datadir(const char *datadir, uid_t uid, gid_t gid, char *err, size_t errlen);

/* For the CLI run by root on a data directory owned by uid (src/cli/owner.c), before it
 * becomes that user: forks a signer (want_signer: loads datadir's signing.key, then runs
 * as uid:gid under its seccomp allow-list) and a broker (want_broker: stays root, reads
 * datadir/keys/) exactly as escortd's, and attaches this process to them, so the CLI signs
 * and runs commands through them without ever being able to open the key files. Both end
 * when this process closes its channels (exits). Call before any thread exists. */
int privsep_cli_peers(const char *datadir, int want_signer, int want_broker, uid_t uid,
                      gid_t gid, char *err, size_t errlen);

#endif
