/* api_presence.c — escortd's presence endpoint for interactive sessions: who has joined a
 * session, who counts toward its quorum and who owes a presence check now (GET), and an
 * escort joining, leaving or proving presence with a TOTP code or a click (POST), as the
 * console's live session page does. The rules are the workflow's (wf_presence.h). */
#include "server/api_presence.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "workflow/wf_presence.h"

#define SUFFIX "/presence"

/* "/sessions/ID/presence" -> ID (a positive decimal without leading zeros); 0 otherwise. */
static int64_t
session_id(const char *path)
{
	const char *p;
	int64_t v = 0;

	if (strncmp(path, "/sessions/", 10) != 0)
		return 0;
	p = path + 10;
	if (*p < '1' || *p > '9')
		return 0;
	while (*p >= '0' && *p <= '9') {
		if (v > (INT64_MAX - 9) / 10)
			return 0;
		v = v * 10 + (*p++ - '0');
	}
	return strcmp(p, SUFFIX) == 0 ? v : 0;
}

int
api_presence_path(const char *path)
{
	return session_id(path) > 0;
}

static int
sees_full(const policy_identity *id)
{
	return policy_identity_has_role(id, POLICY_ROLE_ESCORT | POLICY_ROLE_REVIEWER |
	                                        POLICY_ROLE_AUDITOR | POLICY_ROLE_ADMIN);
}

static json_t *
escort_json(const wf_presence_escort *e)
{
	return json_pack("{s:s, s:o, s:o, s:b, s:o, s:b, s:o, s:o, s:b, s:b}", "identity",
	                 e->identity, "joined", srv_time_json(e->joined_us), "seen",
	                 srv_time_json(e->seen_us), "present", e->seen, "proved_at",
	                 srv_time_json(e->proved_us), "proved", e->proved, "due_at",
	                 srv_time_json(e->due_us), "lapses_at", srv_time_json(e->lapse_us), "due",
	                 e->due, "counts", e->counts);
}

/* The session's presence as the caller sees it, with "you": the caller's own standing
 * and what he may do (an escort or reviewer who is not the operator joins and proves). */
static json_t *
status_json(srv_call *k, int64_t id, const wf_presence_status *st, const char *operator_name)
{
	const wf_presence_escort *me = NULL;
	json_t *a = json_array(), *check;
	size_t i;
	int may = policy_identity_has_role(k->id, POLICY_ROLE_ESCORT | POLICY_ROLE_REVIEWER) &&
	          strcmp(operator_name, k->who) != 0;

	for (i = 0; a && i < st->nescorts; i++) {
		json_array_append_new(a, escort_json(&st->escorts[i]));
		if (strcmp(st->escorts[i].identity, k->who) == 0)
			me = &st->escorts[i];
	}
	check = st->ps.check_method == POLICY_PRESENCE_NONE
	            ? json_null()
	            : json_pack("{s:i, s:s}", "every", (int)st->ps.check_every, "method",
	                        policy_presence_method_name(st->ps.check_method));
	return json_pack("{s:I, s:i, s:i, s:o, s:I, s:b, s:o, s:o, s:{s:b, s:b, s:b, s:b}}",
	                 "session", (json_int_t)id, "require_escorts", (int)st->ps.require_escorts,
	                 "presence_every", (int)st->ps.presence_every, "check", check, "counted",
	                 (json_int_t)st->counted, "quorum", st->quorum, "now",
	                 srv_time_json(st->now_us), "escorts", a ? a : json_array(), "you",
	                 "may_join", may, "joined", me != NULL, "due",
	                 may && st->ps.check_method != POLICY_PRESENCE_NONE && (me == NULL || me->due),
	                 "counts", me != NULL && me->counts);
}

static enum MHD_Result
answer(srv_call *k, int64_t id, unsigned status)
{
	wf_presence_status st;
	store_isession se;
	json_t *o;
	int rc;

	buf_reset(&k->msg);
	if ((rc = wf_isession_get(k->w, k->who, id, &se, &k->msg)) != 0)
		return srv_send_wf_error(k, rc == WF_EREFUSED && !sees_full(k->id) ? WF_ENOTFOUND : rc,
		                         NULL);
	rc = wf_isession_presence_status(k->w, k->who, id, &st, &k->msg);
	if (rc) {
		store_isession_clear(&se);
		wf_presence_status_free(&st);
		return srv_send_wf_error(k, rc, NULL);
	}
	o = status_json(k, id, &st, se.operator_name);
	if (o && !st.quorum) {
		/* in words, for whoever watches a paused session */
		buf why = BUF_INIT;

		if (wf_isession_presence_why(k->w, id, se.target, &why) == 0 && why.len)
			json_object_set_new(o, "why", json_string(buf_cstr(&why)));
		buf_free(&why);
	}
	store_isession_clear(&se);
	wf_presence_status_free(&st);
	if (o == NULL)
		return srv_error(k->conn, 500, "internal", NULL, "out of memory");
	return srv_send_json(k->conn, status, o);
}

/* POST {"action": "join" | "leave" | "prove", "code": "123456"} */
static enum MHD_Result
act(srv_call *k, int64_t id)
{
	static const char *const known[] = { "action", "code", NULL };
	json_error_t jerr;
	json_t *o, *v;
	const char *key, *action = NULL, *code = NULL;
	enum MHD_Result ret;
	size_t i;
	int rc;

	o = json_loadb(k->body ? k->body : "", k->blen, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL || !json_is_object(o)) {
		ret = srv_error(k->conn, 400, "bad_request", NULL, "malformed JSON at %d:%d: %s",
		                jerr.line, jerr.column, o ? "not an object" : jerr.text);
		goto out;
	}
	json_object_foreach(o, key, v) {
		for (i = 0; known[i] && strcmp(known[i], key) != 0; i++)
			;
		if (known[i] == NULL) {
			ret = srv_error(k->conn, 400, "bad_request", key, "unknown member %s (expected "
			                "action, code)", key);
			goto out;
		}
	}
	v = json_object_get(o, "action");
	if (!json_is_string(v) ||
	    (strcmp(action = json_string_value(v), "join") != 0 && strcmp(action, "leave") != 0 &&
	     strcmp(action, "prove") != 0)) {
		ret = srv_error(k->conn, 400, "bad_request", "action", "action must be join, leave or "
		                "prove");
		goto out;
	}
	if ((v = json_object_get(o, "code")) != NULL && !json_is_null(v)) {
		if (!json_is_string(v) || json_string_length(v) > 16 || strcmp(action, "prove") != 0) {
			ret = srv_error(k->conn, 400, "bad_request", "code", "code is a string of up to "
			                "16 bytes, with action prove only");
			goto out;
		}
		code = json_string_value(v);
	}
	buf_reset(&k->msg);
	if (strcmp(action, "prove") == 0)
		rc = wf_isession_prove(k->w, k->who, id, code, &k->msg);
	else
		rc = wf_isession_presence(k->w, k->who, id, strcmp(action, "join") == 0, &k->msg);
	if (rc) {
		ret = srv_send_wf_error(k, rc, rc == WF_EREFUSED && code ? "code" : NULL);
		goto out;
	}
	ret = answer(k, id, 200);
out:
	json_decref(o);
	return ret;
}

enum MHD_Result
api_presence(srv_call *k, const char *path)
{
	int64_t id = session_id(path);

	if (id <= 0)
		return srv_error(k->conn, 404, "not_found", NULL, "no such API path");
	if (strcmp(k->method, "GET") == 0)
		return answer(k, id, 200);
	if (strcmp(k->method, "POST") == 0)
		return act(k, id);
	return srv_error(k->conn, 405, "method_not_allowed", NULL, "use GET or POST");
}
