/* wf_presence.c — escorts' presence in interactive sessions: join/leave and the heartbeat,
 * the presence checks a policy may demand (a fresh TOTP code or a click every so often, as
 * Teleport's moderators re-prove presence), who counts toward the session's quorum, and
 * the audit events of joins, leaves, proofs, refused proofs and lapses. */
#include "workflow/wf_presence.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/event.h"
#include "util/err.h"
#include "workflow/wf_int.h"

#define US ((int64_t)1000000)

static int
reviewer_kind(const policy_identity *who)
{
	return policy_identity_has_role(who, POLICY_ROLE_ESCORT | POLICY_ROLE_REVIEWER);
}

static int
need_policy(wf *w, buf *msg)
{
	if (wf_policy(w))
		return 0;
	buf_puts(msg, "no policy is loaded; the data directory owner runs 'escort policy load FILE'");
	return ESC_EINVAL;
}

static int
get_session(wf *w, int64_t id, store_isession *se, buf *msg)
{
	int rc = store_isession_get(wf_store(w), id, se);

	if (rc == ESC_ENOENT) {
		buf_printf(msg, "session %" PRId64 " does not exist", id);
		return WF_ENOTFOUND;
	}
	if (rc)
		buf_printf(msg, "store: %s", store_error(wf_store(w)));
	return rc;
}

static int
is_open(const store_isession *se)
{
	return strcmp(se->state, "active") == 0 || strcmp(se->state, "paused") == 0;
}

/* "5m", "30s", "1h30m": the policy's own notation */
static void
dur_text(unsigned s, char *out, size_t n)
{
	size_t k = 0;
	unsigned h = s / 3600, m = s / 60 % 60, r = s % 60;

	out[0] = 0;
	if (h)
		k += (size_t)snprintf(out + k, n - k, "%uh", h);
	if (m && k < n)
		k += (size_t)snprintf(out + k, n - k, "%um", m);
	if ((r || s == 0) && k < n)
		(void)snprintf(out + k, n - k, "%us", r);
}

/* "14:05:00 UTC" */
static void
clock_text(int64_t us, char *out, size_t n)
{
	time_t t = (time_t)(us / US);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(out, n, "%H:%M:%S UTC", &tm) == 0)
		snprintf(out, n, "?");
}

static json_t *
time_json(int64_t us)
{
	char t[32];

	if (audit_time_format(us, t, sizeof(t)) != 0)
		return json_null();
	return json_string(t);
}

int64_t
wf_presence_lead_us(unsigned every_s)
{
	int64_t lead = (int64_t)every_s * US / 5;

	return lead > 60 * US ? 60 * US : lead;
}

static int
check_on(const policy_sessions *ps)
{
	return ps->check_method != POLICY_PRESENCE_NONE && ps->check_every > 0;
}

/* The proof that counts for ps (the policy's method), or NULL. */
static const store_isession_proof *
proof_of(const store_isession_proof *pf, size_t npf, const char *identity,
         const policy_sessions *ps)
{
	const char *want = policy_presence_method_name(ps->check_method);
	size_t i;

	for (i = 0; i < npf; i++) {
		if (strcmp(pf[i].identity, identity) != 0)
			continue;
		/* a click does not count where the policy now asks for a code */
		return pf[i].method && strcmp(pf[i].method, want) == 0 ? &pf[i] : NULL;
	}
	return NULL;
}

/* 1 when identity may still escort under the policy in force: a heartbeat or proof
 * recorded before a policy took the role away must not keep counting until it lapses. */
static int
still_escort(const policy *pol, const char *identity)
{
	const policy_identity *who = pol ? policy_identity_find(pol, identity) : NULL;

	return who != NULL && reviewer_kind(who);
}

/* Each joined escort's standing at now. */
static int
standing(const policy *pol, const store_isession_presence *pv, size_t np,
         const store_isession_proof *pf, size_t npf, const policy_sessions *ps, int64_t now,
         wf_presence_status *st)
{
	size_t i;

	st->ps = *ps;
	st->now_us = now;
	if (np && (st->escorts = calloc(np, sizeof(*st->escorts))) == NULL)
		return ESC_ENOMEM;
	for (i = 0; i < np; i++) {
		wf_presence_escort *e = &st->escorts[st->nescorts];
		const store_isession_proof *p = proof_of(pf, npf, pv[i].identity, ps);

		if ((e->identity = strdup(pv[i].identity)) == NULL)
			return ESC_ENOMEM;
		st->nescorts++;
		e->joined_us = pv[i].joined_us;
		e->seen_us = pv[i].seen_us;
		e->seen = now - pv[i].seen_us <= (int64_t)ps->presence_every * US;
		if (!check_on(ps)) {
			e->proved = 1;
		} else if (p && p->proved_us > 0) {
			e->proved_us = p->proved_us;
			e->lapse_us = p->proved_us + (int64_t)ps->check_every * US;
			e->due_us = e->lapse_us - wf_presence_lead_us(ps->check_every);
			e->proved = now <= e->lapse_us;
			e->due = now >= e->due_us;
		} else {
			e->due_us = e->joined_us; /* asked for from the moment he joined */
			e->due = 1;
		}
		e->counts = e->seen && e->proved && still_escort(pol, e->identity);
		if (e->counts)
			st->counted++;
	}
	st->quorum = st->counted >= ps->require_escorts;
	return 0;
}

void
wf_presence_status_free(wf_presence_status *st)
{
	size_t i;

	if (st == NULL)
		return;
	for (i = 0; i < st->nescorts; i++)
		free(st->escorts[i].identity);
	free(st->escorts);
	memset(st, 0, sizeof(*st));
}

/* Records (once, whichever process notices first) each proof of a still-joined escort that
 * lapsed: marked in the store and audited as session.presence_lapsed with the time it
 * lapsed. In the caller's write transaction when in_tx, else in one of its own opened only
 * when there is something to record. */
static int
sweep_lapses(wf *w, int64_t id, const policy_sessions *ps, int in_tx, buf *msg)
{
	store *sto = wf_store(w);
	store_isession_presence *pv = NULL;
	store_isession_proof *pf = NULL;
	size_t np = 0, npf = 0, i, k;
	int64_t now = wf_int_now_us(w);
	int rc, began = 0;

	if (!check_on(ps))
		return 0;
	if ((rc = store_isession_proofs(sto, id, &pf, &npf)) != 0 ||
	    (rc = store_isession_presence_list(sto, id, &pv, &np)) != 0) {
		buf_printf(msg, "store: %s", store_error(sto));
		goto out;
	}
	for (i = 0; i < npf; i++) {
		const store_isession_proof *p = &pf[i];
		int64_t lapse;
		int joined = 0, marked = 0;
		char every[32];

		if (p->lapsed_us || p->proved_us <= 0 || p->method == NULL ||
		    strcmp(p->method, policy_presence_method_name(ps->check_method)) != 0)
			continue;
		lapse = p->proved_us + (int64_t)ps->check_every * US;
		if (now <= lapse)
			continue;
		for (k = 0; k < np; k++)
			if (strcmp(pv[k].identity, p->identity) == 0)
				joined = 1;
		if (!joined)
			continue;
		if (!in_tx && !began) {
			if ((rc = store_begin(sto, STORE_TX_WRITE)) != 0) {
				buf_printf(msg, "store: %s", store_error(sto));
				goto out;
			}
			began = 1;
		}
		if ((rc = store_isession_proof_lapse(sto, id, p->identity, p->proved_us, lapse,
		                                     &marked)) != 0) {
			buf_printf(msg, "store: %s", store_error(sto));
			break;
		}
		if (!marked)
			continue; /* another process recorded it */
		dur_text(ps->check_every, every, sizeof(every));
		rc = wf_int_audit(w, "session.presence_lapsed", p->identity,
		                  json_pack("{s:I, s:s, s:s, s:o, s:o}", "session", (json_int_t)id,
		                            "method", p->method, "every", every, "proved",
		                            time_json(p->proved_us), "lapsed", time_json(lapse)),
		                  msg);
		if (rc)
			break;
	}
	if (began)
		rc = wf_int_finish_tx(w, rc, msg);
out:
	store_isession_presence_free(pv, np);
	store_isession_proofs_free(pf, npf);
	return rc;
}

/* The session's standing now (lapses recorded first). */
static int
status_of(wf *w, int64_t id, const char *target, wf_presence_status *st, buf *msg)
{
	store *sto = wf_store(w);
	store_isession_presence *pv = NULL;
	store_isession_proof *pf = NULL;
	policy_sessions ps;
	size_t np = 0, npf = 0;
	int rc;

	memset(st, 0, sizeof(*st));
	wf_isession_settings(w, target, &ps);
	if ((rc = sweep_lapses(w, id, &ps, 0, msg)) != 0)
		return rc;
	if ((rc = store_isession_presence_list(sto, id, &pv, &np)) != 0 ||
	    (rc = store_isession_proofs(sto, id, &pf, &npf)) != 0) {
		buf_printf(msg, "store: %s", store_error(sto));
		goto out;
	}
	rc = standing(wf_policy(w), pv, np, pf, npf, &ps, wf_int_now_us(w), st);
out:
	store_isession_presence_free(pv, np);
	store_isession_proofs_free(pf, npf);
	return rc;
}

int
wf_isession_presence(wf *w, const char *actor, int64_t id, int present, buf *msg)
{
	const policy_identity *who;
	store *sto = wf_store(w);
	store_isession se;
	store_isession_presence *pv = NULL;
	policy_sessions ps;
	size_t np = 0, i;
	int rc, known = 0;

	memset(&se, 0, sizeof(se));
	if ((rc = need_policy(w, msg)) != 0)
		return rc;
	who = policy_identity_find(wf_policy(w), actor);
	if (who == NULL || !reviewer_kind(who)) {
		buf_printf(msg, "%s may not join session %" PRId64 " as an escort: only escorts and "
		           "reviewers watch sessions", actor, id);
		return WF_EREFUSED;
	}
	if ((rc = store_begin(sto, STORE_TX_WRITE)) != 0) {
		buf_printf(msg, "store: %s", store_error(sto));
		return rc;
	}
	if ((rc = get_session(w, id, &se, msg)) != 0)
		goto tx;
	if (strcmp(se.operator_name, actor) == 0) {
		buf_printf(msg, "%s cannot escort their own session", actor);
		rc = WF_EREFUSED;
		goto tx;
	}
	if ((rc = store_isession_presence_list(sto, id, &pv, &np)) != 0)
		goto tx;
	for (i = 0; i < np; i++)
		if (strcmp(pv[i].identity, actor) == 0)
			known = 1;
	if (present) {
		if ((rc = store_isession_presence_set(sto, id, actor, wf_int_now_us(w))) != 0) {
			buf_printf(msg, "store: %s", store_error(sto));
			goto tx;
		}
		if (!known)
			rc = wf_int_audit(w, "session.join", actor,
			                  json_pack("{s:I}", "session", (json_int_t)id), msg);
		/* the heartbeat is also when a lapsed presence check is noticed */
		wf_isession_settings(w, se.target, &ps);
		if (rc == 0)
			rc = sweep_lapses(w, id, &ps, 1, msg);
	} else if (known) {
		if ((rc = store_isession_presence_clear(sto, id, actor)) != 0) {
			buf_printf(msg, "store: %s", store_error(sto));
			goto tx;
		}
		/* whoever joins again proves presence again */
		rc = store_isession_proof_clear(sto, id, actor);
		if (rc == ESC_ENOENT)
			rc = 0;
		else if (rc)
			buf_printf(msg, "store: %s", store_error(sto));
		if (rc == 0)
			rc = wf_int_audit(w, "session.leave", actor,
			                  json_pack("{s:I}", "session", (json_int_t)id), msg);
	}
tx:
	rc = wf_int_finish_tx(w, rc, msg);
	store_isession_presence_free(pv, np);
	store_isession_clear(&se);
	return rc;
}

int
wf_isession_present(wf *w, int64_t id, const char *target, size_t *n, buf *names)
{
	wf_presence_status st;
	buf ignore = BUF_INIT;
	size_t i;
	int rc;

	*n = 0;
	rc = status_of(w, id, target, &st, &ignore);
	for (i = 0; rc == 0 && i < st.nescorts; i++) {
		if (!st.escorts[i].counts)
			continue;
		if (names)
			buf_printf(names, "%s%s", *n ? ", " : "", st.escorts[i].identity);
		(*n)++;
	}
	wf_presence_status_free(&st);
	buf_free(&ignore);
	return rc;
}

int
wf_isession_presence_why(wf *w, int64_t id, const char *target, buf *why)
{
	wf_presence_status st;
	buf ignore = BUF_INIT;
	char every[32], seen[32], at[32];
	size_t i, said = 0;
	int rc;

	rc = status_of(w, id, target, &st, &ignore);
	buf_free(&ignore);
	if (rc) {
		wf_presence_status_free(&st);
		return rc;
	}
	dur_text(st.ps.check_every, every, sizeof(every));
	dur_text(st.ps.presence_every, seen, sizeof(seen));
	for (i = 0; i < st.nescorts; i++) {
		const wf_presence_escort *e = &st.escorts[i];
		const char *sep = said ? "; " : "";

		if (e->counts)
			continue;
		said++;
		if (!still_escort(wf_policy(w), e->identity))
			buf_printf(why, "%s%s is no longer an escort or reviewer in the policy in force",
			           sep, e->identity);
		else if (!e->seen)
			buf_printf(why, "%s%s was last seen %" PRId64 "s ago (the policy allows %s)", sep,
			           e->identity, (st.now_us - e->seen_us) / US, seen);
		else if (e->proved_us == 0)
			buf_printf(why, "%s%s has not proved presence yet (the policy asks for %s every "
			           "%s)", sep, e->identity,
			           st.ps.check_method == POLICY_PRESENCE_TOTP ? "a TOTP code" : "a click",
			           every);
		else {
			clock_text(e->lapse_us, at, sizeof(at));
			buf_printf(why, "%s%s's presence check lapsed at %s (the policy asks for %s every "
			           "%s)", sep, e->identity, at,
			           st.ps.check_method == POLICY_PRESENCE_TOTP ? "a TOTP code" : "a click",
			           every);
		}
	}
	if (st.nescorts == 0)
		buf_puts(why, "no escort has joined");
	wf_presence_status_free(&st);
	return 0;
}

int
wf_isession_presence_status(wf *w, const char *actor, int64_t id, wf_presence_status *st,
                            buf *msg)
{
	store_isession se;
	int rc;

	memset(st, 0, sizeof(*st));
	if ((rc = wf_isession_get(w, actor, id, &se, msg)) != 0)
		return rc;
	rc = status_of(w, id, se.target, st, msg);
	store_isession_clear(&se);
	return rc;
}

/* A refused proof is on the record even though nothing else changes. */
static void
audit_refused(wf *w, const char *actor, int64_t id, const char *method, const buf *why)
{
	buf ignore = BUF_INIT;

	(void)wf_int_audit(w, "session.presence_refused", actor,
	                   json_pack("{s:I, s:s, s:s}", "session", (json_int_t)id, "method", method,
	                             "reason", buf_cstr(why)),
	                   &ignore);
	(void)wf_int_audit_end(w, NULL);
	buf_free(&ignore);
}

int
wf_isession_prove(wf *w, const char *actor, int64_t id, const char *code, buf *msg)
{
	const policy_identity *who;
	store *sto = wf_store(w);
	store_isession se;
	store_isession_presence *pv = NULL;
	policy_sessions ps;
	size_t np = 0, i;
	int64_t now = wf_int_now_us(w);
	const char *method;
	char every[32];
	int rc, known = 0;

	memset(&se, 0, sizeof(se));
	if ((rc = need_policy(w, msg)) != 0)
		return rc;
	who = policy_identity_find(wf_policy(w), actor);
	if (who == NULL || !reviewer_kind(who)) {
		buf_printf(msg, "%s may not prove presence in session %" PRId64 ": only escorts and "
		           "reviewers escort sessions", actor, id);
		return WF_EREFUSED;
	}
	if ((rc = get_session(w, id, &se, msg)) != 0)
		return rc;
	if (strcmp(se.operator_name, actor) == 0) {
		buf_printf(msg, "%s cannot escort their own session", actor);
		rc = WF_EREFUSED;
		goto out;
	}
	if (!is_open(&se)) {
		buf_printf(msg, "session %" PRId64 " is %s", id, se.state);
		rc = WF_ECONFLICT;
		goto out;
	}
	wf_isession_settings(w, se.target, &ps);
	if (!check_on(&ps)) {
		buf_printf(msg, "the policy asks for no presence checks in session %" PRId64
		           " (target %s)", id, se.target);
		rc = WF_ECONFLICT;
		goto out;
	}
	method = policy_presence_method_name(ps.check_method);
	if (ps.check_method == POLICY_PRESENCE_TOTP) {
		buf why = BUF_INIT;

		/* the code is used up here (one use per step), whatever happens next */
		rc = wf_totp_verify(w, actor, code, now, &why);
		if (rc == WF_EREFUSED) {
			audit_refused(w, actor, id, method, &why);
			buf_printf(msg, "presence not proved: %s", buf_cstr(&why));
		} else if (rc)
			buf_put(msg, why.data, why.len);
		buf_free(&why);
		if (rc)
			goto out;
	}
	if ((rc = store_begin(sto, STORE_TX_WRITE)) != 0) {
		buf_printf(msg, "store: %s", store_error(sto));
		goto out;
	}
	if ((rc = store_isession_presence_list(sto, id, &pv, &np)) != 0) {
		buf_printf(msg, "store: %s", store_error(sto));
		goto tx;
	}
	for (i = 0; i < np; i++)
		if (strcmp(pv[i].identity, actor) == 0)
			known = 1;
	/* a proof is also a heartbeat: proving joins */
	if ((rc = store_isession_presence_set(sto, id, actor, now)) != 0 ||
	    (rc = store_isession_proof_set(sto, id, actor, method, now)) != 0) {
		buf_printf(msg, "store: %s", store_error(sto));
		goto tx;
	}
	if (!known && (rc = wf_int_audit(w, "session.join", actor,
	                                 json_pack("{s:I}", "session", (json_int_t)id), msg)) != 0)
		goto tx;
	dur_text(ps.check_every, every, sizeof(every));
	rc = wf_int_audit(w, "session.presence_proved", actor,
	                  json_pack("{s:I, s:s, s:s, s:o}", "session", (json_int_t)id, "method",
	                            method, "every", every, "lapses",
	                            time_json(now + (int64_t)ps.check_every * US)),
	                  msg);
tx:
	rc = wf_int_finish_tx(w, rc, msg);
out:
	store_isession_presence_free(pv, np);
	store_isession_clear(&se);
	return rc;
}
