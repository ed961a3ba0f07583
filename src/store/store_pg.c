/* store_pg.c — the PostgreSQL backend of the store, for several escort nodes sharing one
 * state: libpq, parameterized statements only (binary integers and bytea), the same
 * numbered schema migrations, transactions and constraints as the SQLite backend. */
#include "store/store.h"
#include "store/store_pg.h"

#include <limits.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/buf.h"
#include "util/err.h"

/* Why one advisory lock and not SERIALIZABLE + retry: the store's contract is that a
 * write transaction, once begun, excludes every other writer, so what it read stays true
 * until it ends (SQLite's BEGIN IMMEDIATE). The workflow relies on that: it reads a
 * request, decides, writes the decision, appends durable audit records and only then
 * commits. Under SERIALIZABLE the conflict would surface at UPDATE or COMMIT, after the
 * audit records were written, and a retry would have to redo the workflow's decision,
 * which the store cannot do. So every write transaction (and every write made outside
 * one) first takes this transaction-scoped advisory lock: writers queue, readers never
 * wait, a node that dies releases it with its connection. Write transactions run at READ
 * COMMITTED on purpose: each statement takes its snapshot after the lock was granted and
 * so sees every earlier writer's commit (REPEATABLE READ would keep the snapshot taken
 * by the lock statement itself, from before the wait). The key is a constant: escorts in
 * other schemas of one database share it, which only serializes them. */
#define PG_WRITE_LOCK "SELECT pg_advisory_xact_lock(7310556217362817381)"

/* How long a writer waits for the lock (like SQLite's busy timeout), and how long a
 * node may sit idle inside a transaction before the server ends it: a hung node must not
 * hold every other node's writes forever. */
#define PG_SESSION_SETTINGS \
	"SET lock_timeout = '60s'; SET idle_in_transaction_session_timeout = '120s'"

#define PG_MIN_SERVER 120000 /* identity columns, EXECUTE FUNCTION, stable since 12 */

/* libpq's type OIDs (server/catalog/pg_type_d.h is not a client header) */
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT4 23
#define OID_TEXT 25

#define PG_MAXP 64     /* parameters of one statement */
#define CMDS_PER_INSERT 16 /* commands per INSERT: 4 parameters each */

#define PG_NPREP 64 /* statements prepared per connection (there are fewer) */

typedef struct pg_store {
	store base; /* first: a store * is a pg_store * */
	PGconn *conn;
	/* Statements this connection has prepared, by the address of their constant SQL
	 * text: each is parsed and planned once per connection, not per call. */
	const char *prep[PG_NPREP];
	int nprep;
	int reconnecting;
	int listening;    /* notify_listen ran: this connection only hears changes */
	char schema[128]; /* current_schema() of a listener: other schemas' changes are not ours */
} pg_store;

static PGconn *
conn_of(store *s)
{
	return ((pg_store *)s)->conn;
}

/* ---- parameters ---- */

typedef struct pq_params {
	int n;
	const char *vals[PG_MAXP];
	int lens[PG_MAXP];
	int fmts[PG_MAXP];
	Oid types[PG_MAXP];
	unsigned char ints[PG_MAXP][8]; /* big-endian storage for binary integers */
} pq_params;

static int
p_slot(pq_params *p)
{
	if (p->n >= PG_MAXP)
		return -1;
	return p->n++;
}

static int
p_text(pq_params *p, const char *v)
{
	int i = p_slot(p);

	if (i < 0)
		return ESC_EINTERNAL;
	p->vals[i] = v; /* NULL: SQL NULL */
	p->lens[i] = 0;
	p->fmts[i] = 0;
	p->types[i] = OID_TEXT;
	return 0;
}

static int
p_intn(pq_params *p, uint64_t v, int bytes, Oid type)
{
	int i = p_slot(p), k;

	if (i < 0)
		return ESC_EINTERNAL;
	for (k = 0; k < bytes; k++)
		p->ints[i][k] = (unsigned char)(v >> (8 * (bytes - 1 - k)));
	p->vals[i] = (const char *)p->ints[i];
	p->lens[i] = bytes;
	p->fmts[i] = 1;
	p->types[i] = type;
	return 0;
}

static int
p_int8(pq_params *p, int64_t v)
{
	return p_intn(p, (uint64_t)v, 8, OID_INT8);
}

static int
p_int4(pq_params *p, int32_t v)
{
	return p_intn(p, (uint64_t)(uint32_t)v, 4, OID_INT4);
}

static int
p_null(pq_params *p, Oid type)
{
	int i = p_slot(p);

	if (i < 0)
		return ESC_EINTERNAL;
	p->vals[i] = NULL;
	p->lens[i] = 0;
	p->fmts[i] = 1;
	p->types[i] = type;
	return 0;
}

static int
p_bytea(pq_params *p, const void *v, size_t n)
{
	int i;

	if (n > INT_MAX)
		return ESC_ETOOBIG;
	if ((i = p_slot(p)) < 0)
		return ESC_EINTERNAL;
	/* an empty command is still bytes, never NULL: the schema says NOT NULL */
	p->vals[i] = v ? (const char *)v : "";
	p->lens[i] = (int)n;
	p->fmts[i] = 1;
	p->types[i] = OID_BYTEA;
	return 0;
}

/* ---- errors and execution ---- */

/* Maps a SQLSTATE into escort's error space: a broken constraint or bad data is the
 * caller's (EINVAL, as SQLite's CONSTRAINT), anything else is the database's (EIO). */
static int
map_state(const char *st)
{
	if (st == NULL)
		return ESC_EIO; /* no result: the connection failed */
	if (strncmp(st, "23", 2) == 0 || strncmp(st, "22", 2) == 0)
		return strcmp(st, "22001") == 0 ? ESC_ETOOBIG : ESC_EINVAL;
	if (strncmp(st, "54", 2) == 0)
		return ESC_ETOOBIG;
	if (strcmp(st, "53200") == 0)
		return ESC_ENOMEM;
	return ESC_EIO;
}

/* Records what failed (the operation, then the server's words) and maps the code. */
static int
pg_fail(store *s, PGresult *res, const char *what)
{
	const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *d = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	int n;

	if (m == NULL)
		m = PQerrorMessage(conn_of(s));
	n = snprintf(s->err, sizeof(s->err), "%s: %s%s%s", what, m, d ? " (" : "", d ? d : "");
	if (d && n > 0 && (size_t)n < sizeof(s->err) - 1)
		snprintf(s->err + n, sizeof(s->err) - (size_t)n, ")");
	/* libpq's own messages end in a newline */
	n = (int)strlen(s->err);
	while (n > 0 && (s->err[n - 1] == '\n' || s->err[n - 1] == ' '))
		s->err[--n] = 0;
	return map_state(st);
}

/* The name of sql's prepared statement on this connection, preparing it on first use;
 * 0, or 1 when it cannot be cached (then it runs unprepared), or an error. */
static int
prepared(store *s, const char *what, const char *sql, const pq_params *p, char *name,
         size_t namelen)
{
	pg_store *q = (pg_store *)s;
	PGresult *res;
	int i, rc = 0;

	for (i = 0; i < q->nprep; i++)
		if (q->prep[i] == sql)
			break;
	snprintf(name, namelen, "escort_%d", i);
	if (i < q->nprep)
		return 0;
	if (q->nprep == PG_NPREP)
		return 1;
	res = PQprepare(q->conn, name, sql, p ? p->n : 0, p ? p->types : NULL);
	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = pg_fail(s, res, what);
	else
		q->prep[q->nprep++] = sql;
	PQclear(res);
	return rc;
}

static int reconnect(store *s);

/* A statement that failed because the connection was lost (a restarted or failed-over
 * server) is worth one retry on a new connection when it ran outside a transaction: that
 * is a read or a BEGIN (every write runs inside a transaction), so running it again
 * cannot do anything twice. Inside a transaction the transaction is gone: no retry. */
static int
retry_after_loss(store *s, int was_idle)
{
	pg_store *q = (pg_store *)s;

	return was_idle && !q->reconnecting && PQstatus(q->conn) == CONNECTION_BAD &&
	       reconnect(s) == 0;
}

static int
run_once(store *s, const char *what, const char *sql, const pq_params *p, PGresult **out,
         int cache)
{
	PGresult *res;
	ExecStatusType es;
	char name[32];
	int rc;

	if (out)
		*out = NULL;
	if (cache && (rc = prepared(s, what, sql, p, name, sizeof(name))) < 0)
		return rc;
	if (cache && rc == 0)
		res = PQexecPrepared(conn_of(s), name, p ? p->n : 0, p ? p->vals : NULL,
		                     p ? p->lens : NULL, p ? p->fmts : NULL, 1);
	else
		res = PQexecParams(conn_of(s), sql, p ? p->n : 0, p ? p->types : NULL,
		                   p ? p->vals : NULL, p ? p->lens : NULL, p ? p->fmts : NULL, 1);
	es = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK) {
		rc = pg_fail(s, res, what);
		PQclear(res);
		return rc;
	}
	if (out)
		*out = res;
	else
		PQclear(res);
	return 0;
}

/* Runs one statement with parameters (NULL: none) and binary results; constant SQL
 * (cache set) is prepared once per connection. On success *out holds the result (PQclear
 * it; NULL when out is NULL). */
static int
pq_run_x(store *s, const char *what, const char *sql, const pq_params *p, PGresult **out,
         int cache)
{
	int idle = PQtransactionStatus(conn_of(s)) == PQTRANS_IDLE;
	int rc = run_once(s, what, sql, p, out, cache);

	if (rc != 0 && retry_after_loss(s, idle))
		rc = run_once(s, what, sql, p, out, cache);
	return rc;
}

/* sql must be a string constant: its address names its prepared statement */
static int
pq_run(store *s, const char *what, const char *sql, const pq_params *p, PGresult **out)
{
	return pq_run_x(s, what, sql, p, out, 1);
}

/* Runs constant SQL without parameters (may hold several statements). */
static int
exec_once(store *s, const char *what, const char *sql)
{
	PGresult *res = PQexec(conn_of(s), sql);
	ExecStatusType es = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	int rc = 0;

	if (es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK)
		rc = pg_fail(s, res, what);
	PQclear(res);
	return rc;
}

static int
pq_exec(store *s, const char *what, const char *sql)
{
	int idle = PQtransactionStatus(conn_of(s)) == PQTRANS_IDLE;
	int rc = exec_once(s, what, sql);

	if (rc != 0 && retry_after_loss(s, idle))
		rc = exec_once(s, what, sql);
	return rc;
}

/* ---- binary result columns ---- */

static int
r_int(store *s, const PGresult *res, int row, int col, int64_t *v)
{
	const unsigned char *b = (const unsigned char *)PQgetvalue(res, row, col);
	int len = PQgetlength(res, row, col), k;
	uint64_t u = 0;

	*v = 0;
	if (PQgetisnull(res, row, col))
		return 0;
	if (len != 8 && len != 4) {
		snprintf(s->err, sizeof(s->err), "column %s: expected an integer, got %d bytes",
		         PQfname(res, col), len);
		return ESC_EPARSE;
	}
	for (k = 0; k < len; k++)
		u = u << 8 | b[k];
	*v = len == 8 ? (int64_t)u : (int64_t)(int32_t)(uint32_t)u;
	return 0;
}

/* Copies a nullable text or bytea column; *len (optional) excludes the NUL added. */
static int
r_bytes(const PGresult *res, int row, int col, unsigned char **out, size_t *len)
{
	int n = PQgetlength(res, row, col);

	*out = NULL;
	if (len)
		*len = 0;
	if (PQgetisnull(res, row, col))
		return 0;
	if (n < 0 || (*out = malloc((size_t)n + 1)) == NULL)
		return ESC_ENOMEM;
	if (n > 0)
		memcpy(*out, PQgetvalue(res, row, col), (size_t)n);
	(*out)[n] = 0;
	if (len)
		*len = (size_t)n;
	return 0;
}

static int
r_text(const PGresult *res, int row, int col, char **out)
{
	return r_bytes(res, row, col, (unsigned char **)out, NULL);
}

static int
r_hash(store *s, const PGresult *res, int row, int col, unsigned char *h)
{
	if (PQgetlength(res, row, col) != STORE_HASH_LEN) {
		snprintf(s->err, sizeof(s->err), "column %s: not a %d-byte hash", PQfname(res, col),
		         STORE_HASH_LEN);
		return ESC_EPARSE;
	}
	memcpy(h, PQgetvalue(res, row, col), STORE_HASH_LEN);
	return 0;
}

static int pg_ready(store *s);

/* Fills one zeroed element of a listing from row i of res. */
typedef int (*pq_row_fn)(store *s, const PGresult *res, int i, void *row);

/* Runs a listing query (constant sql, as pq_run) and makes one zeroed element of `size`
 * bytes per row, filled with fill: the twin of store_sqlite.c's sq_collect. *v and *cnt
 * always describe what was filled, also on failure, so the caller frees it with the
 * type's own free function; an element is counted before it is filled, which is why
 * every fill leaves a half-filled element freeable. No rows: *v NULL, *cnt 0. */
static int
pq_collect(store *s, const char *what, const char *sql, const pq_params *p, size_t size,
           pq_row_fn fill, void **v, size_t *cnt)
{
	PGresult *res = NULL;
	unsigned char *arr = NULL;
	int rc, i, rows;

	*v = NULL;
	*cnt = 0;
	if ((rc = pg_ready(s)) != 0 || (rc = pq_run(s, what, sql, p, &res)) != 0)
		return rc;
	rows = PQntuples(res);
	if (rows > 0 && (arr = calloc((size_t)rows, size)) == NULL)
		rc = ESC_ENOMEM;
	*v = arr;
	for (i = 0; rc == 0 && i < rows; i++) {
		(*cnt)++;
		rc = fill(s, res, i, arr + (size_t)i * size);
	}
	PQclear(res);
	return rc;
}

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- connection and transactions ---- */

static void
quiet_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message; /* "relation already exists, skipping" and the like are not for users */
}

static int
session_setup(store *s)
{
	PQsetNoticeProcessor(conn_of(s), quiet_notices, NULL);
	return pq_exec(s, "setting up the session", PG_SESSION_SETTINGS);
}

static int
reconnect(store *s)
{
	pg_store *q = (pg_store *)s;
	int rc;

	PQreset(q->conn);
	q->nprep = 0; /* a new session has none of the old one's statements */
	if (PQstatus(q->conn) != CONNECTION_OK) {
		snprintf(s->err, sizeof(s->err), "reconnecting to PostgreSQL: %s",
		         PQerrorMessage(q->conn));
		return ESC_EIO;
	}
	q->reconnecting = 1; /* no retry inside the retry */
	rc = session_setup(s);
	q->reconnecting = 0;
	return rc;
}

/* Outside a transaction a connection known to be lost is re-established; inside one the
 * transaction is gone and the caller must see it. */
static int
pg_ready(store *s)
{
	PGconn *c = conn_of(s);

	if (PQstatus(c) == CONNECTION_OK)
		return 0;
	if (s->in_tx) {
		snprintf(s->err, sizeof(s->err), "the connection to PostgreSQL was lost: %s",
		         PQerrorMessage(c));
		return ESC_EIO;
	}
	return reconnect(s);
}

static int
pg_rollback(store *s)
{
	PGconn *c = conn_of(s);

	/* a dropped connection's transaction is already rolled back by the server */
	if (PQstatus(c) != CONNECTION_OK || PQtransactionStatus(c) == PQTRANS_IDLE)
		return 0;
	return pq_exec(s, "rollback", "ROLLBACK");
}

/* BEGIN, then the write lock; on failure nothing stays open. */
static int
begin_write(store *s)
{
	int rc;

	/* one round trip for both; if the lock is not granted the transaction is open but
	 * failed, and is rolled back below */
	if ((rc = pq_exec(s, "beginning a write transaction (waiting for the write lock)",
	                  "BEGIN ISOLATION LEVEL READ COMMITTED; " PG_WRITE_LOCK)) != 0) {
		char keep[sizeof(s->err)];

		memcpy(keep, s->err, sizeof(keep));
		(void)pg_rollback(s);
		memcpy(s->err, keep, sizeof(keep));
	}
	return rc;
}

static int
pg_begin(store *s, enum store_tx kind)
{
	int rc;

	if ((rc = pg_ready(s)) != 0)
		return rc;
	if (kind == STORE_TX_WRITE)
		return begin_write(s);
	/* a reader sees one snapshot for its whole transaction, as in SQLite's WAL mode */
	return pq_exec(s, "beginning a read transaction",
	               "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
}

static int
pg_commit(store *s)
{
	PGresult *res = PQexec(conn_of(s), "COMMIT");
	int rc = 0;

	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = pg_fail(s, res, "commit");
	else if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		/* COMMIT of a transaction an error had aborted answers ROLLBACK, not an error */
		snprintf(s->err, sizeof(s->err), "commit: the transaction had failed and was rolled "
		         "back");
		rc = ESC_EIO;
	}
	PQclear(res);
	return rc;
}

/* A write made outside an explicit transaction runs in its own, under the write lock
 * like every other; *own says whether this call opened it. */
static int
w_enter(store *s, int *own)
{
	int rc;

	*own = 0;
	if ((rc = pg_ready(s)) != 0)
		return rc;
	if (s->in_tx)
		return 0;
	if ((rc = begin_write(s)) == 0)
		*own = 1;
	return rc;
}

static int
w_leave(store *s, int own, int rc)
{
	char keep[sizeof(s->err)];

	if (!own)
		return rc;
	if (rc == 0 && (rc = pg_commit(s)) == 0)
		return 0;
	memcpy(keep, s->err, sizeof(keep));
	(void)pg_rollback(s);
	memcpy(s->err, keep, sizeof(keep));
	return rc;
}

/* ---- schema ---- */

/* Migration n takes the schema from version n to n+1: the same steps as SQLite's, in
 * PostgreSQL's types (bigint microseconds, bytea, identity ids). Append only. */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE policies ("
	"  version bigint PRIMARY KEY,"
	"  sha256 text NOT NULL CHECK (length(sha256) = 64),"
	"  path text NOT NULL,"
	"  loaded_by text NOT NULL,"
	"  loaded_us bigint NOT NULL);"
	"CREATE TABLE tokens ("
	"  identity text PRIMARY KEY,"
	"  hash bytea NOT NULL CHECK (length(hash) = 32),"
	"  issued_us bigint NOT NULL);"
	"CREATE TABLE requests ("
	"  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	"  requester text NOT NULL,"
	"  target text NOT NULL,"
	"  ticket text,"
	"  justification text,"
	"  state text NOT NULL CHECK (state IN ('created','analyzed','denied','pending',"
	"    'approved','running','succeeded','failed','cancelled','expired')),"
	"  created_us bigint NOT NULL,"
	"  updated_us bigint NOT NULL,"
	"  policy_version text NOT NULL,"
	"  decision text,"
	"  expires_us bigint NOT NULL DEFAULT 0,"
	"  binding bytea CHECK (binding IS NULL OR length(binding) = 32),"
	"  runner text,"
	"  started_us bigint NOT NULL DEFAULT 0,"
	"  finished_us bigint NOT NULL DEFAULT 0,"
	"  exit_code integer,"
	"  result text,"
	"  output bytea,"
	"  output_sha256 text);"
	"CREATE INDEX requests_state ON requests (state, id);"
	"CREATE INDEX requests_requester ON requests (requester, id);"
	"CREATE TABLE commands ("
	"  request_id bigint NOT NULL REFERENCES requests (id),"
	"  idx integer NOT NULL,"
	"  bytes bytea NOT NULL,"
	"  analysis text,"
	"  PRIMARY KEY (request_id, idx));"
	"CREATE TABLE approvals ("
	"  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	"  request_id bigint NOT NULL REFERENCES requests (id),"
	"  approver text NOT NULL,"
	"  kind text NOT NULL CHECK (kind IN ('approve','deny')),"
	"  comment text,"
	"  hash bytea NOT NULL CHECK (length(hash) = 32),"
	"  policy_version text NOT NULL,"
	"  created_us bigint NOT NULL,"
	"  expires_us bigint NOT NULL DEFAULT 0,"
	"  UNIQUE (request_id, approver));"
	/* a decision once recorded is history: never edited, removed or truncated away */
	"CREATE FUNCTION approvals_append_only() RETURNS trigger LANGUAGE plpgsql AS $$"
	"  BEGIN RAISE EXCEPTION 'approvals are append-only'"
	"    USING ERRCODE = 'integrity_constraint_violation'; END $$;"
	"CREATE TRIGGER approvals_no_change BEFORE UPDATE OR DELETE ON approvals"
	"  FOR EACH ROW EXECUTE FUNCTION approvals_append_only();"
	"CREATE TRIGGER approvals_no_truncate BEFORE TRUNCATE ON approvals"
	"  FOR EACH STATEMENT EXECUTE FUNCTION approvals_append_only();"
	/* A request runs at most once, across every node, even for a writer that skipped
	 * the write lock: once started, who started it and when are fixed, and it never
	 * goes back to a state from which it could start again. The row lock an UPDATE
	 * takes makes a racing second claim see the first one's committed row here. */
	"CREATE FUNCTION requests_run_once() RETURNS trigger LANGUAGE plpgsql AS $$"
	"  BEGIN"
	"    IF OLD.started_us <> 0 AND (NEW.started_us IS DISTINCT FROM OLD.started_us"
	"        OR NEW.runner IS DISTINCT FROM OLD.runner"
	"        OR NEW.state NOT IN ('running', 'succeeded', 'failed')) THEN"
	"      RAISE EXCEPTION 'request % was already started by %: a request runs at most once',"
	"        OLD.id, OLD.runner USING ERRCODE = 'integrity_constraint_violation';"
	"    END IF;"
	"    RETURN NEW;"
	"  END $$;"
	"CREATE TRIGGER requests_run_once BEFORE UPDATE ON requests"
	"  FOR EACH ROW EXECUTE FUNCTION requests_run_once();",
	/* 1 -> 2: broker (egress accounting: what each run delivered to its operator) */
	"CREATE TABLE egress ("
	"  request_id bigint PRIMARY KEY REFERENCES requests (id),"
	"  identity text NOT NULL,"
	"  day bigint NOT NULL,"
	"  environment text NOT NULL,"
	"  delivered bigint NOT NULL CHECK (delivered >= 0),"
	"  withheld bigint NOT NULL CHECK (withheld >= 0),"
	"  at_us bigint NOT NULL);"
	"CREATE INDEX egress_identity_day ON egress (identity, day);"
	/* accounting is history: never edited or removed */
	"CREATE FUNCTION egress_append_only() RETURNS trigger LANGUAGE plpgsql AS $$"
	"  BEGIN RAISE EXCEPTION 'egress records are append-only'"
	"    USING ERRCODE = 'integrity_constraint_violation'; END $$;"
	"CREATE TRIGGER egress_no_change BEFORE UPDATE OR DELETE ON egress"
	"  FOR EACH ROW EXECUTE FUNCTION egress_append_only();"
	"CREATE TRIGGER egress_no_truncate BEFORE TRUNCATE ON egress"
	"  FOR EACH STATEMENT EXECUTE FUNCTION egress_append_only();",
	/* 2 -> 3: server (TOTP enrolment, console sessions, the live feed's index) */
	"CREATE TABLE totp ("
	"  identity text PRIMARY KEY,"
	"  secret bytea NOT NULL CHECK (length(secret) BETWEEN 10 AND 64),"
	"  created_us bigint NOT NULL,"
	"  last_step bigint NOT NULL DEFAULT 0);"
	"CREATE TABLE sessions ("
	"  hash bytea PRIMARY KEY CHECK (length(hash) = 32),"
	"  identity text NOT NULL,"
	"  csrf text NOT NULL CHECK (length(csrf) = 64),"
	"  created_us bigint NOT NULL,"
	"  expires_us bigint NOT NULL,"
	"  totp_us bigint NOT NULL DEFAULT 0);"
	"CREATE INDEX requests_updated ON requests (updated_us);",
	/* 3 -> 4: interactive sessions (named isessions: "sessions" are console logins); each
	 * line is a request, tied to its session here */
	"CREATE TABLE isessions ("
	"  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	"  operator text NOT NULL,"
	"  target text NOT NULL,"
	"  ticket text,"
	"  state text NOT NULL CHECK (state IN ('active', 'paused', 'ended', 'killed')),"
	"  created_us bigint NOT NULL,"
	"  updated_us bigint NOT NULL,"
	"  ended_us bigint NOT NULL DEFAULT 0,"
	"  end_reason text,"
	"  host text,"
	"  shell_pid bigint NOT NULL DEFAULT 0,"
	"  shell_start bigint NOT NULL DEFAULT 0,"
	"  recording_sha256 text);"
	"CREATE INDEX isessions_target ON isessions (target, id);"
	"CREATE INDEX isessions_operator ON isessions (operator, id);"
	"CREATE TABLE isession_lines ("
	"  session_id bigint NOT NULL REFERENCES isessions (id),"
	"  seq bigint NOT NULL CHECK (seq > 0),"
	"  request_id bigint NOT NULL UNIQUE REFERENCES requests (id),"
	"  created_us bigint NOT NULL,"
	"  PRIMARY KEY (session_id, seq));"
	"CREATE FUNCTION isession_lines_append_only() RETURNS trigger LANGUAGE plpgsql AS $$"
	"  BEGIN RAISE EXCEPTION 'session lines are append-only'"
	"    USING ERRCODE = 'integrity_constraint_violation'; END $$;"
	"CREATE TRIGGER isession_lines_no_change BEFORE UPDATE OR DELETE ON isession_lines"
	"  FOR EACH ROW EXECUTE FUNCTION isession_lines_append_only();"
	"CREATE TRIGGER isession_lines_no_truncate BEFORE TRUNCATE ON isession_lines"
	"  FOR EACH STATEMENT EXECUTE FUNCTION isession_lines_append_only();"
	"CREATE TABLE isession_presence ("
	"  session_id bigint NOT NULL REFERENCES isessions (id),"
	"  identity text NOT NULL,"
	"  joined_us bigint NOT NULL,"
	"  seen_us bigint NOT NULL,"
	"  PRIMARY KEY (session_id, identity));",
	/* 4 -> 5: presence checks (each escort's last proof of presence in a session) */
	"CREATE TABLE isession_proofs ("
	"  session_id bigint NOT NULL REFERENCES isessions (id),"
	"  identity text NOT NULL,"
	"  method text NOT NULL CHECK (method IN ('totp', 'click')),"
	"  proved_us bigint NOT NULL,"
	"  lapsed_us bigint NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (session_id, identity));",
	/* 5 -> 6: every API call finds its bearer token by hash (token_find) */
	"CREATE INDEX tokens_hash ON tokens (hash);",
};

#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == STORE_SCHEMA_VERSION,
               "one migration per schema version");

static int
read_version(store *s, int *v)
{
	PGresult *res = NULL;
	int64_t x = 0;
	int rc;

	*v = 0;
	rc = pq_run(s, "reading the schema version",
	            "SELECT coalesce(max(version), 0)::bigint FROM schema_version", NULL, &res);
	if (rc == 0 && PQntuples(res) == 1)
		rc = r_int(s, res, 0, 0, &x);
	PQclear(res);
	if (rc == 0 && (x < 0 || x > INT_MAX)) {
		snprintf(s->err, sizeof(s->err), "schema version %lld is out of range", (long long)x);
		rc = ESC_EPARSE;
	}
	if (rc == 0)
		*v = (int)x;
	return rc;
}

/* Brings the schema up to STORE_SCHEMA_VERSION in one write transaction under the write
 * lock: nodes opening at once migrate one after the other, and PostgreSQL's DDL is
 * transactional, so a failed step leaves nothing behind. */
static int
schema_exists(store *s, int *exists)
{
	PGresult *res = NULL;
	int rc;

	*exists = 0;
	/* A query on pg_class, not to_regclass(): the relation lock it takes makes this
	 * backend process the catalog changes committed while it waited for the write lock
	 * (an advisory lock does not), so it sees the table another node just created. */
	rc = pq_run(s, "looking for the schema",
	            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c"
	            " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
	            " WHERE c.relname = 'schema_version' AND n.nspname = current_schema())",
	            NULL, &res);
	if (rc == 0)
		*exists = PQntuples(res) == 1 && PQgetlength(res, 0, 0) == 1 &&
		          PQgetvalue(res, 0, 0)[0] == 1;
	PQclear(res);
	return rc;
}

static int
migrate(store *s, int create)
{
	pq_params p;
	int v = 0, rc, i, exists = 0;

	/* the common case, an up-to-date schema, needs no lock: opening a store must not
	 * wait for another node's write transaction */
	if ((rc = schema_exists(s, &exists)) != 0)
		return rc;
	if (exists && (rc = read_version(s, &v)) == 0 && v == STORE_SCHEMA_VERSION)
		return 0;
	if ((rc = begin_write(s)) != 0)
		return rc;
	rc = schema_exists(s, &exists); /* again: another node may have just migrated */
	if (rc == 0 && !exists && !create) {
		snprintf(s->err, sizeof(s->err), "no escort store in database %s (run 'escort init' "
		         "first)", PQdb(conn_of(s)));
		rc = ESC_ENOENT;
	}
	if (rc == 0 && !exists)
		rc = pq_exec(s, "creating the schema version table",
		             "CREATE TABLE schema_version ("
		             "  version integer PRIMARY KEY, applied_us bigint NOT NULL)");
	if (rc == 0)
		rc = read_version(s, &v);
	if (rc == 0 && v > STORE_SCHEMA_VERSION) {
		snprintf(s->err, sizeof(s->err),
		         "the database has schema version %d; this escort knows up to %d "
		         "(written by a newer escort?)", v, STORE_SCHEMA_VERSION);
		rc = ESC_EINVAL;
	}
	for (i = v; rc == 0 && i < NMIGRATIONS; i++) {
		char what[64];

		snprintf(what, sizeof(what), "schema migration %d -> %d", i, i + 1);
		if ((rc = pq_exec(s, what, migrations[i])) != 0)
			break;
		memset(&p, 0, sizeof(p));
		p_int4(&p, i + 1);
		p_int8(&p, now_us());
		rc = pq_run(s, what, "INSERT INTO schema_version VALUES ($1, $2)", &p, NULL);
	}
	if (rc == 0)
		rc = pg_commit(s);
	if (rc != 0) {
		char keep[sizeof(s->err)];

		memcpy(keep, s->err, sizeof(keep));
		(void)pg_rollback(s);
		memcpy(s->err, keep, sizeof(keep));
	}
	return rc;
}

static int
pg_schema_version(store *s, int *version)
{
	int rc = pg_ready(s);

	return rc ? rc : read_version(s, version);
}

static void
pg_close(store *s)
{
	pg_store *q = (pg_store *)s;

	PQfinish(q->conn);
	free(q);
}

/* ---- policies ---- */

static int
pg_policy_add(store *s, store_policy *p)
{
	PGresult *res = NULL;
	pq_params pp;
	int own, rc;

	if ((rc = w_enter(s, &own)) != 0)
		return rc;
	memset(&pp, 0, sizeof(pp));
	p_text(&pp, p->sha256);
	p_text(&pp, p->path);
	p_text(&pp, p->loaded_by);
	p_int8(&pp, p->loaded_us);
	/* max()+1 is safe: every writer holds the write lock */
	rc = pq_run(s, "adding a policy",
	            "INSERT INTO policies (version, sha256, path, loaded_by, loaded_us)"
	            " VALUES ((SELECT coalesce(max(version), 0) + 1 FROM policies), $1, $2, $3, $4)"
	            " RETURNING version", &pp, &res);
	if (rc == 0 && PQntuples(res) == 1)
		rc = r_int(s, res, 0, 0, &p->version);
	PQclear(res);
	return w_leave(s, own, rc);
}

static int
pg_policy_current(store *s, store_policy *p)
{
	PGresult *res = NULL;
	char *sha = NULL;
	int rc;

	memset(p, 0, sizeof(*p));
	if ((rc = pg_ready(s)) != 0)
		return rc;
	rc = pq_run(s, "reading the current policy",
	            "SELECT version, sha256, path, loaded_by, loaded_us FROM policies"
	            " ORDER BY version DESC LIMIT 1", NULL, &res);
	if (rc)
		return rc;
	if (PQntuples(res) == 0) {
		rc = ESC_ENOENT;
		goto out;
	}
	if ((rc = r_int(s, res, 0, 0, &p->version)) || (rc = r_text(res, 0, 1, &sha)) ||
	    (rc = r_text(res, 0, 2, &p->path)) || (rc = r_text(res, 0, 3, &p->loaded_by)) ||
	    (rc = r_int(s, res, 0, 4, &p->loaded_us)))
		goto out;
	snprintf(p->sha256, sizeof(p->sha256), "%s", sha ? sha : "");
out:
	free(sha);
	PQclear(res);
	if (rc)
		store_policy_clear(p);
	return rc;
}

/* ---- tokens ---- */

static int
pg_token_set(store *s, const store_token *t)
{
	pq_params p;
	int own, rc;

	if ((rc = w_enter(s, &own)) != 0)
		return rc;
	memset(&p, 0, sizeof(p));
	p_text(&p, t->identity);
	p_bytea(&p, t->hash, STORE_HASH_LEN);
	p_int8(&p, t->issued_us);
	rc = pq_run(s, "storing a token",
	            "INSERT INTO tokens (identity, hash, issued_us) VALUES ($1, $2, $3)"
	            " ON CONFLICT (identity) DO UPDATE SET hash = excluded.hash,"
	            " issued_us = excluded.issued_us", &p, NULL);
	return w_leave(s, own, rc);
}

static int
pg_token_revoke(store *s, const char *identity)
{
	PGresult *res = NULL;
	pq_params p;
	int own, rc;

	if ((rc = w_enter(s, &own)) != 0)
		return rc;
	memset(&p, 0, sizeof(p));
	p_text(&p, identity);
	rc = pq_run(s, "revoking a token", "DELETE FROM tokens WHERE identity = $1", &p, &res);
	if (rc == 0 && strcmp(PQcmdTuples(res), "0") == 0)
		rc = ESC_ENOENT;
	PQclear(res);
	/* "had none" is an answer, not a failure: the (empty) transaction still commits */
	if (rc == ESC_ENOENT) {
		snprintf(s->err, sizeof(s->err), "revoking a token: %s has none", identity);
		return (rc = w_leave(s, own, 0)) != 0 ? rc : ESC_ENOENT;
	}
	return w_leave(s, own, rc);
}

static int
token_row(store *s, const PGresult *res, int i, void *row)
{
	store_token *t = row;
	int rc;

	if ((rc = r_text(res, i, 0, &t->identity)) || (rc = r_hash(s, res, i, 1, t->hash)) ||
	    (rc = r_int(s, res, i, 2, &t->issued_us)))
		return rc;
	return 0;
}

static int
pg_token_list(store *s, store_token **out, size_t *n)
{
	void *v = NULL;
	size_t cnt = 0;
	int rc;

	*out = NULL;
	*n = 0;
	rc = pq_collect(s, "listing tokens",
	                "SELECT identity, hash, issued_us FROM tokens ORDER BY identity", NULL,
	                sizeof(store_token), token_row, &v, &cnt);
	if (rc) {
		store_tokens_free(v, cnt);
		return rc;
	}
	*out = v;
	*n = cnt;
	return 0;
}

static int
pg_token_find(store *s, const unsigned char hash[STORE_HASH_LEN], store_token *out)
{
	pq_params p;
	void *v = NULL;
	size_t cnt = 0;
	int rc;

	memset(&p, 0, sizeof(p));
	p_bytea(&p, hash, STORE_HASH_LEN);
	rc = pq_collect(s, "finding a token",
	                "SELECT identity, hash, issued_us FROM tokens WHERE hash = $1", &p,
	                sizeof(store_token), token_row, &v, &cnt);
	if (rc == 0 && cnt == 0)
		rc = ESC_ENOENT;
	if (rc == 0) {
		*out = *(store_token *)v; /* the first: a hash is one token's */
		memset(v, 0, sizeof(store_token));
	}
	store_tokens_free(v, cnt);
	return rc;
}

/* ---- requests ---- */

static int
insert_commands(store *s, const store_request *r)
{
	char sql[128 + CMDS_PER_INSERT * 32];
	pq_params p;
	size_t i = 0, k, len;
	int rc = 0;

	while (rc == 0 && i < r->ncmds) {
		memset(&p, 0, sizeof(p));
		len = (size_t)snprintf(sql, sizeof(sql),
		                       "INSERT INTO commands (request_id, idx, bytes, analysis) VALUES ");
		for (k = 0; k < CMDS_PER_INSERT && i < r->ncmds; k++, i++) {
			if (i > INT_MAX)
				return ESC_ETOOBIG;
			len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%s($%d, $%d, $%d, $%d)",
			                        k ? ", " : "", p.n + 1, p.n + 2, p.n + 3, p.n + 4);
			p_int8(&p, r->id);
			p_int4(&p, (int32_t)i);
			if ((rc = p_bytea(&p, r->cmds[i].bytes, r->cmds[i].len)) != 0) {
				snprintf(s->err, sizeof(s->err), "adding a command: %zu bytes is too many",
				         r->cmds[i].len);
				return rc;
			}
			p_text(&p, r->cmds[i].analysis);
		}
		rc = pq_run_x(s, "adding a command", sql, &p, NULL, 0); /* built here: not cached */
	}
	return rc;
}

/* as: with the caller's id (from pg_request_next_id) and the binding, in one INSERT */
static int
request_insert(store *s, store_request *r, int as)
{
	PGresult *res = NULL;
	pq_params p;
	int64_t want = r->id;
	int own, rc;

	if ((rc = w_enter(s, &own)) != 0)
		return rc;
	memset(&p, 0, sizeof(p));
	p_text(&p, r->requester);
	p_text(&p, r->target);
	p_text(&p, r->ticket);
	p_text(&p, r->justification);
	p_text(&p, r->state);
	p_int8(&p, r->created_us);
	p_int8(&p, r->updated_us);
	p_text(&p, r->policy_version);
	p_text(&p, r->decision);
	p_int8(&p, r->expires_us);
	if (as) {
		if (r->has_binding)
			p_bytea(&p, r->binding, STORE_HASH_LEN);
		else
			p_null(&p, OID_BYTEA);
		p_int8(&p, want);
		rc = pq_run(s, "adding a request",
		            "INSERT INTO requests (requester, target, ticket, justification, state,"
		            " created_us, updated_us, policy_version, decision, expires_us, binding, id)"
		            " OVERRIDING SYSTEM VALUE"
		            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
		            &p, &res);
	} else {
		rc = pq_run(s, "adding a request",
		            "INSERT INTO requests (requester, target, ticket, justification, state,"
		            " created_us, updated_us, policy_version, decision, expires_us)"
		            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id", &p, &res);
	}
	if (rc == 0 && PQntuples(res) == 1)
		rc = r_int(s, res, 0, 0, &r->id);
	PQclear(res);
	if (rc == 0 && as && r->id != want) {
		snprintf(s->err, sizeof(s->err), "adding a request: stored as %lld, not %lld",
		         (long long)r->id, (long long)want);
		rc = ESC_EINTERNAL;
	}
	if (rc == 0)
		rc = insert_commands(s, r);
	return w_leave(s, own, rc);
}

static int
pg_request_insert(store *s, store_request *r)
{
	return request_insert(s, r, 0);
}

static int
pg_request_insert_as(store *s, store_request *r)
{
	return request_insert(s, r, 1);
}

/* Takes the next value of the requests' identity sequence: never handed out again, so
 * another node cannot insert it meanwhile. */
static int
pg_request_next_id(store *s, int64_t *id)
{
	PGresult *res = NULL;
	pq_params p;
	int own, rc;

	if ((rc = w_enter(s, &own)) != 0)
		return rc;
	memset(&p, 0, sizeof(p));
	rc = pq_run(s, "reserving a request id",
	            "SELECT nextval(pg_get_serial_sequence('requests', 'id'))", &p, &res);
	if (rc == 0 && PQntuples(res) == 1)
		rc = r_int(s, res, 0, 0, id);
	else if (rc == 0)
		rc = ESC_EIO;
	PQclear(res);
	return w_leave(s, own, rc);
}

#define REQ_COLS \
	"id, requester, target, ticket, justification, state, created_us, updated_us," \
	" policy_version, decision, expires_us, runner, started_us, finished_us, exit_code," \
	" result, output_sha256, binding"

static int
row_request(store *s, const PGresult *res, int i, void *row)
{
	store_request *r = row;
	int64_t x;
	int rc;

	memset(r, 0, sizeof(*r));
	if ((rc = r_int(s, res, i, 0, &r->id)) || (rc = r_text(res, i, 1, &r->requester)) ||
	    (rc = r_text(res, i, 2, &r->target)) || (rc = r_text(res, i, 3, &r->ticket)) ||
	    (rc = r_text(res, i, 4, &r->justification)) || (rc = r_text(res, i, 5, &r->state)) ||
	    (rc = r_int(s, res, i, 6, &r->created_us)) || (rc = r_int(s, res, i, 7, &r->updated_us)) ||
	    (rc = r_text(res, i, 8, &r->policy_version)) || (rc = r_text(res, i, 9, &r->decision)) ||
	    (rc = r_int(s, res, i, 10, &r->expires_us)) || (rc = r_text(res, i, 11, &r->runner)) ||
	    (rc = r_int(s, res, i, 12, &r->started_us)) ||
	    (rc = r_int(s, res, i, 13, &r->finished_us)) || (rc = r_text(res, i, 15, &r->result)) ||
	    (rc = r_text(res, i, 16, &r->output_sha256)))
		return rc;
	if (!PQgetisnull(res, i, 14)) {
		if ((rc = r_int(s, res, i, 14, &x)) != 0)
			return rc;
		r->has_exit = 1;
		r->exit_code = (int)x;
	}
	if (!PQgetisnull(res, i, 17)) {
		if ((rc = r_hash(s, res, i, 17, r->binding)) != 0)
			return rc;
		r->has_binding = 1;
	}
	return 0;
}

/* Appends one command row (columns: request_id, bytes, analysis) to r. */
static int
add_command(const PGresult *res, int i, store_request *r)
{
	store_command *nv;

	if ((nv = realloc(r->cmds, (r->ncmds + 1) * sizeof(*nv))) == NULL)
		return ESC_ENOMEM;
	r->cmds = nv;
	memset(&nv[r->ncmds], 0, sizeof(nv[0]));
	r->ncmds++;
	if (r_bytes(res, i, 1, &nv[r->ncmds - 1].bytes, &nv[r->ncmds - 1].len) ||
	    r_text(res, i, 2, &nv[r->ncmds - 1].analysis))
		return ESC_ENOMEM;
	return 0;
}

static int
pg_request_get(store *s, int64_t id, store_request *r)
{
	PGresult *res = NULL;
	pq_params p;
	int rc, i;

	memset(r, 0, sizeof(*r));
	if ((rc = pg_ready(s)) != 0)
		return rc;
	memset(&p, 0, sizeof(p));
	p_int8(&p, id);
	if ((rc = pq_run(s, "reading a request",
	                 "SELECT " REQ_COLS ", output FROM requests WHERE id = $1", &p, &res)) != 0)
		return rc;
	if (PQntuples(res) == 0)
		rc = ESC_ENOENT;
	else if ((rc = row_request(s, res, 0, r)) == 0)
		rc = r_bytes(res, 0, 18, &r->output, &r->output_len);
	PQclear(res);
	res = NULL;
	/* commands never change once inserted: reading them separately is consistent */
	if (rc == 0)
		rc = pq_run(s, "reading commands", "SELECT request_id, bytes, analysis FROM commands"
		            " WHERE request_id = $1 ORDER BY idx", &p, &res);
	for (i = 0; rc == 0 && i < PQntuples(res); i++)
		rc = add_command(res, i, r);
	PQclear(res);
	if (rc)
		store_request_clear(r);
	return rc;
}

static int
pg_request_update(store *s, const store_request *r)
{
	PGresult *res = NULL;
	pq_params p;
	int own, rc;

	if ((rc = w_enter(s, &own)) != 0)
		return rc;
	memset(&p, 0, sizeof(p));
	p_text(&p, r->state);
	p_int8(&p, r->updated_us);
	p_text(&p, r->policy_version);
	p_text(&p, r->decision);
	p_int8(&p, r->expires_us);
	p_text(&p, r->runner);
	p_int8(&p, r->started_us);
	p_int8(&p, r->finished_us);
	if (r->has_exit)
		p_int4(&p, r->exit_code);
	else
		p_null(&p, OID_INT4);
	p_text(&p, r->result);
	if (r->output)
		rc = p_bytea(&p, r->output, r->output_len);
	else
		rc = p_null(&p, OID_BYTEA);
	if (rc) {
		snprintf(s->err, sizeof(s->err), "updating a request: %zu output bytes is too many",
		         r->output_len);
		return w_leave(s, own, rc);
	}
	p_text(&p, r->output_sha256);
	if (r->has_binding)
		p_bytea(&p, r->binding, STORE_HASH_LEN);
	else
		p_null(&p, OID_BYTEA);
	p_int8(&p, r->id);
	rc = pq_run(s, "updating a request",
	            "UPDATE requests SET state = $1, updated_us = $2, policy_version = $3,"
	            " decision = $4, expires_us = $5, runner = $6, started_us = $7,"
	            " finished_us = $8, exit_code = $9, result = $10, output = $11,"
	            " output_sha256 = $12, binding = $13 WHERE id = $14", &p, &res);
	if (rc == 0 && strcmp(PQcmdTuples(res), "0") == 0) {
		snprintf(s->err, sizeof(s->err), "updating a request: no request %lld",
		         (long long)r->id);
		rc = ESC_ENOENT;
	}
	PQclear(res);
	return w_leave(s, own, rc);
}

static int
pg_request_list(store *s, const store_filter *f, store_request **out, size_t *n)
{
	PGresult *cres = NULL;
	store_request *v = NULL;
	void *vv = NULL;
	pq_params p;
	buf ids = BUF_INIT;
	size_t rows = 0, i, j;
	int rc, k;
	int64_t rid;

	*out = NULL;
	*n = 0;
	memset(&p, 0, sizeof(p));
	p_text(&p, f ? f->state : NULL);
	p_text(&p, f ? f->requester : NULL);
	if (f && f->limit && f->limit <= INT64_MAX)
		p_int8(&p, (int64_t)f->limit);
	else
		p_null(&p, OID_INT8); /* LIMIT NULL: no limit */
	rc = pq_collect(s, "listing requests",
	                "SELECT " REQ_COLS " FROM requests"
	                " WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR"
	                " requester = $2) ORDER BY id DESC LIMIT $3", &p, sizeof(store_request),
	                row_request, &vv, &rows);
	v = vv;
	if (rc || rows == 0)
		goto out;
	/* the commands of every listed request in one round trip, in the same order */
	rc = buf_putc(&ids, '{');
	for (i = 0; rc == 0 && i < rows; i++)
		rc = buf_printf(&ids, "%s%lld", i ? "," : "", (long long)v[i].id);
	if (rc == 0)
		rc = buf_putc(&ids, '}');
	if (rc)
		goto out;
	memset(&p, 0, sizeof(p));
	p_text(&p, buf_cstr(&ids));
	rc = pq_run(s, "reading commands",
	            "SELECT request_id, bytes, analysis FROM commands"
	            " WHERE request_id = ANY ($1::bigint[]) ORDER BY request_id DESC, idx", &p, &cres);
	for (k = 0, j = 0; rc == 0 && k < PQntuples(cres); k++) {
		if ((rc = r_int(s, cres, k, 0, &rid)) != 0)
			break;
		while (j < rows && v[j].id != rid)
			j++;
		if (j == rows) {
			snprintf(s->err, sizeof(s->err), "reading commands: out of order");
			rc = ESC_EINTERNAL;
			break;
		}
		rc = add_command(cres, k, &v[j]);
	}
out:
	buf_free(&ids);
	PQclear(cres);
	if (rc) {
		store_requests_free(v, rows);
		return rc;
	}
	*out = v;
	*n = rows;
	return 0;
}

/* ---- approvals ---- */

static int
pg_approval_insert(store *s, store_approval *a)
{
	PGresult *res = NULL;
	pq_params p;
	int own, rc;

	if ((rc = w_enter(s, &own)) != 0)
		return rc;
	memset(&p, 0, sizeof(p));
	p_int8(&p, a->request_id);
	p_text(&p, a->approver);
	p_text(&p, a->kind == STORE_DENY ? "deny" : "approve");
	p_text(&p, a->comment);
	p_bytea(&p, a->hash, STORE_HASH_LEN);
	p_text(&p, a->policy_version);
	p_int8(&p, a->created_us);
	p_int8(&p, a->expires_us);
	rc = pq_run(s, "adding an approval",
	            "INSERT INTO approvals (request_id, approver, kind, comment, hash,"
	            " policy_version, created_us, expires_us)"
	            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id", &p, &res);
	if (rc == 0 && PQntuples(res) == 1)
		rc = r_int(s, res, 0, 0, &a->id);
	PQclear(res);
	return w_leave(s, own, rc);
}

static int
approval_row(store *s, const PGresult *res, int i, void *row)
{
	store_approval *a = row;
	int rc;

	a->kind = strcmp(PQgetvalue(res, i, 3), "deny") == 0 ? STORE_DENY : STORE_APPROVE;
	if ((rc = r_int(s, res, i, 0, &a->id)) || (rc = r_int(s, res, i, 1, &a->request_id)) ||
	    (rc = r_text(res, i, 2, &a->approver)) || (rc = r_text(res, i, 4, &a->comment)) ||
	    (rc = r_hash(s, res, i, 5, a->hash)) || (rc = r_text(res, i, 6, &a->policy_version)) ||
	    (rc = r_int(s, res, i, 7, &a->created_us)) || (rc = r_int(s, res, i, 8, &a->expires_us)))
		return rc;
	return 0;
}

static int
pg_approval_list(store *s, int64_t request_id, store_approval **out, size_t *n)
{
	void *v = NULL;
	size_t cnt = 0;
	pq_params p;
	int rc;

	*out = NULL;
	*n = 0;
	memset(&p, 0, sizeof(p));
	p_int8(&p, request_id);
	rc = pq_collect(s, "listing approvals",
	                "SELECT id, request_id, approver, kind, comment, hash, policy_version,"
	                " created_us, expires_us FROM approvals WHERE request_id = $1 ORDER BY id",
	                &p, sizeof(store_approval), approval_row, &v, &cnt);
	if (rc) {
		store_approvals_free(v, cnt);
		return rc;
	}
	*out = v;
	*n = cnt;
	return 0;
}

/* ---- broker: egress accounting ---- */

static int
pg_egress_add(store *s, int64_t request_id, const char *identity, int64_t day,
              const char *environment, uint64_t delivered, uint64_t withheld, int64_t at_us)
{
	PGresult *res = NULL;
	pq_params p;
	int own, rc;

	if (identity == NULL || environment == NULL || delivered > INT64_MAX || withheld > INT64_MAX)
		return ESC_EINVAL;
	if ((rc = w_enter(s, &own)) != 0)
		return rc;
	memset(&p, 0, sizeof(p));
	p_int8(&p, request_id);
	p_text(&p, identity);
	p_int8(&p, day);
	p_text(&p, environment);
	p_int8(&p, (int64_t)delivered);
	p_int8(&p, (int64_t)withheld);
	p_int8(&p, at_us);
	/* a unique violation would abort an enclosing transaction (PostgreSQL, unlike
	 * SQLite, lets nothing run after a failed statement): ON CONFLICT makes a duplicate
	 * "no row inserted" instead, and we say so */
	rc = pq_run(s, "recording egress",
	            "INSERT INTO egress (request_id, identity, day, environment, delivered,"
	            " withheld, at_us) VALUES ($1, $2, $3, $4, $5, $6, $7)"
	            " ON CONFLICT (request_id) DO NOTHING", &p, &res);
	if (rc == 0 && strcmp(PQcmdTuples(res), "1") != 0) {
		snprintf(s->err, sizeof(s->err), "request %lld already has an egress record",
		         (long long)request_id);
		rc = ESC_EINVAL;
	}
	PQclear(res);
	return w_leave(s, own, rc);
}

static int
pg_egress_used(store *s, const char *identity, int64_t day, const char *environment,
               uint64_t *bytes)
{
	PGresult *res = NULL;
	pq_params p;
	int64_t v = 0;
	int rc;

	*bytes = 0;
	if ((rc = pg_ready(s)) != 0)
		return rc;
	memset(&p, 0, sizeof(p));
	p_text(&p, identity);
	p_int8(&p, day);
	p_text(&p, environment);
	rc = pq_run(s, "reading egress",
	            "SELECT coalesce(sum(delivered), 0)::bigint FROM egress WHERE identity = $1"
	            " AND day = $2 AND ($3::text IS NULL OR environment = $3)", &p, &res);
	if (rc == 0 && PQntuples(res) == 1)
		rc = r_int(s, res, 0, 0, &v);
	PQclear(res);
	if (rc == 0)
		*bytes = v > 0 ? (uint64_t)v : 0;
	return rc;
}

/* ---- server: TOTP enrolment, console sessions, change feed ---- */

static int
pg_totp_set(store *s, const char *identity, const unsigned char *secret, size_t n,
            int64_t now)
{
	pq_params p;
	int own, rc;

	if (identity == NULL || secret == NULL || n > STORE_TOTP_SECRET_MAX)
		return ESC_EINVAL;
	if ((rc = w_enter(s, &own)) != 0)
		return rc;
	memset(&p, 0, sizeof(p));
	p_text(&p, identity);
	p_bytea(&p, secret, n);
	p_int8(&p, now);
	rc = pq_run(s, "storing a TOTP secret",
	            "INSERT INTO totp (identity, secret, created_us, last_step) VALUES ($1, $2, $3, 0)"
	            " ON CONFLICT (identity) DO UPDATE SET secret = excluded.secret,"
	            " created_us = excluded.created_us, last_step = 0", &p, NULL);
	return w_leave(s, own, rc);
}

static int
pg_totp_get(store *s, const char *identity, unsigned char *secret, size_t *n,
            int64_t *last_step)
{
	PGresult *res = NULL;
	pq_params p;
	int rc, len;

	*n = 0;
	*last_step = 0;
	if ((rc = pg_ready(s)) != 0)
		return rc;
	memset(&p, 0, sizeof(p));
	p_text(&p, identity);
	rc = pq_run(s, "reading a TOTP secret",
	            "SELECT secret, last_step FROM totp WHERE identity = $1", &p, &res);
	if (rc)
		return rc;
	if (PQntuples(res) == 0)
		rc = ESC_ENOENT;
	else if ((len = PQgetlength(res, 0, 0)) < 0 || (size_t)len > STORE_TOTP_SECRET_MAX)
		rc = ESC_EPARSE;
	else if ((rc = r_int(s, res, 0, 1, last_step)) == 0) {
		if (len)
			memcpy(secret, PQgetvalue(res, 0, 0), (size_t)len);
		*n = (size_t)len;
	}
	PQclear(res);
	return rc;
}

static int
pg_totp_use(store *s, const char *identity, int64_t step, int *accepted)
{
	PGresult *res = NULL;
	pq_params p;
	int own, rc;

	*accepted = 0;
	if ((rc = w_enter(s, &own)) != 0)
		return rc;
	memset(&p, 0, sizeof(p));
	p_int8(&p, step);
	p_text(&p, identity);
	/* one statement under the row lock: two nodes checking one code cannot both accept */
	rc = pq_run(s, "recording a TOTP use",
	            "UPDATE totp SET last_step = $1 WHERE identity = $2 AND last_step < $1", &p,
	            &res);
	if (rc == 0)
		*accepted = strcmp(PQcmdTuples(res), "1") == 0;
	PQclear(res);
	rc = w_leave(s, own, rc);
	if (rc)
		*accepted = 0;
	return rc;
}

static int
pg_session_put(store *s, const store_session *se)
{
	pq_params p;
	int own, rc;

	if ((rc = w_enter(s, &own)) != 0)
		return rc;
	memset(&p, 0, sizeof(p));
	p_bytea(&p, se->hash, STORE_HASH_LEN);
	p_text(&p, se->identity);
	p_text(&p, se->csrf);
	p_int8(&p, se->created_us);
	p_int8(&p, se->expires_us);
	p_int8(&p, se->totp_us);
	rc = pq_run(s, "storing a session",
	            "INSERT INTO sessions (hash, identity, csrf, created_us, expires_us, totp_us)"
	            " VALUES ($1, $2, $3, $4, $5, $6)", &p, NULL);
	if (rc == 0) {
		/* drop long-expired sessions on the way (an hour of grace for clock steps) */
		memset(&p, 0, sizeof(p));
		p_int8(&p, se->created_us - (int64_t)3600 * 1000000);
		rc = pq_run(s, "dropping expired sessions",
		            "DELETE FROM sessions WHERE expires_us < $1", &p, NULL);
	}
	return w_leave(s, own, rc);
}

static int
pg_session_get(store *s, const unsigned char hash[STORE_HASH_LEN], store_session *se)
{
	PGresult *res = NULL;
	pq_params p;
	char *csrf = NULL;
	int rc;

	memset(se, 0, sizeof(*se));
	if ((rc = pg_ready(s)) != 0)
		return rc;
	memset(&p, 0, sizeof(p));
	p_bytea(&p, hash, STORE_HASH_LEN);
	rc = pq_run(s, "reading a session",
	            "SELECT identity, csrf, created_us, expires_us, totp_us FROM sessions"
	            " WHERE hash = $1", &p, &res);
	if (rc)
		return rc;
	if (PQntuples(res) == 0)
		rc = ESC_ENOENT;
	else if ((rc = r_text(res, 0, 0, &se->identity)) == 0 &&
	         (rc = r_text(res, 0, 1, &csrf)) == 0 &&
	         (rc = r_int(s, res, 0, 2, &se->created_us)) == 0 &&
	         (rc = r_int(s, res, 0, 3, &se->expires_us)) == 0 &&
	         (rc = r_int(s, res, 0, 4, &se->totp_us)) == 0) {
		memcpy(se->hash, hash, STORE_HASH_LEN);
		snprintf(se->csrf, sizeof(se->csrf), "%s", csrf ? csrf : "");
		if (se->identity == NULL)
			rc = ESC_EPARSE;
	}
	free(csrf);
	PQclear(res);
	if (rc)
		store_session_clear(se);
	return rc;
}

/* One UPDATE or DELETE keyed by a session hash; ESC_ENOENT when no row matched. */
static int
session_change(store *s, const char *what, const char *sql, pq_params *p)
{
	PGresult *res = NULL;
	int own, rc;

	if ((rc = w_enter(s, &own)) != 0)
		return rc;
	rc = pq_run(s, what, sql, p, &res);
	if (rc == 0 && strcmp(PQcmdTuples(res), "0") == 0)
		rc = ESC_ENOENT;
	PQclear(res);
	if (rc == ESC_ENOENT) {
		snprintf(s->err, sizeof(s->err), "%s: no such session", what);
		return (rc = w_leave(s, own, 0)) != 0 ? rc : ESC_ENOENT;
	}
	return w_leave(s, own, rc);
}

static int
pg_session_delete(store *s, const unsigned char hash[STORE_HASH_LEN])
{
	pq_params p;

	memset(&p, 0, sizeof(p));
	p_bytea(&p, hash, STORE_HASH_LEN);
	return session_change(s, "deleting a session", "DELETE FROM sessions WHERE hash = $1", &p);
}

static int
pg_session_totp(store *s, const unsigned char hash[STORE_HASH_LEN], int64_t totp_us)
{
	pq_params p;

	memset(&p, 0, sizeof(p));
	p_int8(&p, totp_us);
	p_bytea(&p, hash, STORE_HASH_LEN);
	return session_change(s, "updating a session",
	                      "UPDATE sessions SET totp_us = $1 WHERE hash = $2", &p);
}

static int
change_row(store *s, const PGresult *res, int i, void *row)
{
	store_change *c = row;
	int rc;

	if ((rc = r_int(s, res, i, 0, &c->id)) || (rc = r_text(res, i, 1, &c->state)) ||
	    (rc = r_text(res, i, 2, &c->requester)) || (rc = r_text(res, i, 3, &c->target)) ||
	    (rc = r_int(s, res, i, 4, &c->updated_us)))
		return rc;
	return 0;
}

static int
pg_request_changes(store *s, int64_t since_us, size_t limit, store_change **out, size_t *n)
{
	void *v = NULL;
	size_t cnt = 0;
	pq_params p;
	int rc;

	*out = NULL;
	*n = 0;
	memset(&p, 0, sizeof(p));
	p_int8(&p, since_us);
	if (limit && limit <= INT64_MAX)
		p_int8(&p, (int64_t)limit);
	else
		p_null(&p, OID_INT8);
	rc = pq_collect(s, "listing request changes",
	                "SELECT id, state, requester, target, updated_us FROM requests"
	                " WHERE updated_us >= $1 ORDER BY updated_us, id LIMIT $2", &p,
	                sizeof(store_change), change_row, &v, &cnt);
	if (rc) {
		store_changes_free(v, cnt);
		return rc;
	}
	*out = v;
	*n = cnt;
	return 0;
}

/* ---- sessions: interactive sessions, their lines, escort presence ---- */

#define ISESSION_COLS "id, operator, target, ticket, state, created_us, updated_us, ended_us," \
	" end_reason, host, shell_pid, shell_start, recording_sha256"

static int
isession_row(store *s, const PGresult *res, int i, void *row)
{
	store_isession *se = row;
	int rc;

	memset(se, 0, sizeof(*se));
	if ((rc = r_int(s, res, i, 0, &se->id)) || (rc = r_text(res, i, 1, &se->operator_name)) ||
	    (rc = r_text(res, i, 2, &se->target)) || (rc = r_text(res, i, 3, &se->ticket)) ||
	    (rc = r_text(res, i, 4, &se->state)) || (rc = r_int(s, res, i, 5, &se->created_us)) ||
	    (rc = r_int(s, res, i, 6, &se->updated_us)) ||
	    (rc = r_int(s, res, i, 7, &se->ended_us)) || (rc = r_text(res, i, 8, &se->end_reason)) ||
	    (rc = r_text(res, i, 9, &se->host)) || (rc = r_int(s, res, i, 10, &se->shell_pid)) ||
	    (rc = r_int(s, res, i, 11, &se->shell_start)) ||
	    (rc = r_text(res, i, 12, &se->recording_sha256)))
		store_isession_clear(se);
	return rc;
}

static int
pg_isession_insert(store *s, store_isession *se)
{
	PGresult *res = NULL;
	pq_params p;
	int own, rc;

	if (se->operator_name == NULL || se->target == NULL || se->state == NULL)
		return ESC_EINVAL;
	if ((rc = w_enter(s, &own)) != 0)
		return rc;
	memset(&p, 0, sizeof(p));
	p_text(&p, se->operator_name);
	p_text(&p, se->target);
	p_text(&p, se->ticket);
	p_text(&p, se->state);
	p_int8(&p, se->created_us);
	p_int8(&p, se->updated_us);
	p_int8(&p, se->ended_us);
	p_text(&p, se->end_reason);
	p_text(&p, se->host);
	p_int8(&p, se->shell_pid);
	p_int8(&p, se->shell_start);
	p_text(&p, se->recording_sha256);
	rc = pq_run(s, "storing the session",
	            "INSERT INTO isessions (operator, target, ticket, state, created_us,"
	            " updated_us, ended_us, end_reason, host, shell_pid, shell_start,"
	            " recording_sha256) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
	            " RETURNING id", &p, &res);
	if (rc == 0 && PQntuples(res) == 1)
		rc = r_int(s, res, 0, 0, &se->id);
	PQclear(res);
	return w_leave(s, own, rc);
}

static int
pg_isession_get(store *s, int64_t id, store_isession *se)
{
	PGresult *res = NULL;
	pq_params p;
	int rc;

	memset(se, 0, sizeof(*se));
	if ((rc = pg_ready(s)) != 0)
		return rc;
	memset(&p, 0, sizeof(p));
	p_int8(&p, id);
	if ((rc = pq_run(s, "reading the session",
	                 "SELECT " ISESSION_COLS " FROM isessions WHERE id = $1", &p, &res)) != 0)
		return rc;
	rc = PQntuples(res) == 0 ? ESC_ENOENT : isession_row(s, res, 0, se);
	PQclear(res);
	return rc;
}

static int
pg_isession_update(store *s, const store_isession *se)
{
	PGresult *res = NULL;
	pq_params p;
	int own, rc;

	if (se->state == NULL)
		return ESC_EINVAL;
	if ((rc = w_enter(s, &own)) != 0)
		return rc;
	memset(&p, 0, sizeof(p));
	p_text(&p, se->state);
	p_int8(&p, se->updated_us);
	p_int8(&p, se->ended_us);
	p_text(&p, se->end_reason);
	p_text(&p, se->host);
	p_int8(&p, se->shell_pid);
	p_int8(&p, se->shell_start);
	p_text(&p, se->recording_sha256);
	p_int8(&p, se->id);
	rc = pq_run(s, "updating the session",
	            "UPDATE isessions SET state = $1, updated_us = $2, ended_us = $3,"
	            " end_reason = $4, host = $5, shell_pid = $6, shell_start = $7,"
	            " recording_sha256 = $8 WHERE id = $9", &p, &res);
	if (rc == 0 && strcmp(PQcmdTuples(res), "1") != 0) {
		snprintf(s->err, sizeof(s->err), "updating the session: no session %lld",
		         (long long)se->id);
		rc = ESC_ENOENT;
	}
	PQclear(res);
	if (rc == ESC_ENOENT)
		return (rc = w_leave(s, own, 0)) != 0 ? rc : ESC_ENOENT;
	return w_leave(s, own, rc);
}

static int
pg_isession_list(store *s, const char *target, const char *operator_name, size_t limit,
                 store_isession **out, size_t *n)
{
	void *v = NULL;
	size_t cnt = 0;
	pq_params p;
	int rc;

	*out = NULL;
	*n = 0;
	memset(&p, 0, sizeof(p));
	p_text(&p, target);
	p_text(&p, operator_name);
	if (limit && limit <= INT64_MAX)
		p_int8(&p, (int64_t)limit);
	else
		p_null(&p, OID_INT8);
	rc = pq_collect(s, "listing sessions",
	                "SELECT " ISESSION_COLS " FROM isessions WHERE ($1::text IS NULL OR"
	                " target = $1) AND ($2::text IS NULL OR operator = $2) ORDER BY id DESC"
	                " LIMIT $3", &p, sizeof(store_isession), isession_row, &v, &cnt);
	if (rc) {
		store_isessions_free(v, cnt);
		return rc;
	}
	*out = v;
	*n = cnt;
	return 0;
}

static int
pg_isession_line_add(store *s, int64_t session_id, int64_t request_id, int64_t at_us,
                     int64_t *seq)
{
	PGresult *res = NULL;
	pq_params p;
	int64_t v = 0;
	int own, rc;

	if ((rc = w_enter(s, &own)) != 0)
		return rc;
	memset(&p, 0, sizeof(p));
	p_int8(&p, session_id);
	p_int8(&p, request_id);
	p_int8(&p, at_us);
	/* max()+1 is safe: every writer holds the write lock */
	rc = pq_run(s, "adding a session line",
	            "INSERT INTO isession_lines (session_id, seq, request_id, created_us)"
	            " SELECT $1, coalesce(max(seq), 0) + 1, $2, $3 FROM isession_lines"
	            " WHERE session_id = $1 RETURNING seq", &p, &res);
	if (rc == 0 && PQntuples(res) == 1)
		rc = r_int(s, res, 0, 0, &v);
	PQclear(res);
	if (rc == 0 && seq)
		*seq = v;
	return w_leave(s, own, rc);
}

static int
line_row(store *s, const PGresult *res, int i, void *row)
{
	store_isession_line *l = row;
	int rc;

	if ((rc = r_int(s, res, i, 0, &l->session_id)) || (rc = r_int(s, res, i, 1, &l->seq)) ||
	    (rc = r_int(s, res, i, 2, &l->request_id)) || (rc = r_int(s, res, i, 3, &l->created_us)))
		return rc;
	return 0;
}

static int
pg_isession_lines(store *s, int64_t session_id, store_isession_line **out, size_t *n)
{
	void *v = NULL;
	size_t cnt = 0;
	pq_params p;
	int rc;

	*out = NULL;
	*n = 0;
	memset(&p, 0, sizeof(p));
	p_int8(&p, session_id);
	rc = pq_collect(s, "listing session lines",
	                "SELECT session_id, seq, request_id, created_us FROM isession_lines"
	                " WHERE session_id = $1 ORDER BY seq", &p, sizeof(store_isession_line),
	                line_row, &v, &cnt);
	if (rc) {
		free(v); /* a line owns no strings */
		return rc;
	}
	*out = v;
	*n = cnt;
	return 0;
}

static int
pg_isession_line_of(store *s, int64_t request_id, store_isession_line *out)
{
	PGresult *res = NULL;
	pq_params p;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = pg_ready(s)) != 0)
		return rc;
	memset(&p, 0, sizeof(p));
	p_int8(&p, request_id);
	rc = pq_run(s, "reading a session line",
	            "SELECT session_id, seq, request_id, created_us FROM isession_lines"
	            " WHERE request_id = $1", &p, &res);
	if (rc)
		return rc;
	rc = PQntuples(res) == 0 ? ESC_ENOENT : line_row(s, res, 0, out);
	PQclear(res);
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

static int
pg_isession_presence_set(store *s, int64_t session_id, const char *identity, int64_t now)
{
	pq_params p;
	int own, rc;

	if (identity == NULL)
		return ESC_EINVAL;
	if ((rc = w_enter(s, &own)) != 0)
		return rc;
	memset(&p, 0, sizeof(p));
	p_int8(&p, session_id);
	p_text(&p, identity);
	p_int8(&p, now);
	rc = pq_run(s, "recording presence",
	            "INSERT INTO isession_presence (session_id, identity, joined_us, seen_us)"
	            " VALUES ($1, $2, $3, $3) ON CONFLICT (session_id, identity)"
	            " DO UPDATE SET seen_us = excluded.seen_us", &p, NULL);
	return w_leave(s, own, rc);
}

static int
pg_isession_presence_clear(store *s, int64_t session_id, const char *identity)
{
	PGresult *res = NULL;
	pq_params p;
	int own, rc;

	if ((rc = w_enter(s, &own)) != 0)
		return rc;
	memset(&p, 0, sizeof(p));
	p_int8(&p, session_id);
	p_text(&p, identity);
	rc = pq_run(s, "clearing presence",
	            "DELETE FROM isession_presence WHERE session_id = $1 AND identity = $2", &p,
	            &res);
	if (rc == 0 && strcmp(PQcmdTuples(res), "0") == 0)
		rc = ESC_ENOENT;
	PQclear(res);
	if (rc == ESC_ENOENT) {
		snprintf(s->err, sizeof(s->err), "clearing presence: %s was not present",
		         identity ? identity : "?");
		return (rc = w_leave(s, own, 0)) != 0 ? rc : ESC_ENOENT;
	}
	return w_leave(s, own, rc);
}

static int
presence_row(store *s, const PGresult *res, int i, void *row)
{
	store_isession_presence *pr = row;
	int rc;

	if ((rc = r_text(res, i, 0, &pr->identity)) || (rc = r_int(s, res, i, 1, &pr->joined_us)) ||
	    (rc = r_int(s, res, i, 2, &pr->seen_us)))
		return rc;
	return 0;
}

static int
pg_isession_presence_list(store *s, int64_t session_id, store_isession_presence **out,
                          size_t *n)
{
	void *v = NULL;
	size_t cnt = 0;
	pq_params p;
	int rc;

	*out = NULL;
	*n = 0;
	memset(&p, 0, sizeof(p));
	p_int8(&p, session_id);
	rc = pq_collect(s, "listing presence",
	                "SELECT identity, joined_us, seen_us FROM isession_presence"
	                " WHERE session_id = $1 ORDER BY joined_us, identity", &p,
	                sizeof(store_isession_presence), presence_row, &v, &cnt);
	if (rc) {
		store_isession_presence_free(v, cnt);
		return rc;
	}
	*out = v;
	*n = cnt;
	return 0;
}

/* ---- presence checks ---- */

static int
pg_isession_proof_set(store *s, int64_t session_id, const char *identity, const char *method,
                      int64_t now)
{
	pq_params p;
	int own, rc;

	if (identity == NULL || method == NULL)
		return ESC_EINVAL;
	if ((rc = w_enter(s, &own)) != 0)
		return rc;
	memset(&p, 0, sizeof(p));
	p_int8(&p, session_id);
	p_text(&p, identity);
	p_text(&p, method);
	p_int8(&p, now);
	rc = pq_run(s, "recording a proof of presence",
	            "INSERT INTO isession_proofs (session_id, identity, method, proved_us, lapsed_us)"
	            " VALUES ($1, $2, $3, $4, 0) ON CONFLICT (session_id, identity)"
	            " DO UPDATE SET method = excluded.method, proved_us = excluded.proved_us,"
	            " lapsed_us = 0", &p, NULL);
	return w_leave(s, own, rc);
}

static int
pg_isession_proof_lapse(store *s, int64_t session_id, const char *identity, int64_t proved_us,
                        int64_t lapsed_us, int *marked)
{
	PGresult *res = NULL;
	pq_params p;
	int own, rc;

	*marked = 0;
	if ((rc = w_enter(s, &own)) != 0)
		return rc;
	memset(&p, 0, sizeof(p));
	p_int8(&p, session_id);
	p_text(&p, identity);
	p_int8(&p, proved_us);
	p_int8(&p, lapsed_us);
	/* one statement under the row lock: of two nodes noticing one lapse, one marks it */
	rc = pq_run(s, "marking a lapsed proof of presence",
	            "UPDATE isession_proofs SET lapsed_us = $4 WHERE session_id = $1"
	            " AND identity = $2 AND proved_us = $3 AND lapsed_us = 0", &p, &res);
	if (rc == 0)
		*marked = strcmp(PQcmdTuples(res), "1") == 0;
	PQclear(res);
	rc = w_leave(s, own, rc);
	if (rc)
		*marked = 0;
	return rc;
}

static int
pg_isession_proof_clear(store *s, int64_t session_id, const char *identity)
{
	PGresult *res = NULL;
	pq_params p;
	int own, rc, none = 0;

	if ((rc = w_enter(s, &own)) != 0)
		return rc;
	memset(&p, 0, sizeof(p));
	p_int8(&p, session_id);
	p_text(&p, identity);
	rc = pq_run(s, "forgetting a proof of presence",
	            "DELETE FROM isession_proofs WHERE session_id = $1 AND identity = $2", &p, &res);
	if (rc == 0)
		none = strcmp(PQcmdTuples(res), "0") == 0;
	PQclear(res);
	if ((rc = w_leave(s, own, rc)) != 0)
		return rc;
	return none ? ESC_ENOENT : 0;
}

static int
proof_row(store *s, const PGresult *res, int i, void *row)
{
	store_isession_proof *pr = row;
	int rc;

	if ((rc = r_text(res, i, 0, &pr->identity)) || (rc = r_text(res, i, 1, &pr->method)) ||
	    (rc = r_int(s, res, i, 2, &pr->proved_us)))
		return rc;
	return r_int(s, res, i, 3, &pr->lapsed_us);
}

static int
pg_isession_proofs(store *s, int64_t session_id, store_isession_proof **out, size_t *n)
{
	void *v = NULL;
	size_t cnt = 0;
	pq_params p;
	int rc;

	*out = NULL;
	*n = 0;
	memset(&p, 0, sizeof(p));
	p_int8(&p, session_id);
	rc = pq_collect(s, "listing proofs of presence",
	                "SELECT identity, method, proved_us, lapsed_us FROM isession_proofs"
	                " WHERE session_id = $1 ORDER BY identity", &p,
	                sizeof(store_isession_proof), proof_row, &v, &cnt);
	if (rc) {
		store_isession_proofs_free(v, cnt);
		return rc;
	}
	*out = v;
	*n = cnt;
	return 0;
}

/* ---- change notification across nodes ---- */

/* Every committed change of a request's or session's state (or a request's updated_us)
 * is announced on one channel to every node listening to the database, in commit order.
 * The payload is "KIND ID UPDATED_US STATE LEN:SCHEMA LEN:OWNER" followed by the target
 * (KIND r: request, s: session; LEN a length in bytes), so a listener ignores the escorts
 * of other schemas. The notification is sent by PostgreSQL at commit, so whoever hears it and then
 * reads the store sees the change. Not a numbered migration: nothing is stored, and a
 * node that never listens need not have it; the listener installs it (idempotently,
 * under the write lock) when it starts. A change of these functions gets a new name
 * (_v2) and drops the old triggers. */
#define NOTIFY_CHANNEL "escort_changes"
#define NOTIFY_TRIGGER "escort_notify_v1"

/* The triggers are deferred to the end of the transaction and read the row then: a
 * listener hears each row's state as committed, not the steps inside one transaction (a
 * request is inserted as created and made pending before its creation commits), and the
 * identical notices of several events on one row are sent once (PostgreSQL folds them). */
static const char notify_install_sql[] =
	"CREATE OR REPLACE FUNCTION escort_notify_v1() RETURNS trigger LANGUAGE plpgsql AS $$"
	"  DECLARE r record;"
	"  BEGIN"
	"    IF TG_OP = 'UPDATE' AND NEW.state IS NOT DISTINCT FROM OLD.state"
	"        AND NEW.updated_us IS NOT DISTINCT FROM OLD.updated_us THEN RETURN NULL; END IF;"
	"    IF TG_TABLE_NAME = 'requests' THEN"
	"      EXECUTE format('SELECT ''r'' AS k, id, updated_us, state, requester AS owner, target"
	"        FROM %I.requests WHERE id = $1', TG_TABLE_SCHEMA) INTO r USING NEW.id;"
	"    ELSE"
	"      EXECUTE format('SELECT ''s'' AS k, id, updated_us, state, operator AS owner, target"
	"        FROM %I.isessions WHERE id = $1', TG_TABLE_SCHEMA) INTO r USING NEW.id;"
	"    END IF;"
	"    IF r.id IS NULL THEN RETURN NULL; END IF;"
	"    PERFORM pg_notify('" NOTIFY_CHANNEL "', concat_ws(' ', r.k, r.id, r.updated_us,"
	"      r.state, octet_length(TG_TABLE_SCHEMA) || ':' || TG_TABLE_SCHEMA,"
	"      octet_length(r.owner) || ':' || r.owner || r.target));"
	"    RETURN NULL;"
	"  END $$;"
	"DROP TRIGGER IF EXISTS " NOTIFY_TRIGGER " ON requests;"
	"CREATE CONSTRAINT TRIGGER " NOTIFY_TRIGGER " AFTER INSERT OR UPDATE ON requests"
	"  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION escort_notify_v1();"
	"DROP TRIGGER IF EXISTS " NOTIFY_TRIGGER " ON isessions;"
	"CREATE CONSTRAINT TRIGGER " NOTIFY_TRIGGER " AFTER INSERT OR UPDATE ON isessions"
	"  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION escort_notify_v1();";

/* *have = 1 when both tables carry the notify trigger. */
static int
notify_installed(store *s, int *have)
{
	PGresult *res = NULL;
	int64_t n = 0;
	int rc;

	*have = 0;
	rc = pq_run(s, "looking for the change notification triggers",
	            "SELECT count(*) FROM pg_catalog.pg_trigger t"
	            " JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid"
	            " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
	            " WHERE n.nspname = current_schema() AND t.tgname = '" NOTIFY_TRIGGER "'"
	            " AND c.relname IN ('requests', 'isessions')", NULL, &res);
	if (rc == 0 && PQntuples(res) == 1)
		rc = r_int(s, res, 0, 0, &n);
	PQclear(res);
	*have = rc == 0 && n == 2;
	return rc;
}

static int
notify_install(store *s)
{
	int have = 0, own, rc;

	/* the common case (installed) takes no lock: DDL on requests would wait for every
	 * reader and block every writer */
	if ((rc = notify_installed(s, &have)) != 0 || have)
		return rc;
	if ((rc = w_enter(s, &own)) != 0)
		return rc;
	if ((rc = notify_installed(s, &have)) == 0 && !have) /* another node may have */
		rc = pq_exec(s, "installing the change notification triggers", notify_install_sql);
	return w_leave(s, own, rc);
}

static int
pg_notify_listen(store *s, int *fd)
{
	pg_store *q = (pg_store *)s;
	PGresult *res = NULL;
	char *schema = NULL;
	int rc;

	*fd = -1;
	if (s->in_tx)
		return ESC_EINTERNAL;
	if ((rc = pg_ready(s)) != 0 || (rc = notify_install(s)) != 0)
		return rc;
	if ((rc = pq_run(s, "reading the current schema", "SELECT current_schema()", NULL,
	                 &res)) != 0)
		return rc;
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0) ||
	    (size_t)PQgetlength(res, 0, 0) >= sizeof(q->schema))
		rc = ESC_EINVAL;
	else
		rc = r_text(res, 0, 0, &schema);
	PQclear(res);
	if (rc) {
		snprintf(s->err, sizeof(s->err), "listening for changes: no usable current schema");
		return rc;
	}
	snprintf(q->schema, sizeof(q->schema), "%s", schema);
	free(schema);
	if ((rc = pq_exec(s, "listening for changes", "LISTEN " NOTIFY_CHANNEL)) != 0)
		return rc;
	q->listening = 1;
	*fd = PQsocket(q->conn);
	return *fd >= 0 ? 0 : ESC_EIO;
}

/* Reads a decimal int64 ending at a space; advances *p past it. */
static int
scan_int(const char **p, int64_t *v)
{
	const char *c = *p;
	int neg = 0;
	uint64_t u = 0;

	if (*c == '-') {
		neg = 1;
		c++;
	}
	if (*c < '0' || *c > '9')
		return -1;
	for (; *c >= '0' && *c <= '9'; c++) {
		if (u > (UINT64_MAX - 9) / 10)
			return -1;
		u = u * 10 + (uint64_t)(*c - '0');
	}
	if (*c != ' ' || u > (uint64_t)INT64_MAX)
		return -1;
	*v = neg ? -(int64_t)u : (int64_t)u;
	*p = c + 1;
	return 0;
}

/* Reads "N:" (N a length up to 65535); advances *p past the colon. */
static int
scan_len(const char **p, int64_t *len)
{
	const char *c = *p;

	*len = 0;
	if (*c < '0' || *c > '9')
		return -1;
	for (; *c >= '0' && *c <= '9'; c++)
		if ((*len = *len * 10 + (*c - '0')) > 65535)
			return -1;
	if (*c != ':')
		return -1;
	*p = c + 1;
	return 0;
}

/* Parses a payload (see notify_install_sql) of our schema into ev; -1: not ours or
 * malformed (a payload is data from the database, parsed with bounds). */
static int
parse_notice(const char *schema, const char *x, store_notice *ev)
{
	const char *sp;
	int64_t len;
	size_t n, sl = strlen(schema);

	memset(ev, 0, sizeof(*ev));
	if ((x[0] != 'r' && x[0] != 's') || x[1] != ' ')
		return -1;
	ev->kind = x[0] == 'r' ? STORE_NOTICE_REQUEST : STORE_NOTICE_SESSION;
	x += 2;
	if (scan_int(&x, &ev->id) != 0 || scan_int(&x, &ev->updated_us) != 0)
		return -1;
	if ((sp = strchr(x, ' ')) == NULL || (n = (size_t)(sp - x)) == 0 ||
	    n >= sizeof(ev->state))
		return -1;
	memcpy(ev->state, x, n);
	ev->state[n] = 0;
	x = sp + 1;
	if (scan_len(&x, &len) != 0 || (size_t)len != sl || strncmp(x, schema, sl) != 0 ||
	    x[sl] != ' ')
		return -1;
	x += sl + 1;
	if (scan_len(&x, &len) != 0 || (size_t)len > strlen(x))
		return -1;
	/* too long for the notice: "" (for the owner: only who sees everything hears it) */
	if ((size_t)len < sizeof(ev->owner)) {
		memcpy(ev->owner, x, (size_t)len);
		ev->owner[len] = 0;
	}
	x += len;
	if (strlen(x) < sizeof(ev->target))
		snprintf(ev->target, sizeof(ev->target), "%s", x);
	return 0;
}

static int
pg_notify_next(store *s, store_notice *ev, int *got)
{
	pg_store *q = (pg_store *)s;
	PGnotify *nf;
	int ours;

	*got = 0;
	if (!q->listening)
		return ESC_EINVAL;
	if (PQconsumeInput(q->conn) == 0 || PQstatus(q->conn) != CONNECTION_OK) {
		char *c;
		size_t n;

		snprintf(s->err, sizeof(s->err), "listening for changes: %s",
		         PQerrorMessage(q->conn));
		/* libpq's message spans lines; ours is one */
		for (c = s->err; *c; c++)
			if (*c == '\n' || *c == '\t')
				*c = ' ';
		n = strlen(s->err);
		while (n > 0 && s->err[n - 1] == ' ')
			s->err[--n] = 0;
		return ESC_EIO;
	}
	while ((nf = PQnotifies(q->conn)) != NULL) {
		ours = strcmp(nf->relname, NOTIFY_CHANNEL) == 0 && nf->extra &&
		       parse_notice(q->schema, nf->extra, ev) == 0;
		PQfreemem(nf);
		if (ours) {
			*got = 1;
			return 0;
		}
	}
	return 0;
}

static const store_ops pg_ops = {
	.ops_version = STORE_OPS_VERSION,
	.name = "postgresql",
	.close = pg_close,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.schema_version = pg_schema_version,
	.policy_add = pg_policy_add,
	.policy_current = pg_policy_current,
	.token_set = pg_token_set,
	.token_revoke = pg_token_revoke,
	.token_find = pg_token_find,
	.token_list = pg_token_list,
	.request_insert_as = pg_request_insert_as,
	.request_next_id = pg_request_next_id,
	.request_insert = pg_request_insert,
	.request_get = pg_request_get,
	.request_update = pg_request_update,
	.request_list = pg_request_list,
	.approval_insert = pg_approval_insert,
	.approval_list = pg_approval_list,
	.egress_add = pg_egress_add,
	.egress_used = pg_egress_used,
	.totp_set = pg_totp_set,
	.totp_get = pg_totp_get,
	.totp_use = pg_totp_use,
	.session_put = pg_session_put,
	.session_get = pg_session_get,
	.session_delete = pg_session_delete,
	.session_totp = pg_session_totp,
	.request_changes = pg_request_changes,
	.isession_insert = pg_isession_insert,
	.isession_get = pg_isession_get,
	.isession_update = pg_isession_update,
	.isession_list = pg_isession_list,
	.isession_line_add = pg_isession_line_add,
	.isession_lines = pg_isession_lines,
	.isession_line_of = pg_isession_line_of,
	.isession_presence_set = pg_isession_presence_set,
	.isession_presence_clear = pg_isession_presence_clear,
	.isession_presence_list = pg_isession_presence_list,
	.isession_proof_set = pg_isession_proof_set,
	.isession_proof_lapse = pg_isession_proof_lapse,
	.isession_proof_clear = pg_isession_proof_clear,
	.isession_proofs = pg_isession_proofs,
	.notify_listen = pg_notify_listen,
	.notify_next = pg_notify_next,
};

/* Where we are connected, for messages: never the conninfo, which may hold a password. */
static void
describe(PGconn *c, char *d, size_t dlen)
{
	const char *h = c ? PQhost(c) : NULL, *p = c ? PQport(c) : NULL, *db = c ? PQdb(c) : NULL;

	snprintf(d, dlen, "postgresql %s%s%s/%s", h && h[0] ? h : "?", p && p[0] ? ":" : "",
	         p && p[0] ? p : "", db && db[0] ? db : "?");
}

int
store_open_pg(store **out, const char *conninfo, int create, char *err, size_t errlen)
{
	/* conninfo goes in as dbname with expansion (a URL or key=value string): it
	 * overrides the defaults before it and is overridden by what follows (the client
	 * encoding is not the user's to choose). The defaults: give up on an unreachable
	 * server in seconds, and notice a vanished one through keepalives. */
	const char *keys[] = { "connect_timeout", "keepalives", "keepalives_idle",
	                       "keepalives_interval", "keepalives_count", "dbname",
	                       "fallback_application_name", "client_encoding", NULL };
	const char *vals[] = { "10", "1", "30", "10", "3", conninfo, "escort", "UTF8", NULL };
	char where[256];
	pg_store *q;
	int rc;

	*out = NULL;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return ESC_ENOMEM;
	q->base.ops = &pg_ops;
	q->conn = PQconnectdbParams(keys, vals, 1);
	describe(q->conn, where, sizeof(where));
	if (q->conn == NULL) {
		snprintf(err, errlen, "postgresql: out of memory");
		rc = ESC_ENOMEM;
		goto fail;
	}
	if (PQstatus(q->conn) != CONNECTION_OK) {
		size_t n;

		snprintf(err, errlen, "%s: %s", where, PQerrorMessage(q->conn));
		n = strlen(err);
		while (n > 0 && err[n - 1] == '\n')
			err[--n] = 0;
		rc = ESC_EIO;
		goto fail;
	}
	if (PQserverVersion(q->conn) < PG_MIN_SERVER) {
		snprintf(err, errlen, "%s: server version %d is too old (escort needs 12 or newer)",
		         where, PQserverVersion(q->conn));
		rc = ESC_EINVAL;
		goto fail;
	}
	if ((rc = session_setup(&q->base)) != 0 || (rc = migrate(&q->base, create)) != 0) {
		snprintf(err, errlen, "%s: %s", where, q->base.err);
		goto fail;
	}
	*out = &q->base;
	return 0;
fail:
	PQfinish(q->conn);
	free(q);
	return rc;
}
