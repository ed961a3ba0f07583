/* broker_priv.h — the broker in a process of its own (privilege separation): the broker
 * process alone reads DATA/keys and starts commands; the HTTP worker's broker_run and
 * broker_disconnect forward to it over a SOCK_SEQPACKET channel (broker_attest follows,
 * being built on broker_run).
 *
 * MUST: the broker process refuses (and closes) on an unknown, out-of-phase or malformed
 *       request, a key file outside DATA/keys, or an environment entry not ESCORT_*.
 * MUST: a key file must be a regular file owned by the broker's user, mode 0600 or
 *       stricter: the worker owns the data directory and must not plant keys.
 * MUST: once the channel failed, every later run fails (fail closed). */
#ifndef ESCORT_BROKER_BROKER_PRIV_H
#define ESCORT_BROKER_BROKER_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "broker/broker.h"
#include "util/buf.h"

enum broker_priv_msg {
	BROKER_PM_RUN_BEGIN = 1, /* target, limits, command length u64 */
	BROKER_PM_RUN_DATA = 2,  /* bytes: the next piece of the command */
	BROKER_PM_DISCONNECT = 3, /* target */
	BROKER_PM_OUTPUT = 16,   /* broker -> client: stream u8, bytes */
	BROKER_PM_RUN_DONE = 17, /* rc, exit code, timed out, connect/run ms, reused, message */
};

#define BROKER_PRIV_CMD_MAX ((size_t)1 << 20)
#define BROKER_PRIV_STR_MAX 4096
#define BROKER_PRIV_ENV_MAX 16

/* ---- client side (the HTTP worker) ---- */

/* Makes broker_run / broker_disconnect of this process forward to the broker process on
 * fd (kept open). Call once, before any thread. */
int broker_priv_client_attach(int fd);
int broker_priv_active(void);
/* 1 when attached and the channel failed or the broker hung up: every run is refused.
 * Never blocks (a run in flight counts as alive). */
int broker_priv_failed(void);
/* The forwarding halves of broker_run and broker_disconnect (res already initialized,
 * arguments already checked by broker_run). Runs are serialized over the one channel. */
int broker_priv_run(const broker_target *t, const unsigned char *cmd, size_t len,
                    const broker_limits *lim, broker_result *res, buf *msg);
void broker_priv_disconnect(const broker_target *t);

/* ---- broker side ---- */

/* A request decoded and checked, ready to act on. */
typedef struct broker_priv_req {
	int type; /* BROKER_PM_RUN_BEGIN (a complete run) or BROKER_PM_DISCONNECT */
	broker_target t;
	char *s[8]; /* owned strings behind t's pointers */
	broker_limits lim;
	char *env[BROKER_PRIV_ENV_MAX + 1];
	buf cmd;
} broker_priv_req;

/* The broker side's state machine. */
typedef struct broker_priv_state {
	const char *datadir; /* borrowed: key files must be DATADIR/keys/NAME */
	int phase;           /* 0: idle; 1: receiving a command */
	uint64_t want;       /* command bytes announced */
	broker_priv_req req;
} broker_priv_state;

void broker_priv_state_init(broker_priv_state *st, const char *datadir);
void broker_priv_state_free(broker_priv_state *st);
/* Feeds one request: 0 when more is expected, 1 when st->req is ready to act on (the
 * caller then runs it and calls broker_priv_state_done), ESC_EPARSE with why when the
 * request is refused: the caller must close the channel. No I/O. */
int broker_priv_feed(broker_priv_state *st, const void *msg, size_t len, char *why,
                     size_t whylen);
void broker_priv_state_done(broker_priv_state *st);
/* Serves runs on fd with its own broker (connections reused) until the peer closes (0)
 * or breaks the protocol (ESC_EPARSE, logged to stderr). */
int broker_priv_serve(int fd, const char *datadir);

#endif
