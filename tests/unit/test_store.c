/* test_store.c — the SQLite store: schema migrations (version table, idempotent reopen,
 * refusal of a newer schema, an all-or-nothing failed migration), transactions (rollback
 * leaves nothing, commit is seen by another connection), exact bytes, append-only
 * approvals, tokens, policy versions, the operations-table version check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store/store.h"
#include "util/err.h"

struct fx {
	char dir[64];
	char path[128];
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/escort-test-store-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, STORE_FILE);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* Runs SQL on a separate raw connection; returns the first column of the first row as
 * an integer (or -1). */
static long long
raw(const char *path, const char *sql, int *rcp)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -1;
	int rc;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			v = sqlite3_column_int64(st, 0);
		if (rc == SQLITE_ROW || rc == SQLITE_DONE)
			rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	if (rcp)
		*rcp = rc;
	return v;
}

static store *
open_new(struct fx *f)
{
	store *s = NULL;
	char err[512] = "";

	assert_int_equal(store_open_sqlite(&s, f->dir, 1, err, sizeof(err)), 0);
	assert_non_null(s);
	return s;
}

static void
fill_request(store_request *r, const char *requester, const unsigned char *cmd, size_t len)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(store_strset(&r->requester, requester), 0);
	assert_int_equal(store_strset(&r->target, "dod-web"), 0);
	assert_int_equal(store_strset(&r->state, "created"), 0);
	assert_int_equal(store_strset(&r->policy_version, "abc"), 0);
	r->created_us = r->updated_us = 1000;
	r->cmds = calloc(1, sizeof(*r->cmds));
	assert_non_null(r->cmds);
	r->ncmds = 1;
	r->cmds[0].bytes = malloc(len + 1);
	assert_non_null(r->cmds[0].bytes);
	memcpy(r->cmds[0].bytes, cmd, len);
	r->cmds[0].len = len;
}

static void
test_migrations(void **state)
{
	struct fx *f = *state;
	store *s;
	char err[512] = "";
	int v = -1, rc;

	/* no database and create not set: a clear error */
	assert_int_equal(store_open_sqlite(&s, f->dir, 0, err, sizeof(err)), ESC_ENOENT);
	assert_non_null(strstr(err, "escort init"));
	s = open_new(f);
	assert_string_equal(s->ops->name, "sqlite");
	assert_int_equal(store_schema_version(s, &v), 0);
	assert_int_equal(v, STORE_SCHEMA_VERSION);
	store_close(s);
	/* reopening applies nothing twice */
	s = open_new(f);
	store_close(s);
	assert_int_equal(raw(f->path, "SELECT count(*) FROM schema_version", NULL),
	                 STORE_SCHEMA_VERSION);
	assert_int_equal(raw(f->path, "SELECT count(*) FROM sqlite_master WHERE name = 'requests'",
	                     NULL), 1);
	/* WAL is on */
	assert_int_equal(raw(f->path, "SELECT journal_mode = 'wal' FROM pragma_journal_mode", NULL), 1);
	/* a database from a newer escort is refused, not downgraded */
	raw(f->path, "INSERT INTO schema_version VALUES (99, 0)", &rc);
	assert_int_equal(rc, SQLITE_OK);
	err[0] = 0;
	assert_int_equal(store_open_sqlite(&s, f->dir, 0, err, sizeof(err)), ESC_EINVAL);
	assert_null(s);
	assert_non_null(strstr(err, "schema version 99"));
}

static void
test_failed_migration_leaves_nothing(void **state)
{
	struct fx *f = *state;
	store *s = NULL;
	char err[512] = "";
	int rc;

	/* a stray table with a name the migration needs makes step 1 fail half-way */
	raw(f->path, "CREATE TABLE requests (x)", &rc);
	assert_int_equal(rc, SQLITE_OK);
	assert_int_not_equal(store_open_sqlite(&s, f->dir, 0, err, sizeof(err)), 0);
	assert_null(s);
	assert_non_null(strstr(err, "requests"));
	/* nothing of the migration stayed: no version row, no policies table */
	assert_int_equal(raw(f->path, "SELECT count(*) FROM sqlite_master WHERE name IN "
	                              "('policies', 'tokens', 'schema_version')", NULL), 0);
}

static void
test_transactions(void **state)
{
	struct fx *f = *state;
	store *s = open_new(f), *s2 = NULL;
	store_request r, got;
	char err[512];
	int64_t id;

	fill_request(&r, "op-in", (const unsigned char *)"uptime", 6);
	assert_int_equal(store_begin(s, STORE_TX_WRITE), 0);
	assert_int_equal(store_begin(s, STORE_TX_WRITE), ESC_EINTERNAL); /* no nesting */
	assert_int_equal(store_request_insert(s, &r), 0);
	id = r.id;
	assert_true(id > 0);
	assert_int_equal(store_rollback(s), 0);
	assert_int_equal(store_request_get(s, id, &got), ESC_ENOENT);
	/* committed work is visible to another connection (another process) */
	assert_int_equal(store_begin(s, STORE_TX_WRITE), 0);
	assert_int_equal(store_request_insert(s, &r), 0);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_open_sqlite(&s2, f->dir, 0, err, sizeof(err)), 0);
	assert_int_equal(store_request_get(s2, r.id, &got), 0);
	assert_string_equal(got.requester, "op-in");
	assert_string_equal(got.state, "created");
	store_request_clear(&got);
	/* a state the schema does not know is refused */
	assert_int_equal(store_strset(&r.state, "hacked"), 0);
	assert_int_equal(store_request_update(s, &r), ESC_EINVAL);
	assert_int_equal(store_request_get(s2, r.id, &got), 0);
	assert_string_equal(got.state, "created");
	store_request_clear(&got);
	/* updating a missing request says so */
	r.id = 424242;
	assert_int_equal(store_strset(&r.state, "pending"), 0);
	assert_int_equal(store_request_update(s, &r), ESC_ENOENT);
	store_request_clear(&r);
	store_close(s2);
	store_close(s);
}

static void
test_exact_bytes_and_fields(void **state)
{
	struct fx *f = *state;
	store *s = open_new(f);
	static const unsigned char cmd[] = { 'e', 'c', 'h', 'o', ' ', 0x00, 0xff, 0xc3, 0x28, '\n' };
	store_request r, got, *v = NULL;
	store_filter flt;
	size_t n = 0;

	fill_request(&r, "op-in", cmd, sizeof(cmd));
	assert_int_equal(store_request_insert(s, &r), 0);
	assert_int_equal(store_strset(&r.state, "succeeded"), 0);
	r.has_exit = 1;
	r.exit_code = 3;
	r.output = malloc(3);
	assert_non_null(r.output);
	memcpy(r.output, "a\0b", 3);
	r.output_len = 3;
	memset(r.binding, 0xab, sizeof(r.binding));
	r.has_binding = 1;
	assert_int_equal(store_request_update(s, &r), 0);
	assert_int_equal(store_request_get(s, r.id, &got), 0);
	assert_int_equal(got.ncmds, 1);
	assert_int_equal(got.cmds[0].len, sizeof(cmd));
	assert_memory_equal(got.cmds[0].bytes, cmd, sizeof(cmd));
	assert_int_equal(got.output_len, 3);
	assert_memory_equal(got.output, "a\0b", 3);
	assert_true(got.has_exit);
	assert_int_equal(got.exit_code, 3);
	assert_true(got.has_binding);
	assert_memory_equal(got.binding, r.binding, STORE_HASH_LEN);
	assert_null(got.ticket);
	store_request_clear(&got);
	/* list filters by state and requester */
	store_request_clear(&r);
	fill_request(&r, "op-cn", (const unsigned char *)"id", 2);
	assert_int_equal(store_request_insert(s, &r), 0);
	memset(&flt, 0, sizeof(flt));
	flt.state = "succeeded";
	assert_int_equal(store_request_list(s, &flt, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].requester, "op-in");
	store_requests_free(v, n);
	flt.state = NULL;
	flt.requester = "op-cn";
	assert_int_equal(store_request_list(s, &flt, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].cmds[0].bytes, "id");
	store_requests_free(v, n);
	assert_int_equal(store_request_list(s, NULL, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_true(v[0].id > v[1].id); /* newest first */
	store_requests_free(v, n);
	store_request_clear(&r);
	store_close(s);
}

/* A request stored final with one INSERT: the id is reserved first (in a write
 * transaction) and the row must get exactly that id. */
static void
test_request_insert_as(void **state)
{
	struct fx *f = *state;
	store *s = open_new(f);
	store_request r, got;
	int64_t id = 0, id2 = 0;

	fill_request(&r, "op-in", (const unsigned char *)"uptime", 6);
	assert_int_equal(store_request_insert(s, &r), 0); /* an ordinary one first */
	/* outside a write transaction both are refused */
	assert_int_not_equal(store_request_next_id(s, &id), 0);
	assert_int_equal(store_begin(s, STORE_TX_WRITE), 0);
	assert_int_equal(store_request_next_id(s, &id), 0);
	assert_true(id > r.id);
	store_request_clear(&r);
	fill_request(&r, "op-in", (const unsigned char *)"hostname", 8);
	r.id = id;
	memset(r.binding, 0xcd, sizeof(r.binding));
	r.has_binding = 1;
	assert_int_equal(store_request_insert_as(s, &r), 0);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_request_get(s, id, &got), 0);
	assert_int_equal(got.id, id);
	assert_memory_equal(got.cmds[0].bytes, "hostname", 8);
	assert_true(got.has_binding);
	assert_memory_equal(got.binding, r.binding, STORE_HASH_LEN);
	store_request_clear(&got);
	/* an id already taken is refused and nothing is written */
	assert_int_equal(store_begin(s, STORE_TX_WRITE), 0);
	assert_int_equal(store_request_next_id(s, &id2), 0);
	assert_true(id2 > id);
	r.id = id;
	assert_int_not_equal(store_request_insert_as(s, &r), 0);
	assert_int_equal(store_rollback(s), 0);
	assert_int_equal(store_request_get(s, id, &got), 0);
	assert_memory_equal(got.cmds[0].bytes, "hostname", 8);
	store_request_clear(&got);
	store_request_clear(&r);
	store_close(s);
}

static void
test_approvals_append_only(void **state)
{
	struct fx *f = *state;
	store *s = open_new(f);
	store_request r;
	store_approval a, *v = NULL;
	size_t n = 0;
	int rc;

	fill_request(&r, "op-in", (const unsigned char *)"uptime", 6);
	assert_int_equal(store_request_insert(s, &r), 0);
	memset(&a, 0, sizeof(a));
	a.request_id = r.id;
	a.approver = "esc-1";
	a.kind = STORE_APPROVE;
	a.policy_version = "abc";
	a.created_us = 5;
	a.expires_us = 10;
	memset(a.hash, 7, sizeof(a.hash));
	assert_int_equal(store_approval_insert(s, &a), 0);
	/* one decision per person and request */
	assert_int_equal(store_approval_insert(s, &a), ESC_EINVAL);
	a.approver = "esc-2";
	a.kind = STORE_DENY;
	a.comment = "no";
	assert_int_equal(store_approval_insert(s, &a), 0);
	assert_int_equal(store_approval_list(s, r.id, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].approver, "esc-1");
	assert_int_equal(v[0].kind, STORE_APPROVE);
	assert_memory_equal(v[0].hash, a.hash, STORE_HASH_LEN);
	assert_int_equal(v[0].expires_us, 10);
	assert_int_equal(v[1].kind, STORE_DENY);
	assert_string_equal(v[1].comment, "no");
	store_approvals_free(v, n);
	/* an approval to a missing request violates the foreign key */
	a.request_id = 999;
	a.approver = "esc-3";
	assert_int_equal(store_approval_insert(s, &a), ESC_EINVAL);
	store_request_clear(&r);
	store_close(s);
	/* history cannot be edited, even with direct SQL */
	raw(f->path, "UPDATE approvals SET approver = 'x'", &rc);
	assert_int_not_equal(rc, SQLITE_OK);
	raw(f->path, "DELETE FROM approvals", &rc);
	assert_int_not_equal(rc, SQLITE_OK);
	assert_int_equal(raw(f->path, "SELECT count(*) FROM approvals", NULL), 2);
}

static void
test_tokens_and_policies(void **state)
{
	struct fx *f = *state;
	store *s = open_new(f);
	store_token t, *v = NULL;
	store_policy p, cur;
	size_t n = 0;

	memset(&t, 0, sizeof(t));
	t.identity = "esc-1";
	memset(t.hash, 1, sizeof(t.hash));
	assert_int_equal(store_token_set(s, &t), 0);
	memset(t.hash, 2, sizeof(t.hash)); /* a new token replaces the old */
	assert_int_equal(store_token_set(s, &t), 0);
	assert_int_equal(store_token_list(s, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].hash[0], 2);
	store_tokens_free(v, n);
	/* found by its hash, and only by the current one */
	{
		store_token got;
		unsigned char h[STORE_HASH_LEN];

		memset(&got, 0, sizeof(got));
		memset(h, 2, sizeof(h));
		assert_int_equal(store_token_find(s, h, &got), 0);
		assert_string_equal(got.identity, "esc-1");
		store_token_clear(&got);
		memset(h, 1, sizeof(h));
		assert_int_equal(store_token_find(s, h, &got), ESC_ENOENT);
		store_token_clear(&got);
	}
	assert_int_equal(store_token_revoke(s, "esc-1"), 0);
	assert_int_equal(store_token_revoke(s, "esc-1"), ESC_ENOENT);
	assert_int_equal(store_token_list(s, &v, &n), 0);
	assert_int_equal(n, 0);
	store_tokens_free(v, n);

	assert_int_equal(store_policy_current(s, &cur), ESC_ENOENT);
	memset(&p, 0, sizeof(p));
	memset(p.sha256, 'a', 64);
	assert_int_equal(store_strset(&p.path, "policy/v1.yaml"), 0);
	assert_int_equal(store_strset(&p.loaded_by, "owner:root"), 0);
	assert_int_equal(store_policy_add(s, &p), 0);
	assert_int_equal(p.version, 1);
	p.sha256[0] = 'b';
	assert_int_equal(store_policy_add(s, &p), 0);
	assert_int_equal(p.version, 2);
	assert_int_equal(store_policy_current(s, &cur), 0);
	assert_int_equal(cur.version, 2);
	assert_int_equal(cur.sha256[0], 'b');
	assert_string_equal(cur.path, "policy/v1.yaml");
	store_policy_clear(&cur);
	/* a malformed hash is refused by the schema */
	p.sha256[10] = 0;
	assert_int_equal(store_policy_add(s, &p), ESC_EINVAL);
	store_policy_clear(&p);
	store_close(s);
}

static void
test_ops_version(void **state)
{
	struct fx *f = *state;
	store *s = open_new(f);
	store_ops copy = *s->ops;

	assert_int_equal(store_ops_check(s->ops), 0);
	copy.ops_version = STORE_OPS_VERSION + 1;
	assert_int_equal(store_ops_check(&copy), ESC_EINVAL);
	copy = *s->ops;
	copy.approval_list = NULL; /* a backend missing an operation is refused too */
	assert_int_equal(store_ops_check(&copy), ESC_EINVAL);
	store_close(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_migration_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exact_bytes_and_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_insert_as, setup, teardown),
		cmocka_unit_test_setup_teardown(test_approvals_append_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tokens_and_policies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ops_version, setup, teardown),
	};
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
