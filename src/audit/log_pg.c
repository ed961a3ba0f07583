/* log_pg.c — the audit log in PostgreSQL (the store's database, $ESCORT_STORE), so several
 * escortd nodes append to ONE verifiable log: the same canonical records, RFC 6962 leaf and
 * node hashes and signed tree heads as the file log, group commit, append-only triggers.
 *
 * Invariants (the file log's, restated for a database; 72-postgres-audit.t tests them):
 *  - MUST: one writer at a time, across nodes: every batch runs in one transaction that
 *    first locks the single audit_head row (SELECT ... FOR UPDATE, the sequencer row), reads
 *    the record count and the tree's right edge from it, writes records at exactly the next
 *    seqs and moves the head row forward, then commits. Records of a batch that fails get
 *    no seq (the transaction leaves nothing), so seqs stay gap-free.
 *  - MUST: audit_pg_append returns success only after COMMIT returned for its record; all
 *    appenders queued while a batch runs share the next batch's transaction (group commit).
 *  - MUST: every row holds its record, its leaf hash and the tree nodes its leaf completed
 *    (levels 1.., in that order), so proofs need O(log n) rows and verify can tell which
 *    record a rewrite touched. Record times never decrease with seq (the head row keeps the
 *    last one, across nodes whose clocks differ).
 *  - MUST: a tree head is placed after every sth_every records exactly, at an append once
 *    sth_seconds passed since the newest one, on request and at close; its size is its seq.
 *  - MUST: a writer refuses a log whose newest tree head does not verify with its own key:
 *    every node signs with the same key (copied from the first node's data directory).
 *  - MUST: rows are never updated or deleted (triggers); the head row only moves forward.
 *  - A batch whose connection was lost before it sent anything that could commit is retried
 *    once on a new connection (a restarted or failed-over server); one lost later fails
 *    (its outcome is unknown to us, but nothing is acknowledged that is not committed). */
#include "audit/log_pg.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/event.h"
#include "util/err.h"

#define OID_BYTEA 17
#define OID_INT8 20
#define PG_MIN_SERVER 120000

/* Serializes schema creation among nodes opening at once; distinct from the store's write
 * lock, which audit writers never take (so the two can never wait on each other). */
#define AUDIT_SCHEMA_LOCK "SELECT pg_advisory_xact_lock(7310556217362817382)"
#define SESSION_SETTINGS \
	"SET lock_timeout = '60s'; SET idle_in_transaction_session_timeout = '120s'"
#define HEAD_COLS "size, frontier, last_us, sth_seq, sth_us"
#define ITER_PAGE 512 /* rows fetched at a time by readers (and in the SQL below) */
#define ITER_PAGE_S "512"
#define BATCH_MAX 4096 /* records per transaction */
#define BATCH_BYTES ((size_t)8 << 20) /* a leader stops taking records beyond this */

static const char schema_sql[] =
	"CREATE TABLE audit_record ("
	"  seq bigint PRIMARY KEY CHECK (seq >= 0),"
	"  rec bytea NOT NULL,"
	"  leaf bytea NOT NULL,"
	"  nodes bytea NOT NULL);"
	"CREATE TABLE audit_head ("
	"  id integer PRIMARY KEY CHECK (id = 1),"
	"  size bigint NOT NULL CHECK (size >= 0),"
	"  frontier bytea NOT NULL,"
	"  last_us bigint NOT NULL,"
	"  sth_seq bigint NOT NULL,"
	"  sth_us bigint NOT NULL);"
	"INSERT INTO audit_head VALUES (1, 0, ''::bytea, 0, -1, 0);"
	/* the log is history: no row is edited, removed or truncated away */
	"CREATE FUNCTION audit_record_append_only() RETURNS trigger LANGUAGE plpgsql AS $$"
	"  BEGIN RAISE EXCEPTION 'audit records are append-only'"
	"    USING ERRCODE = 'integrity_constraint_violation'; END $$;"
	"CREATE TRIGGER audit_record_no_change BEFORE UPDATE OR DELETE ON audit_record"
	"  FOR EACH ROW EXECUTE FUNCTION audit_record_append_only();"
	"CREATE TRIGGER audit_record_no_truncate BEFORE TRUNCATE ON audit_record"
	"  FOR EACH STATEMENT EXECUTE FUNCTION audit_record_append_only();"
	/* the head row only moves forward */
	"CREATE FUNCTION audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$"
	"  BEGIN"
	"    IF TG_OP <> 'UPDATE' OR NEW.id <> OLD.id OR NEW.size < OLD.size"
	"        OR NEW.sth_seq < OLD.sth_seq THEN"
	"      RAISE EXCEPTION 'the audit log head only moves forward'"
	"        USING ERRCODE = 'integrity_constraint_violation';"
	"    END IF;"
	"    RETURN NEW;"
	"  END $$;"
	"CREATE TRIGGER audit_head_no_change BEFORE UPDATE OR DELETE ON audit_head"
	"  FOR EACH ROW EXECUTE FUNCTION audit_head_forward();"
	"CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head"
	"  FOR EACH STATEMENT EXECUTE FUNCTION audit_head_forward();";

/* A batch's statements, prepared once per writer connection (parsed and planned once). */
enum { ST_LOCK, ST_INS, ST_UPD, ST_N };
static const char *const st_name[ST_N] = { "audit_lock", "audit_ins", "audit_upd" };
static const char *const st_sql[ST_N] = {
	"SELECT " HEAD_COLS " FROM audit_head WHERE id = 1 FOR UPDATE",
	"INSERT INTO audit_record (seq, rec, leaf, nodes)"
	" SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::bytea[])",
	"UPDATE audit_head SET size = $1, frontier = $2, last_us = $3, sth_seq = $4,"
	" sth_us = $5 WHERE id = 1",
};
static const int st_nparams[ST_N] = { 0, 4, 5 };
static const Oid st_types[ST_N][5] = {
	{ 0 }, { 0, 0, 0, 0 }, { OID_INT8, OID_BYTEA, OID_INT8, OID_INT8, OID_INT8 },
};

/* One append (or tree head request) waiting for a batch; lives on its appender's stack. */
typedef struct pgpend {
	struct pgpend *next;
	buf rec;          /* the record up to its details; the leader completes it */
	const char *type; /* borrowed */
	int is_sth;       /* a request to sign what is unsigned */
	int more;         /* the next entry is of the same call: both go in one transaction */
	int done;
	int rc;
	uint64_t seq;
} pgpend;

/* The head row as read under its lock. */
typedef struct pghead {
	uint64_t size;
	mt_frontier fr;
	int64_t last_us;
	int64_t sth_seq; /* -1: none yet */
	int64_t sth_us;
} pghead;

struct audit_pg {
	char *datadir;
	char where[256]; /* "postgresql HOST:PORT/DB", for messages */
	audit_opts o;
	PGconn *conn;
	pthread_mutex_t cmu; /* the connection: the leader or one reader at a time */
	pthread_mutex_t mu;  /* the queue */
	pthread_cond_t cv;
	pgpend *qhead, *qtail;
	int leading;
	int prepared; /* the batch statements exist on this connection */
	int have_key;
	audit_key key;
	uint64_t commits;
	/* Sizes a tree head was signed for in a batch that then failed: the signer process
	 * (privilege separation) refuses a second, different root for a size it signed, so
	 * the next head goes one record later instead (placement is not part of the proof). */
	uint64_t avoid[4]; /* size + 1; 0: free */
	unsigned navoid;
	/* the leader's scratch: binary arrays of one batch */
	buf aseq, arec, aleaf, anodes, fbuf;
	char err[1024];
};

struct audit_pg_iter {
	PGconn *conn;
	PGresult *res;
	int row, nrows, last_page;
	uint64_t from;      /* next page starts here */
	uint64_t expect;    /* audit_iter contract: the next seq */
	uint64_t head_size;
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	/* libpq's messages end in a newline */
	n = strlen(err);
	while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
		err[--n] = 0;
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static void
put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t
get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- choosing the backend ---- */

static int
is_pg_url(const char *s)
{
	return s && (strncmp(s, "postgres://", 11) == 0 || strncmp(s, "postgresql://", 13) == 0);
}

const char *
audit_backend_url(const audit_opts *o)
{
	const char *e;

	if (o && o->pg_url)
		return o->pg_url[0] ? o->pg_url : NULL;
	e = getenv("ESCORT_STORE");
	return is_pg_url(e) ? e : NULL;
}

/* ---- connections ---- */

static void
quiet_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Where c is connected, for messages: never the conninfo, which may hold a password. */
static void
describe(PGconn *c, char *d, size_t dlen)
{
	const char *h = c ? PQhost(c) : NULL, *p = c ? PQport(c) : NULL, *db = c ? PQdb(c) : NULL;

	snprintf(d, dlen, "postgresql %s%s%s/%s", h && h[0] ? h : "?", p && p[0] ? ":" : "",
	         p && p[0] ? p : "", db && db[0] ? db : "?");
}

static int
pg_connect(PGconn **out, const char *url, char *where, size_t wlen, char *err, size_t errlen)
{
	const char *keys[] = { "connect_timeout", "keepalives", "keepalives_idle",
	                       "keepalives_interval", "keepalives_count", "dbname",
	                       "fallback_application_name", "client_encoding", NULL };
	const char *vals[] = { "10", "1", "30", "10", "3", url, "escort-audit", "UTF8", NULL };
	PGconn *c;
	PGresult *r;
	char w[256];

	*out = NULL;
	c = PQconnectdbParams(keys, vals, 1);
	if (c == NULL) {
		seterr(err, errlen, "postgresql: out of memory");
		return ESC_ENOMEM;
	}
	describe(c, w, sizeof(w));
	if (where)
		snprintf(where, wlen, "%s", w);
	if (PQstatus(c) != CONNECTION_OK) {
		seterr(err, errlen, "%s: %s", w, PQerrorMessage(c));
		PQfinish(c);
		return ESC_EIO;
	}
	if (PQserverVersion(c) < PG_MIN_SERVER) {
		seterr(err, errlen, "%s: server version %d is too old (escort needs 12 or newer)", w,
		       PQserverVersion(c));
		PQfinish(c);
		return ESC_EINVAL;
	}
	PQsetNoticeProcessor(c, quiet_notices, NULL);
	r = PQexec(c, SESSION_SETTINGS);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		seterr(err, errlen, "%s: %s", w, PQerrorMessage(c));
		PQclear(r);
		PQfinish(c);
		return ESC_EIO;
	}
	PQclear(r);
	*out = c;
	return 0;
}

/* Records the failure of res (or of the connection) in err: what, then the server's words. */
static int
pq_fail(PGconn *c, PGresult *res, const char *where, const char *what, char *err,
        size_t errlen)
{
	const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	seterr(err, errlen, "%s: %s: %s", where, what, m ? m : PQerrorMessage(c));
	if (st && (strncmp(st, "23", 2) == 0 || strncmp(st, "22", 2) == 0))
		return ESC_EINVAL;
	return ESC_EIO;
}

/* Runs sql with binary parameters (int8 values are passed as 8 big-endian bytes) and
 * binary results. *out (may be NULL) gets the result on success. */
static int
pq_run(PGconn *c, const char *where, const char *what, const char *sql, int n,
       const char *const *vals, const int *lens, const Oid *types, PGresult **out, char *err,
       size_t errlen)
{
	int fmts[8] = { 1, 1, 1, 1, 1, 1, 1, 1 };
	PGresult *r;
	ExecStatusType st;
	int rc = 0;

	if (out)
		*out = NULL;
	if (n > 8)
		return ESC_EINTERNAL;
	r = PQexecParams(c, sql, n, types, vals, lens, fmts, 1);
	st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		rc = pq_fail(c, r, where, what, err, errlen);
		PQclear(r);
		return rc;
	}
	if (out)
		*out = r;
	else
		PQclear(r);
	return 0;
}

/* 1 when the current schema has the audit tables (a pg_class query, so a backend that
 * waited for a lock sees tables another node just created). */
static int
tables_exist(PGconn *c, const char *where, int *exists, char *err, size_t errlen)
{
	PGresult *r = NULL;
	int rc;

	*exists = 0;
	rc = pq_run(c, where, "looking for the audit log",
	            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c"
	            " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
	            " WHERE c.relname = 'audit_head' AND n.nspname = current_schema())",
	            0, NULL, NULL, NULL, &r, err, errlen);
	if (rc == 0)
		*exists = PQntuples(r) == 1 && PQgetlength(r, 0, 0) == 1 && PQgetvalue(r, 0, 0)[0] == 1;
	PQclear(r);
	return rc;
}

static int
simple(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

	PQclear(r);
	return ok ? 0 : ESC_EIO;
}

/* Creates the audit tables once, nodes opening at once one after the other. */
static int
schema_create(PGconn *c, const char *where, char *err, size_t errlen)
{
	PGresult *r;
	int exists = 0, rc;

	if ((rc = tables_exist(c, where, &exists, err, errlen)) != 0 || exists)
		return rc;
	if (simple(c, "BEGIN") != 0)
		return pq_fail(c, NULL, where, "creating the audit log", err, errlen);
	r = PQexec(c, AUDIT_SCHEMA_LOCK);
	rc = PQresultStatus(r) == PGRES_TUPLES_OK ? 0
	     : pq_fail(c, r, where, "creating the audit log", err, errlen);
	PQclear(r);
	if (rc == 0)
		rc = tables_exist(c, where, &exists, err, errlen);
	if (rc == 0 && !exists) {
		r = PQexec(c, schema_sql);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			rc = pq_fail(c, r, where, "creating the audit log", err, errlen);
		PQclear(r);
	}
	if (rc == 0) {
		r = PQexec(c, "COMMIT");
		if (PQresultStatus(r) != PGRES_COMMAND_OK || strcmp(PQcmdStatus(r), "COMMIT") != 0)
			rc = pq_fail(c, r, where, "creating the audit log", err, errlen);
		PQclear(r);
	} else {
		(void)simple(c, "ROLLBACK");
	}
	return rc;
}

/* ---- rows ---- */

static int
col_int8(PGresult *r, int row, int col, int64_t *v)
{
	if (PQgetisnull(r, row, col) || PQgetlength(r, row, col) != 8)
		return ESC_EPARSE;
	*v = (int64_t)get_be64((const uint8_t *)PQgetvalue(r, row, col));
	return 0;
}

/* Decodes the head row (size, frontier, last_us, sth_seq, sth_us). */
static int
head_decode(PGresult *r, pghead *h)
{
	int64_t size;
	const uint8_t *f;
	int flen;
	unsigned n;

	memset(h, 0, sizeof(*h));
	if (PQntuples(r) != 1 || col_int8(r, 0, 0, &size) || size < 0 ||
	    col_int8(r, 0, 2, &h->last_us) || col_int8(r, 0, 3, &h->sth_seq) ||
	    col_int8(r, 0, 4, &h->sth_us) || h->sth_seq < -1 || h->sth_seq >= size)
		return ESC_EPARSE;
	h->size = (uint64_t)size;
	mt_frontier_init(&h->fr);
	n = (unsigned)__builtin_popcountll(h->size);
	f = (const uint8_t *)PQgetvalue(r, 0, 1);
	flen = PQgetlength(r, 0, 1);
	if (PQgetisnull(r, 0, 1) || flen != (int)(n * MT_HASH_LEN))
		return ESC_EPARSE;
	h->fr.size = h->size;
	h->fr.n = n;
	memcpy(h->fr.h, f, (size_t)flen);
	return 0;
}

static int
head_read(audit_pg *p, pghead *h)
{
	PGresult *r = NULL;
	int rc;

	rc = pq_run(p->conn, p->where, "reading the audit log head",
	            "SELECT " HEAD_COLS " FROM audit_head WHERE id = 1", 0, NULL, NULL, NULL, &r,
	            p->err, sizeof(p->err));
	if (rc == 0 && (rc = head_decode(r, h)) != 0)
		seterr(p->err, sizeof(p->err), "%s: the audit log head row is malformed", p->where);
	PQclear(r);
	return rc;
}

/* Reads record seq's row: rec into b (may be NULL), leaf, and the node of level (>= 1)
 * into node (may be NULL). */
static int
row_read(audit_pg *p, uint64_t seq, buf *b, mt_hash *leaf, unsigned level, mt_hash *node)
{
	uint8_t k[8];
	const char *vals[1] = { (const char *)k };
	int lens[1] = { 8 };
	Oid types[1] = { OID_INT8 };
	PGresult *r = NULL;
	int rc;

	put_be64(k, seq);
	rc = pq_run(p->conn, p->where, "reading an audit record",
	            "SELECT rec, leaf, nodes FROM audit_record WHERE seq = $1", 1, vals, lens, types,
	            &r, p->err, sizeof(p->err));
	if (rc)
		return rc;
	rc = ESC_ENOENT;
	if (PQntuples(r) != 1) {
		seterr(p->err, sizeof(p->err), "%s: audit record %" PRIu64 " is missing", p->where, seq);
		goto out;
	}
	rc = ESC_EPARSE;
	if (PQgetlength(r, 0, 1) != MT_HASH_LEN) {
		seterr(p->err, sizeof(p->err), "%s: audit record %" PRIu64 ": malformed leaf hash",
		       p->where, seq);
		goto out;
	}
	if (leaf)
		memcpy(leaf->b, PQgetvalue(r, 0, 1), MT_HASH_LEN);
	if (node) {
		if (level == 0 || (size_t)PQgetlength(r, 0, 2) < (size_t)level * MT_HASH_LEN) {
			seterr(p->err, sizeof(p->err), "%s: audit record %" PRIu64 " lacks the tree "
			       "node of level %u", p->where, seq, level);
			goto out;
		}
		memcpy(node->b, PQgetvalue(r, 0, 2) + (size_t)(level - 1) * MT_HASH_LEN, MT_HASH_LEN);
	}
	if (b) {
		buf_reset(b);
		if ((rc = buf_put(b, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0))) != 0)
			goto out;
	}
	rc = 0;
out:
	PQclear(r);
	return rc;
}

/* Complete subtree (level, index) from the rows: a leaf hash, or the node stored with the
 * leaf that completed it. */
static int
node_get(void *ctx, unsigned level, uint64_t index, mt_hash *out)
{
	audit_pg *p = ctx;

	if (level == 0)
		return row_read(p, index, NULL, out, 0, NULL);
	if (level >= 64 || index > (UINT64_MAX >> level) - 1)
		return ESC_EINVAL;
	return row_read(p, ((index + 1) << level) - 1, NULL, NULL, level, out);
}

/* ---- binary arrays (PostgreSQL's array_send format, one dimension, no NULLs) ---- */

static int
arr_start(buf *a, Oid elem)
{
	uint8_t h[20];

	buf_reset(a);
	put_be32(h, 1);
	put_be32(h + 4, 0);
	put_be32(h + 8, elem);
	put_be32(h + 12, 0); /* count: arr_finish */
	put_be32(h + 16, 1);
	return buf_put(a, h, sizeof(h));
}

static int
arr_add(buf *a, const void *v, size_t n)
{
	uint8_t l[4];
	int rc;

	if (n > INT32_MAX)
		return ESC_ETOOBIG;
	put_be32(l, (uint32_t)n);
	if ((rc = buf_put(a, l, 4)) != 0)
		return rc;
	return n ? buf_put(a, v, n) : 0;
}

static void
arr_finish(buf *a, uint32_t count)
{
	put_be32(a->data + 12, count);
}

/* ---- open, close ---- */

static void
pg_free(audit_pg *p)
{
	if (p == NULL)
		return;
	if (p->conn)
		PQfinish(p->conn);
	audit_key_wipe(&p->key);
	buf_free(&p->aseq);
	buf_free(&p->arec);
	buf_free(&p->aleaf);
	buf_free(&p->anodes);
	buf_free(&p->fbuf);
	pthread_mutex_destroy(&p->cmu);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->datadir);
	free(p);
}

/* The newest tree head in the log (ESC_ENOENT if none), from the head row and its record. */
static int
latest_sth(audit_pg *p, audit_sth *sth, uint64_t *seqp)
{
	pghead h;
	buf b = BUF_INIT;
	audit_event ev;
	int rc;

	if ((rc = head_read(p, &h)) != 0)
		return rc;
	if (h.sth_seq < 0)
		return ESC_ENOENT;
	if ((rc = row_read(p, (uint64_t)h.sth_seq, &b, NULL, 0, NULL)) != 0)
		goto out;
	rc = audit_event_parse(b.data, b.len, &ev, NULL, 0);
	if (rc == 0) {
		if (strcmp(ev.type, AUDIT_TYPE_STH) != 0 || audit_sth_from_json(ev.details, sth) != 0)
			rc = ESC_EPARSE;
		audit_event_free(&ev);
	}
	if (rc) {
		seterr(p->err, sizeof(p->err), "%s: audit record %" PRId64 " should be a signed tree "
		       "head; run 'escort audit verify'", p->where, h.sth_seq);
		rc = ESC_EPARSE;
	} else if (seqp) {
		*seqp = (uint64_t)h.sth_seq;
	}
out:
	buf_free(&b);
	return rc;
}

int
audit_pg_open(audit_pg **out, const char *url, const char *datadir, const audit_opts *o,
              char *err, size_t errlen)
{
	audit_pg *p;
	audit_sth s;
	char path[4096], idh[17], idl[17];
	int rc = ESC_ENOMEM, exists = 0;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return ESC_ENOMEM;
	pthread_mutex_init(&p->cmu, NULL);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (o)
		p->o = *o;
	if (p->o.sth_every == 0)
		p->o.sth_every = 1000;
	if (p->o.sth_seconds == 0)
		p->o.sth_seconds = 60;
	p->o.pg_url = NULL; /* not kept: the caller owns it */
	if ((p->datadir = strdup(datadir)) == NULL)
		goto fail;
	if (!p->o.readonly) {
		snprintf(path, sizeof(path), "%s/%s", datadir, AUDIT_KEY_FILE);
		if ((rc = audit_key_load(path, &p->key, err, errlen)) != 0)
			goto fail;
		p->have_key = 1;
	}
	if ((rc = pg_connect(&p->conn, url, p->where, sizeof(p->where), err, errlen)) != 0)
		goto fail;
	if (p->o.readonly) {
		if ((rc = tables_exist(p->conn, p->where, &exists, err, errlen)) != 0)
			goto fail;
		if (!exists) {
			seterr(err, errlen, "%s: no audit log in this database (run 'escort init')",
			       p->where);
			rc = ESC_ENOENT;
			goto fail;
		}
	} else {
		if ((rc = schema_create(p->conn, p->where, err, errlen)) != 0)
			goto fail;
		/* one log, one key: a node with another key would make it unverifiable */
		rc = latest_sth(p, &s, NULL);
		if (rc == 0 && audit_sth_verify(&s, &p->key.pub) != 0) {
			audit_key_id_hex(s.key_id, idl);
			audit_key_id_hex(p->key.pub.id, idh);
			seterr(err, errlen, "%s: the audit log there is signed with key %s, but %s holds "
			       "key %s; every node must sign with the same key (copy %s and %s from "
			       "the first node's data directory)", p->where, idl, path, idh,
			       AUDIT_KEY_FILE, AUDIT_PUB_FILE);
			rc = ESC_EINVAL;
			goto fail;
		}
		if (rc && rc != ESC_ENOENT) {
			seterr(err, errlen, "%s", p->err);
			goto fail;
		}
	}
	*out = p;
	return 0;
fail:
	pg_free(p);
	return rc;
}

/* ---- the batch: one transaction under the head row's lock ---- */

/* Collects the results of nq pipelined statements and the sync that follows them. res[i]
 * keeps statement i's result (caller clears). 0 when all succeeded; *broken when the
 * connection is in an unknown state (it must be reset). */
static int
pipe_results(audit_pg *p, int nq, PGresult **res, const char *what, int *broken)
{
	PGresult *r;
	int i, rc = 0;

	*broken = 0;
	for (i = 0; i < nq; i++)
		res[i] = NULL;
	for (i = 0; i < nq && !*broken; i++) {
		ExecStatusType st;

		r = PQgetResult(p->conn);
		if (r == NULL) {
			*broken = 1;
			break;
		}
		st = PQresultStatus(r);
		res[i] = r;
		if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && rc == 0)
			rc = pq_fail(p->conn, st == PGRES_PIPELINE_ABORTED ? NULL : r, p->where, what,
			             p->err, sizeof(p->err));
		if (PQstatus(p->conn) == CONNECTION_BAD)
			*broken = 1;
		/* a NULL ends each statement's results */
		while (!*broken && (r = PQgetResult(p->conn)) != NULL)
			PQclear(r);
	}
	if (!*broken) {
		r = PQgetResult(p->conn);
		if (r == NULL || PQresultStatus(r) != PGRES_PIPELINE_SYNC)
			*broken = 1;
		PQclear(r);
	}
	if (*broken) {
		if (rc == 0)
			(void)pq_fail(p->conn, NULL, p->where, what, p->err, sizeof(p->err));
		rc = ESC_EIO;
	}
	return rc;
}

static int
send_q(audit_pg *p, const char *sql, int n, const char *const *vals, const int *lens,
       const Oid *types)
{
	int fmts[8] = { 1, 1, 1, 1, 1, 1, 1, 1 };

	return PQsendQueryParams(p->conn, sql, n, types, vals, lens, n ? fmts : NULL, 1) ? 0
	                                                                                   : ESC_EIO;
}

static int
send_st(audit_pg *p, int st, const char *const *vals, const int *lens)
{
	int fmts[8] = { 1, 1, 1, 1, 1, 1, 1, 1 };

	return PQsendQueryPrepared(p->conn, st_name[st], st_nparams[st], vals, lens,
	                           st_nparams[st] ? fmts : NULL, 1) ? 0 : ESC_EIO;
}

/* Prepares the batch statements on a new (or reset) connection. */
static int
prepare_batch(audit_pg *p)
{
	PGresult *r;
	int rc = 0;

	for (int i = 0; i < ST_N && rc == 0; i++) {
		r = PQprepare(p->conn, st_name[i], st_sql[i], st_nparams[i], st_types[i]);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			rc = pq_fail(p->conn, r, p->where, "preparing the audit statements", p->err,
			             sizeof(p->err));
		PQclear(r);
	}
	p->prepared = rc == 0;
	return rc;
}

/* Signs a tree head over the nf->size records so far and renders its record (seq nf->size,
 * time t) into out. */
static int
build_sth(audit_pg *p, const mt_frontier *nf, int64_t t, audit_sth *s, buf *out)
{
	json_t *det = NULL;
	int rc;

	memset(s, 0, sizeof(*s));
	s->size = nf->size;
	s->time_us = t;
	buf_reset(out);
	if ((rc = mt_frontier_root(nf, &s->root)) == 0 && (rc = audit_sth_sign(s, &p->key)) == 0 &&
	    (rc = audit_sth_to_json(s, &det)) == 0)
		rc = audit_event_render(nf->size, t, AUDIT_TYPE_STH, AUDIT_ACTOR_LOG, det, out);
	json_decref(det);
	return rc;
}

/* Adds record rec as the next leaf: to the frontier and to the batch's arrays. */
static int
batch_add(audit_pg *p, mt_frontier *nf, const uint8_t *rec, size_t len)
{
	uint8_t k[8];
	mt_hash leaf, done[65];
	unsigned nd = 0;
	int rc;

	put_be64(k, nf->size);
	if ((rc = mt_leaf_hash(rec, len, &leaf)) != 0 ||
	    (rc = mt_frontier_push(nf, &leaf, done, &nd)) != 0 ||
	    (rc = arr_add(&p->aseq, k, 8)) != 0 || (rc = arr_add(&p->arec, rec, len)) != 0 ||
	    (rc = arr_add(&p->aleaf, leaf.b, MT_HASH_LEN)) != 0 ||
	    (rc = arr_add(&p->anodes, done + 1, (size_t)(nd - 1) * MT_HASH_LEN)) != 0)
		return rc;
	return 0;
}

/* Completes an appender's record as seq at time tbuf: the canonical record's sorted keys
 * put seq, time and type last, after what the appender rendered. */
static int
finish_record(pgpend *q, uint64_t seq, const char *tbuf)
{
	char tail[64 + AUDIT_TYPE_MAX];
	int n = snprintf(tail, sizeof(tail), ",\"seq\":%" PRIu64 ",\"time\":\"%s\",\"type\":\"%s\"}",
	                 seq, tbuf, q->type);

	if (n < 0 || (size_t)n >= sizeof(tail))
		return ESC_EINVAL;
	if (q->rec.len + (size_t)n > AUDIT_EVENT_MAX)
		return ESC_ETOOBIG;
	return buf_put(&q->rec, tail, (size_t)n);
}

static int
sth_avoided(const audit_pg *p, uint64_t size)
{
	for (unsigned i = 0; i < 4; i++)
		if (p->avoid[i] == size + 1)
			return 1;
	return 0;
}

/* Runs one batch in one transaction. 0: committed (each entry has rc and seq); else every
 * entry fails (nothing was written). *retry: it failed with the connection before anything
 * was sent that could commit (a restarted server, a failover), on a connection now reset. */
static int
run_batch(audit_pg *p, pgpend *batch, int *retry)
{
	PGresult *res[3] = { NULL, NULL, NULL };
	pghead h;
	mt_frontier nf;
	audit_sth s;
	pgpend *q;
	uint64_t next, unsigned_from, count = 0;
	int64_t t, sth_seq;
	int64_t sth_us;
	char tbuf[32];
	uint8_t kb[5][8];
	const char *vals[5];
	int lens[5], rc, want_sth = 0, n, broken = 0;
	uint64_t signed_sz[4];
	unsigned nsigned = 0;

	*retry = 0;
	if (PQstatus(p->conn) != CONNECTION_OK) {
		PQreset(p->conn);
		if (PQstatus(p->conn) != CONNECTION_OK) {
			seterr(p->err, sizeof(p->err), "%s: reconnecting: %s", p->where,
			       PQerrorMessage(p->conn));
			return ESC_EIO;
		}
		PQsetNoticeProcessor(p->conn, quiet_notices, NULL);
		if (simple(p->conn, SESSION_SETTINGS) != 0)
			return pq_fail(p->conn, NULL, p->where, "setting up the session", p->err,
			               sizeof(p->err));
		p->prepared = 0;
	}
	if (!p->prepared && (rc = prepare_batch(p)) != 0) {
		*retry = PQstatus(p->conn) != CONNECTION_OK;
		return rc;
	}
	/* round trip 1: the transaction and the sequencer row's lock */
	if (!PQenterPipelineMode(p->conn))
		return pq_fail(p->conn, NULL, p->where, "starting a batch", p->err, sizeof(p->err));
	if (send_q(p, "BEGIN", 0, NULL, NULL, NULL) ||
	    send_st(p, ST_LOCK, NULL, NULL) ||
	    !PQpipelineSync(p->conn)) {
		rc = pq_fail(p->conn, NULL, p->where, "starting a batch", p->err, sizeof(p->err));
		*retry = 1;
		goto reset;
	}
	rc = pipe_results(p, 2, res, "locking the audit log head", &broken);
	if (broken) {
		*retry = 1;
		goto reset;
	}
	if (rc == 0 && head_decode(res[1], &h) != 0) {
		seterr(p->err, sizeof(p->err), "%s: the audit log head row is malformed", p->where);
		rc = ESC_EPARSE;
	}
	PQclear(res[0]);
	PQclear(res[1]);
	res[0] = res[1] = NULL;
	if (rc)
		goto abort;

	/* the records, tree heads and nodes of this batch */
	t = now_us();
	if (t < h.last_us)
		t = h.last_us; /* record times never go backwards, whichever node's clock is ahead */
	if ((rc = audit_time_format(t, tbuf, sizeof(tbuf))) != 0) {
		seterr(p->err, sizeof(p->err), "the clock is out of range");
		goto abort;
	}
	nf = h.fr;
	next = h.size;
	sth_seq = h.sth_seq;
	sth_us = h.sth_us;
	unsigned_from = sth_seq >= 0 ? (uint64_t)sth_seq + 1 : 0;
	if ((rc = arr_start(&p->aseq, OID_INT8)) || (rc = arr_start(&p->arec, OID_BYTEA)) ||
	    (rc = arr_start(&p->aleaf, OID_BYTEA)) || (rc = arr_start(&p->anodes, OID_BYTEA)))
		goto nomem;
	for (q = batch;;) {
		if (next - unsigned_from >= p->o.sth_every && !sth_avoided(p, next)) {
			/* a tree head every sth_every records, exactly */
			if (nsigned < 4)
				signed_sz[nsigned++] = next;
			if ((rc = build_sth(p, &nf, t, &s, &p->fbuf)) != 0) {
				seterr(p->err, sizeof(p->err), "cannot sign a tree head (%s)",
				       esc_strerror(rc));
				goto abort;
			}
			if ((rc = batch_add(p, &nf, p->fbuf.data, p->fbuf.len)) != 0)
				goto nomem;
			sth_seq = (int64_t)next;
			sth_us = t;
			unsigned_from = ++next;
			count++;
			continue;
		}
		if (q == NULL)
			break;
		if (q->is_sth) {
			want_sth = 1;
		} else if ((q->rc = finish_record(q, next, tbuf)) == 0) {
			if ((rc = batch_add(p, &nf, q->rec.data, q->rec.len)) != 0)
				goto nomem;
			q->seq = next++;
			count++;
		}
		q = q->next;
	}
	/* a tree head on request (sign, close) or once sth_seconds passed */
	if (next > unsigned_from && !sth_avoided(p, next) &&
	    (want_sth || t - sth_us >= (int64_t)p->o.sth_seconds * 1000000)) {
		if (nsigned < 4)
			signed_sz[nsigned++] = next;
		if ((rc = build_sth(p, &nf, t, &s, &p->fbuf)) != 0) {
			seterr(p->err, sizeof(p->err), "cannot sign a tree head (%s)", esc_strerror(rc));
			goto abort;
		}
		if ((rc = batch_add(p, &nf, p->fbuf.data, p->fbuf.len)) != 0)
			goto nomem;
		sth_seq = (int64_t)next++;
		sth_us = t;
		count++;
	}
	arr_finish(&p->aseq, (uint32_t)count);
	arr_finish(&p->arec, (uint32_t)count);
	arr_finish(&p->aleaf, (uint32_t)count);
	arr_finish(&p->anodes, (uint32_t)count);

	/* round trip 2: records, head, commit */
	n = 0;
	if (count > 0) {
		vals[0] = (const char *)p->aseq.data;
		lens[0] = (int)p->aseq.len;
		vals[1] = (const char *)p->arec.data;
		lens[1] = (int)p->arec.len;
		vals[2] = (const char *)p->aleaf.data;
		lens[2] = (int)p->aleaf.len;
		vals[3] = (const char *)p->anodes.data;
		lens[3] = (int)p->anodes.len;
		if (send_st(p, ST_INS, vals, lens))
			goto sendfail;
		put_be64(kb[0], next);
		put_be64(kb[2], (uint64_t)t);
		put_be64(kb[3], (uint64_t)sth_seq);
		put_be64(kb[4], (uint64_t)sth_us);
		vals[0] = (const char *)kb[0];
		vals[1] = (const char *)nf.h;
		lens[1] = (int)(nf.n * MT_HASH_LEN);
		vals[2] = (const char *)kb[2];
		vals[3] = (const char *)kb[3];
		vals[4] = (const char *)kb[4];
		lens[0] = lens[2] = lens[3] = lens[4] = 8;
		if (send_st(p, ST_UPD, vals, lens))
			goto sendfail;
		n = 2;
	}
	if (send_q(p, "COMMIT", 0, NULL, NULL, NULL) || !PQpipelineSync(p->conn))
		goto sendfail;
	rc = pipe_results(p, n + 1, res, "appending to the audit log", &broken);
	if (broken)
		goto reset;
	if (rc == 0 && strcmp(PQcmdStatus(res[n]), "COMMIT") != 0) {
		seterr(p->err, sizeof(p->err), "%s: the audit batch was rolled back", p->where);
		rc = ESC_EIO;
	}
	for (int i = 0; i < 3; i++)
		PQclear(res[i]);
	if (rc)
		goto abort;
	(void)PQexitPipelineMode(p->conn);
	p->commits++;
	return 0;
sendfail:
	rc = pq_fail(p->conn, NULL, p->where, "appending to the audit log", p->err, sizeof(p->err));
	goto reset;
nomem:
	seterr(p->err, sizeof(p->err), "cannot prepare audit records (%s)", esc_strerror(rc));
abort:
	/* nothing of the batch is kept; the connection is idle again after the sync */
	for (unsigned i = 0; i < nsigned; i++)
		p->avoid[p->navoid++ % 4] = signed_sz[i] + 1;
	(void)PQexitPipelineMode(p->conn);
	(void)simple(p->conn, "ROLLBACK");
	return rc ? rc : ESC_EIO;
reset:
	/* the connection is in an unknown state: the next batch starts on a new one */
	for (unsigned i = 0; i < nsigned; i++)
		p->avoid[p->navoid++ % 4] = signed_sz[i] + 1;
	for (int i = 0; i < 3; i++)
		PQclear(res[i]);
	{
		PGresult *r;

		while ((r = PQgetResult(p->conn)) != NULL)
			PQclear(r);
	}
	(void)PQexitPipelineMode(p->conn);
	PQreset(p->conn);
	p->prepared = 0;
	if (PQstatus(p->conn) == CONNECTION_OK) {
		PQsetNoticeProcessor(p->conn, quiet_notices, NULL);
		(void)simple(p->conn, SESSION_SETTINGS);
	}
	return rc ? rc : ESC_EIO;
}

/* Enqueues q[0..n-1] and waits until a batch took them, leading batches while nobody else
 * does: everything queued while one batch runs goes into the next (group commit). The n
 * entries of one call are never split between transactions (all of them or none). */
static int
submit(audit_pg *p, pgpend *qs, size_t n)
{
	pgpend *batch, *last, *it, *q = &qs[n - 1];
	size_t nb, bytes, i;
	int rc, retry;

	pthread_mutex_lock(&p->mu);
	for (i = 0; i < n; i++) {
		qs[i].more = i + 1 < n;
		qs[i].next = i + 1 < n ? &qs[i + 1] : NULL;
	}
	if (p->qtail)
		p->qtail->next = &qs[0];
	else
		p->qhead = &qs[0];
	p->qtail = q;
	while (!q->done) {
		if (p->leading) {
			pthread_cond_wait(&p->cv, &p->mu);
			continue;
		}
		p->leading = 1;
		batch = last = p->qhead;
		bytes = last->rec.len;
		for (nb = 1; last->next && ((nb < BATCH_MAX && bytes < BATCH_BYTES) || last->more);
		     nb++) {
			last = last->next;
			bytes += last->rec.len;
		}
		p->qhead = last->next;
		if (p->qhead == NULL)
			p->qtail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&p->mu);

		pthread_mutex_lock(&p->cmu);
		rc = run_batch(p, batch, &retry);
		if (rc && retry) /* once: the connection was lost before this batch began */
			rc = run_batch(p, batch, &retry);
		pthread_mutex_unlock(&p->cmu);

		pthread_mutex_lock(&p->mu);
		for (it = batch; it; it = it->next) {
			if (rc)
				it->rc = ESC_EIO;
			it->done = 1;
		}
		p->leading = 0;
		pthread_cond_broadcast(&p->cv);
	}
	for (rc = 0, i = 0; i < n && rc == 0; i++)
		rc = qs[i].rc;
	pthread_mutex_unlock(&p->mu);
	return rc;
}

/* The canonical record up to its details, rendered by the appender (no lock): the full
 * rendering with seq 0 and time 0, less the tail that the leader rewrites. */
static int
render_prefix(pgpend *q, const char *type, const char *actor, const json_t *details)
{
	char tail[64 + AUDIT_TYPE_MAX], tb[32];
	int n, rc;

	if ((rc = audit_event_render(0, 0, type, actor, details, &q->rec)) != 0)
		return rc;
	if (audit_time_format(0, tb, sizeof(tb)) != 0)
		return ESC_EINTERNAL;
	n = snprintf(tail, sizeof(tail), ",\"seq\":0,\"time\":\"%s\",\"type\":\"%s\"}", tb, type);
	if (n < 0 || (size_t)n >= sizeof(tail) || q->rec.len < (size_t)n ||
	    memcmp(q->rec.data + q->rec.len - (size_t)n, tail, (size_t)n) != 0)
		return ESC_EINTERNAL;
	buf_truncate(&q->rec, q->rec.len - (size_t)n);
	return 0;
}

int
audit_pg_append(audit_pg *p, const char *type, const char *actor, const json_t *details,
                uint64_t *seq)
{
	pgpend q;
	int rc;

	if (p == NULL || p->o.readonly || type == NULL || strcmp(type, AUDIT_TYPE_STH) == 0)
		return ESC_EINVAL;
	memset(&q, 0, sizeof(q));
	buf_init(&q.rec, AUDIT_EVENT_MAX + 1);
	q.type = type;
	if ((rc = render_prefix(&q, type, actor, details)) != 0) {
		pthread_mutex_lock(&p->mu);
		seterr(p->err, sizeof(p->err), "cannot render the event: %s", esc_strerror(rc));
		pthread_mutex_unlock(&p->mu);
		goto out;
	}
	rc = submit(p, &q, 1);
	if (rc == 0 && seq)
		*seq = q.seq;
out:
	buf_free(&q.rec);
	return rc;
}

int
audit_pg_append_many(audit_pg *p, size_t n, const char *const *types,
                     const char *const *actors, const json_t *const *details, uint64_t *seqs)
{
	pgpend *q;
	size_t i, made = 0;
	int rc = 0;

	if (p == NULL || p->o.readonly || (n > 0 && (types == NULL || details == NULL)))
		return ESC_EINVAL;
	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (types[i] == NULL || strcmp(types[i], AUDIT_TYPE_STH) == 0)
			return ESC_EINVAL;
	if ((q = calloc(n, sizeof(*q))) == NULL)
		return ESC_ENOMEM;
	/* render all first: either every record goes in or none */
	for (made = 0; made < n && rc == 0; made++) {
		buf_init(&q[made].rec, AUDIT_EVENT_MAX + 1);
		q[made].type = types[made];
		rc = render_prefix(&q[made], types[made], actors ? actors[made] : NULL, details[made]);
	}
	if (rc) {
		pthread_mutex_lock(&p->mu);
		seterr(p->err, sizeof(p->err), "cannot render the event: %s", esc_strerror(rc));
		pthread_mutex_unlock(&p->mu);
	} else
		rc = submit(p, q, n);
	for (i = 0; i < made; i++) {
		if (rc == 0 && seqs)
			seqs[i] = q[i].seq;
		buf_free(&q[i].rec);
	}
	free(q);
	return rc;
}

int
audit_pg_sign(audit_pg *p)
{
	pgpend q;
	int rc;

	if (p == NULL || p->o.readonly || !p->have_key)
		return ESC_EINVAL;
	memset(&q, 0, sizeof(q));
	q.is_sth = 1;
	rc = submit(p, &q, 1);
	buf_free(&q.rec);
	return rc;
}

int
audit_pg_close(audit_pg *p, char *err, size_t errlen)
{
	int rc = 0;

	if (p == NULL)
		return 0;
	/* a final tree head over what is unsigned, as the file log does */
	if (!p->o.readonly && (rc = audit_pg_sign(p)) != 0)
		seterr(err, errlen, "%s", p->err);
	pg_free(p);
	return rc;
}

/* ---- reading ---- */

uint64_t
audit_pg_size(audit_pg *p)
{
	pghead h;
	uint64_t n = 0;

	pthread_mutex_lock(&p->cmu);
	if (head_read(p, &h) == 0)
		n = h.size;
	pthread_mutex_unlock(&p->cmu);
	return n;
}

int
audit_pg_latest_sth(audit_pg *p, audit_sth *sth, uint64_t *seq)
{
	int rc;

	pthread_mutex_lock(&p->cmu);
	rc = latest_sth(p, sth, seq);
	pthread_mutex_unlock(&p->cmu);
	return rc;
}

int
audit_pg_read(audit_pg *p, uint64_t seq, buf *rec)
{
	mt_hash leaf, again;
	int rc;

	pthread_mutex_lock(&p->cmu);
	rc = row_read(p, seq, rec, &leaf, 0, NULL);
	if (rc == 0 && ((rc = mt_leaf_hash(rec->data, rec->len, &again)) != 0 ||
	                !mt_hash_eq(&leaf, &again))) {
		seterr(p->err, sizeof(p->err), "%s: audit record %" PRIu64 ": checksum mismatch (its "
		       "bytes do not match the stored leaf hash)", p->where, seq);
		rc = ESC_EPARSE;
	}
	pthread_mutex_unlock(&p->cmu);
	return rc;
}

/* Proofs need every node of a tree of size n: the head must cover n. */
static int
covered(audit_pg *p, uint64_t n)
{
	pghead h;
	int rc = head_read(p, &h);

	return rc ? rc : (n > h.size ? ESC_ENOENT : 0);
}

int
audit_pg_inclusion(audit_pg *p, uint64_t seq, uint64_t size, mt_hash *path, size_t *n)
{
	int rc;

	pthread_mutex_lock(&p->cmu);
	if ((rc = covered(p, size)) == 0)
		rc = mt_inclusion_proof(node_get, p, seq, size, path, n);
	pthread_mutex_unlock(&p->cmu);
	return rc;
}

int
audit_pg_consistency(audit_pg *p, uint64_t m, uint64_t n, mt_hash *path, size_t *np)
{
	int rc;

	pthread_mutex_lock(&p->cmu);
	if ((rc = covered(p, n)) == 0)
		rc = mt_consistency_proof(node_get, p, m, n, path, np);
	pthread_mutex_unlock(&p->cmu);
	return rc;
}

int
audit_pg_root(audit_pg *p, uint64_t n, mt_hash *root)
{
	int rc;

	pthread_mutex_lock(&p->cmu);
	if ((rc = covered(p, n)) == 0)
		rc = mt_subtree_root(node_get, p, 0, n, root);
	pthread_mutex_unlock(&p->cmu);
	return rc;
}

uint64_t
audit_pg_commits(audit_pg *p)
{
	uint64_t n;

	pthread_mutex_lock(&p->mu);
	n = p->commits;
	pthread_mutex_unlock(&p->mu);
	return n;
}

const char *
audit_pg_error(audit_pg *p)
{
	return p ? p->err : "";
}

int
audit_pg_count(const char *url, uint64_t *n, char *err, size_t errlen)
{
	PGconn *c = NULL;
	PGresult *r = NULL;
	pghead h;
	char where[256];
	int rc, exists = 0;

	*n = 0;
	if ((rc = pg_connect(&c, url, where, sizeof(where), err, errlen)) != 0)
		return rc;
	rc = tables_exist(c, where, &exists, err, errlen);
	if (rc == 0 && exists) {
		rc = pq_run(c, where, "reading the audit log head",
		            "SELECT " HEAD_COLS " FROM audit_head WHERE id = 1", 0, NULL, NULL, NULL,
		            &r, err, errlen);
		if (rc == 0 && (rc = head_decode(r, &h)) != 0)
			seterr(err, errlen, "%s: the audit log head row is malformed", where);
		if (rc == 0)
			*n = h.size;
	}
	PQclear(r);
	PQfinish(c);
	return rc;
}

/* ---- sequential reading ---- */

int
audit_pg_iter_open(audit_pg_iter **out, const char *url, uint64_t *head_size, char *err,
                   size_t errlen)
{
	audit_pg_iter *it;
	PGresult *r = NULL;
	pghead h;
	char where[256];
	int rc, exists = 0;

	*out = NULL;
	if ((it = calloc(1, sizeof(*it))) == NULL)
		return ESC_ENOMEM;
	if ((rc = pg_connect(&it->conn, url, where, sizeof(where), err, errlen)) != 0)
		goto fail;
	/* one snapshot for the whole walk: the head and the rows agree */
	if (simple(it->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") != 0) {
		rc = pq_fail(it->conn, NULL, where, "reading the audit log", err, errlen);
		goto fail;
	}
	if ((rc = tables_exist(it->conn, where, &exists, err, errlen)) != 0)
		goto fail;
	if (!exists) {
		seterr(err, errlen, "%s: no audit log in this database (run 'escort init')", where);
		rc = ESC_ENOENT;
		goto fail;
	}
	rc = pq_run(it->conn, where, "reading the audit log head",
	            "SELECT " HEAD_COLS " FROM audit_head WHERE id = 1", 0, NULL, NULL, NULL, &r, err,
	            errlen);
	if (rc == 0 && (rc = head_decode(r, &h)) != 0)
		seterr(err, errlen, "%s: the audit log head row is malformed", where);
	PQclear(r);
	if (rc)
		goto fail;
	it->head_size = h.size;
	if (head_size)
		*head_size = h.size;
	*out = it;
	return 0;
fail:
	audit_pg_iter_close(it);
	return rc;
}

int
audit_pg_iter_row(audit_pg_iter *it, audit_pg_row *row, char *err, size_t errlen)
{
	uint8_t k[8];
	const char *vals[1] = { (const char *)k };
	int lens[1] = { 8 }, rc;
	Oid types[1] = { OID_INT8 };
	int64_t s;
	char where[256];

	if (it->res == NULL || it->row >= it->nrows) {
		if (it->res && it->last_page)
			return 1;
		PQclear(it->res);
		it->res = NULL;
		describe(it->conn, where, sizeof(where));
		put_be64(k, it->from);
		rc = pq_run(it->conn, where, "reading audit records",
		            "SELECT seq, rec, leaf, nodes FROM audit_record WHERE seq >= $1"
		            " ORDER BY seq LIMIT " ITER_PAGE_S, 1, vals, lens, types, &it->res, err, errlen);
		if (rc)
			return rc;
		it->row = 0;
		it->nrows = PQntuples(it->res);
		it->last_page = it->nrows < ITER_PAGE;
		if (it->nrows == 0)
			return 1;
	}
	memset(row, 0, sizeof(*row));
	if (col_int8(it->res, it->row, 0, &s) || s < 0) {
		seterr(err, errlen, "audit record row %d: malformed seq", it->row);
		return ESC_EPARSE;
	}
	row->seq = (uint64_t)s;
	row->rec = (const uint8_t *)PQgetvalue(it->res, it->row, 1);
	row->reclen = (size_t)PQgetlength(it->res, it->row, 1);
	if (PQgetlength(it->res, it->row, 2) == MT_HASH_LEN)
		row->leaf = (const uint8_t *)PQgetvalue(it->res, it->row, 2);
	row->nodes = (const uint8_t *)PQgetvalue(it->res, it->row, 3);
	row->nodeslen = (size_t)PQgetlength(it->res, it->row, 3);
	it->from = row->seq + 1;
	it->row++;
	return 0;
}

int
audit_pg_iter_next(audit_pg_iter *it, const uint8_t **rec, size_t *len, uint64_t *seq,
                   int skip_checksum, char *err, size_t errlen)
{
	audit_pg_row row;
	mt_hash leaf;
	int rc;

	if (it->expect >= it->head_size)
		return 1;
	if ((rc = audit_pg_iter_row(it, &row, err, errlen)) != 0) {
		if (rc == 1) {
			seterr(err, errlen, "audit record %" PRIu64 " is missing (the log's head says %"
			       PRIu64 " records); run 'escort audit verify'", it->expect, it->head_size);
			return ESC_EPARSE;
		}
		return rc;
	}
	if (row.seq != it->expect) {
		seterr(err, errlen, "audit record %" PRIu64 " is missing; run 'escort audit verify'",
		       it->expect);
		return ESC_EPARSE;
	}
	if (row.reclen < 2 || row.reclen > AUDIT_EVENT_MAX) {
		seterr(err, errlen, "audit record %" PRIu64 ": bad record length %zu", row.seq,
		       row.reclen);
		return ESC_EPARSE;
	}
	if (!skip_checksum && (row.leaf == NULL || mt_leaf_hash(row.rec, row.reclen, &leaf) != 0 ||
	                       memcmp(leaf.b, row.leaf, MT_HASH_LEN) != 0)) {
		seterr(err, errlen, "audit record %" PRIu64 ": checksum mismatch (its bytes do not "
		       "match the stored leaf hash)", row.seq);
		return ESC_EPARSE;
	}
	*rec = row.rec;
	*len = row.reclen;
	*seq = it->expect++;
	return 0;
}

void
audit_pg_iter_close(audit_pg_iter *it)
{
	if (it == NULL)
		return;
	PQclear(it->res);
	if (it->conn)
		PQfinish(it->conn); /* ends the read-only transaction */
	free(it);
}
