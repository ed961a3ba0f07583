/* wf_presence.h — escorts' presence in interactive sessions (wf_presence.c): who has joined
 * (the join process's or the console's heartbeat), the presence checks a policy demands
 * (sessions: presence_check: {every, method}: a fresh TOTP code or a click), and who counts
 * toward the session's quorum (require_escorts) now. wf_isession_presence and
 * wf_isession_present (workflow.h) live there too. */
#ifndef ESCORT_WORKFLOW_WF_PRESENCE_H
#define ESCORT_WORKFLOW_WF_PRESENCE_H

#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"
#include "util/buf.h"
#include "workflow/workflow.h"

/* One joined escort's standing at the time it was computed. */
typedef struct wf_presence_escort {
	char *identity;
	int64_t joined_us, seen_us; /* joined; last heartbeat */
	int64_t proved_us; /* last proof by the method the policy asks for now (0: none) */
	int64_t due_us;    /* from then on the next proof is asked for (0: no checks) */
	int64_t lapse_us;  /* then the proof stops counting (0: no checks, or never proved) */
	int seen;          /* heartbeat within presence_every */
	int proved;        /* the policy asks for no checks, or the proof is fresh */
	int due;           /* a proof is asked for now (the CLI and the console prompt) */
	int counts;        /* seen && proved: counts toward require_escorts */
} wf_presence_escort;

typedef struct wf_presence_status {
	policy_sessions ps; /* the session target's settings (check_every, check_method) */
	size_t counted;     /* escorts who count toward ps.require_escorts */
	int quorum;         /* counted >= ps.require_escorts */
	wf_presence_escort *escorts; /* every joined escort, in joining order */
	size_t nescorts;
	int64_t now_us;     /* when it was computed */
} wf_presence_status;

/* A proof is asked for this long before it lapses: a fifth of `every`, at most a minute,
 * so an escort who answers at once never lets the quorum drop. */
int64_t wf_presence_lead_us(unsigned every_s);

/* The session's presence as actor (anyone who may see the session) sees it. A proof that
 * lapsed since it was last looked at is recorded (audited as session.presence_lapsed)
 * first. Free st with wf_presence_status_free (also after an error). */
int wf_isession_presence_status(wf *w, const char *actor, int64_t id, wf_presence_status *st,
                                buf *msg);
void wf_presence_status_free(wf_presence_status *st); /* NULL-safe; leaves it zeroed */

/* actor (an escort or reviewer, not the session's operator) proves presence in open
 * session id as its target's presence_check demands: code is the current TOTP code for
 * method totp (good once, as at login) and ignored for click. Proving also joins
 * (heartbeat). Audited as session.presence_proved; a wrong code is refused (WF_EREFUSED,
 * audited as session.presence_refused) and changes nothing else. WF_ECONFLICT when the
 * session is over or its policy asks for no checks. */
int wf_isession_prove(wf *w, const char *actor, int64_t id, const char *code, buf *msg);

/* Why fewer escorts than required count in session id on target now, in words for the
 * operator (e.g. "esc-1 has not proved presence yet (a TOTP code every 5m)"); appends
 * "no escort has joined" when nobody has. */
int wf_isession_presence_why(wf *w, int64_t id, const char *target, buf *why);

#endif
