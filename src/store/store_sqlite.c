/* store_sqlite.c — the embedded SQLite backend of the store: one database file in the data
 * directory, WAL so readers never wait, a busy timeout so several escort processes share
 * it, BEGIN IMMEDIATE for write transactions, and numbered schema migrations. */
#include "store/store.h"
#include "store/store_group.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util/err.h"

/* How long a statement waits for another process's write transaction. Long on purpose:
 * a command run claims the database only for milliseconds, so waiting is always right. */
#define SQL_BUSY_MS 60000

/* Prepared statements kept per connection. Parsing SQL was the largest CPU item of a
 * request submission in escortd (a quarter of its samples under wrk); with the cache a
 * repeated statement is only reset and rebound. */
#define SQ_CACHE 64

typedef struct sq_cached {
	char *sql;
	sqlite3_stmt *st;
	int busy; /* handed out by sq_prep, not yet given back */
} sq_cached;

typedef struct sq_store {
	store base; /* first: a store * is a sq_store * */
	sqlite3 *db;
	int group;  /* inside store_group_begin: begin/commit/rollback are savepoints */
	int wal_hooked;    /* a group writer: own checkpoints off, WAL size noted */
	size_t wal_frames; /* frames in the WAL after the last commit (wal_hooked only) */
	sq_cached cache[SQ_CACHE];
	size_t ncache;
	int registered; /* in sq_reg: only then may statements be cached */
} sq_store;

/* Open connections, so that giving a statement back (which only knows its sqlite3 *)
 * finds its cache. A connection beyond the table simply goes without a cache. */
#define SQ_REG_MAX 256
static pthread_mutex_t sq_reg_mu = PTHREAD_MUTEX_INITIALIZER;
static sq_store *sq_reg[SQ_REG_MAX];

static void
sq_register(sq_store *q, int on)
{
	size_t i;

	pthread_mutex_lock(&sq_reg_mu);
	for (i = 0; i < SQ_REG_MAX; i++)
		if (on ? sq_reg[i] == NULL : sq_reg[i] == q) {
			sq_reg[i] = on ? q : NULL;
			q->registered = on;
			break;
		}
	pthread_mutex_unlock(&sq_reg_mu);
}

static sq_store *
sq_registered(sqlite3 *db)
{
	sq_store *q = NULL;
	size_t i;

	pthread_mutex_lock(&sq_reg_mu);
	for (i = 0; i < SQ_REG_MAX && q == NULL; i++)
		if (sq_reg[i] != NULL && sq_reg[i]->db == db)
			q = sq_reg[i];
	pthread_mutex_unlock(&sq_reg_mu);
	return q;
}

/* Every function of this file ends its statement with sqlite3_finalize (defined to this
 * below): a cached statement is reset (ending its read) and kept, any other finalized. */
static void
sq_release(sqlite3_stmt *st)
{
	sq_store *q;
	size_t i;

	if (st == NULL)
		return;
	if ((q = sq_registered(sqlite3_db_handle(st))) != NULL)
		for (i = 0; i < q->ncache; i++)
			if (q->cache[i].st == st && q->cache[i].busy) {
				(void)sqlite3_reset(st);
				(void)sqlite3_clear_bindings(st);
				q->cache[i].busy = 0;
				return;
			}
	(void)(sqlite3_finalize)(st);
}

/* Drops the cache (before closing the connection). */
static void
sq_cache_free(sq_store *q)
{
	size_t i;

	sq_register(q, 0);
	for (i = 0; i < q->ncache; i++) {
		(void)(sqlite3_finalize)(q->cache[i].st);
		free(q->cache[i].sql);
	}
	q->ncache = 0;
}

#define sqlite3_finalize(st) sq_release(st)

static sqlite3 *
db_of(store *s)
{
	return ((sq_store *)s)->db;
}

/* Records sqlite's message and maps its code into escort's error space. */
static int
sq_fail(store *s, int src, const char *what)
{
	sqlite3 *db = db_of(s);

	snprintf(s->err, sizeof(s->err), "%s: %s", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(src));
	switch (src & 0xff) {
	case SQLITE_NOMEM:
		return ESC_ENOMEM;
	case SQLITE_TOOBIG:
		return ESC_ETOOBIG;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
		return ESC_EINVAL;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return ESC_EPARSE;
	default:
		return ESC_EIO;
	}
}

static int
sq_exec(store *s, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db_of(s), sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK) {
		snprintf(s->err, sizeof(s->err), "%s", msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return (rc & 0xff) == SQLITE_NOMEM ? ESC_ENOMEM : ESC_EIO;
	}
	return 0;
}

static int
sq_prep(store *s, const char *sql, sqlite3_stmt **st)
{
	sq_store *q = (sq_store *)s;
	sq_cached *c;
	size_t i;
	int rc;

	for (i = 0; i < q->ncache; i++) {
		c = &q->cache[i];
		if (!c->busy && (c->sql == sql || strcmp(c->sql, sql) == 0)) {
			c->busy = 1;
			*st = c->st;
			return 0;
		}
	}
	rc = sqlite3_prepare_v3(db_of(s), sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
	if (rc != SQLITE_OK)
		return sq_fail(s, rc, "prepare");
	/* a statement in use twice at once (nested) gets a second, uncached copy */
	for (i = 0; i < q->ncache; i++)
		if (q->cache[i].st != NULL && strcmp(q->cache[i].sql, sql) == 0)
			return 0;
	if (q->registered && q->ncache < SQ_CACHE && (c = &q->cache[q->ncache])->sql == NULL &&
	    (c->sql = strdup(sql)) != NULL) {
		c->st = *st;
		c->busy = 1;
		q->ncache++;
	}
	return 0;
}

static int
bind_text(sqlite3_stmt *st, int i, const char *v)
{
	return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

static int
bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n)
{
	if (n > INT_MAX)
		return SQLITE_TOOBIG;
	/* an empty command is still a blob, never NULL: the schema says NOT NULL */
	return sqlite3_bind_blob(st, i, p ? p : "", (int)n, SQLITE_TRANSIENT);
}

/* Copies a nullable text column. */
static int
col_text(sqlite3_stmt *st, int i, char **out)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	*out = NULL;
	if (t == NULL)
		return sqlite3_column_type(st, i) == SQLITE_NULL ? 0 : ESC_ENOMEM;
	if ((*out = strdup((const char *)t)) == NULL)
		return ESC_ENOMEM;
	return 0;
}

/* Copies a blob column (NUL-terminated for convenience; len excludes it). */
static int
col_blob(sqlite3_stmt *st, int i, unsigned char **out, size_t *len)
{
	const void *p = sqlite3_column_blob(st, i);
	int n = sqlite3_column_bytes(st, i);

	*out = NULL;
	*len = 0;
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return 0;
	if (n < 0 || (*out = malloc((size_t)n + 1)) == NULL)
		return ESC_ENOMEM;
	if (n > 0)
		memcpy(*out, p, (size_t)n);
	(*out)[n] = 0;
	*len = (size_t)n;
	return 0;
}

static int
col_hash(sqlite3_stmt *st, int i, unsigned char *h)
{
	if (sqlite3_column_bytes(st, i) != STORE_HASH_LEN)
		return ESC_EPARSE;
	memcpy(h, sqlite3_column_blob(st, i), STORE_HASH_LEN);
	return 0;
}

/* Fills one zeroed element of a listing from the statement's current row. */
typedef int (*sq_row_fn)(store *s, sqlite3_stmt *st, void *row);

/* Steps st to its end, appending one zeroed element of `size` bytes per row (the array
 * starts at `first` elements and doubles) and filling it with fill. *v and *cnt always
 * describe what was filled, also on failure, so the caller frees it with the type's own
 * free function; an element is counted before it is filled, which is why every fill
 * leaves a half-filled element freeable. The caller still finalizes st. */
static int
sq_collect(store *s, sqlite3_stmt *st, size_t size, size_t first, sq_row_fn fill,
           const char *what, void **v, size_t *cnt)
{
	unsigned char *arr = *v, *na;
	size_t cap = *cnt;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*cnt == cap) {
			cap = cap ? cap * 2 : first;
			if (cap > SIZE_MAX / size || (na = realloc(arr, cap * size)) == NULL)
				return ESC_ENOMEM;
			*v = arr = na;
		}
		memset(arr + *cnt * size, 0, size);
		(*cnt)++;
		if ((rc = fill(s, st, arr + (*cnt - 1) * size)) != 0)
			return rc;
	}
	return rc == SQLITE_DONE ? 0 : sq_fail(s, rc, what);
}

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- schema ---- */

/* Migration n takes the schema from version n to n+1. Append only: a released migration
 * never changes, so every database walks the same path. */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE policies ("
	"  version INTEGER PRIMARY KEY,"
	"  sha256 TEXT NOT NULL CHECK (length(sha256) = 64),"
	"  path TEXT NOT NULL,"
	"  loaded_by TEXT NOT NULL,"
	"  loaded_us INTEGER NOT NULL);"
	"CREATE TABLE tokens ("
	"  identity TEXT PRIMARY KEY,"
	"  hash BLOB NOT NULL CHECK (length(hash) = 32),"
	"  issued_us INTEGER NOT NULL);"
	"CREATE TABLE requests ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  requester TEXT NOT NULL,"
	"  target TEXT NOT NULL,"
	"  ticket TEXT,"
	"  justification TEXT,"
	"  state TEXT NOT NULL CHECK (state IN ('created','analyzed','denied','pending',"
	"    'approved','running','succeeded','failed','cancelled','expired')),"
	"  created_us INTEGER NOT NULL,"
	"  updated_us INTEGER NOT NULL,"
	"  policy_version TEXT NOT NULL,"
	"  decision TEXT,"
	"  expires_us INTEGER NOT NULL DEFAULT 0,"
	"  binding BLOB CHECK (binding IS NULL OR length(binding) = 32),"
	"  runner TEXT,"
	"  started_us INTEGER NOT NULL DEFAULT 0,"
	"  finished_us INTEGER NOT NULL DEFAULT 0,"
	"  exit_code INTEGER,"
	"  result TEXT,"
	"  output BLOB,"
	"  output_sha256 TEXT);"
	"CREATE INDEX requests_state ON requests (state, id);"
	"CREATE INDEX requests_requester ON requests (requester, id);"
	"CREATE TABLE commands ("
	"  request_id INTEGER NOT NULL REFERENCES requests (id),"
	"  idx INTEGER NOT NULL,"
	"  bytes BLOB NOT NULL,"
	"  analysis TEXT,"
	"  PRIMARY KEY (request_id, idx));"
	"CREATE TABLE approvals ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  request_id INTEGER NOT NULL REFERENCES requests (id),"
	"  approver TEXT NOT NULL,"
	"  kind TEXT NOT NULL CHECK (kind IN ('approve','deny')),"
	"  comment TEXT,"
	"  hash BLOB NOT NULL CHECK (length(hash) = 32),"
	"  policy_version TEXT NOT NULL,"
	"  created_us INTEGER NOT NULL,"
	"  expires_us INTEGER NOT NULL DEFAULT 0,"
	"  UNIQUE (request_id, approver));"
	/* a decision once recorded is history: it is never edited or removed */
	"CREATE TRIGGER approvals_no_update BEFORE UPDATE ON approvals"
	"  BEGIN SELECT RAISE(ABORT, 'approvals are append-only'); END;"
	"CREATE TRIGGER approvals_no_delete BEFORE DELETE ON approvals"
	"  BEGIN SELECT RAISE(ABORT, 'approvals are append-only'); END;",
	/* 1 -> 2: broker (egress accounting: what each run delivered to its operator) */
	"CREATE TABLE egress ("
	"  request_id INTEGER PRIMARY KEY REFERENCES requests (id),"
	"  identity TEXT NOT NULL,"
	"  day INTEGER NOT NULL,"
	"  environment TEXT NOT NULL,"
	"  delivered INTEGER NOT NULL CHECK (delivered >= 0),"
	"  withheld INTEGER NOT NULL CHECK (withheld >= 0),"
	"  at_us INTEGER NOT NULL);"
	"CREATE INDEX egress_identity_day ON egress (identity, day);"
	/* accounting is history: never edited or removed */
	"CREATE TRIGGER egress_no_update BEFORE UPDATE ON egress"
	"  BEGIN SELECT RAISE(ABORT, 'egress records are append-only'); END;"
	"CREATE TRIGGER egress_no_delete BEFORE DELETE ON egress"
	"  BEGIN SELECT RAISE(ABORT, 'egress records are append-only'); END;",
	/* 2 -> 3: server (TOTP enrolment, console sessions, the live feed's index) */
	"CREATE TABLE totp ("
	"  identity TEXT PRIMARY KEY,"
	"  secret BLOB NOT NULL CHECK (length(secret) BETWEEN 10 AND 64),"
	"  created_us INTEGER NOT NULL,"
	"  last_step INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE sessions ("
	"  hash BLOB PRIMARY KEY CHECK (length(hash) = 32),"
	"  identity TEXT NOT NULL,"
	"  csrf TEXT NOT NULL CHECK (length(csrf) = 64),"
	"  created_us INTEGER NOT NULL,"
	"  expires_us INTEGER NOT NULL,"
	"  totp_us INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX requests_updated ON requests (updated_us);",
	/* 3 -> 4: interactive sessions (named isessions: "sessions" are console logins); each
	 * line is a request, tied to its session here */
	"CREATE TABLE isessions ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  operator TEXT NOT NULL,"
	"  target TEXT NOT NULL,"
	"  ticket TEXT,"
	"  state TEXT NOT NULL CHECK (state IN ('active', 'paused', 'ended', 'killed')),"
	"  created_us INTEGER NOT NULL,"
	"  updated_us INTEGER NOT NULL,"
	"  ended_us INTEGER NOT NULL DEFAULT 0,"
	"  end_reason TEXT,"
	"  host TEXT,"
	"  shell_pid INTEGER NOT NULL DEFAULT 0,"
	"  shell_start INTEGER NOT NULL DEFAULT 0,"
	"  recording_sha256 TEXT);"
	"CREATE INDEX isessions_target ON isessions (target, id);"
	"CREATE INDEX isessions_operator ON isessions (operator, id);"
	"CREATE TABLE isession_lines ("
	"  session_id INTEGER NOT NULL REFERENCES isessions (id),"
	"  seq INTEGER NOT NULL CHECK (seq > 0),"
	"  request_id INTEGER NOT NULL UNIQUE REFERENCES requests (id),"
	"  created_us INTEGER NOT NULL,"
	"  PRIMARY KEY (session_id, seq));"
	"CREATE TRIGGER isession_lines_no_update BEFORE UPDATE ON isession_lines"
	"  BEGIN SELECT RAISE(ABORT, 'session lines are append-only'); END;"
	"CREATE TRIGGER isession_lines_no_delete BEFORE DELETE ON isession_lines"
	"  BEGIN SELECT RAISE(ABORT, 'session lines are append-only'); END;"
	"CREATE TABLE isession_presence ("
	"  session_id INTEGER NOT NULL REFERENCES isessions (id),"
	"  identity TEXT NOT NULL,"
	"  joined_us INTEGER NOT NULL,"
	"  seen_us INTEGER NOT NULL,"
	"  PRIMARY KEY (session_id, identity));",
	/* 4 -> 5: presence checks (each escort's last proof of presence in a session) */
	"CREATE TABLE isession_proofs ("
	"  session_id INTEGER NOT NULL REFERENCES isessions (id),"
	"  identity TEXT NOT NULL,"
	"  method TEXT NOT NULL CHECK (method IN ('totp', 'click')),"
	"  proved_us INTEGER NOT NULL,"
	"  lapsed_us INTEGER NOT NULL DEFAULT 0,"
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
	sqlite3_stmt *st = NULL;
	int rc;

	*v = 0;
	if ((rc = sq_prep(s, "SELECT coalesce(max(version), 0) FROM schema_version", &st)) != 0)
		return rc;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*v = sqlite3_column_int(st, 0);
		rc = 0;
	} else
		rc = sq_fail(s, rc, "reading the schema version");
	sqlite3_finalize(st);
	return rc;
}

/* Brings the schema up to STORE_SCHEMA_VERSION in one write transaction, so concurrent
 * openers see either the old or the new schema and a failed step leaves nothing behind. */
static int
migrate(store *s)
{
	int v = 0, rc, i;
	char sql[128];

	if ((rc = sq_exec(s, "BEGIN IMMEDIATE")) != 0)
		return rc;
	rc = sq_exec(s, "CREATE TABLE IF NOT EXISTS schema_version ("
	                "  version INTEGER PRIMARY KEY, applied_us INTEGER NOT NULL)");
	if (rc == 0)
		rc = read_version(s, &v);
	if (rc == 0 && v > STORE_SCHEMA_VERSION) {
		snprintf(s->err, sizeof(s->err),
		         "the database has schema version %d; this escort knows up to %d "
		         "(written by a newer escort?)", v, STORE_SCHEMA_VERSION);
		rc = ESC_EINVAL;
	}
	for (i = v; rc == 0 && i < NMIGRATIONS; i++) {
		if ((rc = sq_exec(s, migrations[i])) != 0)
			break;
		snprintf(sql, sizeof(sql), "INSERT INTO schema_version VALUES (%d, %lld)", i + 1,
		         (long long)now_us());
		rc = sq_exec(s, sql);
	}
	if (rc == 0)
		rc = sq_exec(s, "COMMIT");
	if (rc != 0) {
		char keep[sizeof(s->err)];

		memcpy(keep, s->err, sizeof(keep));
		(void)sqlite3_exec(db_of(s), "ROLLBACK", NULL, NULL, NULL);
		memcpy(s->err, keep, sizeof(keep));
	}
	return rc;
}

/* ---- transactions ---- */

/* A statement without rows through the statement cache: escortd's group commit runs a
 * savepoint per creation, and sqlite3_exec would parse its SQL every time. */
static int
sq_exec_cached(store *s, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = sq_prep(s, sql, &st)) != 0)
		return rc;
	rc = sqlite3_step(st);
	rc = rc == SQLITE_DONE ? 0 : sq_fail(s, rc, sql);
	sqlite3_finalize(st);
	return rc;
}

static int
sq_begin(store *s, enum store_tx kind)
{
	if (((sq_store *)s)->group)
		return sq_exec_cached(s, "SAVEPOINT grp");
	/* IMMEDIATE takes the write lock up front: a transaction that reads, decides and then
	 * writes never has to upgrade (which SQLite would refuse with SQLITE_BUSY). */
	return sq_exec(s, kind == STORE_TX_WRITE ? "BEGIN IMMEDIATE" : "BEGIN");
}

static int
sq_commit(store *s)
{
	if (((sq_store *)s)->group)
		return sq_exec_cached(s, "RELEASE grp");
	return sq_exec(s, "COMMIT");
}

static int
sq_rollback(store *s)
{
	if (sqlite3_get_autocommit(db_of(s)))
		return 0; /* SQLite already rolled back (e.g. after an I/O error) */
	if (((sq_store *)s)->group) {
		int rc = sq_exec(s, "ROLLBACK TO grp");

		return rc ? rc : sq_exec(s, "RELEASE grp");
	}
	return sq_exec(s, "ROLLBACK");
}

/* ---- group commit (store_group.h) ---- */

static const store_ops sqlite_ops; /* defined below */

/* The group writer's WAL hook: only notes the WAL's size. Installing it replaces SQLite's
 * automatic checkpoint, which would otherwise copy ~1000 pages and sync the database file
 * inside a commit every few dozen groups (a commit of 1 ms becoming 10 ms: the p99 of
 * escortd's creations). The writer has them done from another connection instead. */
static int
sq_wal_hook(void *ctx, sqlite3 *db, const char *name, int frames)
{
	(void)db;
	(void)name;
	((sq_store *)ctx)->wal_frames = frames > 0 ? (size_t)frames : 0;
	return SQLITE_OK;
}

size_t
store_group_wal_frames(store *s)
{
	return s != NULL && s->ops == &sqlite_ops ? ((sq_store *)s)->wal_frames : 0;
}

int
store_group_checkpoint(store *s)
{
	int rc;

	if (s == NULL || s->ops != &sqlite_ops)
		return ESC_EINVAL;
	rc = sqlite3_wal_checkpoint_v2(db_of(s), NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		return sq_fail(s, rc, "checkpoint");
	return 0;
}

int
store_group_begin(store *s)
{
	int rc;

	if (s == NULL || s->ops != &sqlite_ops)
		return ESC_EINVAL;
	if (((sq_store *)s)->group)
		return ESC_EINVAL;
	if (!((sq_store *)s)->wal_hooked) {
		sqlite3_wal_hook(db_of(s), sq_wal_hook, s);
		((sq_store *)s)->wal_hooked = 1;
	}
	if ((rc = sq_exec(s, "BEGIN IMMEDIATE")) == 0)
		((sq_store *)s)->group = 1;
	return rc;
}

int
store_group_end(store *s, int commit)
{
	int rc = 0;

	if (s == NULL || s->ops != &sqlite_ops || !((sq_store *)s)->group)
		return ESC_EINVAL;
	((sq_store *)s)->group = 0;
	if (commit)
		rc = sq_exec(s, "COMMIT");
	if (rc != 0 || !commit) {
		char keep[sizeof(s->err)];

		memcpy(keep, s->err, sizeof(keep));
		if (!sqlite3_get_autocommit(db_of(s)))
			(void)sqlite3_exec(db_of(s), "ROLLBACK", NULL, NULL, NULL);
		memcpy(s->err, keep, sizeof(keep));
	}
	return rc;
}

static int
sq_schema_version(store *s, int *version)
{
	return read_version(s, version);
}

static void
sq_close(store *s)
{
	sq_store *q = (sq_store *)s;

	sq_cache_free(q);
	sqlite3_close_v2(q->db);
	free(q);
}

/* ---- policies ---- */

static int
sq_policy_add(store *s, store_policy *p)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sq_prep(s, "INSERT INTO policies (version, sha256, path, loaded_by, loaded_us)"
	                " VALUES ((SELECT coalesce(max(version), 0) + 1 FROM policies), ?, ?, ?, ?)"
	                " RETURNING version", &st);
	if (rc)
		return rc;
	bind_text(st, 1, p->sha256);
	bind_text(st, 2, p->path);
	bind_text(st, 3, p->loaded_by);
	sqlite3_bind_int64(st, 4, p->loaded_us);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		p->version = sqlite3_column_int64(st, 0);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sq_fail(s, SQLITE_ERROR, "adding a policy");
	} else
		rc = sq_fail(s, rc, "adding a policy");
	sqlite3_finalize(st);
	return rc;
}

static int
sq_policy_current(store *s, store_policy *p)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *h;
	int rc;

	memset(p, 0, sizeof(*p));
	rc = sq_prep(s, "SELECT version, sha256, path, loaded_by, loaded_us FROM policies"
	                " ORDER BY version DESC LIMIT 1", &st);
	if (rc)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		rc = ESC_ENOENT;
	} else if (rc == SQLITE_ROW) {
		p->version = sqlite3_column_int64(st, 0);
		h = sqlite3_column_text(st, 1);
		snprintf(p->sha256, sizeof(p->sha256), "%s", h ? (const char *)h : "");
		rc = col_text(st, 2, &p->path);
		if (rc == 0)
			rc = col_text(st, 3, &p->loaded_by);
		p->loaded_us = sqlite3_column_int64(st, 4);
		if (rc)
			store_policy_clear(p);
	} else
		rc = sq_fail(s, rc, "reading the current policy");
	sqlite3_finalize(st);
	return rc;
}

/* ---- tokens ---- */

static int
sq_token_set(store *s, const store_token *t)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sq_prep(s, "INSERT INTO tokens (identity, hash, issued_us) VALUES (?, ?, ?)"
	                " ON CONFLICT (identity) DO UPDATE SET hash = excluded.hash,"
	                " issued_us = excluded.issued_us", &st);
	if (rc)
		return rc;
	bind_text(st, 1, t->identity);
	bind_blob(st, 2, t->hash, STORE_HASH_LEN);
	sqlite3_bind_int64(st, 3, t->issued_us);
	rc = sqlite3_step(st);
	rc = rc == SQLITE_DONE ? 0 : sq_fail(s, rc, "storing a token");
	sqlite3_finalize(st);
	return rc;
}

static int
sq_token_revoke(store *s, const char *identity)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = sq_prep(s, "DELETE FROM tokens WHERE identity = ?", &st)) != 0)
		return rc;
	bind_text(st, 1, identity);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		rc = sqlite3_changes(db_of(s)) ? 0 : ESC_ENOENT;
	else
		rc = sq_fail(s, rc, "revoking a token");
	sqlite3_finalize(st);
	return rc;
}

static int
token_row(store *s, sqlite3_stmt *st, void *row)
{
	store_token *t = row;
	int rc;

	(void)s;
	if ((rc = col_text(st, 0, &t->identity)) != 0 || (rc = col_hash(st, 1, t->hash)) != 0)
		return rc;
	t->issued_us = sqlite3_column_int64(st, 2);
	return 0;
}

static int
sq_token_list(store *s, store_token **out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	void *v = NULL;
	size_t cnt = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = sq_prep(s, "SELECT identity, hash, issued_us FROM tokens ORDER BY identity", &st)))
		return rc;
	rc = sq_collect(s, st, sizeof(store_token), 8, token_row, "listing tokens", &v, &cnt);
	sqlite3_finalize(st);
	if (rc) {
		store_tokens_free(v, cnt);
		return rc;
	}
	*out = v;
	*n = cnt;
	return 0;
}

static int
sq_token_find(store *s, const unsigned char hash[STORE_HASH_LEN], store_token *out)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = sq_prep(s, "SELECT identity, hash, issued_us FROM tokens WHERE hash = ?", &st)))
		return rc;
	bind_blob(st, 1, hash, STORE_HASH_LEN);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if ((rc = token_row(s, st, out)) != 0)
			store_token_clear(out);
	} else if (rc == SQLITE_DONE) {
		rc = ESC_ENOENT;
	} else {
		rc = sq_fail(s, rc, "finding a token");
	}
	sqlite3_finalize(st);
	return rc;
}

/* ---- requests ---- */

static int
request_insert(store *s, store_request *r, int as)
{
	sqlite3_stmt *st = NULL;
	int64_t want = r->id;
	size_t i;
	int rc;

	if (as)
		rc = sq_prep(s, "INSERT INTO requests (requester, target, ticket, justification,"
		                " state, created_us, updated_us, policy_version, decision, expires_us,"
		                " binding, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &st);
	else
		rc = sq_prep(s, "INSERT INTO requests (requester, target, ticket, justification,"
		                " state, created_us, updated_us, policy_version, decision, expires_us)"
		                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &st);
	if (rc)
		return rc;
	if (as) {
		if (r->has_binding)
			bind_blob(st, 11, r->binding, STORE_HASH_LEN);
		else
			sqlite3_bind_null(st, 11);
		sqlite3_bind_int64(st, 12, want);
	}
	bind_text(st, 1, r->requester);
	bind_text(st, 2, r->target);
	bind_text(st, 3, r->ticket);
	bind_text(st, 4, r->justification);
	bind_text(st, 5, r->state);
	sqlite3_bind_int64(st, 6, r->created_us);
	sqlite3_bind_int64(st, 7, r->updated_us);
	bind_text(st, 8, r->policy_version);
	bind_text(st, 9, r->decision);
	sqlite3_bind_int64(st, 10, r->expires_us);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	st = NULL;
	if (rc != SQLITE_DONE)
		return sq_fail(s, rc, "adding a request");
	r->id = sqlite3_last_insert_rowid(db_of(s));
	if (as && r->id != want) {
		snprintf(s->err, sizeof(s->err), "adding a request: stored as %lld, not %lld",
		         (long long)r->id, (long long)want);
		return ESC_EINTERNAL;
	}
	if ((rc = sq_prep(s, "INSERT INTO commands (request_id, idx, bytes, analysis)"
	                     " VALUES (?, ?, ?, ?)", &st)) != 0)
		return rc;
	for (i = 0; i < r->ncmds; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, r->id);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
		if ((rc = bind_blob(st, 3, r->cmds[i].bytes, r->cmds[i].len)) != SQLITE_OK) {
			rc = sq_fail(s, rc, "adding a command");
			goto out;
		}
		bind_text(st, 4, r->cmds[i].analysis);
		if ((rc = sqlite3_step(st)) != SQLITE_DONE) {
			rc = sq_fail(s, rc, "adding a command");
			goto out;
		}
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

static int
sq_request_insert(store *s, store_request *r)
{
	return request_insert(s, r, 0);
}

static int
sq_request_insert_as(store *s, store_request *r)
{
	return request_insert(s, r, 1);
}

/* The id AUTOINCREMENT would give the next row: past every id ever used. Inside the write
 * transaction (SQLite has one writer) nobody else can take it first. */
static int
sq_request_next_id(store *s, int64_t *id)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sq_prep(s, "SELECT max(coalesce((SELECT seq FROM sqlite_sequence"
	                " WHERE name = 'requests'), 0), coalesce((SELECT max(id) FROM requests), 0))",
	             &st);
	if (rc)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		rc = *id < INT64_MAX ? 0 : ESC_ETOOBIG;
		(*id)++;
	} else {
		rc = sq_fail(s, rc, "reserving a request id");
	}
	sqlite3_finalize(st);
	return rc;
}

#define REQ_COLS \
	"id, requester, target, ticket, justification, state, created_us, updated_us," \
	" policy_version, decision, expires_us, runner, started_us, finished_us, exit_code," \
	" result, output_sha256, binding"

static int
row_request(sqlite3_stmt *st, store_request *r)
{
	int rc;

	memset(r, 0, sizeof(*r));
	r->id = sqlite3_column_int64(st, 0);
	if ((rc = col_text(st, 1, &r->requester)) || (rc = col_text(st, 2, &r->target)) ||
	    (rc = col_text(st, 3, &r->ticket)) || (rc = col_text(st, 4, &r->justification)) ||
	    (rc = col_text(st, 5, &r->state)) || (rc = col_text(st, 9, &r->decision)) ||
	    (rc = col_text(st, 11, &r->runner)) || (rc = col_text(st, 15, &r->result)) ||
	    (rc = col_text(st, 16, &r->output_sha256)) || (rc = col_text(st, 8, &r->policy_version)))
		return rc;
	r->created_us = sqlite3_column_int64(st, 6);
	r->updated_us = sqlite3_column_int64(st, 7);
	r->expires_us = sqlite3_column_int64(st, 10);
	r->started_us = sqlite3_column_int64(st, 12);
	r->finished_us = sqlite3_column_int64(st, 13);
	if (sqlite3_column_type(st, 17) != SQLITE_NULL) {
		if ((rc = col_hash(st, 17, r->binding)) != 0)
			return rc;
		r->has_binding = 1;
	}
	if (sqlite3_column_type(st, 14) != SQLITE_NULL) {
		r->has_exit = 1;
		r->exit_code = sqlite3_column_int(st, 14);
	}
	return 0;
}

static int
command_row(store *s, sqlite3_stmt *st, void *row)
{
	store_command *c = row;
	int rc;

	(void)s;
	if ((rc = col_blob(st, 0, &c->bytes, &c->len)) != 0)
		return rc;
	return col_text(st, 1, &c->analysis);
}

static int
load_commands(store *s, store_request *r)
{
	sqlite3_stmt *st = NULL;
	void *v = r->cmds;
	int rc;

	if ((rc = sq_prep(s, "SELECT bytes, analysis FROM commands WHERE request_id = ?"
	                     " ORDER BY idx", &st)) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, r->id);
	rc = sq_collect(s, st, sizeof(store_command), 4, command_row, "reading commands", &v,
	                &r->ncmds);
	r->cmds = v;
	sqlite3_finalize(st);
	return rc;
}

static int
sq_request_get(store *s, int64_t id, store_request *r)
{
	sqlite3_stmt *st = NULL;
	int rc;

	memset(r, 0, sizeof(*r));
	if ((rc = sq_prep(s, "SELECT " REQ_COLS ", output FROM requests WHERE id = ?", &st)))
		return rc;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		rc = ESC_ENOENT;
	else if (rc == SQLITE_ROW) {
		rc = row_request(st, r);
		if (rc == 0)
			rc = col_blob(st, 18, &r->output, &r->output_len);
		if (rc == 0)
			rc = load_commands(s, r);
	} else
		rc = sq_fail(s, rc, "reading a request");
	sqlite3_finalize(st);
	if (rc)
		store_request_clear(r);
	return rc;
}

static int
sq_request_update(store *s, const store_request *r)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sq_prep(s, "UPDATE requests SET state = ?, updated_us = ?, policy_version = ?,"
	                " decision = ?, expires_us = ?, runner = ?, started_us = ?,"
	                " finished_us = ?, exit_code = ?, result = ?, output = ?,"
	                " output_sha256 = ?, binding = ? WHERE id = ?", &st);
	if (rc)
		return rc;
	bind_text(st, 1, r->state);
	sqlite3_bind_int64(st, 2, r->updated_us);
	bind_text(st, 3, r->policy_version);
	bind_text(st, 4, r->decision);
	sqlite3_bind_int64(st, 5, r->expires_us);
	bind_text(st, 6, r->runner);
	sqlite3_bind_int64(st, 7, r->started_us);
	sqlite3_bind_int64(st, 8, r->finished_us);
	if (r->has_exit)
		sqlite3_bind_int(st, 9, r->exit_code);
	else
		sqlite3_bind_null(st, 9);
	bind_text(st, 10, r->result);
	if (r->output)
		rc = bind_blob(st, 11, r->output, r->output_len);
	else
		rc = sqlite3_bind_null(st, 11);
	if (rc != SQLITE_OK) {
		rc = sq_fail(s, rc, "updating a request");
		goto out;
	}
	bind_text(st, 12, r->output_sha256);
	if (r->has_binding)
		bind_blob(st, 13, r->binding, STORE_HASH_LEN);
	else
		sqlite3_bind_null(st, 13);
	sqlite3_bind_int64(st, 14, r->id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		rc = sqlite3_changes(db_of(s)) ? 0 : ESC_ENOENT;
	else
		rc = sq_fail(s, rc, "updating a request");
out:
	sqlite3_finalize(st);
	return rc;
}

static int
request_list_row(store *s, sqlite3_stmt *st, void *row)
{
	int rc = row_request(st, row);

	return rc ? rc : load_commands(s, row);
}

static int
sq_request_list(store *s, const store_filter *f, store_request **out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	void *v = NULL;
	size_t cnt = 0;
	int rc;

	*out = NULL;
	*n = 0;
	rc = sq_prep(s, "SELECT " REQ_COLS " FROM requests"
	                " WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR requester = ?2)"
	                " ORDER BY id DESC LIMIT ?3", &st);
	if (rc)
		return rc;
	bind_text(st, 1, f ? f->state : NULL);
	bind_text(st, 2, f ? f->requester : NULL);
	sqlite3_bind_int64(st, 3, f && f->limit ? (sqlite3_int64)f->limit : -1);
	rc = sq_collect(s, st, sizeof(store_request), 16, request_list_row, "listing requests", &v,
	                &cnt);
	sqlite3_finalize(st);
	if (rc) {
		store_requests_free(v, cnt);
		return rc;
	}
	*out = v;
	*n = cnt;
	return 0;
}

/* ---- approvals ---- */

static int
sq_approval_insert(store *s, store_approval *a)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sq_prep(s, "INSERT INTO approvals (request_id, approver, kind, comment, hash,"
	                " policy_version, created_us, expires_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
	             &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, a->request_id);
	bind_text(st, 2, a->approver);
	bind_text(st, 3, a->kind == STORE_DENY ? "deny" : "approve");
	bind_text(st, 4, a->comment);
	bind_blob(st, 5, a->hash, STORE_HASH_LEN);
	bind_text(st, 6, a->policy_version);
	sqlite3_bind_int64(st, 7, a->created_us);
	sqlite3_bind_int64(st, 8, a->expires_us);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		a->id = sqlite3_last_insert_rowid(db_of(s));
		rc = 0;
	} else
		rc = sq_fail(s, rc, "adding an approval");
	sqlite3_finalize(st);
	return rc;
}

static int
approval_row(store *s, sqlite3_stmt *st, void *row)
{
	store_approval *a = row;
	const unsigned char *kind;
	int rc;

	(void)s;
	a->id = sqlite3_column_int64(st, 0);
	a->request_id = sqlite3_column_int64(st, 1);
	kind = sqlite3_column_text(st, 3);
	a->kind = kind && strcmp((const char *)kind, "deny") == 0 ? STORE_DENY : STORE_APPROVE;
	if ((rc = col_text(st, 2, &a->approver)) || (rc = col_text(st, 4, &a->comment)) ||
	    (rc = col_hash(st, 5, a->hash)) || (rc = col_text(st, 6, &a->policy_version)))
		return rc;
	a->created_us = sqlite3_column_int64(st, 7);
	a->expires_us = sqlite3_column_int64(st, 8);
	return 0;
}

static int
sq_approval_list(store *s, int64_t request_id, store_approval **out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	void *v = NULL;
	size_t cnt = 0;
	int rc;

	*out = NULL;
	*n = 0;
	rc = sq_prep(s, "SELECT id, request_id, approver, kind, comment, hash, policy_version,"
	                " created_us, expires_us FROM approvals WHERE request_id = ? ORDER BY id",
	             &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, request_id);
	rc = sq_collect(s, st, sizeof(store_approval), 8, approval_row, "listing approvals", &v,
	                &cnt);
	sqlite3_finalize(st);
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
sq_egress_add(store *s, int64_t request_id, const char *identity, int64_t day,
              const char *environment, uint64_t delivered, uint64_t withheld, int64_t at_us)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (identity == NULL || environment == NULL || delivered > INT64_MAX || withheld > INT64_MAX)
		return ESC_EINVAL;
	if ((rc = sq_prep(s, "INSERT INTO egress (request_id, identity, day, environment, "
	                     "delivered, withheld, at_us) VALUES (?, ?, ?, ?, ?, ?, ?)", &st)) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, request_id);
	bind_text(st, 2, identity);
	sqlite3_bind_int64(st, 3, day);
	bind_text(st, 4, environment);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)delivered);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)withheld);
	sqlite3_bind_int64(st, 7, at_us);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		rc = 0;
	else if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		snprintf(s->err, sizeof(s->err), "request %lld already has an egress record",
		         (long long)request_id);
		rc = ESC_EINVAL;
	} else
		rc = sq_fail(s, rc, "recording egress");
	sqlite3_finalize(st);
	return rc;
}

static int
sq_egress_used(store *s, const char *identity, int64_t day, const char *environment,
               uint64_t *bytes)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*bytes = 0;
	if ((rc = sq_prep(s, environment
	                         ? "SELECT coalesce(sum(delivered), 0) FROM egress WHERE "
	                           "identity = ? AND day = ? AND environment = ?"
	                         : "SELECT coalesce(sum(delivered), 0) FROM egress WHERE "
	                           "identity = ? AND day = ?",
	                  &st)) != 0)
		return rc;
	bind_text(st, 1, identity);
	sqlite3_bind_int64(st, 2, day);
	if (environment)
		bind_text(st, 3, environment);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		sqlite3_int64 v = sqlite3_column_int64(st, 0);
		*bytes = v > 0 ? (uint64_t)v : 0;
		rc = 0;
	} else
		rc = sq_fail(s, rc, "reading egress");
	sqlite3_finalize(st);
	return rc;
}

/* ---- server: TOTP enrolment, console sessions, change feed ---- */

static int
sq_totp_set(store *s, const char *identity, const unsigned char *secret, size_t n,
            int64_t now)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (identity == NULL || secret == NULL || n > STORE_TOTP_SECRET_MAX)
		return ESC_EINVAL;
	rc = sq_prep(s, "INSERT INTO totp (identity, secret, created_us, last_step) VALUES (?, ?, ?, 0)"
	                " ON CONFLICT (identity) DO UPDATE SET secret = excluded.secret,"
	                " created_us = excluded.created_us, last_step = 0", &st);
	if (rc)
		return rc;
	bind_text(st, 1, identity);
	bind_blob(st, 2, secret, n);
	sqlite3_bind_int64(st, 3, now);
	rc = sqlite3_step(st);
	rc = rc == SQLITE_DONE ? 0 : sq_fail(s, rc, "storing a TOTP secret");
	sqlite3_finalize(st);
	return rc;
}

static int
sq_totp_get(store *s, const char *identity, unsigned char *secret, size_t *n,
            int64_t *last_step)
{
	sqlite3_stmt *st = NULL;
	int rc, len;

	*n = 0;
	*last_step = 0;
	if ((rc = sq_prep(s, "SELECT secret, last_step FROM totp WHERE identity = ?", &st)) != 0)
		return rc;
	bind_text(st, 1, identity);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		len = sqlite3_column_bytes(st, 0);
		if (len < 0 || (size_t)len > STORE_TOTP_SECRET_MAX) {
			rc = ESC_EPARSE;
		} else {
			if (len)
				memcpy(secret, sqlite3_column_blob(st, 0), (size_t)len);
			*n = (size_t)len;
			*last_step = sqlite3_column_int64(st, 1);
			rc = 0;
		}
	} else if (rc == SQLITE_DONE)
		rc = ESC_ENOENT;
	else
		rc = sq_fail(s, rc, "reading a TOTP secret");
	sqlite3_finalize(st);
	return rc;
}

static int
sq_totp_use(store *s, const char *identity, int64_t step, int *accepted)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*accepted = 0;
	/* one statement: two servers checking the same code cannot both accept it */
	rc = sq_prep(s, "UPDATE totp SET last_step = ?1 WHERE identity = ?2 AND last_step < ?1", &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, step);
	bind_text(st, 2, identity);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		*accepted = sqlite3_changes(db_of(s)) == 1;
		rc = 0;
	} else
		rc = sq_fail(s, rc, "recording a TOTP use");
	sqlite3_finalize(st);
	return rc;
}

static int
sq_session_put(store *s, const store_session *se)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sq_prep(s, "INSERT INTO sessions (hash, identity, csrf, created_us, expires_us, totp_us)"
	                " VALUES (?, ?, ?, ?, ?, ?)", &st);
	if (rc)
		return rc;
	bind_blob(st, 1, se->hash, STORE_HASH_LEN);
	bind_text(st, 2, se->identity);
	bind_text(st, 3, se->csrf);
	sqlite3_bind_int64(st, 4, se->created_us);
	sqlite3_bind_int64(st, 5, se->expires_us);
	sqlite3_bind_int64(st, 6, se->totp_us);
	rc = sqlite3_step(st);
	rc = rc == SQLITE_DONE ? 0 : sq_fail(s, rc, "storing a session");
	sqlite3_finalize(st);
	if (rc == 0) {
		/* drop long-expired sessions on the way (an hour of grace for clock steps) */
		if (sq_prep(s, "DELETE FROM sessions WHERE expires_us < ?", &st) == 0) {
			sqlite3_bind_int64(st, 1, se->created_us - (int64_t)3600 * 1000000);
			(void)sqlite3_step(st);
			sqlite3_finalize(st);
		}
	}
	return rc;
}

static int
sq_session_get(store *s, const unsigned char hash[STORE_HASH_LEN], store_session *se)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *t;
	int rc;

	memset(se, 0, sizeof(*se));
	rc = sq_prep(s, "SELECT identity, csrf, created_us, expires_us, totp_us FROM sessions"
	                " WHERE hash = ?", &st);
	if (rc)
		return rc;
	bind_blob(st, 1, hash, STORE_HASH_LEN);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		memcpy(se->hash, hash, STORE_HASH_LEN);
		rc = col_text(st, 0, &se->identity);
		t = sqlite3_column_text(st, 1);
		snprintf(se->csrf, sizeof(se->csrf), "%s", t ? (const char *)t : "");
		se->created_us = sqlite3_column_int64(st, 2);
		se->expires_us = sqlite3_column_int64(st, 3);
		se->totp_us = sqlite3_column_int64(st, 4);
		if (rc == 0 && se->identity == NULL)
			rc = ESC_EPARSE;
	} else if (rc == SQLITE_DONE)
		rc = ESC_ENOENT;
	else
		rc = sq_fail(s, rc, "reading a session");
	sqlite3_finalize(st);
	if (rc)
		store_session_clear(se);
	return rc;
}

static int
sq_session_delete(store *s, const unsigned char hash[STORE_HASH_LEN])
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = sq_prep(s, "DELETE FROM sessions WHERE hash = ?", &st)) != 0)
		return rc;
	bind_blob(st, 1, hash, STORE_HASH_LEN);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		rc = sqlite3_changes(db_of(s)) ? 0 : ESC_ENOENT;
	else
		rc = sq_fail(s, rc, "deleting a session");
	sqlite3_finalize(st);
	return rc;
}

static int
sq_session_totp(store *s, const unsigned char hash[STORE_HASH_LEN], int64_t totp_us)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = sq_prep(s, "UPDATE sessions SET totp_us = ? WHERE hash = ?", &st)) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, totp_us);
	bind_blob(st, 2, hash, STORE_HASH_LEN);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		rc = sqlite3_changes(db_of(s)) ? 0 : ESC_ENOENT;
	else
		rc = sq_fail(s, rc, "updating a session");
	sqlite3_finalize(st);
	return rc;
}

static int
change_row(store *s, sqlite3_stmt *st, void *row)
{
	store_change *c = row;
	int rc;

	(void)s;
	c->id = sqlite3_column_int64(st, 0);
	c->updated_us = sqlite3_column_int64(st, 4);
	if ((rc = col_text(st, 1, &c->state)) != 0 || (rc = col_text(st, 2, &c->requester)) != 0)
		return rc;
	return col_text(st, 3, &c->target);
}

static int
sq_request_changes(store *s, int64_t since_us, size_t limit, store_change **out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	void *v = NULL;
	size_t cnt = 0;
	int rc;

	*out = NULL;
	*n = 0;
	rc = sq_prep(s, "SELECT id, state, requester, target, updated_us FROM requests"
	                " WHERE updated_us >= ? ORDER BY updated_us, id LIMIT ?", &st);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, since_us);
	sqlite3_bind_int64(st, 2, limit ? (sqlite3_int64)limit : -1);
	rc = sq_collect(s, st, sizeof(store_change), 16, change_row, "listing request changes", &v,
	                &cnt);
	sqlite3_finalize(st);
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
isession_row(sqlite3_stmt *st, store_isession *se)
{
	int rc;

	memset(se, 0, sizeof(*se));
	se->id = sqlite3_column_int64(st, 0);
	se->created_us = sqlite3_column_int64(st, 5);
	se->updated_us = sqlite3_column_int64(st, 6);
	se->ended_us = sqlite3_column_int64(st, 7);
	se->shell_pid = sqlite3_column_int64(st, 10);
	se->shell_start = sqlite3_column_int64(st, 11);
	if ((rc = col_text(st, 1, &se->operator_name)) || (rc = col_text(st, 2, &se->target)) ||
	    (rc = col_text(st, 3, &se->ticket)) || (rc = col_text(st, 4, &se->state)) ||
	    (rc = col_text(st, 8, &se->end_reason)) || (rc = col_text(st, 9, &se->host)) ||
	    (rc = col_text(st, 12, &se->recording_sha256)))
		store_isession_clear(se);
	return rc;
}

/* Binds what a session's update changes besides its state, in this order from parameter
 * `first` on: updated_us, ended_us, end_reason, host, shell_pid, shell_start,
 * recording_sha256 (the insert and the update list them alike). */
static void
bind_isession_progress(sqlite3_stmt *st, int first, const store_isession *se)
{
	sqlite3_bind_int64(st, first, se->updated_us);
	sqlite3_bind_int64(st, first + 1, se->ended_us);
	bind_text(st, first + 2, se->end_reason);
	bind_text(st, first + 3, se->host);
	sqlite3_bind_int64(st, first + 4, se->shell_pid);
	sqlite3_bind_int64(st, first + 5, se->shell_start);
	bind_text(st, first + 6, se->recording_sha256);
}

static int
sq_isession_insert(store *s, store_isession *se)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (se->operator_name == NULL || se->target == NULL || se->state == NULL)
		return ESC_EINVAL;
	if ((rc = sq_prep(s, "INSERT INTO isessions (operator, target, ticket, state, created_us,"
	                     " updated_us, ended_us, end_reason, host, shell_pid, shell_start,"
	                     " recording_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	                  &st)) != 0)
		return rc;
	bind_text(st, 1, se->operator_name);
	bind_text(st, 2, se->target);
	bind_text(st, 3, se->ticket);
	bind_text(st, 4, se->state);
	sqlite3_bind_int64(st, 5, se->created_us);
	bind_isession_progress(st, 6, se);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		se->id = sqlite3_last_insert_rowid(db_of(s));
		rc = 0;
	} else
		rc = sq_fail(s, rc, "storing the session");
	sqlite3_finalize(st);
	return rc;
}

static int
sq_isession_get(store *s, int64_t id, store_isession *se)
{
	sqlite3_stmt *st = NULL;
	int rc;

	memset(se, 0, sizeof(*se));
	if ((rc = sq_prep(s, "SELECT " ISESSION_COLS " FROM isessions WHERE id = ?", &st)) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = isession_row(st, se);
	else if (rc == SQLITE_DONE)
		rc = ESC_ENOENT;
	else
		rc = sq_fail(s, rc, "reading the session");
	sqlite3_finalize(st);
	return rc;
}

static int
sq_isession_update(store *s, const store_isession *se)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (se->state == NULL)
		return ESC_EINVAL;
	if ((rc = sq_prep(s, "UPDATE isessions SET state = ?, updated_us = ?, ended_us = ?,"
	                     " end_reason = ?, host = ?, shell_pid = ?, shell_start = ?,"
	                     " recording_sha256 = ? WHERE id = ?", &st)) != 0)
		return rc;
	bind_text(st, 1, se->state);
	bind_isession_progress(st, 2, se);
	sqlite3_bind_int64(st, 9, se->id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		rc = sqlite3_changes(db_of(s)) == 1 ? 0 : ESC_ENOENT;
	else
		rc = sq_fail(s, rc, "updating the session");
	sqlite3_finalize(st);
	return rc;
}

static int
isession_list_row(store *s, sqlite3_stmt *st, void *row)
{
	(void)s;
	return isession_row(st, row);
}

static int
sq_isession_list(store *s, const char *target, const char *operator_name, size_t limit,
                 store_isession **out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	void *v = NULL;
	size_t cnt = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = sq_prep(s, "SELECT " ISESSION_COLS " FROM isessions WHERE (?1 IS NULL OR"
	                     " target = ?1) AND (?2 IS NULL OR operator = ?2) ORDER BY id DESC"
	                     " LIMIT ?3", &st)) != 0)
		return rc;
	bind_text(st, 1, target);
	bind_text(st, 2, operator_name);
	sqlite3_bind_int64(st, 3, limit ? (sqlite3_int64)limit : -1);
	rc = sq_collect(s, st, sizeof(store_isession), 16, isession_list_row, "listing sessions",
	                &v, &cnt);
	sqlite3_finalize(st);
	if (rc) {
		store_isessions_free(v, cnt);
		return rc;
	}
	*out = v;
	*n = cnt;
	return 0;
}

static int
sq_isession_line_add(store *s, int64_t session_id, int64_t request_id, int64_t at_us,
                     int64_t *seq)
{
	sqlite3_stmt *st = NULL;
	int rc;

	/* one statement: the next number cannot be taken twice */
	if ((rc = sq_prep(s, "INSERT INTO isession_lines (session_id, seq, request_id, created_us)"
	                     " SELECT ?1, coalesce(max(seq), 0) + 1, ?2, ?3 FROM isession_lines"
	                     " WHERE session_id = ?1 RETURNING seq", &st)) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, session_id);
	sqlite3_bind_int64(st, 2, request_id);
	sqlite3_bind_int64(st, 3, at_us);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (seq)
			*seq = sqlite3_column_int64(st, 0);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sq_fail(s, rc, "adding a session line");
	} else
		rc = sq_fail(s, rc, "adding a session line");
	sqlite3_finalize(st);
	return rc;
}

static int
isession_line_row(store *s, sqlite3_stmt *st, void *row)
{
	store_isession_line *l = row;

	(void)s;
	l->session_id = sqlite3_column_int64(st, 0);
	l->seq = sqlite3_column_int64(st, 1);
	l->request_id = sqlite3_column_int64(st, 2);
	l->created_us = sqlite3_column_int64(st, 3);
	return 0;
}

static int
sq_isession_lines(store *s, int64_t session_id, store_isession_line **out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	void *v = NULL;
	size_t cnt = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = sq_prep(s, "SELECT session_id, seq, request_id, created_us FROM isession_lines"
	                     " WHERE session_id = ? ORDER BY seq", &st)) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, session_id);
	rc = sq_collect(s, st, sizeof(store_isession_line), 16, isession_line_row,
	                "listing session lines", &v, &cnt);
	sqlite3_finalize(st);
	if (rc) {
		free(v);
		return rc;
	}
	*out = v;
	*n = cnt;
	return 0;
}

static int
sq_isession_line_of(store *s, int64_t request_id, store_isession_line *out)
{
	sqlite3_stmt *st = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = sq_prep(s, "SELECT session_id, seq, request_id, created_us FROM isession_lines"
	                     " WHERE request_id = ?", &st)) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, request_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = isession_line_row(s, st, out);
	else if (rc == SQLITE_DONE)
		rc = ESC_ENOENT;
	else
		rc = sq_fail(s, rc, "reading a session line");
	sqlite3_finalize(st);
	return rc;
}

static int
sq_isession_presence_set(store *s, int64_t session_id, const char *identity, int64_t now)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (identity == NULL)
		return ESC_EINVAL;
	if ((rc = sq_prep(s, "INSERT INTO isession_presence (session_id, identity, joined_us,"
	                     " seen_us) VALUES (?1, ?2, ?3, ?3) ON CONFLICT (session_id, identity)"
	                     " DO UPDATE SET seen_us = excluded.seen_us", &st)) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, session_id);
	bind_text(st, 2, identity);
	sqlite3_bind_int64(st, 3, now);
	rc = sqlite3_step(st);
	rc = rc == SQLITE_DONE ? 0 : sq_fail(s, rc, "recording presence");
	sqlite3_finalize(st);
	return rc;
}

static int
sq_isession_presence_clear(store *s, int64_t session_id, const char *identity)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = sq_prep(s, "DELETE FROM isession_presence WHERE session_id = ? AND identity = ?",
	                  &st)) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, session_id);
	bind_text(st, 2, identity);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		rc = sqlite3_changes(db_of(s)) ? 0 : ESC_ENOENT;
	else
		rc = sq_fail(s, rc, "clearing presence");
	sqlite3_finalize(st);
	return rc;
}

static int
presence_row(store *s, sqlite3_stmt *st, void *row)
{
	store_isession_presence *p = row;

	(void)s;
	p->joined_us = sqlite3_column_int64(st, 1);
	p->seen_us = sqlite3_column_int64(st, 2);
	return col_text(st, 0, &p->identity);
}

static int
sq_isession_presence_list(store *s, int64_t session_id, store_isession_presence **out,
                          size_t *n)
{
	sqlite3_stmt *st = NULL;
	void *v = NULL;
	size_t cnt = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = sq_prep(s, "SELECT identity, joined_us, seen_us FROM isession_presence"
	                     " WHERE session_id = ? ORDER BY joined_us, identity", &st)) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, session_id);
	rc = sq_collect(s, st, sizeof(store_isession_presence), 8, presence_row, "listing presence",
	                &v, &cnt);
	sqlite3_finalize(st);
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
sq_isession_proof_set(store *s, int64_t session_id, const char *identity, const char *method,
                      int64_t now)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (identity == NULL || method == NULL)
		return ESC_EINVAL;
	if ((rc = sq_prep(s, "INSERT INTO isession_proofs (session_id, identity, method, proved_us,"
	                     " lapsed_us) VALUES (?1, ?2, ?3, ?4, 0) ON CONFLICT (session_id,"
	                     " identity) DO UPDATE SET method = excluded.method,"
	                     " proved_us = excluded.proved_us, lapsed_us = 0", &st)) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, session_id);
	bind_text(st, 2, identity);
	bind_text(st, 3, method);
	sqlite3_bind_int64(st, 4, now);
	rc = sqlite3_step(st);
	rc = rc == SQLITE_DONE ? 0 : sq_fail(s, rc, "recording a proof of presence");
	sqlite3_finalize(st);
	return rc;
}

static int
sq_isession_proof_lapse(store *s, int64_t session_id, const char *identity, int64_t proved_us,
                        int64_t lapsed_us, int *marked)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*marked = 0;
	/* one statement: of two processes noticing the same lapse, one marks (and audits) it */
	if ((rc = sq_prep(s, "UPDATE isession_proofs SET lapsed_us = ?4 WHERE session_id = ?1"
	                     " AND identity = ?2 AND proved_us = ?3 AND lapsed_us = 0", &st)) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, session_id);
	bind_text(st, 2, identity);
	sqlite3_bind_int64(st, 3, proved_us);
	sqlite3_bind_int64(st, 4, lapsed_us);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		*marked = sqlite3_changes(db_of(s)) > 0;
		rc = 0;
	} else
		rc = sq_fail(s, rc, "marking a lapsed proof of presence");
	sqlite3_finalize(st);
	return rc;
}

static int
sq_isession_proof_clear(store *s, int64_t session_id, const char *identity)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = sq_prep(s, "DELETE FROM isession_proofs WHERE session_id = ? AND identity = ?",
	                  &st)) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, session_id);
	bind_text(st, 2, identity);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		rc = sqlite3_changes(db_of(s)) ? 0 : ESC_ENOENT;
	else
		rc = sq_fail(s, rc, "forgetting a proof of presence");
	sqlite3_finalize(st);
	return rc;
}

static int
proof_row(store *s, sqlite3_stmt *st, void *row)
{
	store_isession_proof *p = row;
	int rc;

	(void)s;
	p->proved_us = sqlite3_column_int64(st, 2);
	p->lapsed_us = sqlite3_column_int64(st, 3);
	if ((rc = col_text(st, 0, &p->identity)) != 0)
		return rc;
	return col_text(st, 1, &p->method);
}

static int
sq_isession_proofs(store *s, int64_t session_id, store_isession_proof **out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	void *v = NULL;
	size_t cnt = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = sq_prep(s, "SELECT identity, method, proved_us, lapsed_us FROM isession_proofs"
	                     " WHERE session_id = ? ORDER BY identity", &st)) != 0)
		return rc;
	sqlite3_bind_int64(st, 1, session_id);
	rc = sq_collect(s, st, sizeof(store_isession_proof), 4, proof_row,
	                "listing proofs of presence", &v, &cnt);
	sqlite3_finalize(st);
	if (rc) {
		store_isession_proofs_free(v, cnt);
		return rc;
	}
	*out = v;
	*n = cnt;
	return 0;
}

static const store_ops sqlite_ops = {
	.ops_version = STORE_OPS_VERSION,
	.name = "sqlite",
	.close = sq_close,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.schema_version = sq_schema_version,
	.policy_add = sq_policy_add,
	.policy_current = sq_policy_current,
	.token_set = sq_token_set,
	.token_revoke = sq_token_revoke,
	.token_find = sq_token_find,
	.token_list = sq_token_list,
	.request_insert_as = sq_request_insert_as,
	.request_next_id = sq_request_next_id,
	.request_insert = sq_request_insert,
	.request_get = sq_request_get,
	.request_update = sq_request_update,
	.request_list = sq_request_list,
	.approval_insert = sq_approval_insert,
	.approval_list = sq_approval_list,
	.egress_add = sq_egress_add,
	.egress_used = sq_egress_used,
	.totp_set = sq_totp_set,
	.totp_get = sq_totp_get,
	.totp_use = sq_totp_use,
	.session_put = sq_session_put,
	.session_get = sq_session_get,
	.session_delete = sq_session_delete,
	.session_totp = sq_session_totp,
	.request_changes = sq_request_changes,
	.isession_insert = sq_isession_insert,
	.isession_get = sq_isession_get,
	.isession_update = sq_isession_update,
	.isession_list = sq_isession_list,
	.isession_line_add = sq_isession_line_add,
	.isession_lines = sq_isession_lines,
	.isession_line_of = sq_isession_line_of,
	.isession_presence_set = sq_isession_presence_set,
	.isession_presence_clear = sq_isession_presence_clear,
	.isession_presence_list = sq_isession_presence_list,
	.isession_proof_set = sq_isession_proof_set,
	.isession_proof_lapse = sq_isession_proof_lapse,
	.isession_proof_clear = sq_isession_proof_clear,
	.isession_proofs = sq_isession_proofs,
};

int
store_open_sqlite_path(store **out, const char *path, int create, char *err, size_t errlen)
{
	sq_store *q;
	struct stat st;
	int rc, flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX;
	int existed = stat(path, &st) == 0;

	*out = NULL;
	if (!create && !existed) {
		snprintf(err, errlen, "%s: no store here (run 'escort init' first)", path);
		return ESC_ENOENT;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return ESC_ENOMEM;
	q->base.ops = &sqlite_ops;
	if (create)
		flags |= SQLITE_OPEN_CREATE;
	rc = sqlite3_open_v2(path, &q->db, flags, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
		rc = ESC_EIO;
		goto fail;
	}
	sq_register(q, 1); /* before the first statement: see sq_release */
	if (!existed)
		(void)chmod(path, 0600);
	sqlite3_busy_timeout(q->db, SQL_BUSY_MS);
	sqlite3_extended_result_codes(q->db, 1);
	/* WAL: readers never block the writer; FULL: a committed decision survives power loss */
	if ((rc = sq_exec(&q->base, "PRAGMA journal_mode = WAL")) != 0 ||
	    (rc = sq_exec(&q->base, "PRAGMA synchronous = FULL")) != 0 ||
	    (rc = sq_exec(&q->base, "PRAGMA foreign_keys = ON")) != 0 ||
	    (rc = sq_exec(&q->base, "PRAGMA trusted_schema = OFF")) != 0 ||
	    (rc = migrate(&q->base)) != 0) {
		snprintf(err, errlen, "%s: %s", path, q->base.err);
		goto fail;
	}
	*out = &q->base;
	return 0;
fail:
	sq_cache_free(q);
	sqlite3_close_v2(q->db);
	free(q);
	return rc;
}

int
store_open_sqlite(store **out, const char *datadir, int create, char *err, size_t errlen)
{
	char path[4096];
	int n = snprintf(path, sizeof(path), "%s/%s", datadir, STORE_FILE);

	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(err, errlen, "%s: data directory path too long", datadir);
		return ESC_EINVAL;
	}
	return store_open_sqlite_path(out, path, create, err, errlen);
}
