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

enum privsep_mode {
	PRIVSEP_AUTO = 0, /* on when started as root and user is given or "escort" exists */
	PRIVSEP_ON,
	PRIVSEP_OFF,
};

#define PRIVSEP_DEFAULT_USER "escort" /* with PRIVSEP_ON: else "nobody" (warned) */

typedef struct privsep_opts {
	const char *datadir;
	const char *user; /* the worker's user when root (NULL: PRIVSEP_DEFAULT_USER) */
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

#endif
