/* test_store_pg.c — the store contract run against both backends through store_open_url:
 * SQLite always, PostgreSQL too when ESCORT_TEST_PG holds a conninfo URL (without it only
 * the SQLite cases are registered: the harness would count a skip as a failure;
 * tests/integration/70-postgres.t starts a server, sets it and demands every case). Each
 * PostgreSQL case gets its own schema. Also what only PostgreSQL has: the cross-process
 * write lock, read snapshots, the run-once trigger, aborted transactions, URL dispatch. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "store/store.h"
#include "util/err.h"

struct fx {
	int pg;
	char dir[64];     /* SQLite: the data directory */
	char schema[64];  /* PostgreSQL: this case's schema */
	char spec[2048];  /* what store_open_url gets */
};

static unsigned case_seq;

static int
setup_sq(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/escort-test-storepg-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->spec, sizeof(f->spec), "%s", f->dir);
	*state = f;
	return 0;
}

static void
quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* Runs SQL on a connection of its own, as another process would. */
static PGconn *
pg_raw_conn(const char *url)
{
	PGconn *c = PQconnectdb(url);

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "# connect: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, quiet, NULL);
	return c;
}

/* Creates (fresh) or drops this case's schema. Its name is ours (letters, digits, _):
 * no quoting needed. */
static int
pg_admin(const char *schema, int create)
{
	const char *base = getenv("ESCORT_TEST_PG");
	PGconn *c;
	PGresult *r;
	char sql[256];
	int ok;

	if ((c = pg_raw_conn(base)) == NULL)
		return -1;
	if (create)
		snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s",
		         schema, schema);
	else
		snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", schema);
	r = PQexec(c, sql);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "# %s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return ok ? 0 : -1;
}

static int
setup_pg(void **state)
{
	const char *base = getenv("ESCORT_TEST_PG");
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->pg = 1;
	*state = f;
	if (base == NULL || base[0] == 0)
		return -1; /* main registers PostgreSQL cases only when it is set */
	snprintf(f->schema, sizeof(f->schema), "t_%ld_%u", (long)getpid(), case_seq++);
	/* the application name finds this case's connections in pg_stat_activity */
	snprintf(f->spec, sizeof(f->spec), "%s%soptions=-csearch_path%%3D%s&application_name=%s",
	         base, strchr(base, '?') ? "&" : "?", f->schema, f->schema);
	return pg_admin(f->schema, 1);
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[256];
	int rc = 0;

	if (f->pg && f->schema[0])
		rc = pg_admin(f->schema, 0);
	if (!f->pg) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
		if (system(cmd) != 0)
			rc = -1;
	}
	free(f);
	return rc;
}

/* Runs SQL on a separate raw connection; returns the first column of the first row as
 * an integer (or -1); *rcp (optional) is 0 when the statement succeeded. */
static long long
raw(struct fx *f, const char *sql, int *rcp)
{
	long long v = -1;
	int ok = 0;

	if (f->pg) {
		PGconn *c = pg_raw_conn(f->spec);
		PGresult *r;

		assert_non_null(c);
		r = PQexec(c, sql);
		if (PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK) {
			ok = 1;
			if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 &&
			    !PQgetisnull(r, 0, 0))
				v = atoll(PQgetvalue(r, 0, 0));
		}
		PQclear(r);
		PQfinish(c);
	} else {
		sqlite3 *db = NULL;
		sqlite3_stmt *st = NULL;
		char path[128];
		int rc;

		snprintf(path, sizeof(path), "%s/%s", f->dir, STORE_FILE);
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		sqlite3_busy_timeout(db, 5000);
		rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
		if (rc == SQLITE_OK) {
			rc = sqlite3_step(st);
			if (rc == SQLITE_ROW)
				v = sqlite3_column_int64(st, 0);
			ok = rc == SQLITE_ROW || rc == SQLITE_DONE;
		}
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	if (rcp)
		*rcp = ok ? 0 : -1;
	return v;
}

static store *
open_store(struct fx *f)
{
	store *s = NULL;
	char err[512] = "";
	int rc = store_open_url(&s, f->spec, 1, err, sizeof(err));

	if (rc != 0)
		fprintf(stderr, "# open: %s\n", err);
	assert_int_equal(rc, 0);
	assert_non_null(s);
	assert_string_equal(s->ops->name, f->pg ? "postgresql" : "sqlite");
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

static int
table_exists(struct fx *f, const char *name)
{
	char sql[256];

	if (f->pg)
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_tables WHERE tablename = '%s'"
		         " AND schemaname = current_schema()", name);
	else
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM sqlite_master WHERE name = '%s'", name);
	return (int)raw(f, sql, NULL);
}

static void
test_migrations(void **state)
{
	struct fx *f = *state;
	store *s = NULL;
	char err[512] = "";
	int v = -1, rc;

	/* nothing there and create not set: a clear error */
	assert_int_equal(store_open_url(&s, f->spec, 0, err, sizeof(err)), ESC_ENOENT);
	assert_null(s);
	assert_non_null(strstr(err, "escort init"));
	s = open_store(f);
	assert_int_equal(store_ops_check(s->ops), 0);
	assert_int_equal(store_schema_version(s, &v), 0);
	assert_int_equal(v, STORE_SCHEMA_VERSION);
	store_close(s);
	s = open_store(f); /* reopening applies nothing twice */
	store_close(s);
	assert_int_equal(raw(f, "SELECT count(*) FROM schema_version", NULL), STORE_SCHEMA_VERSION);
	assert_int_equal(table_exists(f, "requests"), 1);
	/* a database from a newer escort is refused, not downgraded */
	raw(f, "INSERT INTO schema_version VALUES (99, 0)", &rc);
	assert_int_equal(rc, 0);
	err[0] = 0;
	assert_int_equal(store_open_url(&s, f->spec, 0, err, sizeof(err)), ESC_EINVAL);
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
	raw(f, "CREATE TABLE requests (x integer)", &rc);
	assert_int_equal(rc, 0);
	assert_int_not_equal(store_open_url(&s, f->spec, 1, err, sizeof(err)), 0);
	assert_null(s);
	assert_non_null(strstr(err, "requests"));
	assert_int_equal(table_exists(f, "policies"), 0);
	assert_int_equal(table_exists(f, "tokens"), 0);
	assert_int_equal(table_exists(f, "schema_version"), 0);
}

static void
test_transactions(void **state)
{
	struct fx *f = *state;
	store *s, *s2 = NULL;
	store_request r, got;
	char err[512];
	int64_t id;

	s = open_store(f);
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
	assert_int_equal(store_open_url(&s2, f->spec, 0, err, sizeof(err)), 0);
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
	id = r.id;
	r.id = 424242;
	assert_int_equal(store_strset(&r.state, "pending"), 0);
	assert_int_equal(store_request_update(s, &r), ESC_ENOENT);
	/* a failed write inside a transaction: the caller rolls back and nothing stays */
	r.id = id;
	assert_int_equal(store_begin(s, STORE_TX_WRITE), 0);
	assert_int_equal(store_request_update(s, &r), 0); /* -> pending */
	assert_int_equal(store_strset(&r.state, "hacked"), 0);
	assert_int_equal(store_request_update(s, &r), ESC_EINVAL);
	assert_int_equal(store_rollback(s), 0);
	assert_int_equal(store_request_get(s2, id, &got), 0);
	assert_string_equal(got.state, "created");
	store_request_clear(&got);
	store_request_clear(&r);
	store_close(s2);
	store_close(s);
}

static void
test_exact_bytes_and_fields(void **state)
{
	struct fx *f = *state;
	store *s;
	static const unsigned char cmd[] = { 'e', 'c', 'h', 'o', ' ', 0x00, 0xff, 0xc3, 0x28, '\n' };
	store_request r, got, *v = NULL;
	store_filter flt;
	size_t n = 0, i;

	s = open_store(f);
	fill_request(&r, "op-in", cmd, sizeof(cmd));
	assert_int_equal(store_strset(&r.ticket, "CHG-1"), 0);
	r.expires_us = (int64_t)1 << 50;
	assert_int_equal(store_request_insert(s, &r), 0);
	assert_int_equal(store_strset(&r.state, "succeeded"), 0);
	r.has_exit = 1;
	r.exit_code = -3; /* signed on the way back */
	r.output = malloc(3);
	assert_non_null(r.output);
	memcpy(r.output, "a\0b", 3);
	r.output_len = 3;
	memset(r.binding, 0xab, sizeof(r.binding));
	r.has_binding = 1;
	r.started_us = 7;
	r.finished_us = 9;
	assert_int_equal(store_strset(&r.runner, "esc-1"), 0);
	assert_int_equal(store_request_update(s, &r), 0);
	assert_int_equal(store_request_get(s, r.id, &got), 0);
	assert_int_equal(got.ncmds, 1);
	assert_int_equal(got.cmds[0].len, sizeof(cmd));
	assert_memory_equal(got.cmds[0].bytes, cmd, sizeof(cmd));
	assert_int_equal(got.output_len, 3);
	assert_memory_equal(got.output, "a\0b", 3);
	assert_true(got.has_exit);
	assert_int_equal(got.exit_code, -3);
	assert_true(got.has_binding);
	assert_memory_equal(got.binding, r.binding, STORE_HASH_LEN);
	assert_string_equal(got.ticket, "CHG-1");
	assert_null(got.justification);
	assert_int_equal(got.expires_us, (int64_t)1 << 50);
	assert_int_equal(got.started_us, 7);
	assert_int_equal(got.finished_us, 9);
	assert_string_equal(got.runner, "esc-1");
	store_request_clear(&got);
	store_request_clear(&r);
	/* many commands (more than one INSERT's worth), an empty one, kept in order */
	fill_request(&r, "op-cn", (const unsigned char *)"id", 2);
	free(r.cmds[0].bytes);
	free(r.cmds);
	r.ncmds = 40;
	r.cmds = calloc(r.ncmds, sizeof(*r.cmds));
	assert_non_null(r.cmds);
	for (i = 0; i < r.ncmds; i++) {
		r.cmds[i].bytes = malloc(16);
		assert_non_null(r.cmds[i].bytes);
		r.cmds[i].len = i == 5 ? 0 : (size_t)snprintf((char *)r.cmds[i].bytes, 16, "c%zu", i);
		if (i % 3 == 0)
			assert_int_equal(store_strset(&r.cmds[i].analysis, "{\"risk\":\"low\"}"), 0);
	}
	assert_int_equal(store_request_insert(s, &r), 0);
	assert_int_equal(store_request_get(s, r.id, &got), 0);
	assert_int_equal(got.ncmds, 40);
	for (i = 0; i < got.ncmds; i++) {
		assert_int_equal(got.cmds[i].len, r.cmds[i].len);
		assert_memory_equal(got.cmds[i].bytes, r.cmds[i].bytes, r.cmds[i].len);
		if (i % 3 == 0)
			assert_string_equal(got.cmds[i].analysis, "{\"risk\":\"low\"}");
		else
			assert_null(got.cmds[i].analysis);
	}
	assert_null(got.output); /* never set: NULL, not empty */
	assert_false(got.has_exit);
	assert_false(got.has_binding);
	store_request_clear(&got);
	/* list filters by state and requester, each with its own commands */
	memset(&flt, 0, sizeof(flt));
	flt.state = "succeeded";
	assert_int_equal(store_request_list(s, &flt, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].requester, "op-in");
	assert_int_equal(v[0].ncmds, 1);
	assert_memory_equal(v[0].cmds[0].bytes, cmd, sizeof(cmd));
	assert_null(v[0].output); /* lists carry no output bytes */
	store_requests_free(v, n);
	flt.state = NULL;
	flt.requester = "op-cn";
	assert_int_equal(store_request_list(s, &flt, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].ncmds, 40);
	assert_string_equal(v[0].cmds[39].bytes, "c39");
	store_requests_free(v, n);
	assert_int_equal(store_request_list(s, NULL, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_true(v[0].id > v[1].id); /* newest first */
	assert_int_equal(v[0].ncmds, 40);
	assert_int_equal(v[1].ncmds, 1);
	store_requests_free(v, n);
	flt.requester = NULL;
	flt.limit = 1;
	assert_int_equal(store_request_list(s, &flt, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].requester, "op-cn");
	store_requests_free(v, n);
	flt.state = "denied";
	assert_int_equal(store_request_list(s, &flt, &v, &n), 0);
	assert_int_equal(n, 0);
	assert_null(v);
	store_request_clear(&r);
	store_close(s);
}

static void
test_approvals_append_only(void **state)
{
	struct fx *f = *state;
	store *s;
	store_request r;
	store_approval a, *v = NULL;
	size_t n = 0;
	int rc;

	s = open_store(f);
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
	assert_true(a.id > 0);
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
	assert_int_equal(v[0].request_id, r.id);
	assert_memory_equal(v[0].hash, a.hash, STORE_HASH_LEN);
	assert_int_equal(v[0].expires_us, 10);
	assert_null(v[0].comment);
	assert_int_equal(v[1].kind, STORE_DENY);
	assert_string_equal(v[1].comment, "no");
	assert_string_equal(v[1].policy_version, "abc");
	store_approvals_free(v, n);
	/* an approval to a missing request violates the foreign key */
	a.request_id = 999;
	a.approver = "esc-3";
	assert_int_equal(store_approval_insert(s, &a), ESC_EINVAL);
	store_request_clear(&r);
	store_close(s);
	/* history cannot be edited, even with direct SQL */
	raw(f, "UPDATE approvals SET approver = 'x'", &rc);
	assert_int_not_equal(rc, 0);
	raw(f, "DELETE FROM approvals", &rc);
	assert_int_not_equal(rc, 0);
	if (f->pg) {
		raw(f, "TRUNCATE approvals CASCADE", &rc);
		assert_int_not_equal(rc, 0);
	}
	assert_int_equal(raw(f, "SELECT count(*) FROM approvals", NULL), 2);
}

static void
test_tokens_and_policies(void **state)
{
	struct fx *f = *state;
	store *s;
	store_token t, *v = NULL;
	store_policy p, cur;
	size_t n = 0;

	s = open_store(f);
	memset(&t, 0, sizeof(t));
	t.identity = "esc-1";
	t.issued_us = 77;
	memset(t.hash, 1, sizeof(t.hash));
	assert_int_equal(store_token_set(s, &t), 0);
	memset(t.hash, 2, sizeof(t.hash)); /* a new token replaces the old */
	assert_int_equal(store_token_set(s, &t), 0);
	t.identity = "adm";
	assert_int_equal(store_token_set(s, &t), 0);
	assert_int_equal(store_token_list(s, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].identity, "adm"); /* by identity */
	assert_string_equal(v[1].identity, "esc-1");
	assert_int_equal(v[1].hash[0], 2);
	assert_int_equal(v[1].issued_us, 77);
	store_tokens_free(v, n);
	assert_int_equal(store_token_revoke(s, "esc-1"), 0);
	assert_int_equal(store_token_revoke(s, "esc-1"), ESC_ENOENT);
	assert_int_equal(store_token_revoke(s, "adm"), 0);
	assert_int_equal(store_token_list(s, &v, &n), 0);
	assert_int_equal(n, 0);
	store_tokens_free(v, n);

	assert_int_equal(store_policy_current(s, &cur), ESC_ENOENT);
	memset(&p, 0, sizeof(p));
	memset(p.sha256, 'a', 64);
	assert_int_equal(store_strset(&p.path, "policy/v1.yaml"), 0);
	assert_int_equal(store_strset(&p.loaded_by, "owner:root"), 0);
	p.loaded_us = 1234;
	assert_int_equal(store_policy_add(s, &p), 0);
	assert_int_equal(p.version, 1);
	p.sha256[0] = 'b';
	assert_int_equal(store_policy_add(s, &p), 0);
	assert_int_equal(p.version, 2);
	assert_int_equal(store_policy_current(s, &cur), 0);
	assert_int_equal(cur.version, 2);
	assert_int_equal(cur.sha256[0], 'b');
	assert_int_equal(cur.loaded_us, 1234);
	assert_string_equal(cur.path, "policy/v1.yaml");
	assert_string_equal(cur.loaded_by, "owner:root");
	store_policy_clear(&cur);
	/* a malformed hash is refused by the schema */
	p.sha256[10] = 0;
	assert_int_equal(store_policy_add(s, &p), ESC_EINVAL);
	store_policy_clear(&p);
	store_close(s);
}

static void
test_broker_and_server_ops(void **state)
{
	struct fx *f = *state;
	store *s;
	store_request r;
	store_session se, got;
	store_change *ch = NULL;
	unsigned char secret[STORE_TOTP_SECRET_MAX], h[STORE_HASH_LEN];
	size_t n = 0;
	uint64_t used = 0;
	int64_t last = -1;
	int acc = -1;

	s = open_store(f);
	fill_request(&r, "op-in", (const unsigned char *)"uptime", 6);
	assert_int_equal(store_request_insert(s, &r), 0);
	/* egress: one record per request, sums per identity, day and environment */
	assert_int_equal(store_egress_add(s, r.id, "op-in", 20000, "prod", 100, 5, 1), 0);
	assert_int_equal(store_egress_add(s, r.id, "op-in", 20000, "prod", 1, 0, 2), ESC_EINVAL);
	assert_int_equal(store_egress_used(s, "op-in", 20000, "prod", &used), 0);
	assert_int_equal(used, 100);
	assert_int_equal(store_egress_used(s, "op-in", 20000, NULL, &used), 0);
	assert_int_equal(used, 100);
	assert_int_equal(store_egress_used(s, "op-in", 20001, NULL, &used), 0);
	assert_int_equal(used, 0);
	/* inside a transaction a duplicate is refused without spoiling the rest */
	assert_int_equal(store_begin(s, STORE_TX_WRITE), 0);
	assert_int_equal(store_egress_add(s, r.id, "op-in", 20000, "prod", 1, 0, 2), ESC_EINVAL);
	assert_int_equal(store_strset(&r.state, "pending"), 0);
	assert_int_equal(store_request_update(s, &r), 0);
	assert_int_equal(store_commit(s), 0);
	raw(f, "DELETE FROM egress", NULL);
	assert_int_equal(raw(f, "SELECT count(*) FROM egress", NULL), 1);

	/* TOTP: a step is accepted once, and only moving forward */
	memset(secret, 0x5a, 20);
	assert_int_equal(store_totp_get(s, "esc-1", secret, &n, &last), ESC_ENOENT);
	assert_int_equal(store_totp_set(s, "esc-1", secret, 20, 5), 0);
	memset(secret, 0, sizeof(secret));
	assert_int_equal(store_totp_get(s, "esc-1", secret, &n, &last), 0);
	assert_int_equal(n, 20);
	assert_int_equal(secret[19], 0x5a);
	assert_int_equal(last, 0);
	assert_int_equal(store_totp_use(s, "esc-1", 100, &acc), 0);
	assert_int_equal(acc, 1);
	assert_int_equal(store_totp_use(s, "esc-1", 100, &acc), 0);
	assert_int_equal(acc, 0);
	assert_int_equal(store_totp_use(s, "esc-1", 99, &acc), 0);
	assert_int_equal(acc, 0);
	assert_int_equal(store_totp_get(s, "esc-1", secret, &n, &last), 0);
	assert_int_equal(last, 100);
	assert_int_equal(store_totp_set(s, "esc-1", secret, 5, 6), ESC_EINVAL); /* too short */

	/* console sessions by cookie hash */
	memset(&se, 0, sizeof(se));
	memset(se.hash, 9, sizeof(se.hash));
	se.identity = "esc-1";
	memset(se.csrf, 'c', 64);
	se.created_us = 10;
	se.expires_us = 20;
	assert_int_equal(store_session_put(s, &se), 0);
	assert_int_equal(store_session_get(s, se.hash, &got), 0);
	assert_string_equal(got.identity, "esc-1");
	assert_int_equal(strlen(got.csrf), 64);
	assert_int_equal(got.expires_us, 20);
	assert_int_equal(got.totp_us, 0);
	store_session_clear(&got);
	assert_int_equal(store_session_totp(s, se.hash, 15), 0);
	assert_int_equal(store_session_get(s, se.hash, &got), 0);
	assert_int_equal(got.totp_us, 15);
	store_session_clear(&got);
	memset(h, 8, sizeof(h));
	assert_int_equal(store_session_get(s, h, &got), ESC_ENOENT);
	assert_int_equal(store_session_totp(s, h, 1), ESC_ENOENT);
	assert_int_equal(store_session_delete(s, se.hash), 0);
	assert_int_equal(store_session_delete(s, se.hash), ESC_ENOENT);

	/* the change feed: updated at or after a time, oldest first */
	r.updated_us = 5000;
	assert_int_equal(store_request_update(s, &r), 0);
	assert_int_equal(store_request_changes(s, 4000, 0, &ch, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ch[0].id, r.id);
	assert_string_equal(ch[0].state, "pending");
	assert_string_equal(ch[0].target, "dod-web");
	assert_int_equal(ch[0].updated_us, 5000);
	store_changes_free(ch, n);
	assert_int_equal(store_request_changes(s, 5001, 10, &ch, &n), 0);
	assert_int_equal(n, 0);
	store_changes_free(ch, n);
	store_request_clear(&r);
	store_close(s);
}

static void
test_isession_ops(void **state)
{
	struct fx *f = *state;
	store *s;
	store_request r1, r2;
	store_isession se, got, *v = NULL;
	store_isession_line *lines = NULL, line;
	store_isession_presence *pr = NULL;
	size_t n = 0;
	int64_t seq = 0;
	int rc;

	s = open_store(f);
	fill_request(&r1, "op-in", (const unsigned char *)"ls", 2);
	fill_request(&r2, "op-in", (const unsigned char *)"id", 2);
	assert_int_equal(store_request_insert(s, &r1), 0);
	assert_int_equal(store_request_insert(s, &r2), 0);
	memset(&se, 0, sizeof(se));
	se.operator_name = "op-in";
	se.target = "dod-web";
	se.state = "active";
	se.created_us = se.updated_us = 10;
	assert_int_equal(store_isession_insert(s, &se), 0);
	assert_true(se.id > 0);
	assert_int_equal(store_isession_get(s, se.id, &got), 0);
	assert_string_equal(got.operator_name, "op-in");
	assert_string_equal(got.state, "active");
	assert_null(got.ticket);
	assert_int_equal(got.ended_us, 0);
	store_isession_clear(&got);
	se.state = "ended";
	se.ended_us = 30;
	se.end_reason = "exit";
	se.shell_pid = 4242;
	assert_int_equal(store_isession_update(s, &se), 0);
	assert_int_equal(store_isession_get(s, se.id, &got), 0);
	assert_string_equal(got.state, "ended");
	assert_string_equal(got.end_reason, "exit");
	assert_int_equal(got.shell_pid, 4242);
	store_isession_clear(&got);
	se.state = "bogus"; /* the schema knows the states */
	assert_int_equal(store_isession_update(s, &se), ESC_EINVAL);
	se.state = "ended";
	se.id += 100;
	assert_int_equal(store_isession_update(s, &se), ESC_ENOENT);
	se.id -= 100;
	assert_int_equal(store_isession_get(s, se.id + 100, &got), ESC_ENOENT);
	assert_int_equal(store_isession_list(s, "dod-web", NULL, 0, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].id, se.id);
	store_isessions_free(v, n);
	assert_int_equal(store_isession_list(s, NULL, "nobody", 0, &v, &n), 0);
	assert_int_equal(n, 0);
	store_isessions_free(v, n);
	/* lines: numbered 1, 2, ...; a request is one line at most; append-only */
	assert_int_equal(store_isession_line_add(s, se.id, r1.id, 11, &seq), 0);
	assert_int_equal(seq, 1);
	assert_int_equal(store_isession_line_add(s, se.id, r2.id, 12, &seq), 0);
	assert_int_equal(seq, 2);
	assert_int_equal(store_isession_line_add(s, se.id, r2.id, 13, &seq), ESC_EINVAL);
	assert_int_equal(store_isession_lines(s, se.id, &lines, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(lines[1].request_id, r2.id);
	assert_int_equal(lines[1].seq, 2);
	assert_int_equal(lines[1].created_us, 12);
	free(lines);
	assert_int_equal(store_isession_line_of(s, r1.id, &line), 0);
	assert_int_equal(line.session_id, se.id);
	assert_int_equal(line.seq, 1);
	assert_int_equal(store_isession_line_of(s, r2.id + 100, &line), ESC_ENOENT);
	raw(f, "UPDATE isession_lines SET seq = 9", &rc);
	assert_int_not_equal(rc, 0);
	raw(f, "DELETE FROM isession_lines", &rc);
	assert_int_not_equal(rc, 0);
	/* presence: joined once, seen updated */
	assert_int_equal(store_isession_presence_set(s, se.id, "esc-1", 20), 0);
	assert_int_equal(store_isession_presence_set(s, se.id, "esc-1", 25), 0);
	assert_int_equal(store_isession_presence_set(s, se.id, "esc-2", 21), 0);
	assert_int_equal(store_isession_presence_list(s, se.id, &pr, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(pr[0].identity, "esc-1");
	assert_int_equal(pr[0].joined_us, 20);
	assert_int_equal(pr[0].seen_us, 25);
	store_isession_presence_free(pr, n);
	assert_int_equal(store_isession_presence_clear(s, se.id, "esc-1"), 0);
	assert_int_equal(store_isession_presence_clear(s, se.id, "esc-1"), ESC_ENOENT);
	assert_int_equal(store_isession_presence_list(s, se.id, &pr, &n), 0);
	assert_int_equal(n, 1);
	store_isession_presence_free(pr, n);
	store_request_clear(&r1);
	store_request_clear(&r2);
	store_close(s);
}

static void
test_ops_version(void **state)
{
	struct fx *f = *state;
	store *s;
	store_ops copy;

	s = open_store(f);
	copy = *s->ops;
	assert_int_equal(store_ops_check(s->ops), 0);
	copy.ops_version = STORE_OPS_VERSION + 1;
	assert_int_equal(store_ops_check(&copy), ESC_EINVAL);
	copy = *s->ops;
	copy.approval_list = NULL; /* a backend missing an operation is refused too */
	assert_int_equal(store_ops_check(&copy), ESC_EINVAL);
	store_close(s);
}

/* ---- PostgreSQL only ---- */

/* In a child (another process, another connection): what = 'w' a write transaction,
 * 'a' a write outside one, 'r' a read. Writes one byte to fd when done. */
static void
child_op(struct fx *f, int what, int fd)
{
	store *s = NULL;
	store_token t;
	store_request r;
	char err[512];
	int rc;

	if (store_open_url(&s, f->spec, 0, err, sizeof(err)) != 0)
		_exit(10);
	memset(&t, 0, sizeof(t));
	t.identity = "child";
	if (what == 'w') {
		rc = store_begin(s, STORE_TX_WRITE);
		if (rc == 0)
			rc = store_token_set(s, &t);
		if (rc == 0)
			rc = store_commit(s);
	} else if (what == 'a')
		rc = store_token_set(s, &t);
	else
		rc = store_request_get(s, 1, &r) == ESC_ENOENT ? 0 : 1;
	store_close(s);
	if (write(fd, "x", 1) != 1)
		_exit(12);
	_exit(rc ? 11 : 0);
}

/* 1 when fd got a byte within ms */
static int
done_within(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&p, 1, ms) != 1)
		return 0;
	return read(fd, &c, 1) == 1;
}

static void
test_pg_write_lock(void **state)
{
	struct fx *f = *state;
	const int kinds[] = { 'w', 'a', 'r' };
	store *s;
	store_token t;
	size_t k;

	s = open_store(f);
	memset(&t, 0, sizeof(t));
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		int fds[2], st = -1;
		pid_t pid;

		assert_int_equal(pipe(fds), 0);
		assert_int_equal(store_begin(s, STORE_TX_WRITE), 0);
		t.identity = "parent";
		assert_int_equal(store_token_set(s, &t), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			child_op(f, kinds[k], fds[1]);
		}
		close(fds[1]);
		if (kinds[k] == 'r') {
			/* readers never wait for a writer */
			assert_true(done_within(fds[0], 5000));
			assert_int_equal(store_commit(s), 0);
		} else {
			/* every writer, in a transaction or not, waits for ours to end */
			assert_false(done_within(fds[0], 400));
			assert_int_equal(store_commit(s), 0);
			assert_true(done_within(fds[0], 5000));
		}
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
		close(fds[0]);
		assert_int_equal(store_token_revoke(s, "parent"), 0);
		(void)store_token_revoke(s, "child");
	}
	store_close(s);
}

static void
test_pg_snapshots_and_aborts(void **state)
{
	struct fx *f = *state;
	store *s, *s2 = NULL;
	store_request r, got;
	store_token *v = NULL;
	store_token t;
	char err[512];
	size_t n = 0;

	s = open_store(f);
	assert_int_equal(store_open_url(&s2, f->spec, 0, err, sizeof(err)), 0);
	fill_request(&r, "op-in", (const unsigned char *)"uptime", 6);
	/* a read transaction sees one snapshot to its end */
	assert_int_equal(store_begin(s2, STORE_TX_READ), 0);
	assert_int_equal(store_token_list(s2, &v, &n), 0);
	assert_int_equal(n, 0);
	store_tokens_free(v, n);
	memset(&t, 0, sizeof(t));
	t.identity = "esc-1";
	assert_int_equal(store_token_set(s, &t), 0);
	assert_int_equal(store_token_list(s2, &v, &n), 0);
	assert_int_equal(n, 0);
	store_tokens_free(v, n);
	/* and cannot write */
	assert_int_not_equal(store_request_insert(s2, &r), 0);
	assert_int_equal(store_rollback(s2), 0);
	assert_int_equal(store_token_list(s2, &v, &n), 0);
	assert_int_equal(n, 1);
	store_tokens_free(v, n);
	/* after a failed statement PostgreSQL runs nothing more in that transaction: commit
	 * says so instead of pretending, and nothing of it stays */
	assert_int_equal(store_begin(s, STORE_TX_WRITE), 0);
	assert_int_equal(store_request_insert(s, &r), 0);
	assert_int_equal(store_strset(&r.state, "hacked"), 0);
	assert_int_equal(store_request_update(s, &r), ESC_EINVAL);
	assert_non_null(strstr(store_error(s), "updating a request"));
	assert_int_not_equal(store_commit(s), 0);
	assert_non_null(strstr(store_error(s), "commit"));
	assert_int_equal(store_request_get(s2, r.id, &got), ESC_ENOENT);
	/* the connection is usable again right after */
	assert_int_equal(store_strset(&r.state, "created"), 0);
	assert_int_equal(store_request_insert(s, &r), 0);
	assert_int_equal(store_request_get(s2, r.id, &got), 0);
	store_request_clear(&got);
	store_request_clear(&r);
	store_close(s2);
	store_close(s);
}

static void
test_pg_run_once(void **state)
{
	struct fx *f = *state;
	store *s;
	store_request r, got;
	int rc;

	s = open_store(f);
	fill_request(&r, "op-in", (const unsigned char *)"uptime", 6);
	assert_int_equal(store_strset(&r.state, "approved"), 0);
	assert_int_equal(store_request_insert(s, &r), 0);
	/* the claim */
	assert_int_equal(store_strset(&r.state, "running"), 0);
	assert_int_equal(store_strset(&r.runner, "esc-1"), 0);
	r.started_us = 100;
	assert_int_equal(store_request_update(s, &r), 0);
	/* a second claim, by anyone, at any time, is refused by the database */
	assert_int_equal(store_strset(&r.runner, "esc-2"), 0);
	r.started_us = 200;
	assert_int_equal(store_request_update(s, &r), ESC_EINVAL);
	assert_non_null(strstr(store_error(s), "at most once"));
	assert_int_equal(store_strset(&r.runner, "esc-1"), 0);
	r.started_us = 100;
	assert_int_equal(store_strset(&r.state, "approved"), 0); /* back to runnable */
	assert_int_equal(store_request_update(s, &r), ESC_EINVAL);
	/* finishing the run is an ordinary update */
	assert_int_equal(store_strset(&r.state, "succeeded"), 0);
	r.finished_us = 150;
	r.has_exit = 1;
	assert_int_equal(store_request_update(s, &r), 0);
	/* also for SQL that bypasses the store */
	raw(f, "UPDATE requests SET started_us = 0, state = 'approved'", &rc);
	assert_int_not_equal(rc, 0);
	assert_int_equal(store_request_get(s, r.id, &got), 0);
	assert_string_equal(got.state, "succeeded");
	assert_string_equal(got.runner, "esc-1");
	assert_int_equal(got.started_us, 100);
	store_request_clear(&got);
	store_request_clear(&r);
	store_close(s);
}

/* Ends every server session of this case but the asking one, as a restarted or
 * failed-over server would; returns how many. */
static long long
kill_sessions(struct fx *f)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "SELECT count(pg_terminate_backend(pid, 5000)) FROM"
	         " pg_stat_activity WHERE application_name = '%s' AND pid <> pg_backend_pid()",
	         f->schema);
	return raw(f, sql, NULL);
}

static void
test_pg_reconnect(void **state)
{
	struct fx *f = *state;
	store *s;
	store_token t, *v = NULL;
	size_t n = 0;

	s = open_store(f);
	memset(&t, 0, sizeof(t));
	t.identity = "esc-1";
	assert_int_equal(store_token_set(s, &t), 0);
	/* outside a transaction a lost connection costs nothing: reads and writes go on */
	assert_int_equal(kill_sessions(f), 1);
	assert_int_equal(store_token_list(s, &v, &n), 0);
	assert_int_equal(n, 1);
	store_tokens_free(v, n);
	assert_int_equal(kill_sessions(f), 1);
	t.identity = "esc-2";
	assert_int_equal(store_token_set(s, &t), 0);
	/* inside one the transaction is lost, and the caller hears of it */
	assert_int_equal(store_begin(s, STORE_TX_WRITE), 0);
	t.identity = "esc-3";
	assert_int_equal(store_token_set(s, &t), 0);
	assert_int_equal(kill_sessions(f), 1);
	t.identity = "esc-4";
	assert_int_equal(store_token_set(s, &t), ESC_EIO);
	assert_int_equal(store_rollback(s), 0);
	assert_int_equal(store_token_list(s, &v, &n), 0);
	assert_int_equal(n, 2); /* esc-1, esc-2: nothing of the lost transaction */
	assert_string_equal(v[1].identity, "esc-2");
	store_tokens_free(v, n);
	store_close(s);
}

static void
test_pg_url_dispatch(void **state)
{
	struct fx *f = *state;
	store *s = NULL;
	char err[512] = "";
	int rc;

	/* nothing listens on port 1: a clear error that names the server, not the secret */
	rc = store_open_url(&s, "postgresql://escort:s3kr1t@127.0.0.1:1/escort?connect_timeout=5",
	                    1, err, sizeof(err));
	assert_int_equal(rc, ESC_EIO);
	assert_null(s);
	assert_non_null(strstr(err, "127.0.0.1"));
	assert_null(strstr(err, "s3kr1t"));
	err[0] = 0;
	rc = store_open_url(&s, "postgres://escort:s3kr1t@127.0.0.1:1/escort?connect_timeout=5",
	                    1, err, sizeof(err));
	assert_int_equal(rc, ESC_EIO); /* both schemes mean PostgreSQL */
	assert_null(strstr(err, "s3kr1t"));
	assert_int_equal(store_open_url(&s, "", 1, err, sizeof(err)), ESC_EINVAL);
	/* a wrong password is refused */
	err[0] = 0;
	{
		char bad[2048];
		const char *at = strchr(f->spec, '@'), *colon;

		colon = at ? memchr(f->spec + 13, ':', (size_t)(at - f->spec - 13)) : NULL;
		if (colon != NULL) {
			snprintf(bad, sizeof(bad), "%.*s:wrong%s", (int)(colon - f->spec), f->spec, at);
			assert_int_equal(store_open_url(&s, bad, 1, err, sizeof(err)), ESC_EIO);
			assert_null(s);
			assert_non_null(strstr(err, "password"));
		}
	}
}

#define BOTH(fn)                                            \
	{ "sqlite: " #fn, fn, setup_sq, teardown, NULL },       \
	{ "postgresql: " #fn, fn, setup_pg, teardown, NULL }
#define PG(fn) { "postgresql: " #fn, fn, setup_pg, teardown, NULL }
#define SQ(fn) { "sqlite: " #fn, fn, setup_sq, teardown, NULL }

int
main(void)
{
	const char *pg = getenv("ESCORT_TEST_PG");
	const struct CMUnitTest both[] = {
		BOTH(test_migrations),
		BOTH(test_failed_migration_leaves_nothing),
		BOTH(test_transactions),
		BOTH(test_exact_bytes_and_fields),
		BOTH(test_approvals_append_only),
		BOTH(test_tokens_and_policies),
		BOTH(test_broker_and_server_ops),
		BOTH(test_isession_ops),
		BOTH(test_ops_version),
		PG(test_pg_write_lock),
		PG(test_pg_snapshots_and_aborts),
		PG(test_pg_run_once),
		PG(test_pg_reconnect),
		PG(test_pg_url_dispatch),
	};
	const struct CMUnitTest sqlite_only[] = {
		SQ(test_migrations),
		SQ(test_failed_migration_leaves_nothing),
		SQ(test_transactions),
		SQ(test_exact_bytes_and_fields),
		SQ(test_approvals_append_only),
		SQ(test_tokens_and_policies),
		SQ(test_broker_and_server_ops),
		SQ(test_isession_ops),
		SQ(test_ops_version),
	};

	if (pg != NULL && pg[0] != 0)
		return cmocka_run_group_tests_name("store_pg", both, NULL, NULL);
	return cmocka_run_group_tests_name("store_pg", sqlite_only, NULL, NULL);
}
