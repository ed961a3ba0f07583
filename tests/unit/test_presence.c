/* test_presence.c — presence checks in interactive sessions: the policy's
 * sessions.presence_check (parsing, every FILE:LINE:COL error, which block applies to a
 * target), the store's proof operations (SQLite), and the workflow's rules on a fixed
 * clock: who counts toward the quorum, TOTP and click proofs, refusals, lapses recorded
 * once, leaving forgets the proof. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <inttypes.h>
#include <jansson.h>

#include "audit/event.h"
#include "audit/log.h"
#include "audit/sth.h"
#include "policy/policy.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/err.h"
#include "workflow/wf_presence.h"
#include "workflow/workflow.h"

#define EXAMPLE "examples/policy.yaml"
#define SEC ((int64_t)1000000)
/* 2026-11-25 12:00:00 UTC */
#define T0 ((int64_t)1795608000 * SEC)

static char *
example_text(size_t *len)
{
	buf b = BUF_INIT;

	assert_int_equal(buf_read_file(&b, EXAMPLE), 0);
	return buf_steal(&b, len);
}

/* The example with its top-level sessions line replaced by `line` (NULL: as it is). */
static char *
example_sessions(const char *line)
{
	size_t len;
	char *y = example_text(&len), *a, *e, *out;
	const char *from = "sessions: {line_timeout: 10m}";

	if (line == NULL)
		return y;
	a = strstr(y, from);
	assert_non_null(a);
	e = a + strlen(from);
	out = malloc(len + strlen(line) + 1);
	assert_non_null(out);
	memcpy(out, y, (size_t)(a - y));
	strcpy(out + (a - y), line);
	strcat(out, e);
	free(y);
	return out;
}

static int
load(const char *yaml, policy **p, buf *err)
{
	*p = NULL;
	buf_reset(err);
	return policy_load(p, yaml, strlen(yaml), "t.yaml", err);
}

/* 1-based line of the first occurrence of needle in hay. */
static unsigned
line_of(const char *hay, const char *needle)
{
	const char *at = strstr(hay, needle), *q;
	unsigned n = 1;

	assert_non_null(at);
	for (q = hay; q < at; q++)
		n += *q == '\n';
	return n;
}

static void
test_policy_presence_check(void **state)
{
	policy *p = NULL;
	policy_sessions ps;
	buf err = BUF_INIT;
	char *y;

	(void)state;
	/* the example: dod demands a TOTP every 5 minutes; commercial nothing */
	y = example_sessions(NULL);
	assert_int_equal(load(y, &p, &err), 0);
	policy_sessions_for(p, "dod-web", &ps);
	assert_int_equal(ps.require_escorts, 1);
	assert_int_equal(ps.presence_every, 10);
	assert_int_equal(ps.check_every, 300);
	assert_int_equal(ps.check_method, POLICY_PRESENCE_TOTP);
	policy_sessions_for(p, "com-web", &ps);
	assert_int_equal(ps.require_escorts, 0);
	assert_int_equal(ps.check_method, POLICY_PRESENCE_NONE);
	assert_int_equal(ps.check_every, 0);
	policy_free(p);
	free(y);

	/* a top-level block with a click check applies to commercial */
	y = example_sessions("sessions: {require_escorts: 2, presence_check: {method: click, "
	                     "every: 1h30m}}");
	assert_int_equal(load(y, &p, &err), 0);
	policy_sessions_for(p, "com-web", &ps);
	assert_int_equal(ps.require_escorts, 2);
	assert_int_equal(ps.check_method, POLICY_PRESENCE_CLICK);
	assert_int_equal(ps.check_every, 5400);
	assert_int_equal(ps.presence_every, POLICY_PRESENCE_DEFAULT);
	policy_sessions_for(p, "dod-web", &ps); /* its environment's own block wins */
	assert_int_equal(ps.check_method, POLICY_PRESENCE_TOTP);
	policy_free(p);
	free(y);

	/* TOTP at exactly 30s is accepted, click at 1s too */
	y = example_sessions("sessions: {require_escorts: 1, presence_check: {every: 30s, method: "
	                     "totp}}");
	assert_int_equal(load(y, &p, &err), 0);
	policy_free(p);
	free(y);
	y = example_sessions("sessions: {require_escorts: 1, presence_check: {every: 1s, method: "
	                     "click}}");
	assert_int_equal(load(y, &p, &err), 0);
	policy_free(p);
	free(y);

	assert_string_equal(policy_presence_method_name(POLICY_PRESENCE_TOTP), "totp");
	assert_string_equal(policy_presence_method_name(POLICY_PRESENCE_CLICK), "click");
	assert_string_equal(policy_presence_method_name(POLICY_PRESENCE_NONE), "none");
	assert_int_equal(policy_presence_method_parse("totp"), POLICY_PRESENCE_TOTP);
	assert_int_equal(policy_presence_method_parse("click"), POLICY_PRESENCE_CLICK);
	assert_int_equal(policy_presence_method_parse("TOTP"), -1);
	assert_int_equal(policy_presence_method_parse(NULL), -1);
	buf_free(&err);
}

static void
test_policy_presence_check_errors(void **state)
{
	static const struct {
		const char *line; /* the top-level sessions line */
		const char *at;   /* where the error points (its first occurrence in line) */
		const char *msg;  /* "KEY: message" */
	} bad[] = {
		{"sessions: {require_escorts: 1, presence_check: {every: 5m}}", "{every: 5m}",
		 "sessions.presence_check: give method: totp"},
		{"sessions: {require_escorts: 1, presence_check: {method: click}}", "{method: click}",
		 "sessions.presence_check: give every"},
		{"sessions: {require_escorts: 1, presence_check: {every: 5m, method: sms}}", "sms",
		 "sessions.presence_check.method: expected totp or click"},
		{"sessions: {require_escorts: 1, presence_check: {every: 5m, method: [totp]}}", "[totp]",
		 "sessions.presence_check.method: expected totp or click"},
		{"sessions: {require_escorts: 1, presence_check: {every: 29s, method: totp}}", "29s",
		 "sessions.presence_check.every: a TOTP code changes every 30 seconds"},
		{"sessions: {require_escorts: 1, presence_check: {every: 0s, method: click}}", "0s",
		 "sessions.presence_check.every: "},
		{"sessions: {require_escorts: 1, presence_check: {every: 2d, method: click}}", "2d",
		 "sessions.presence_check.every: "},
		{"sessions: {require_escorts: 1, presence_check: {every: 5m, method: click, x: 1}}", "x:",
		 "sessions.presence_check.x: unknown key (expected one of: every, method)"},
		{"sessions: {require_escorts: 1, presence_check: {every: 5m, every: 6m, method: click}}",
		 "every: 6m", "sessions.presence_check.every: duplicate key"},
		{"sessions: {require_escorts: 1, presence_check: totp}", "totp}",
		 "sessions.presence_check: expected a mapping, got a scalar"},
		{"sessions: {presence_check: {every: 5m, method: click}}", "{every",
		 "sessions.presence_check: needs require_escorts of 1 or more"},
		{"sessions: {require_escorts: 0, presence_check: {every: 5m, method: totp}}", "{every",
		 "sessions.presence_check: needs require_escorts of 1 or more"},
	};
	policy *p = NULL;
	buf err = BUF_INIT, want = BUF_INIT;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *y = example_sessions(bad[i].line);
		const char *ln = strstr(y, bad[i].line);
		unsigned line = line_of(y, bad[i].line);
		unsigned col = (unsigned)(strstr(ln, bad[i].at) - ln) + 1;

		assert_int_equal(load(y, &p, &err), ESC_EPARSE);
		assert_null(p);
		buf_reset(&want);
		buf_printf(&want, "t.yaml:%u:%u: %s", line, col, bad[i].msg);
		if (strncmp(buf_cstr(&err), buf_cstr(&want), want.len) != 0)
			fail_msg("case %zu: got '%s', want '%s...'", i, buf_cstr(&err), buf_cstr(&want));
		free(y);
	}
	/* an environment's block is checked the same way, at its own position */
	{
		size_t len;
		char *y = example_text(&len), *at;

		at = strstr(y, "      require_escorts: 1\n");
		assert_non_null(at);
		at[23] = '0';
		assert_int_equal(load(y, &p, &err), ESC_EPARSE);
		buf_reset(&want);
		buf_printf(&want, "t.yaml:%u:23: environments[dod].sessions.presence_check: needs "
		           "require_escorts", line_of(y, "      presence_check: {every: 5m"));
		if (strncmp(buf_cstr(&err), buf_cstr(&want), want.len) != 0)
			fail_msg("environment: got '%s', want '%s...'", buf_cstr(&err), buf_cstr(&want));
		free(y);
	}
	buf_free(&err);
	buf_free(&want);
}

/* ---- the store ---- */

static void
test_store_proofs(void **state)
{
	char dir[] = "/tmp/escort-test-presence-XXXXXX", e[512] = "";
	store *st = NULL;
	store_isession se;
	store_isession_proof *pf = NULL;
	size_t n = 0;
	int marked = -1, v = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(store_open_sqlite(&st, dir, 1, e, sizeof(e)), 0);
	assert_int_equal(store_schema_version(st, &v), 0);
	assert_int_equal(v, STORE_SCHEMA_VERSION);
	assert_true(v >= 5); /* the proofs came with migration 4 -> 5 */
	memset(&se, 0, sizeof(se));
	se.operator_name = "op-in";
	se.target = "dod-web";
	se.state = "active";
	se.created_us = se.updated_us = T0;
	assert_int_equal(store_isession_insert(st, &se), 0);
	assert_int_equal(store_isession_proofs(st, se.id, &pf, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_isession_proof_set(st, se.id, "esc-1", "totp", T0), 0);
	assert_int_equal(store_isession_proof_set(st, se.id, "esc-2", "click", T0 + 1), 0);
	/* the schema refuses an unknown method */
	assert_int_not_equal(store_isession_proof_set(st, se.id, "esc-3", "sms", T0), 0);
	assert_int_equal(store_isession_proofs(st, se.id, &pf, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(pf[0].identity, "esc-1");
	assert_string_equal(pf[0].method, "totp");
	assert_true(pf[0].proved_us == T0 && pf[0].lapsed_us == 0);
	assert_string_equal(pf[1].method, "click");
	store_isession_proofs_free(pf, n);
	/* a lapse is marked once, and only for the proof it is about */
	assert_int_equal(store_isession_proof_lapse(st, se.id, "esc-1", T0 - 5, T0 + 10, &marked), 0);
	assert_int_equal(marked, 0);
	assert_int_equal(store_isession_proof_lapse(st, se.id, "esc-1", T0, T0 + 10, &marked), 0);
	assert_int_equal(marked, 1);
	assert_int_equal(store_isession_proof_lapse(st, se.id, "esc-1", T0, T0 + 11, &marked), 0);
	assert_int_equal(marked, 0);
	assert_int_equal(store_isession_proofs(st, se.id, &pf, &n), 0);
	assert_true(pf[0].lapsed_us == T0 + 10);
	store_isession_proofs_free(pf, n);
	/* a new proof starts over */
	assert_int_equal(store_isession_proof_set(st, se.id, "esc-1", "totp", T0 + 20), 0);
	assert_int_equal(store_isession_proofs(st, se.id, &pf, &n), 0);
	assert_true(pf[0].proved_us == T0 + 20 && pf[0].lapsed_us == 0);
	store_isession_proofs_free(pf, n);
	assert_int_equal(store_isession_proof_clear(st, se.id, "esc-1"), 0);
	assert_int_equal(store_isession_proof_clear(st, se.id, "esc-1"), ESC_ENOENT);
	assert_int_equal(store_isession_proofs(st, se.id, &pf, &n), 0);
	assert_int_equal(n, 1);
	store_isession_proofs_free(pf, n);
	store_close(st);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		assert_int_equal(system(cmd), 0);
	}
}

/* ---- the workflow on a fixed clock ---- */

struct fx {
	char dir[64];
	wf *w;
	buf msg;
	int64_t id; /* a dod session (TOTP every 5m, presence_every 10s) */
	int64_t id2; /* a commercial session (click every 2m) */
	unsigned char key[STORE_TOTP_SECRET_MAX];
	size_t keylen;
};

static int
fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char e[512] = "", b32[64];
	char *y = example_sessions("sessions: {require_escorts: 1, presence_every: 10s, "
	                           "presence_check: {every: 2m, method: click}}");
	int64_t last = 0;
	store *st = NULL;

	assert_non_null(f);
	strcpy(f->dir, "/tmp/escort-test-presence-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	*state = f;
	assert_int_equal(audit_key_generate(f->dir, e, sizeof(e)), 0);
	assert_int_equal(store_open_sqlite(&st, f->dir, 1, e, sizeof(e)), 0);
	store_close(st);
	assert_int_equal(wf_open(&f->w, f->dir, NULL, e, sizeof(e)), 0);
	assert_int_equal(wf_policy_load(f->w, "test", y, strlen(y), "policy.yaml", NULL, &f->msg), 0);
	free(y);
	wf_set_clock(f->w, T0);
	assert_int_equal(wf_isession_start(f->w, "op-in", "dod-web", NULL, &f->id, &f->msg), 0);
	assert_int_equal(wf_isession_start(f->w, "op-in", "com-web", NULL, &f->id2, &f->msg), 0);
	assert_int_equal(wf_totp_enroll(f->w, f->dir, "test", "esc-1", b32, sizeof(b32), NULL,
	                                &f->msg), 0);
	assert_int_equal(store_totp_get(wf_store(f->w), "esc-1", f->key, &f->keylen, &last), 0);
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	if (f == NULL)
		return 0;
	wf_close(f->w);
	buf_free(&f->msg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void
code_at(struct fx *f, int64_t us, char out[8])
{
	uint32_t c = 0;

	assert_int_equal(wf_totp(f->key, f->keylen, "SHA1", us / SEC, WF_TOTP_DIGITS, &c), 0);
	snprintf(out, 8, "%06u", (unsigned)c);
}

static size_t
counted(struct fx *f, int64_t id, const char *target)
{
	size_t n = 99;

	assert_int_equal(wf_isession_present(f->w, id, target, &n, NULL), 0);
	return n;
}

static const wf_presence_escort *
find(const wf_presence_status *st, const char *who)
{
	size_t i;

	for (i = 0; i < st->nescorts; i++)
		if (strcmp(st->escorts[i].identity, who) == 0)
			return &st->escorts[i];
	return NULL;
}

static void
test_totp_quorum_and_lapse(void **state)
{
	struct fx *f = *state;
	wf_presence_status st;
	const wf_presence_escort *e;
	store_isession_proof *pf = NULL;
	buf why = BUF_INIT;
	char code[8], bad[8];
	size_t n;

	wf_set_clock(f->w, T0 + 1 * SEC);
	buf_reset(&f->msg);
	assert_int_equal(wf_isession_presence_why(f->w, f->id, "dod-web", &why), 0);
	assert_string_equal(buf_cstr(&why), "no escort has joined");
	/* joined, not proved: he does not count, and the check is due at once */
	assert_int_equal(wf_isession_presence(f->w, "esc-1", f->id, 1, &f->msg), 0);
	assert_int_equal(counted(f, f->id, "dod-web"), 0);
	assert_int_equal(wf_isession_presence_status(f->w, "esc-1", f->id, &st, &f->msg), 0);
	assert_false(st.quorum);
	assert_non_null(e = find(&st, "esc-1"));
	assert_true(e->seen && !e->proved && e->due && !e->counts && e->proved_us == 0);
	wf_presence_status_free(&st);
	buf_reset(&why);
	assert_int_equal(wf_isession_presence_why(f->w, f->id, "dod-web", &why), 0);
	assert_string_equal(buf_cstr(&why), "esc-1 has not proved presence yet (the policy asks for "
	                                    "a TOTP code every 5m)");
	/* a wrong code is refused and changes nothing */
	code_at(f, T0 + 1 * SEC, code);
	snprintf(bad, sizeof(bad), "%06u", (unsigned)((strtoul(code, NULL, 10) + 1) % 1000000));
	buf_reset(&f->msg);
	assert_int_equal(wf_isession_prove(f->w, "esc-1", f->id, bad, &f->msg), WF_EREFUSED);
	assert_non_null(strstr(buf_cstr(&f->msg), "presence not proved: the TOTP code is wrong"));
	buf_reset(&f->msg);
	assert_int_equal(wf_isession_prove(f->w, "esc-1", f->id, NULL, &f->msg), WF_EREFUSED);
	buf_reset(&f->msg);
	assert_int_equal(wf_isession_prove(f->w, "esc-1", f->id, "12345", &f->msg), WF_EREFUSED);
	assert_int_equal(counted(f, f->id, "dod-web"), 0);
	assert_int_equal(store_isession_proofs(wf_store(f->w), f->id, &pf, &n), 0);
	assert_int_equal(n, 0);
	store_isession_proofs_free(pf, n);
	/* neither the operator nor an auditor proves presence */
	buf_reset(&f->msg);
	assert_int_equal(wf_isession_prove(f->w, "op-in", f->id, code, &f->msg), WF_EREFUSED);
	buf_reset(&f->msg);
	assert_int_equal(wf_isession_prove(f->w, "aud-1", f->id, code, &f->msg), WF_EREFUSED);
	buf_reset(&f->msg);
	assert_int_equal(wf_isession_prove(f->w, "esc-1", 999, code, &f->msg), WF_ENOTFOUND);
	/* the right code: esc-1 counts until T0 + 1s + 5m */
	buf_reset(&f->msg);
	assert_int_equal(wf_isession_prove(f->w, "esc-1", f->id, code, &f->msg), 0);
	assert_int_equal(counted(f, f->id, "dod-web"), 1);
	/* a code is good once */
	buf_reset(&f->msg);
	assert_int_equal(wf_isession_prove(f->w, "esc-1", f->id, code, &f->msg), WF_EREFUSED);
	assert_non_null(strstr(buf_cstr(&f->msg), "already used"));
	assert_int_equal(counted(f, f->id, "dod-web"), 1);
	/* the heartbeat goes stale without the join process: he no longer counts */
	wf_set_clock(f->w, T0 + 20 * SEC);
	assert_int_equal(counted(f, f->id, "dod-web"), 0);
	buf_reset(&why);
	assert_int_equal(wf_isession_presence_why(f->w, f->id, "dod-web", &why), 0);
	assert_string_equal(buf_cstr(&why), "esc-1 was last seen 19s ago (the policy allows 10s)");
	/* a minute before the lapse the next proof is asked for, and he still counts */
	wf_set_clock(f->w, T0 + 241 * SEC);
	assert_int_equal(wf_isession_presence(f->w, "esc-1", f->id, 1, &f->msg), 0);
	assert_int_equal(wf_isession_presence_status(f->w, "esc-1", f->id, &st, &f->msg), 0);
	assert_non_null(e = find(&st, "esc-1"));
	assert_true(e->counts && e->due && e->due_us == T0 + 241 * SEC &&
	            e->lapse_us == T0 + 301 * SEC);
	assert_true(st.quorum);
	wf_presence_status_free(&st);
	wf_set_clock(f->w, T0 + 240 * SEC);
	assert_int_equal(wf_isession_presence_status(f->w, "esc-1", f->id, &st, &f->msg), 0);
	assert_false(find(&st, "esc-1")->due);
	wf_presence_status_free(&st);
	/* after `every` the proof lapses: recorded once, with the time it lapsed */
	wf_set_clock(f->w, T0 + 302 * SEC);
	assert_int_equal(wf_isession_presence(f->w, "esc-1", f->id, 1, &f->msg), 0);
	assert_int_equal(counted(f, f->id, "dod-web"), 0);
	buf_reset(&why);
	assert_int_equal(wf_isession_presence_why(f->w, f->id, "dod-web", &why), 0);
	assert_string_equal(buf_cstr(&why), "esc-1's presence check lapsed at 12:05:01 UTC (the "
	                                    "policy asks for a TOTP code every 5m)");
	assert_int_equal(store_isession_proofs(wf_store(f->w), f->id, &pf, &n), 0);
	assert_int_equal(n, 1);
	assert_true(pf[0].lapsed_us == T0 + 301 * SEC);
	store_isession_proofs_free(pf, n);
	/* a new code brings him back */
	code_at(f, T0 + 302 * SEC, code);
	buf_reset(&f->msg);
	assert_int_equal(wf_isession_prove(f->w, "esc-1", f->id, code, &f->msg), 0);
	assert_int_equal(counted(f, f->id, "dod-web"), 1);
	/* leaving forgets the proof: joining again asks for a new one */
	assert_int_equal(wf_isession_presence(f->w, "esc-1", f->id, 0, &f->msg), 0);
	assert_int_equal(store_isession_proofs(wf_store(f->w), f->id, &pf, &n), 0);
	assert_int_equal(n, 0);
	store_isession_proofs_free(pf, n);
	assert_int_equal(wf_isession_presence(f->w, "esc-1", f->id, 1, &f->msg), 0);
	assert_int_equal(counted(f, f->id, "dod-web"), 0);
	/* a session that is over takes no proofs */
	assert_int_equal(wf_isession_end(f->w, "op-in", f->id, "done", NULL, 0, 0, NULL, 0, NULL,
	                                 &f->msg), 0);
	code_at(f, T0 + 332 * SEC, code);
	wf_set_clock(f->w, T0 + 332 * SEC);
	buf_reset(&f->msg);
	assert_int_equal(wf_isession_prove(f->w, "esc-1", f->id, code, &f->msg), WF_ECONFLICT);
	buf_free(&why);
}

static void
test_click(void **state)
{
	struct fx *f = *state;
	wf_presence_status st;
	store_isession_proof *pf = NULL;
	size_t n;

	wf_set_clock(f->w, T0 + 1000 * SEC);
	buf_reset(&f->msg);
	/* a click needs no code (one given is ignored) and joins */
	assert_int_equal(wf_isession_prove(f->w, "esc-2", f->id2, NULL, &f->msg), 0);
	assert_int_equal(counted(f, f->id2, "com-web"), 1);
	assert_int_equal(wf_isession_presence_status(f->w, "op-in", f->id2, &st, &f->msg), 0);
	assert_true(st.quorum && st.counted == 1 && st.ps.check_method == POLICY_PRESENCE_CLICK &&
	            st.ps.check_every == 120);
	wf_presence_status_free(&st);
	/* another operator may not even look */
	buf_reset(&f->msg);
	assert_int_equal(wf_isession_presence_status(f->w, "op-cn", f->id2, &st, &f->msg),
	                 WF_EREFUSED);
	wf_presence_status_free(&st);
	/* two minutes later, with the heartbeat kept up, the proof lapses */
	wf_set_clock(f->w, T0 + 1121 * SEC);
	assert_int_equal(wf_isession_presence(f->w, "esc-2", f->id2, 1, &f->msg), 0);
	assert_int_equal(counted(f, f->id2, "com-web"), 0);
	assert_int_equal(counted(f, f->id2, "com-web"), 0);
	assert_int_equal(store_isession_proofs(wf_store(f->w), f->id2, &pf, &n), 0);
	assert_true(n == 1 && pf[0].lapsed_us == T0 + 1120 * SEC);
	store_isession_proofs_free(pf, n);
	buf_reset(&f->msg);
	assert_int_equal(wf_isession_prove(f->w, "esc-2", f->id2, "anything", &f->msg), 0);
	assert_int_equal(counted(f, f->id2, "com-web"), 1);
	/* a policy that now asks for codes: the fresh click no longer counts */
	{
		char *y = example_sessions("sessions: {require_escorts: 1, presence_every: 10s, "
		                           "presence_check: {every: 2m, method: totp}}");

		buf_reset(&f->msg);
		assert_int_equal(wf_policy_load(f->w, "test", y, strlen(y), "policy.yaml", NULL,
		                                &f->msg), 0);
		free(y);
		assert_int_equal(counted(f, f->id2, "com-web"), 0);
		assert_int_equal(wf_isession_presence_status(f->w, "esc-2", f->id2, &st, &f->msg), 0);
		assert_true(st.nescorts == 1 && st.escorts[0].due && st.escorts[0].proved_us == 0);
		wf_presence_status_free(&st);
	}
}

/* How many records of the audit log have this type and actor. */
static size_t
audit_count(struct fx *f, const char *type, const char *actor)
{
	audit_iter it;
	const uint8_t *rec;
	size_t len, n = 0;
	uint64_t seq;
	char err[512];

	assert_int_equal(audit_iter_open(&it, f->dir, err, sizeof(err)), 0);
	while (audit_iter_next(&it, &rec, &len, &seq) == 0) {
		audit_event ev;

		assert_int_equal(audit_event_parse(rec, len, &ev, err, sizeof(err)), 0);
		n += strcmp(ev.type, type) == 0 && strcmp(ev.actor, actor) == 0;
		audit_event_free(&ev);
	}
	audit_iter_close(&it);
	return n;
}

static void
test_audit_events(void **state)
{
	struct fx *f = *state;

	/* after the two tests above, in this group's order */
	assert_int_equal(audit_count(f, "session.presence_proved", "esc-1"), 2);
	assert_int_equal(audit_count(f, "session.presence_refused", "esc-1"), 4);
	assert_int_equal(audit_count(f, "session.presence_lapsed", "esc-1"), 1);
	assert_int_equal(audit_count(f, "session.presence_proved", "esc-2"), 2);
	assert_int_equal(audit_count(f, "session.presence_lapsed", "esc-2"), 1);
	assert_int_equal(audit_count(f, "session.join", "esc-1"), 2);
	assert_int_equal(audit_count(f, "session.leave", "esc-1"), 1);
}

/* An escort whose role the policy in force took away stops counting at once, not when his
 * heartbeat or proof lapses (both were recorded while he still was one). */
static void
test_demoted_escort(void **state)
{
	struct fx *f = *state;
	wf_presence_status st;
	buf why = BUF_INIT;
	int64_t id = 0;
	char *y, *r, *out;
	const char *from = "  - name: esc-2\n    roles: [escort]";
	const char *to = "  - name: esc-2\n    roles: [auditor]";
	size_t n;

	wf_set_clock(f->w, T0 + 2000 * SEC);
	y = example_sessions("sessions: {require_escorts: 1, presence_every: 10s, "
	                     "presence_check: {every: 2m, method: click}}");
	buf_reset(&f->msg);
	assert_int_equal(wf_policy_load(f->w, "test", y, strlen(y), "policy.yaml", NULL, &f->msg),
	                 0);
	assert_int_equal(wf_isession_start(f->w, "op-in", "com-web", NULL, &id, &f->msg), 0);
	assert_int_equal(wf_isession_prove(f->w, "esc-2", id, NULL, &f->msg), 0);
	assert_int_equal(counted(f, id, "com-web"), 1);
	/* the same policy but esc-2 is now an auditor */
	assert_non_null(r = strstr(y, from));
	n = strlen(y);
	assert_non_null(out = malloc(n + 8));
	memcpy(out, y, (size_t)(r - y));
	strcpy(out + (r - y), to);
	strcat(out, r + strlen(from));
	free(y);
	wf_set_clock(f->w, T0 + 2001 * SEC);
	buf_reset(&f->msg);
	assert_int_equal(wf_policy_load(f->w, "test", out, strlen(out), "policy.yaml", NULL,
	                                &f->msg), 0);
	free(out);
	assert_int_equal(counted(f, id, "com-web"), 0);
	assert_int_equal(wf_isession_presence_status(f->w, "op-in", id, &st, &f->msg), 0);
	assert_true(st.nescorts == 1 && !st.escorts[0].counts && !st.quorum);
	wf_presence_status_free(&st);
	assert_int_equal(wf_isession_presence_why(f->w, id, "com-web", &why), 0);
	assert_string_equal(buf_cstr(&why), "esc-2 is no longer an escort or reviewer in the policy "
	                                    "in force");
	buf_free(&why);
}

int
main(void)
{
	/* the workflow tests share one data directory and run in this order */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_presence_check),
		cmocka_unit_test(test_policy_presence_check_errors),
		cmocka_unit_test(test_store_proofs),
		cmocka_unit_test(test_totp_quorum_and_lapse),
		cmocka_unit_test(test_click),
		cmocka_unit_test(test_audit_events),
		cmocka_unit_test(test_demoted_escort),
	};

	return cmocka_run_group_tests(tests, fx_setup, fx_teardown);
}
