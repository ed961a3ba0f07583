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
	/* sessions' shells: on the shell control channel */
	BROKER_PM_SHELL_OPEN = 4,     /* target, u32 n, n environment strings */
	BROKER_PM_SHELL_KILL_PID = 5, /* pid i64, start i64: one of the broker's shells */
	/* on a shell's own channel (handed to the worker with SHELL_OPENED) */
	BROKER_PM_SHELL_LINE = 6,   /* timeout_ms u32, line length u64 (1..BROKER_PRIV_LINE_MAX) */
	BROKER_PM_SHELL_DATA = 7,   /* bytes: the next piece of the line */
	BROKER_PM_SHELL_SIGNAL = 8, /* u8 2 (SIGINT: Ctrl-C for the running line) */
	BROKER_PM_SHELL_KILL = 9,   /* none: the kill switch */
	BROKER_PM_SHELL_CLOSE = 10, /* none */
	BROKER_PM_OUTPUT = 16,   /* broker -> client: stream u8, bytes */
	BROKER_PM_RUN_DONE = 17, /* rc, exit code, timed out, connect/run ms, reused, message */
	BROKER_PM_SHELL_OPENED = 18, /* rc u32, pid i64, start i64, message; rc 0: one fd */
	BROKER_PM_SHELL_KILLED = 19, /* rc u32 (0, or ESC_ENOENT: not one of ours), message */
	BROKER_PM_LINE_DONE = 20, /* rc u32, exit u32, interrupted, timed out, killed, shell
	                           * exited u8, total u64, ms i64, message */
};

#define BROKER_PRIV_LINE_MAX ((size_t)512 * 1024)
#define BROKER_PRIV_SHELLS_MAX 8192

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
	int type; /* BROKER_PM_RUN_BEGIN (a complete run), _DISCONNECT, _SHELL_OPEN, _KILL_PID */
	broker_target t;
	char *s[8]; /* owned strings behind t's pointers */
	broker_limits lim;
	char *env[BROKER_PRIV_ENV_MAX + 1];
	buf cmd;
	int64_t pid, start; /* SHELL_KILL_PID */
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

/* ---- sessions' shells (broker_pshell.c; docs/privsep.md "Sessions") ----
 * The broker process holds every session's shell in one table. The worker asks for one on
 * the shell control channel (SHELL_OPEN; requests there are served one at a time) and gets
 * back a SOCK_SEQPACKET descriptor of the shell's own channel, on which it sends the
 * shell's lines, Ctrl-C, the kill switch and the close; output comes back as OUTPUT
 * frames, then LINE_DONE. An idle shell costs the broker its table entry and three
 * descriptors, the worker one descriptor: one thread in the broker watches every idle
 * shell's channel, and each running line has a thread on both sides.
 *
 * MUST: the broker refuses (and closes the channel, killing that shell) an unknown,
 *       out-of-phase or malformed request; on the control channel a refusal ends every
 *       shell. It never accepts a descriptor from the worker. */

/* Control channel requests, checked like runs (target, key under DATA/keys, ESCORT_*
 * environment). 1 when st->req is ready (type SHELL_OPEN or SHELL_KILL_PID), ESC_EPARSE
 * with why when refused. No I/O. */
int broker_priv_ctl_feed(broker_priv_state *st, const void *msg, size_t len, char *why,
                         size_t whylen);

enum broker_priv_shell_phase {
	BROKER_SH_IDLE = 0,   /* waiting for a line */
	BROKER_SH_RECV = 1,   /* the line's pieces are arriving */
	BROKER_SH_RUNNING = 2 /* the line runs: only SIGNAL and KILL */
};

/* What arrives on one shell's channel. */
typedef struct broker_priv_shell_in {
	int phase;
	uint64_t want;
	unsigned timeout_ms;
	buf line;
	int type; /* the complete request: SHELL_LINE, _SIGNAL, _KILL or _CLOSE */
} broker_priv_shell_in;

void broker_priv_shell_in_init(broker_priv_shell_in *in);
void broker_priv_shell_in_free(broker_priv_shell_in *in);
/* 0 when more is expected, 1 when in->type is complete (a SHELL_LINE moves the phase to
 * RUNNING; the caller calls broker_priv_shell_in_done when the line ended), ESC_EPARSE with
 * why when refused. A SIGNAL while idle (the line ended meanwhile) is complete and means
 * nothing. No I/O. */
int broker_priv_shell_feed(broker_priv_shell_in *in, const void *msg, size_t len, char *why,
                           size_t whylen);
void broker_priv_shell_in_done(broker_priv_shell_in *in);

/* Broker side: serves the control channel fd and every shell's channel in a thread of its
 * own (datadir borrowed); broker_priv_shells_stop ends it and kills every shell. */
int broker_priv_shells_start(int fd, const char *datadir);
void broker_priv_shells_stop(void);

/* Worker side: wf_shell_* (src/workflow/wf_shell.c) use these when attached. */
typedef struct broker_pshell broker_pshell;
int broker_priv_shell_attach(int fd); /* once, before any thread */
int broker_priv_shell_active(void);
int broker_priv_shell_open(broker_pshell **out, const broker_target *t,
                           const char *const *env, buf *msg);
/* As broker_shell_run; io->poll is asked every 50 ms (Ctrl-C, kill switch). */
int broker_priv_shell_run(broker_pshell *ps, const unsigned char *line, size_t len,
                          const broker_shell_io *io, broker_shell_result *res, buf *msg);
int broker_priv_shell_alive(const broker_pshell *ps);
int64_t broker_priv_shell_pid(const broker_pshell *ps);
int64_t broker_priv_shell_start(const broker_pshell *ps);
void broker_priv_shell_kill(broker_pshell *ps);
void broker_priv_shell_close(broker_pshell *ps); /* NULL-safe */
/* Kills the broker's shell with that pid and start time (kill switch pulled elsewhere):
 * 0 when it was one of its shells, ESC_ENOENT when not, ESC_EIO when the channel failed. */
int broker_priv_shell_kill_pid(int64_t pid, int64_t start, buf *msg);

#endif
