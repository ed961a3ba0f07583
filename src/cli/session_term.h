/* session_term.h — the operator's terminal in `escort session start` (session_term.c):
 * line editing with libedit (history, cursor movement) on a terminal, plain line input
 * otherwise; Ctrl-C, Ctrl-D and the signals that end a session; used by the local mode
 * (session.c) and the mode where escortd holds the session (session_remote.c). */
#ifndef ESCORT_CLI_SESSION_TERM_H
#define ESCORT_CLI_SESSION_TERM_H

#include <stdint.h>

#include "util/buf.h"

typedef struct sterm sterm;

/* tick is called about every 200 ms while waiting for input; nonzero when the session
 * ended meanwhile (the kill switch). The prompt is "escort[ID] TARGET$ " on a terminal. */
int sterm_open(sterm **out, int64_t id, const char *target, int (*tick)(void *), void *ctx);
/* 1 with a line (no newline), 0 at end of input (Ctrl-D) or on SIGTERM/SIGHUP, -1 when
 * Ctrl-C abandoned it, -2 when it is longer than WF_CMD_MAX, -3 when tick said ended. */
int sterm_read(sterm *t, buf *line);
int sterm_tty(const sterm *t);
void sterm_close(sterm *t); /* NULL-safe; the terminal as it was */

/* SIGINT, SIGTERM and SIGHUP caught (no SA_RESTART: Ctrl-C ends a read) / restored. */
void sterm_signals(int on);
int sterm_take_sigint(void); /* 1 once after Ctrl-C */
int sterm_term(void);        /* 1 after SIGTERM or SIGHUP: end the session properly */

#endif
