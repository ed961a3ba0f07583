/* session.h — escorted interactive sessions: the operator's side of a session (each line
 * entered is decided through the workflow, then run in the session's persistent shell
 * with Ctrl-C, a time limit and the escorts' kill switch) and its asciicast v2 recording,
 * whose SHA-256 goes into the audit log at the end. Sits between the CLI/server and the
 * workflow; it never prints: the caller's terminal is reached through sess_ui. */
#ifndef ESCORT_SESSION_SESSION_H
#define ESCORT_SESSION_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "workflow/workflow.h"

#define SESS_DIR "sessions"          /* DATA/sessions/ID.cast */
#define SESS_POLL_MS 100             /* how often the store is asked while waiting */
#define SESS_LINE_TIMEOUT_DEFAULT 600 /* seconds, when neither policy nor target set one */
#define SESS_ENDED 1                 /* sess_line: the session is over (killed, shell gone) */

/* ---- asciicast v2 ---- */

/* Appends one event line `[t, "type", "data"]\n` (t in seconds, 6 decimals). The data is
 * made valid UTF-8: a sequence cut at the end of p is kept in carry (up to 3 bytes,
 * *ncarry) for the next call, invalid bytes become U+FFFD; final flushes the carry. */
int sess_cast_line(buf *out, int64_t t_us, char type, const unsigned char *p, size_t n,
                   unsigned char carry[4], size_t *ncarry, int final);
/* The header line {"version": 2, "width", "height", "timestamp", "title", "env"}. */
int sess_cast_header(buf *out, unsigned width, unsigned height, int64_t start_us,
                     const char *title);

typedef struct sess_cast sess_cast;
/* Creates path (0600, must not exist) and writes the header. */
int sess_cast_open(sess_cast **out, const char *path, unsigned width, unsigned height,
                   int64_t start_us, const char *title, buf *msg);
/* type 'o' output, 'i' input, 'm' marker; at now_us (real clock). */
int sess_cast_event(sess_cast *c, int64_t now_us, char type, const unsigned char *p, size_t n);
/* Flushes, fsyncs and closes; sha gets the file's SHA-256 and *bytes its size. */
int sess_cast_close(sess_cast *c, unsigned char sha[32], uint64_t *bytes, buf *msg);
void sess_cast_free(sess_cast *c); /* closes without hashing; NULL-safe */
/* Gives back the write buffer's memory (a session held idle by escortd keeps none). */
void sess_cast_trim(sess_cast *c);
int sess_file_sha256(const char *path, unsigned char sha[32], uint64_t *bytes);

/* One event of a recording, for replay and join (data is owned by the caller's buf). */
typedef struct sess_cast_ev {
	double t;
	char type;
} sess_cast_ev;
/* Parses one event line; ESC_EPARSE when it is not [number, "x", "string"]. */
int sess_cast_parse(const char *line, size_t len, sess_cast_ev *ev, buf *data);

/* ---- the operator's side ---- */

typedef struct sess_ui {
	/* output of the running line for the operator (secrets redacted), live */
	void (*output)(void *ctx, const unsigned char *p, size_t n);
	/* what escort tells the operator: waiting for approval, denied and why, ... */
	void (*notice)(void *ctx, const char *text);
	/* 1 once after the operator pressed Ctrl-C */
	int (*interrupted)(void *ctx);
	void *ctx;
	unsigned width, height; /* of the operator's terminal, for the recording */
} sess_ui;

typedef struct sess sess;

/* Opens the session (policy check, row, audit), its recording and its shell. */
int sess_start(sess **out, wf *w, const char *actor, const char *target, const char *ticket,
               const sess_ui *ui, buf *msg);
int64_t sess_id(const sess *s);
const char *sess_recording(const sess *s); /* DATA/sessions/ID.cast */
/* One line: decided through the workflow (waits for escorts as long as it takes, while
 * watching the kill switch; Ctrl-C while waiting withdraws it), then run. 0 when the
 * session goes on, SESS_ENDED when it is over, a negative code on errors. */
int sess_line(sess *s, const unsigned char *line, size_t len, buf *msg);
/* Between lines: SESS_ENDED (and the operator told) once an escort killed the session
 * or its shell is gone, else 0. Cheap enough to call a few times a second. */
int sess_check(sess *s);
/* Ends the session: shell killed, recording closed and hashed, session.end audited. */
int sess_end(sess *s, const char *reason, buf *msg);
void sess_free(sess *s); /* NULL-safe; ends an open session ("ended") */
/* For a process that holds many sessions (escortd): the workflow handle the session uses
 * from now on (NULL: none). An idle held session keeps no handle, no thread and no
 * buffer: its struct, its shell's descriptors and its recording's. sess_line, sess_check
 * and sess_end need one bound. */
void sess_bind(sess *s, wf *w);
int sess_killed(const sess *s); /* 1 once the escorts' kill switch ended it */

#endif
